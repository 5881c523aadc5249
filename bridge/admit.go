package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"
)

func validate(req Request) error {
	switch {
	case req.Product == WireLegs:
		return fmt.Errorf("product %q: reserved for the SIP monitor's count of all legs", req.Product)
	case !ValidProduct(req.Product):
		return fmt.Errorf("product %q: want 1-32 of a-z 0-9 _ . -", req.Product)
	case req.Channel == "" || len(req.Channel) > 256:
		return fmt.Errorf("channel %q: want 1-256 bytes", req.Channel)
	case len(req.Call) > 256:
		return fmt.Errorf("call %q: longer than 256 bytes", req.Call)
	}
	return nil
}

// Admit decides whether req.Channel may use a license of req.Product now. The
// outcome is a value: Admitted with its Lease, or a Reason. Admitting a
// channel that holds a lease returns that same lease and counts nothing.
//
// The store call has its own budget, Options.Deadline. A call that misses it
// (or fails) is decided by the outage policy, within the fail-open budget;
// it does not declare an outage unless DownAfter calls in a row fail or the
// connection is lost. A caller whose own ctx has ended is answered TIMEOUT
// and admitted nowhere: what the store may have counted for it is undone by
// the next resync, which writes the node's real holdings.
func (b *Bridge) Admit(ctx context.Context, req Request) Result {
	now := b.clock.Now()
	ev := Event{Kind: EventReject, Time: now, Node: b.opt.Node, Product: req.Product, Channel: req.Channel,
		Call: req.Call, Caller: req.Caller, Called: req.Called}
	if err := validate(req); err != nil {
		b.log.Warn("admission refused: bad request", "err", err)
		ev.Reason = ReasonBadRequest
		b.record(ev)
		return Result{Reason: ReasonBadRequest}
	}
	if !b.Known(req.Product) {
		// Invented names must not become products: no store key, no event
		// (an event would give the statistics a product of its own).
		b.log.Debug("admission refused: unknown product", "product", req.Product, "channel", req.Channel)
		return Result{Reason: ReasonNoLicense}
	}
	b.mu.Lock()
	if l := b.leases[req.Product][req.Channel]; l != nil {
		lease := *l
		b.mu.Unlock()
		return Result{Admitted: true, Lease: lease}
	}
	b.products[req.Product] = true
	down := b.down
	b.mu.Unlock()

	mode := b.mode(req.Product)
	locked := mode == ModeGrace && b.opt.Lock.Locked(req.Product)
	op := AdmitOp{
		Node: b.opt.Node, Product: req.Product, Channel: req.Channel,
		Unit: b.unit(req.Product, req.Channel, req.Call),
		Now:  now, Expires: now.Add(b.opt.Lapse), Pool: b.opt.Pool,
		AllowOver: mode == ModeMonitor || (mode == ModeGrace && !locked),
	}
	if !down && !b.restored.Load() {
		rctx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
		if err := b.ensureRestored(rctx); err != nil {
			down = !b.StoreAvailable()
		}
		cancel()
	}
	for {
		if ctx.Err() != nil {
			return b.callerGone(ev)
		}
		if !down {
			rep, lease, err := b.admitOnce(ctx, op, ev.Call)
			if err == nil {
				return b.decided(ev, rep, lease, locked)
			}
			if ctx.Err() != nil {
				return b.callerGone(ev)
			}
			if !errors.Is(err, errBusy) { // a resync that ran long is no failure of the store
				down = b.storeFailed(err)
			}
		}
		actx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
		res, recovered := b.admitWithoutStore(actx, ev, op, down)
		cancel()
		if !recovered {
			return res
		}
		// The store came back while this admission waited for the recovery
		// to finish: ask it after all, with a deadline of its own.
		down = false
	}
}

