package bridge

import "context"

// Move hands the leases of channel from to channel to: Asterisk replaced one
// channel of a live call with another (a Local channel pair optimised away),
// and the licence follows the call. Each lease keeps its product, call and
// unit, so nothing is counted twice nor freed on the way; a product that to
// already holds keeps to's lease and from's ends. It returns how many leases
// moved. The store gets the new holdings from a resync (at once when it is
// up, else when it is back).
func (b *Bridge) Move(ctx context.Context, from, to string) int {
	if from == to || validate(Request{Product: "move", Channel: to}) != nil {
		return 0
	}
	now := b.clock.Now()
	// Exclusive: no admission or release of from or to may interleave, and a
	// running resync must not write a snapshot taken halfway.
	b.syncMu.Lock()
	b.mu.Lock()
	moved := 0
	var touched []string
	var events []Event
	for p, m := range b.leases {
		l := m[from]
		if l == nil {
			continue
		}
		delete(m, from)
		h := b.roomLocked(p)
		unsynced := h.unsynced[from]
		delete(h.unsynced, from)
		if m[to] == nil {
			nl := *l
			nl.ID, nl.Channel = p+":"+to, to
			m[to] = &nl
			if unsynced {
				h.unsynced[to] = true
			}
			moved++
			if b.down && b.journal != nil {
				b.appendJournal(journalEntry{Time: now, Op: "release", Product: p, Channel: from})
				b.appendJournal(journalEntry{Time: now, Op: "admit", Product: p, Channel: to, Call: nl.Call, Unit: nl.Unit})
				b.journaled = true
			}
		} else {
			events = append(events, b.releasedLocked(l, now, !unsynced))
			if b.down && b.journal != nil {
				b.appendJournal(journalEntry{Time: now, Op: "release", Product: p, Channel: from})
				b.journaled = true
			}
		}
		b.dirty[p] = true
		touched = append(touched, p)
	}
	down := b.down
	b.mu.Unlock()
	for _, ev := range events {
		b.record(ev)
	}
	b.syncMu.Unlock()
	if down {
		b.poke()
		return moved
	}
	for _, p := range touched {
		rctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
		err := b.resync(rctx, p)
		cancel()
		if err != nil {
			b.markDown(err)
			break
		}
	}
	return moved
}
