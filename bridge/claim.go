package bridge

import (
	"context"
	"fmt"
	"time"
)

// NodeIDTakenError: another live process holds this node's ID in the store
// (a cloned VM that kept its state dir, or a second daemon with the same
// --node-id). Two processes under one ID would overwrite each other's
// holdings, so this one must not run.
type NodeIDTakenError struct {
	Node, Holder string
}

func (e *NodeIDTakenError) Error() string {
	return fmt.Sprintf("node ID %s is in use by another live licbridge (%s): give this node its own --node-id (or remove the node-id file copied into its state dir)", e.Node, e.Holder)
}

// Claim takes this process's claim on its node ID before it does anything
// else with the store. A claim held by an earlier run of this process
// (Options.Superseded) is taken over; one held by another instance is watched
// for up to a lapse: renewed means that process is alive (NodeIDTakenError),
// left to end means it died and the ID is taken. Without Options.Instance it
// does nothing. With the store away it returns the error; the claim is then
// taken by the first heartbeat that reaches the store.
func (b *Bridge) Claim(ctx context.Context) error {
	if b.opt.Instance == "" {
		return nil
	}
	var seen Claim
	deadline := time.Now().Add(b.opt.Lapse + b.opt.HeartbeatEvery)
	for {
		c, err := b.claim(ctx, false)
		if err != nil {
			return err
		}
		if c.Holder == "" {
			return nil
		}
		if b.opt.Superseded != nil && b.opt.Superseded(c.Holder) {
			b.log.Info("taking over the node ID from this process's earlier run", "earlier", c.Holder)
			if _, err := b.claim(ctx, true); err != nil {
				return err
			}
			return nil
		}
		if seen.Holder == c.Holder && c.Until.After(seen.Until) {
			return &NodeIDTakenError{Node: b.opt.Node, Holder: c.Holder}
		}
		if seen.Holder == "" {
			b.log.Warn("another process holds this node ID; waiting to see whether it is alive",
				"holder", c.Holder, "for_up_to", time.Until(deadline).Round(time.Second))
		}
		seen = c
		if time.Now().After(deadline) {
			return &NodeIDTakenError{Node: b.opt.Node, Holder: c.Holder}
		}
		t := time.NewTimer(min(b.opt.HeartbeatEvery/2, time.Until(deadline)) + 10*time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (b *Bridge) claim(ctx context.Context, force bool) (Claim, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	now := b.clock.Now()
	c, err := b.store.Claim(ctx, ClaimOp{Node: b.opt.Node, Instance: b.opt.Instance, Now: now, Expires: now.Add(b.opt.Lapse), Force: force})
	if err != nil {
		return Claim{}, fmt.Errorf("bridge: claim node ID %s: %w", b.opt.Node, err)
	}
	return c, nil
}

// renewClaim keeps the claim with every heartbeat. A claim found held by
// another live instance (both ran through a store restart, say) is fatal.
func (b *Bridge) renewClaim(ctx context.Context) error {
	if b.opt.Instance == "" {
		return nil
	}
	c, err := b.claim(ctx, false)
	if err != nil {
		return err
	}
	if c.Holder != "" {
		return &NodeIDTakenError{Node: b.opt.Node, Holder: c.Holder}
	}
	return nil
}
