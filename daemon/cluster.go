package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/view"
)

// ClusterView reads the cluster's state from the shared store that s names,
// as the nodes themselves see it: the pool and enforcement modes are those
// the live nodes publish (the settings' only for what none publishes), so a
// product in grace and LOCKED on the nodes shows so here. The bridge it reads
// with is never run: it neither registers nor heartbeats.
func ClusterView(ctx context.Context, s *config.Settings, log *slog.Logger) (view.View, error) {
	rs, err := DialStore(ctx, s.Store, log, false)
	if err != nil {
		return view.View{}, err
	}
	defer rs.Close()
	ctx, cancel := context.WithTimeout(ctx, StoreDialTimeout)
	defer cancel()
	v, err := readCluster(ctx, s, rs, rs)
	if err != nil {
		return view.View{}, fmt.Errorf("shared store %s: %w", redisstore.Redact(s.Store.Redis), err)
	}
	return v, nil
}

// readCluster builds the read-only view on store, with the modes on board.
func readCluster(ctx context.Context, s *config.Settings, rs *redisstore.Store, board modeBoard) (view.View, error) {
	published, err := board.Modes(ctx, time.Now())
	if err != nil {
		return view.View{}, err
	}
	modes, pool := clusterModes(published, s.Modes, s.Pool)
	cat := s.Catalog
	b, err := bridge.New(bridge.Options{Store: rs, Node: "show-" + config.HostNodeName(), Pool: pool, Enforcement: modes,
		Counting: s.Counting, Known: func(p string) bool { _, ok := cat.Lookup(p); return ok }})
	if err != nil {
		return view.View{}, err
	}
	defer b.Close()
	src := &node.Source{
		Bridge:      b,
		Enforcement: modes,
		Recorder:    stats.New(stats.Options{Store: stats.NewRedisStore(rs.Client()), Location: s.Location}),
		Overage:     overage.New(overage.Options{Store: overage.NewRedisStore(rs.Client()), Modes: overageModes(modes), Location: s.Location}),
	}
	return src.Snapshot(ctx)
}
