package daemon

import (
	"context"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
)

// modeBoard is where nodes publish their enforcement modes and pool, so that
// a reader of the store shows what the nodes enforce: redisstore.Store, or
// memModes for the embedded store.
type modeBoard interface {
	PublishModes(ctx context.Context, m redisstore.NodeModes, now time.Time) error
	Modes(ctx context.Context, now time.Time) ([]redisstore.NodeModes, error)
}

// memModes is the embedded store's board: the one node's entry.
type memModes struct {
	mu  sync.Mutex
	all map[string]redisstore.NodeModes
}

func (m *memModes) PublishModes(_ context.Context, nm redisstore.NodeModes, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.all == nil {
		m.all = map[string]redisstore.NodeModes{}
	}
	m.all[nm.Node] = nm
	return nil
}

func (m *memModes) Modes(_ context.Context, now time.Time) ([]redisstore.NodeModes, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []redisstore.NodeModes
	for _, nm := range m.all {
		if nm.Expires.After(now) {
			out = append(out, nm)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}

// publishModes publishes this node's modes now and every third of the lapse
// (as its heartbeat), each entry living one lapse, until ctx ends.
func (d *Daemon) publishModes(ctx context.Context) {
	lapse := d.s.Store.Lapse
	if lapse <= 0 {
		lapse = bridge.DefaultLapse
	}
	t := time.NewTicker(lapse / 3)
	defer t.Stop()
	for {
		now := time.Now()
		nm := redisstore.NodeModes{Node: d.opt.NodeID, Pool: d.s.Pool, Enforcement: maps.Clone(d.s.Modes), Expires: now.Add(lapse)}
		pctx, cancel := context.WithTimeout(ctx, bridge.DefaultSyncTimeout)
		if err := d.board.PublishModes(pctx, nm, now); err != nil {
			d.log.Debug("publishing the enforcement modes", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// clusterModes merges the live nodes' published modes: a product's mode is
// the one its nodes enforce (grace or monitor over hard when they disagree,
// so that an over-limit state is shown, not hidden); the pool is per-host if
// any node says so. fallback is used for what no live node publishes.
func clusterModes(nodes []redisstore.NodeModes, fallback map[string]bridge.Mode, pool bridge.Pool) (map[string]bridge.Mode, bridge.Pool) {
	modes := maps.Clone(fallback)
	if modes == nil {
		modes = map[string]bridge.Mode{}
	}
	published := map[string]bool{}
	for i, n := range nodes {
		if i == 0 {
			pool = n.Pool
		}
		if n.Pool == bridge.PoolPerHost {
			pool = bridge.PoolPerHost
		}
		for p, m := range n.Enforcement {
			if !published[p] || modes[p] == bridge.ModeHard || modes[p] == "" {
				modes[p] = m
			}
			published[p] = true
		}
	}
	if pool == "" {
		pool = bridge.PoolCluster
	}
	return modes, pool
}