// admitOnce asks the store, within the admission deadline, and keeps the
// headroom accounts: in flight while it waits, the reply's figures after, and
// an undecided admission when it gives up.
func (b *Bridge) admitOnce(ctx context.Context, op AdmitOp, call string) (AdmitReply, Lease, error) {
	actx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
	defer cancel()
	b.mu.Lock()
	h := b.roomLocked(op.Product)
	h.inflight++
	sent := h.sending()
	b.mu.Unlock()
	rep, lease, err := b.admitStore(actx, op, call)
	b.mu.Lock()
	h.inflight--
	switch {
	case err == nil:
		h.sawReply(sent, rep.InUse, rep.Total, rep.Nodes)
		b.answeredLocked() // under the lock already taken: no second one per admission
	case !errors.Is(err, errBusy):
		// The script may still run, or have run: the store may count a
		// channel that nobody holds until a resync writes the truth. It may
		// also land after that resync: heartbeats resync the product again
		// for a lapse.
		b.dirty[op.Product] = true
		b.undecided[op.Product] = time.Now()
	}
	b.mu.Unlock()
	if err != nil && !errors.Is(err, errBusy) {
		b.poke()
	}
	return rep, lease, err
}

// callerGone answers an admission whose caller stopped waiting: nobody will
// act on the answer, so nothing is admitted.
func (b *Bridge) callerGone(ev Event) Result {
	ev.Reason = ReasonTimeout
	b.record(ev)
	b.log.Warn("admission abandoned: the caller stopped waiting", "product", ev.Product, "channel", ev.Channel)
	return Result{Reason: ReasonTimeout}
}

// errBusy: a resync is writing this node's holdings back, and the admission's
// deadline ended before it finished. The store is not down; this admission
// just does not wait any longer for it.
var errBusy = errors.New("bridge: holdings are being written back")

// rlock takes syncMu's read side, giving up when ctx ends: admissions and
// releases never wait on a resync longer than their deadline.
func (b *Bridge) rlock(ctx context.Context) bool {
	if b.syncMu.TryRLock() {
		return true
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			if b.syncMu.TryRLock() {
				return true
			}
		}
	}
}

// admitStore runs the store's admission and keeps the lease locally before a
// resync (or Reconcile) can look; when the node turns out to have lapsed (its
// holdings dropped) while it still holds leases or keys here, it writes them
// back and decides again.
func (b *Bridge) admitStore(ctx context.Context, op AdmitOp, call string) (AdmitReply, Lease, error) {
	for attempt := 0; ; attempt++ {
		if !b.rlock(ctx) {
			return AdmitReply{}, Lease{}, errBusy
		}
		local := attempt == 0 && b.hasLocal(op.Product)
		op.NoRegister = local
		rep, err := b.store.Admit(ctx, op)
		retry := err == nil && rep.Fresh && local
		var lease Lease
		if err == nil && rep.Admitted && !retry {
			lease = b.keep(op, call, rep.Over, false)
		}
		b.syncMu.RUnlock()
		if !retry {
			return rep, lease, err
		}
		if err := b.resync(ctx, op.Product); err != nil {
			return rep, Lease{}, err
		}
	}
}

// hasLocal reports whether this node has anything of product that the store
// should hold (a lapse drops it).
func (b *Bridge) hasLocal(product string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hasLocalLocked(product)
}

func (b *Bridge) hasLocalLocked(product string) bool {
	_, obs := b.observed[product]
	_, wire := b.wire[product]
	return obs || wire || len(b.leases[product]) > 0 || len(b.keys[product]) > 0
}

func (b *Bridge) decided(ev Event, rep AdmitReply, lease Lease, locked bool) Result {
	ev.InUse, ev.Total, ev.Counted = rep.InUse, rep.Total, true
	if !rep.Admitted {
		ev.Reason = rep.Reason
		if locked && rep.Reason == ReasonOverLimit {
			ev.Reason = ReasonLocked
		}
		b.record(ev)
		return Result{Reason: ev.Reason, InUse: rep.InUse, Total: rep.Total}
	}
	ev.Kind, ev.Over = EventAdmit, lease.Over
	ev.NodeInUse, ev.NodeCounted = b.nodeInUse(ev.Product), true
	b.record(ev)
	return Result{Admitted: true, Lease: lease, InUse: rep.InUse, Total: rep.Total}
}

// nodeInUse is this node's count of leases of product.
func (b *Bridge) nodeInUse(product string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.leases[product])
}

