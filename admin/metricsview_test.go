package admin_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/view"
)

// cheapSource is a Source with a MetricsView: the scrape must read that one
// (the store's totals, flat in the cluster's size), never the full Snapshot.
type cheapSource struct {
	*fakeSource
	snapshots, metrics atomic.Int32
}

func (c *cheapSource) Snapshot(ctx context.Context) (view.View, error) {
	c.snapshots.Add(1)
	return c.fakeSource.Snapshot(ctx)
}

func (c *cheapSource) MetricsView(ctx context.Context) (view.View, error) {
	c.metrics.Add(1)
	return c.fakeSource.Snapshot(ctx)
}

var _ admin.MetricsSource = (*cheapSource)(nil)

// TestMetricsReadTheCheapView: a scrape reads the Source's MetricsView when
// it has one, and its gauges carry that view.
func TestMetricsReadTheCheapView(t *testing.T) {
	src := &cheapSource{fakeSource: newFake(t)}
	_, base := serve(t, admin.Options{Listen: "127.0.0.1:0", Source: src})
	fams := scrape(t, base)
	if s, m := src.snapshots.Load(), src.metrics.Load(); s != 0 || m != 1 {
		t.Errorf("a scrape took %d snapshots and %d metrics views, want 0 and 1", s, m)
	}
	if got := value(t, fams, "licbridge_channels_licensed", "product", "g729"); got != 30 {
		t.Errorf("channels_licensed %v, want 30", got)
	}
	if got := value(t, fams, "licbridge_cluster_node_live", "node", "pbx-b"); got != 1 {
		t.Errorf("cluster_node_live of pbx-b %v, want 1", got)
	}
}
