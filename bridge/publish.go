package bridge

import (
	"context"
	"fmt"
)

// PublishObserved records the node's passive count of product: n channels
// that use it without asking for admission (AMI passive accounting). It is
// kept apart from the SIP monitor's wire count (PublishWire). The observation
// is always reported to the Observer, even when the store is away.
func (b *Bridge) PublishObserved(ctx context.Context, product string, n int) error {
	if !licensable(product) {
		return fmt.Errorf("bridge: observed count: product %q is not a valid name", product)
	}
	b.mu.Lock()
	b.observed[product] = n
	b.products[product] = true
	down := b.down
	b.mu.Unlock()
	b.record(Event{Kind: EventObserved, Time: b.clock.Now(), Node: b.opt.Node, Product: product, InUse: n, Degraded: down})
	if down {
		b.setDirty(product)
		return ErrStoreUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
	defer cancel()
	if err := b.store.PublishObserved(ctx, b.opt.Node, product, n); err != nil {
		b.markDown(err)
		return fmt.Errorf("bridge: publish observed %s: %w", product, err)
	}
	return nil
}

// PublishWire records that this node's SIP monitor sees legs legs of product on
// the wire: "g729" and "fax" for those products, WireLegs for every leg
// whatever its codec. It registers the node live in the store (a monitor
// publishes as a node of its own, which holds no keys and no channels; Run
// keeps it live) and never touches the node's admitted units or its passive
// count. The count is reported to the Observer as EventWire, even when the
// store is away; it is then written back by the recovery.
func (b *Bridge) PublishWire(ctx context.Context, product string, legs int) error {
	if !ValidProduct(product) {
		return fmt.Errorf("bridge: wire count: product %q is not a valid name", product)
	}
	if legs < 0 {
		return fmt.Errorf("bridge: wire count of %s: %d legs", product, legs)
	}
	b.mu.Lock()
	b.wire[product] = legs
	b.products[product] = true
	down := b.down
	b.mu.Unlock()
	now := b.clock.Now()
	b.record(Event{Kind: EventWire, Time: now, Node: b.opt.Node, Product: product, InUse: legs, Degraded: down})
	if down {
		b.setDirty(product)
		return ErrStoreUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	fresh, err := b.store.PublishWire(ctx, WireOp{Node: b.opt.Node, Product: product, Legs: legs, Now: now, Expires: now.Add(b.opt.Lapse)})
	if err != nil {
		b.markDown(err)
		return fmt.Errorf("bridge: publish wire %s: %w", product, err)
	}
	if fresh && b.hasOtherThanWire(product) {
		// The node had lapsed: whatever else it had of product was dropped.
		if err := b.resync(ctx, product); err != nil {
			b.markDown(err)
			return err
		}
	}
	return nil
}

func (b *Bridge) hasOtherThanWire(product string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, obs := b.observed[product]
	return obs || len(b.leases[product]) > 0 || len(b.keys[product]) > 0
}

func (b *Bridge) setDirty(product string) {
	b.mu.Lock()
	b.dirty[product] = true
	b.mu.Unlock()
}
