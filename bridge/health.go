package bridge

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Usage reports every product as the cluster sees it now, node by node. It
// reads each product's whole state, at a cost that grows with the nodes and
// keys: it is for people (show, the status page). A per-call or per-interval
// path asks Totals or AllTotals.
func (b *Bridge) Usage(ctx context.Context) ([]ProductUsage, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	names, err := b.store.Products(ctx)
	if err != nil {
		return nil, fmt.Errorf("bridge: usage: %w", err)
	}
	now := b.clock.Now()
	out := make([]ProductUsage, 0, len(names))
	for _, p := range names {
		snap, err := b.store.Snapshot(ctx, p, now)
		if err != nil {
			return nil, fmt.Errorf("bridge: usage of %s: %w", p, err)
		}
		out = append(out, Summarize(snap, now, b.opt.Pool))
	}
	return out, nil
}

// Totals reports product's totals as the cluster sees them now (and this
// node's share), at a cost that does not depend on the number of nodes and
// keys. A product no node has used is not Known, with zero totals.
func (b *Bridge) Totals(ctx context.Context, product string) (Totals, error) {
	if !ValidProduct(product) {
		return Totals{}, fmt.Errorf("bridge: totals: product %q is not a valid name", product)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	t, err := b.store.Totals(ctx, product, b.opt.Node, b.clock.Now())
	if err != nil {
		return Totals{}, fmt.Errorf("bridge: totals of %s: %w", product, err)
	}
	return t, nil
}

// AllTotals reports the totals of every product (Usage's products, without
// the per-node detail), sorted by product, one cheap read each.
func (b *Bridge) AllTotals(ctx context.Context) ([]Totals, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	names, err := b.store.Products(ctx)
	if err != nil {
		return nil, fmt.Errorf("bridge: totals: %w", err)
	}
	now := b.clock.Now()
	out := make([]Totals, 0, len(names))
	for _, p := range names {
		t, err := b.store.Totals(ctx, p, b.opt.Node, now)
		if err != nil {
			return nil, fmt.Errorf("bridge: totals of %s: %w", p, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// LiveNodes names product's live nodes, sorted: one read of their names,
// without their keys and counts.
func (b *Bridge) LiveNodes(ctx context.Context, product string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	ns, err := b.store.LiveNodes(ctx, product, b.clock.Now())
	if err != nil {
		return nil, fmt.Errorf("bridge: live nodes of %s: %w", product, err)
	}
	return ns, nil
}

// Summarize turns a store Snapshot into a ProductUsage under the given pool.
func Summarize(snap Snapshot, now time.Time, pool Pool) ProductUsage {
	if pool == "" {
		pool = PoolCluster
	}
	u := ProductUsage{Product: snap.Product, Pool: pool, Conflicts: conflicts(snap.Nodes)}
	u.Total, u.Expired = capacity(snap.Nodes, now, PoolCluster, "")
	for _, n := range snap.Nodes {
		total := u.Total
		if pool == PoolPerHost {
			total, _ = capacity(snap.Nodes, now, PoolPerHost, n.Node)
		}
		u.Nodes = append(u.Nodes, NodeUsage{Node: n.Node, InUse: n.Units, Observed: n.Observed, Wire: n.Wire, Total: total, Keys: n.Keys})
		u.InUse += n.Units
		u.Observed += n.Observed
		u.Wire += n.Wire
	}
	return u
}

// Leases returns this node's leases, sorted by ID.
func (b *Bridge) Leases() []Lease {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Lease
	for _, m := range b.leases {
		for _, l := range m {
			out = append(out, *l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// StoreAvailable reports whether the store is currently trusted.
func (b *Bridge) StoreAvailable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.down
}

// InSync reports whether the store is available and holds everything this
// node holds (no resync pending).
func (b *Bridge) InSync() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.down && len(b.dirty) == 0
}

func (b *Bridge) record(ev Event) {
	if b.opt.Observer != nil {
		b.opt.Observer.Record(ev)
	}
}

// markDown stops trusting the store until Run has seen it answer again and
// has written this node's holdings back.
func (b *Bridge) markDown(err error) {
	b.mu.Lock()
	was := b.down
	b.down = true
	for p := range b.products {
		b.dirty[p] = true
	}
	b.mu.Unlock()
	if !was {
		b.log.Warn("store unavailable; following the outage policy", "policy", b.opt.Outage, "err", err)
	}
	b.poke()
}

func (b *Bridge) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}