// keep records an admitted lease locally (the node's own truth) and returns
// it; a concurrent admission of the same channel keeps the first lease.
func (b *Bridge) keep(op AdmitOp, call string, over, degraded bool) Lease {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.leases[op.Product]
	if m == nil {
		m = map[string]*Lease{}
		b.leases[op.Product] = m
	}
	if l := m[op.Channel]; l != nil {
		return *l
	}
	l := &Lease{ID: op.Product + ":" + op.Channel, Product: op.Product, Channel: op.Channel, Call: call,
		Node: b.opt.Node, Unit: op.Unit, At: op.Now, Over: over, Degraded: degraded}
	m[op.Channel] = l
	return *l
}

// admitWithoutStore applies the outage policy, for a store that is down (or,
// with wasDown false, that did not answer this one call in time). Fail-open
// admits within the fail-open budget (remainingLocked) in a product that may
// not go over its total, and refuses STORE_UNAVAILABLE beyond it. A lease
// kept here is marked dirty so that the next resync writes it to the store,
// and journaled if the store is down. It reports recovered instead when the
// store turns out to be back (a recovery finished meanwhile): the caller then
// asks the store after all.
func (b *Bridge) admitWithoutStore(ctx context.Context, ev Event, op AdmitOp, wasDown bool) (res Result, recovered bool) {
	ev.Degraded = true
	if b.opt.Outage == FailClosed {
		ev.Reason = ReasonStoreUnavailable
		b.record(ev)
		return Result{Reason: ReasonStoreUnavailable}, false
	}
	// Hold off a recovery while the lease is recorded, so that it cannot miss
	// it; if a resync keeps it past the deadline, the dirty mark suffices.
	locked := b.rlock(ctx)
	defer func() {
		if locked {
			b.syncMu.RUnlock()
		}
	}()
	b.mu.Lock()
	if locked && wasDown && !b.down {
		b.mu.Unlock()
		return Result{}, true
	}
	m := b.leases[op.Product]
	if m == nil {
		m = map[string]*Lease{}
		b.leases[op.Product] = m
	}
	if l := m[op.Channel]; l != nil { // a concurrent admission of the channel won
		lease := *l
		b.mu.Unlock()
		return Result{Admitted: true, Lease: lease}, false
	}
	h := b.roomLocked(op.Product)
	left := b.remainingLocked(h)
	if !op.AllowOver && left == 0 {
		// Full at the last good contact: that is the best word there is
		// (the dialplan branches on it); otherwise the budget is spent.
		ev.Reason = ReasonStoreUnavailable
		if h.known && h.free <= 0 {
			ev.Reason = refusal(h.total, false)
			ev.InUse, ev.Total, ev.Counted = h.inUse, h.total, true
		}
		spent := len(h.unsynced)
		b.mu.Unlock()
		b.record(ev)
		b.log.Debug("admission refused without the store", "reason", ev.Reason, "product", op.Product, "channel", op.Channel,
			"admitted_without_store", spent)
		return Result{Reason: ev.Reason}, false
	}
	l := &Lease{ID: op.Product + ":" + op.Channel, Product: op.Product, Channel: op.Channel, Call: ev.Call,
		Node: b.opt.Node, Unit: op.Unit, At: op.Now, Degraded: true}
	m[op.Channel] = l
	h.unsynced[op.Channel] = true
	lease := *l
	ev.NodeInUse, ev.NodeCounted = len(m), true
	b.dirty[op.Product] = true
	// Journaled even when the store is only slow: a crash before the next
	// resync must not forget a channel that was told ADMITTED.
	if b.journal != nil {
		b.appendJournal(journalEntry{Time: op.Now, Op: "admit", Product: op.Product, Channel: op.Channel,
			Call: ev.Call, Unit: op.Unit, Caller: ev.Caller, Called: ev.Called})
		b.journaled = true
	}
	b.mu.Unlock()
	b.poke() // write it to the store soon rather than at the next heartbeat
	ev.Kind = EventAdmit
	b.record(ev)
	return Result{Admitted: true, Lease: lease}, false
}
