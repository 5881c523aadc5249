package bridge

import (
	"context"
	"errors"
	"net"
	"time"
)

// headroom is what one product's node knows of its room to admit without the
// store: the free channels at its last good contact and the channels it has
// taken since without the store's word. It lives under Bridge.mu.
type headroom struct {
	// known: a store reply has been seen (at boot without the store, nothing
	// can be proven free).
	known bool
	// free is the total less the units in use at the last good contact, plus
	// the store-confirmed channels this node released since.
	free int
	// total is the pool's total then.
	total int
	// inUse is the pool's units in use then, less the units this node has
	// freed since (the figure of a release event).
	inUse int
	// nodes is how many nodes were live then: each may spend its share.
	nodes int
	// inflight is the store admissions now waiting for an answer: each may
	// still take a unit.
	inflight int
	// unsynced names the leases kept without the store's word that no resync
	// has written yet.
	unsynced map[string]bool
	// clock orders sends and replies of store calls; seenAt is the clock when
	// the figures above were last taken. Replies of concurrent calls arrive in
	// any order: only a call sent after the last reply was read is surely
	// newer than it (see sawReply).
	clock, seenAt uint64
}

func (b *Bridge) roomLocked(product string) *headroom {
	h := b.room[product]
	if h == nil {
		h = &headroom{unsynced: map[string]bool{}}
		b.room[product] = h
	}
	return h
}

// sending stamps a store call about to be sent; its stamp goes to sawReply.
func (h *headroom) sending() uint64 {
	h.clock++
	return h.clock
}

// sawReply records the reply of a store call stamped sent: the pool had inUse
// of total with nodes live. A call sent after the last reply was read sees a
// newer store, and its figures replace the old ones. A call that was in flight
// with that one may have run before or after it in the store: an older reply
// read later must not give back room that newer ones took (under a burst, the
// reply saying 95 of 100 read after the one saying 100 of 100 let a fail-open
// budget admit 5 over), so the two are merged on the safe side.
func (h *headroom) sawReply(sent uint64, inUse, total, nodes int) {
	nodes = max(nodes, 1)
	if !h.known || sent > h.seenAt {
		h.known = true
		h.inUse = inUse
		h.free = max(total-inUse, 0)
		h.total = total
		h.nodes = nodes
	} else {
		h.inUse = max(h.inUse, inUse)
		h.free = min(h.free, max(total-inUse, 0))
		h.total = min(h.total, total)
		h.nodes = max(h.nodes, nodes)
	}
	h.clock++
	h.seenAt = h.clock
}

// remainingLocked is how many more channels may be admitted without the
// store; -1 means no bound. Under BudgetShare it is provable at the last
// contact: this node's share of the free channels, less what admissions in
// flight may still take, less what it has already taken without the store.
// (An admission given up on is no channel: whatever the store counted for it
// only makes the store stricter until the next resync removes it.)
func (b *Bridge) remainingLocked(h *headroom) int {
	switch budget := b.opt.FailOpenBudget; {
	case budget == BudgetUnlimited:
		return -1
	case budget > 0:
		return max(budget-len(h.unsynced), 0)
	case !h.known:
		return 0
	default:
		nodes := h.nodes
		if b.opt.Pool == PoolPerHost {
			nodes = 1 // a per-host pool is this node's alone
		}
		share := max(h.free-h.inflight, 0) / nodes
		return max(share-len(h.unsynced), 0)
	}
}

// storeFailed counts a failed store call: a lost connection declares the
// store unavailable at once; calls that only ran out of time do when
// DownAfter of them failed in a row and the store has not answered anything
// for DownAfter admission deadlines (in a burst, timeouts come together while
// other calls still get through: that is load, not an outage). It reports
// whether the store is now down.
func (b *Bridge) storeFailed(err error) bool {
	if timedOut(err) {
		now := time.Now()
		b.mu.Lock()
		b.failures++
		n, quiet := b.failures, now.Sub(b.answered)
		b.mu.Unlock()
		if n < b.opt.DownAfter || quiet < time.Duration(b.opt.DownAfter)*b.opt.Deadline {
			b.log.Debug("store call ran out of time; deciding that call by the outage policy",
				"err", err, "in_a_row", n, "down_after", b.opt.DownAfter)
			return false
		}
	}
	b.markDown(err)
	return true
}

// storeAnswered resets the run of failures.
func (b *Bridge) storeAnswered() {
	b.mu.Lock()
	b.answeredLocked()
	b.mu.Unlock()
}

// answeredLocked is storeAnswered for a caller that holds b.mu.
func (b *Bridge) answeredLocked() {
	b.failures = 0
	b.answered = time.Now()
}

// timedOut: the call ran out of time rather than losing the store.
func timedOut(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, errBusy) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
