package bypass_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge/bypass"
	"github.com/licbridge/licbridge/view"
)

// countingSource is a fakeSource with the cheap views; it counts which view
// each caller took.
type countingSource struct {
	*fakeSource
	snapshots, counts, metrics atomic.Int32
}

func (c *countingSource) Snapshot(ctx context.Context) (view.View, error) {
	c.snapshots.Add(1)
	return c.fakeSource.Snapshot(ctx)
}

func (c *countingSource) Counts(ctx context.Context) (view.View, error) {
	c.counts.Add(1)
	return c.fakeSource.Snapshot(ctx)
}

func (c *countingSource) MetricsView(ctx context.Context) (view.View, error) {
	c.metrics.Add(1)
	return c.fakeSource.Snapshot(ctx)
}

// TestRunTakesTheCheapView: every tick of Run reads the wrapped source's
// Counts (the store's totals) when it has one, never its full Snapshot, and
// judges it like any view; MetricsView and Snapshot pass through to their
// own kind, judged too.
func TestRunTakesTheCheapView(t *testing.T) {
	src := &countingSource{fakeSource: &fakeSource{}}
	src.set(time.Now(), 20, 5)
	// An instant rule: the first over view after the spell starts alerts.
	w := bypass.Wrap(src, bypass.Options{After: time.Nanosecond, Every: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	for i := 0; ; i++ {
		src.set(time.Now(), 20, 5)
		if v, ok := w.Detector().Current("g729"); ok && v.Alert {
			break
		}
		if i > 10000 {
			t.Fatal("Run raised no alert")
		}
		time.Sleep(time.Millisecond) // Run ticks on its own timer
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if s, c := src.snapshots.Load(), src.counts.Load(); s != 0 || c == 0 {
		t.Errorf("Run took %d snapshots and %d cheap views, want none and some", s, c)
	}
	v, err := w.MetricsView(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if src.metrics.Load() != 1 || src.snapshots.Load() != 0 {
		t.Errorf("MetricsView: %d metrics views, %d snapshots; want 1 and 0", src.metrics.Load(), src.snapshots.Load())
	}
	for _, p := range v.Products {
		if p.Name == "g729" && (p.Bypass == nil || !p.Bypass.Alert) {
			t.Errorf("the metrics view's g729 carries no bypass verdict: %+v", p)
		}
	}
}
