package bridge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Reconcile makes this node's holdings match what Asterisk reports live: a
// lease whose channel is not in live is released; a Hold naming a product is
// re-asserted (admitted without a check: a live channel is never refused), and
// the resulting overage is recorded and returned. A Hold without a product
// only keeps the channel's existing leases.
func (b *Bridge) Reconcile(ctx context.Context, live []Hold) (ReconcileResult, error) {
	now := b.clock.Now()
	res := ReconcileResult{Over: map[string]int{}}
	restoreErr := b.ensureRestored(ctx)
	b.syncMu.Lock()
	b.mu.Lock()
	touched, events, bad := b.reconcileLocked(now, live, &res)
	// The store copy may differ from ours even where we changed nothing (a
	// restarted node knows nothing of what its previous run held).
	for p := range b.leases {
		touched[p] = true
	}
	for p := range b.products {
		touched[p] = true
	}
	for p := range touched {
		b.dirty[p] = true
		b.products[p] = true
	}
	down := b.down || restoreErr != nil
	b.mu.Unlock()
	// Emitted before syncMu is released, so that no admission or release of
	// these products can report in between.
	for _, ev := range events {
		b.record(ev)
	}
	b.syncMu.Unlock()
	if down {
		return res, errors.Join(append(bad, ErrStoreUnavailable)...)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	all, err := b.store.Products(ctx)
	if err != nil {
		b.markDown(err)
		return res, errors.Join(append(bad, fmt.Errorf("bridge: reconcile: %w", err))...)
	}
	for _, p := range all {
		if !touched[p] {
			touched[p] = true
			b.mu.Lock()
			b.products[p] = true
			b.mu.Unlock()
		}
	}
	for p := range touched {
		rep, err := b.resyncReply(ctx, p)
		if err != nil {
			b.markDown(err)
			return res, errors.Join(append(bad, err)...)
		}
		if rep.InUse > rep.Total {
			res.Over[p] = rep.InUse - rep.Total
		}
	}
	return res, errors.Join(bad...)
}

// reconcileLocked releases the leases of channels not in live and re-asserts
// the Holds that name a product; b.mu is held. It returns the products it
// touched, the release events to emit once b.mu is released, and the Holds
// it could not take.
func (b *Bridge) reconcileLocked(now time.Time, live []Hold, res *ReconcileResult) (touched map[string]bool, events []Event, bad []error) {
	alive := map[string]bool{}
	for _, h := range live {
		alive[h.Channel] = true
	}
	touched = map[string]bool{}
	for p, m := range b.leases {
		for ch, l := range m {
			if !alive[ch] {
				delete(m, ch)
				touched[p] = true
				res.Released++
				events = append(events, b.releasedLocked(l, now, !b.roomLocked(p).unsynced[ch]))
			}
		}
	}
	for _, h := range live {
		if h.Product == "" {
			continue
		}
		if err := validate(Request{Product: h.Product, Channel: h.Channel, Call: h.Call}); err != nil {
			bad = append(bad, fmt.Errorf("reconcile: %w", err))
			continue
		}
		m := b.leases[h.Product]
		if m == nil {
			m = map[string]*Lease{}
			b.leases[h.Product] = m
		}
		if m[h.Channel] != nil {
			continue
		}
		m[h.Channel] = &Lease{ID: h.Product + ":" + h.Channel, Product: h.Product, Channel: h.Channel, Call: h.Call,
			Node: b.opt.Node, Unit: b.unit(h.Product, h.Channel, h.Call), At: now}
		b.products[h.Product] = true
		touched[h.Product] = true
		res.Asserted++
	}
	return touched, events, bad
}

// resync writes this node's keys and holdings of product to the store.
func (b *Bridge) resync(ctx context.Context, product string) error {
	_, err := b.resyncReply(ctx, product)
	return err
}

func (b *Bridge) resyncReply(ctx context.Context, product string) (SyncReply, error) {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	return b.resyncLocked(ctx, product)
}

// resyncLocked is resyncReply for a caller that holds syncMu.
func (b *Bridge) resyncLocked(ctx context.Context, product string) (rep SyncReply, err error) {
	now := b.clock.Now()
	b.mu.Lock()
	// Clear the mark with the snapshot: a change after it (a lease kept while
	// an admission could not wait for this resync) marks it again.
	delete(b.dirty, product)
	defer func() {
		if err != nil {
			b.setDirty(product)
		}
	}()
	keys := append([]KeyGrant(nil), b.keys[product]...)
	holds := make([]UnitHold, 0, len(b.leases[product]))
	for _, l := range b.leases[product] {
		holds = append(holds, UnitHold{Channel: l.Channel, Unit: l.Unit})
	}
	h := b.roomLocked(product)
	sent := h.sending()
	written := make([]string, 0, len(h.unsynced))
	for ch := range h.unsynced {
		written = append(written, ch)
	}
	obs, hasObs := b.observed[product]
	wire, hasWire := b.wire[product]
	b.mu.Unlock()
	exp := now.Add(b.opt.Lapse)
	if _, err := b.store.PublishKeys(ctx, KeysOp{Node: b.opt.Node, Product: product, Keys: keys, Now: now, Expires: exp}); err != nil {
		return SyncReply{}, fmt.Errorf("bridge: resync %s: publish keys: %w", product, err)
	}
	rep, err = b.store.Sync(ctx, SyncOp{Node: b.opt.Node, Product: product, Holds: holds, Now: now, Expires: exp, Pool: b.opt.Pool})
	if err != nil {
		return rep, fmt.Errorf("bridge: resync %s: %w", product, err)
	}
	if hasObs {
		if err := b.store.PublishObserved(ctx, b.opt.Node, product, obs); err != nil {
			return rep, fmt.Errorf("bridge: resync %s: observed: %w", product, err)
		}
	}
	if hasWire {
		if _, err := b.store.PublishWire(ctx, WireOp{Node: b.opt.Node, Product: product, Legs: wire, Now: now, Expires: exp}); err != nil {
			return rep, fmt.Errorf("bridge: resync %s: wire: %w", product, err)
		}
	}
	// The store now holds exactly what this node holds: admissions given up
	// on are undone, and the leases taken without the store are written.
	b.mu.Lock()
	h.sawReply(sent, rep.InUse, rep.Total, rep.Nodes)
	for _, ch := range written {
		delete(h.unsynced, ch)
	}
	held := len(b.leases[product])
	b.mu.Unlock()
	b.record(Event{Kind: EventReconcile, Time: now, Node: b.opt.Node, Product: product,
		InUse: rep.InUse, Total: rep.Total, Counted: true, Over: rep.InUse > rep.Total, NodeInUse: held, NodeCounted: true})
	if rep.InUse > rep.Total {
		b.log.Warn("holdings beyond the total after resync", "product", product, "in_use", rep.InUse, "total", rep.Total,
			"over", rep.InUse-rep.Total, "written_after_admission_without_store", len(written))
	}
	return rep, nil
}

// PublishKeys replaces the keys this node presents (all products at once):
// a product missing from grants has no keys here any more. Grants that are not
// valid are skipped and named in the error; the others are published.
func (b *Bridge) PublishKeys(ctx context.Context, grants []KeyGrant) error {
	by := map[string][]KeyGrant{}
	var bad []error
	for _, g := range grants {
		switch {
		case g.Product == WireLegs:
			bad = append(bad, fmt.Errorf("bridge: key %q: product %q is reserved for the SIP monitor's count of all legs", g.KeyID, g.Product))
		case !ValidProduct(g.Product):
			bad = append(bad, fmt.Errorf("bridge: key %q: product %q is not a valid name", g.KeyID, g.Product))
		case g.KeyID == "":
			bad = append(bad, fmt.Errorf("bridge: a %s key has no key ID", g.Product))
		case g.Channels < 0:
			bad = append(bad, fmt.Errorf("bridge: key %s: %d channels", g.KeyID, g.Channels))
		default:
			by[g.Product] = append(by[g.Product], g)
		}
	}
	restoreErr := b.ensureRestored(ctx)
	b.mu.Lock()
	for p := range b.keys {
		if _, ok := by[p]; !ok {
			by[p] = nil
		}
	}
	for p, ks := range by {
		b.keys[p] = ks
		b.products[p] = true
	}
	down := b.down || restoreErr != nil
	b.mu.Unlock()
	if down {
		b.mu.Lock()
		for p := range by {
			b.dirty[p] = true
		}
		b.mu.Unlock()
		return errors.Join(append(bad, ErrStoreUnavailable)...)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	names := make([]string, 0, len(by))
	for p := range by {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		now := b.clock.Now()
		fresh, err := b.store.PublishKeys(ctx, KeysOp{Node: b.opt.Node, Product: p, Keys: by[p], Now: now, Expires: now.Add(b.opt.Lapse)})
		if err != nil {
			b.markDown(err)
			return errors.Join(append(bad, fmt.Errorf("bridge: publish %s keys: %w", p, err))...)
		}
		// Resync even when nothing was lost: its reply is the headroom that
		// bounds admissions without the store (the fail-open budget).
		if fresh || b.hasLocal(p) {
			if err := b.resync(ctx, p); err != nil {
				b.markDown(err)
				return errors.Join(append(bad, err)...)
			}
		}
		if len(by[p]) > 0 {
			b.warnConflicts(ctx, p, now)
		}
	}
	return errors.Join(bad...)
}

// warnConflicts logs every key of product that this node presents and another
// live node presents too (a cloned VM, say): it counts once. Usage reports
// the same conflicts for the admin views.
func (b *Bridge) warnConflicts(ctx context.Context, product string, now time.Time) {
	snap, err := b.store.Snapshot(ctx, product, now)
	if err != nil {
		return // the conflict will show in Usage; publishing succeeded
	}
	for _, c := range conflicts(snap.Nodes) {
		if contains(c.Nodes, b.opt.Node) {
			b.log.Warn("the same license key is present on several live nodes; it counts once",
				"product", product, "key_id", c.KeyID, "nodes", c.Nodes)
		}
	}
}
