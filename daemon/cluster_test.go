package daemon

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/licbridge/licbridge/view"
)

func settings(t *testing.T, yaml string) *config.Settings {
	t.Helper()
	cfg := config.Default()
	if err := config.Decode([]byte(yaml), cfg); err != nil {
		t.Fatal(err)
	}
	s, err := cfg.Validate()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestClusterViewShowsNodesModes: a node runs g729 in grace mode, 14 days
// over the limit (LOCKED). A reader with no enforcement configured (show
// licenses --redis on an admin's laptop) shows grace and LOCKED, as the node
// enforces it: the node publishes its modes and pool to the store. The
// reader used to build its bridge from its own settings and printed "hard,
// state OK" for a product the nodes refuse as LOCKED.
func TestClusterViewShowsNodesModes(t *testing.T) {
	rs := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// 14 over-limit days in the store, as the nodes' tracker left them.
	st, err := redisstore.Dial(ctx, redisstore.Options{Addr: rs.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	day := time.Now().UTC().AddDate(0, 0, -overage.LockDay+1)
	clock := func() time.Time { return day }
	m := overage.New(overage.Options{Store: overage.NewRedisStore(st.Client()), Modes: map[string]overage.Mode{"g729": overage.ModeGrace}, Now: clock})
	for range overage.LockDay {
		if _, err := m.Observe(ctx, "g729", 6, 5); err != nil {
			t.Fatal(err)
		}
		day = day.AddDate(0, 0, 1)
	}

	node := settings(t, "no_asterisk: true\nagi: {listen: '127.0.0.1:0'}\nhttp: {listen: 'off'}\nenforcement: {g729: grace}\nstore: {pool: per-host, redis: '"+rs.Addr+"'}\n")
	d, err := New(ctx, Options{Settings: node, NodeID: "pbx1", Journal: "-", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx, nil) }()
	defer func() { stop(); <-done }()
	if err := d.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Bridge().PublishKeys(ctx, []bridge.KeyGrant{{KeyID: "G729-A", Product: "g729", Channels: 5, Until: time.Now().Add(24 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}

	reader := settings(t, "store: {redis: '"+rs.Addr+"'}\n")
	var v view.View
	for {
		// The node publishes its modes as it starts: wait for them.
		if nm, err := st.Modes(ctx, time.Now()); err != nil {
			t.Fatal(err)
		} else if len(nm) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the node never published its modes")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if v, err = ClusterView(ctx, reader, nil); err != nil {
		t.Fatal(err)
	}
	var g *view.Product
	for i := range v.Products {
		if v.Products[i].Name == "g729" {
			g = &v.Products[i]
		}
	}
	if g == nil {
		t.Fatalf("no g729 in %+v", v.Products)
	}
	if g.Enforcement != view.ModeGrace || g.Overage.Phase != view.PhaseLocked {
		t.Errorf("g729: enforcement %s, phase %s; want grace, LOCKED (as pbx1 enforces it)", g.Enforcement, g.Overage.Phase)
	}
	// The modes expire with the node: a node gone for a lapse is not shown.
	nm, err := st.Modes(ctx, time.Now().Add(time.Hour))
	if err != nil || len(nm) != 0 {
		t.Errorf("modes an hour on: %+v %v, want none", nm, err)
	}
}

func TestClusterModes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nodes    []redisstore.NodeModes
		fallback map[string]bridge.Mode
		pool     bridge.Pool
		want     map[string]bridge.Mode
		wantPool bridge.Pool
	}{
		{"none published", nil, map[string]bridge.Mode{"fax": bridge.ModeMonitor}, bridge.PoolCluster, map[string]bridge.Mode{"fax": bridge.ModeMonitor}, bridge.PoolCluster},
		{"nodes over the reader", []redisstore.NodeModes{{Node: "a", Pool: bridge.PoolPerHost, Enforcement: map[string]bridge.Mode{"g729": bridge.ModeGrace}}},
			map[string]bridge.Mode{"g729": bridge.ModeHard}, bridge.PoolCluster, map[string]bridge.Mode{"g729": bridge.ModeGrace}, bridge.PoolPerHost},
		{"disagreeing nodes show the softer", []redisstore.NodeModes{
			{Node: "a", Pool: bridge.PoolCluster, Enforcement: map[string]bridge.Mode{"g729": bridge.ModeHard}},
			{Node: "b", Pool: bridge.PoolCluster, Enforcement: map[string]bridge.Mode{"g729": bridge.ModeGrace}},
		}, nil, bridge.PoolPerHost, map[string]bridge.Mode{"g729": bridge.ModeGrace}, bridge.PoolCluster},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, pool := clusterModes(tc.nodes, tc.fallback, tc.pool)
			if pool != tc.wantPool || len(got) != len(tc.want) {
				t.Fatalf("got %v %s, want %v %s", got, pool, tc.want, tc.wantPool)
			}
			for p, m := range tc.want {
				if got[p] != m {
					t.Errorf("%s: %s, want %s", p, got[p], m)
				}
			}
		})
	}
}
