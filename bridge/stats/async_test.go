package stats_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge/stats"
)

// TestAsyncKeepsPeaks: many goroutines observe through Async across three
// windows; after a drain every window has exactly its highest counts, and a
// failed drain loses nothing.
func TestAsyncKeepsPeaks(t *testing.T) {
	ctx := context.Background()
	st := &failing{Store: stats.NewMemoryStore()}
	rec := stats.New(stats.Options{Store: st})
	a := stats.NewAsync(rec)
	t0 := time.Date(2026, 4, 4, 9, 0, 0, 0, time.UTC)
	want := []int{0, 0, 0}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				h := (g + i) % 3
				v := (i*7 + g*13) % 97
				a.Observe(t0.Add(time.Duration(h)*time.Hour+time.Duration(i)*time.Second), "g729", "n1", v, v)
				mu.Lock()
				want[h] = max(want[h], v)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st.down = true
	if err := a.Drain(ctx); err == nil {
		t.Fatal("drain over a failing store: no error")
	}
	st.down = false
	if err := a.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := rec.Query(ctx, "g729", t0, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range rep.Windows {
		if w.Peak != want[i] || w.Nodes["n1"] != want[i] {
			t.Errorf("window %d: %d/%d, want %d", i, w.Peak, w.Nodes["n1"], want[i])
		}
	}
}
