package overage_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge/overage"
)

// flaky is a Store that fails while down is set.
type flaky struct {
	overage.Store
	mu   sync.Mutex
	down bool
}

func (f *flaky) set(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

func (f *flaky) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("store down")
	}
	return nil
}

func (f *flaky) Get(ctx context.Context, p string) ([]byte, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, p)
}

// TestTracker drives a product to LOCKED through the non-blocking Tracker:
// a burst of observations where only one moment is over the limit still
// makes the day over; the lock shows through Locked after a flush; a failed
// flush loses nothing; more capacity unlocks.
func TestTracker(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	st := &flaky{Store: overage.NewMemoryStore()}
	m := overage.New(overage.Options{Store: st, Now: clk.Now, Modes: map[string]overage.Mode{"g729": overage.ModeGrace}})
	tr := overage.NewTracker(m)
	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

	if tr.Locked("g729") {
		t.Fatal("locked before anything happened")
	}
	for d := range overage.LockDay - 1 {
		clk.Set(start.AddDate(0, 0, d))
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				if i == 17 {
					tr.Observe("g729", 11, 10) // the one over-limit moment of the day
				} else {
					tr.Observe("g729", i%10, 10)
				}
			})
		}
		wg.Wait()
		if d == 5 {
			// The store fails for one flush: the day's overage must survive.
			st.set(true)
			if err := tr.Flush(ctx); err == nil {
				t.Fatal("flush over a failing store: no error")
			}
			st.set(false)
		}
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		s, _ := m.Status(ctx, "g729")
		if s.OverDays != d+1 {
			t.Fatalf("day %d: %d over days", d+1, s.OverDays)
		}
	}
	clk.Set(start.AddDate(0, 0, overage.LockDay-1))
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !tr.Locked("g729") {
		t.Fatal("not locked on day 14")
	}
	tr.Observe("g729", 9, 12) // a new key: 12 >= the peak of 11
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if tr.Locked("g729") {
		t.Fatal("still locked after more capacity")
	}
}

// TestTrackerRun: Run picks up observations without an explicit flush.
func TestTrackerRun(t *testing.T) {
	m := overage.New(overage.Options{Modes: map[string]overage.Mode{"fax": overage.ModeGrace}})
	tr := overage.NewTracker(m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tr.Run(ctx, func(err error) { t.Error(err) }) }()
	tr.Observe("fax", 3, 2)
	// Wait on the state itself, bounded by a deadline rather than a fixed sleep.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := m.Status(context.Background(), "fax")
		if err != nil {
			t.Fatal(err)
		}
		if s.OverDays == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run never recorded the observation")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLockFollowsTheDay: a product that has been over its total for 13 days
// is locked as soon as day 14 begins, without traffic: the lock an admission
// reads is refreshed every second (it was a minute, so the first over-limit
// admissions of day 14 were still admitted).
func TestLockFollowsTheDay(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	reads := &counting{Store: overage.NewMemoryStore()}
	m := overage.New(overage.Options{Store: reads, Modes: map[string]overage.Mode{"fax": overage.ModeGrace}, Now: clock})
	ctx := context.Background()
	for day := range overage.LockDay - 1 {
		if _, err := m.Observe(ctx, "fax", 3, 2); err != nil {
			t.Fatal(err)
		}
		if day < overage.LockDay-2 {
			mu.Lock()
			now = now.Add(24 * time.Hour)
			mu.Unlock()
		}
	}
	tr := overage.NewTracker(m)
	if err := tr.Prime(ctx, "fax"); err != nil {
		t.Fatal(err)
	}
	if tr.Locked("fax") {
		t.Fatalf("locked on day %d, want the lock from day %d", overage.LockDay-1, overage.LockDay)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	before := reads.n.Load()
	go func() { done <- tr.Run(rctx, nil) }()
	defer func() { cancel(); <-done }()
	for reads.n.Load() == before { // Run's first refresh, still on day 13
		time.Sleep(time.Millisecond)
	}
	if tr.Locked("fax") {
		t.Fatal("locked on day 13")
	}
	mu.Lock()
	now = time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 1, 0, time.UTC) // day 14 begins
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !tr.Locked("fax") {
		if time.Now().After(deadline) {
			t.Fatal("day 14 began and the tracker still says not locked")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counting is a Store that counts reads.
type counting struct {
	overage.Store
	n atomic.Int64
}

func (c *counting) Get(ctx context.Context, p string) ([]byte, error) {
	c.n.Add(1)
	return c.Store.Get(ctx, p)
}
