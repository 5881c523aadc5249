package bridge

import (
	"context"
	"time"
)

// Release ends the channel's leases: for the given products, or for every
// product when none is given. It is idempotent and returns how many leases
// ended. A store that cannot be reached is put right by the next resync.
func (b *Bridge) Release(ctx context.Context, channel string, products ...string) int {
	now := b.clock.Now()
	lctx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
	locked := b.rlock(lctx)
	cancel()
	if locked {
		defer b.syncMu.RUnlock()
	}
	b.mu.Lock()
	var gone []*Lease
	var events []Event
	unsynced := map[*Lease]bool{}
	for p, m := range b.leases {
		if len(products) > 0 && !contains(products, p) {
			continue
		}
		if l := m[channel]; l != nil {
			gone = append(gone, l)
			delete(m, channel)
			h := b.roomLocked(p)
			if h.unsynced[channel] {
				delete(h.unsynced, channel) // never reached the store
				unsynced[l] = true
			} else if b.down {
				h.free++ // the node's own unit, provably free again
			}
			events = append(events, b.releasedLocked(l, now, !unsynced[l]))
		}
	}
	down := b.down
	b.mu.Unlock()
	for i, l := range gone {
		ev := events[i]
		if !locked && !down {
			// A resync is running and may have missed this release.
			ev.Degraded = true
			b.setDirty(l.Product)
			b.poke()
		} else if !down {
			cctx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
			err := b.store.Release(cctx, b.opt.Node, l.Product, l.Channel)
			cancel()
			if err != nil {
				// The resync puts the store right; only a run of failures
				// (or a lost connection) is an outage.
				down = b.storeFailed(err)
				ev.Degraded = true
				b.setDirty(l.Product)
				b.poke()
			} else {
				b.storeAnswered()
			}
		}
		if down || unsynced[l] {
			ev.Degraded = ev.Degraded || down
			b.mu.Lock()
			b.dirty[l.Product] = b.dirty[l.Product] || down
			if b.journal != nil {
				b.appendJournal(journalEntry{Time: now, Op: "release", Product: l.Product, Channel: l.Channel})
				b.journaled = true
			}
			b.mu.Unlock()
		}
		b.record(ev)
	}
	return len(gone)
}

// releasedLocked accounts for the end of l, already out of b.leases, and
// returns its release event: the pool's figures as of the last store reply,
// less l's unit when it freed one (synced: the store counted it; with
// counting per call, the call's last channel here frees the unit).
func (b *Bridge) releasedLocked(l *Lease, now time.Time, synced bool) Event {
	h := b.roomLocked(l.Product)
	if synced && h.known && !b.unitHeldLocked(l) {
		h.inUse = max(h.inUse-1, 0)
	}
	return Event{Kind: EventRelease, Time: now, Node: b.opt.Node, Product: l.Product, Channel: l.Channel, Call: l.Call,
		InUse: h.inUse, Total: h.total, Counted: h.known, NodeInUse: len(b.leases[l.Product]), NodeCounted: true}
}

// unitHeldLocked reports whether another lease of this node still holds l's
// unit (counting per call).
func (b *Bridge) unitHeldLocked(l *Lease) bool {
	if l.Unit == "" {
		return false
	}
	for _, o := range b.leases[l.Product] {
		if o.Unit == l.Unit {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
