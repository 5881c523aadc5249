package sipmon

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when the supervisor sleeps or a run
// says it lasted.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) pass(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
func (c *fakeClock) sleep(ctx context.Context, d time.Duration) bool {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err() == nil
}

// TestSupervisorBackoff: an input that opens and fails at once is retried
// ever more slowly (the backoff once started over right after each reopen,
// retrying a flapping input every second forever); one that ran for the
// stable period before failing starts over from the shortest wait.
func TestSupervisorBackoff(t *testing.T) {
	const min, maxD, stable = time.Second, time.Minute, 30 * time.Second
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Runs: 6 that fail at once (waits at attempts 0-5), then one that lasts
	// the stable period, then one that fails at once, then the end.
	lasts := []time.Duration{0, 0, 0, 0, 0, 0, stable, 0}
	runs := 0
	run := func(context.Context) error {
		if runs == len(lasts) {
			cancel()
			return ctx.Err()
		}
		clk.pass(lasts[runs])
		runs++
		return errors.New("interface went down")
	}
	in := Input{Name: "interface test0", Open: func() (func(context.Context) error, error) { return run, nil }}
	s, err := Supervise([]Input{in}, SuperviseOptions{MinBackoff: min, MaxBackoff: maxD, Stable: stable, now: clk.now, sleep: clk.sleep})
	if err != nil {
		t.Fatal(err)
	}
	s.Run(ctx)
	if len(clk.sleeps) != len(lasts) {
		t.Fatalf("%d waits, want %d: %v", len(clk.sleeps), len(lasts), clk.sleeps)
	}
	// Delay(attempt) lies in [d/2, d] for d = min·2^attempt, capped.
	within := func(i, attempt int) {
		d := min << attempt
		if d > maxD {
			d = maxD
		}
		if got := clk.sleeps[i]; got < d/2 || got > d {
			t.Errorf("wait %d = %v, want within [%v, %v] (attempt %d); all %v", i, got, d/2, d, attempt, clk.sleeps)
		}
	}
	for i := range 6 {
		within(i, i)
	}
	within(6, 0) // the run that lasted the stable period starts over
	within(7, 1) // and the next quick failure goes on from there
}

// TestSupervisorHealth: an input that cannot open stops Supervise with its
// name; one that fails later is reported down with why, then up again.
func TestSupervisorHealth(t *testing.T) {
	if _, err := Supervise([]Input{{Name: "HEP udp 127.0.0.1:9060", Open: func() (func(context.Context) error, error) {
		return nil, errors.New("address in use")
	}}}, SuperviseOptions{}); err == nil || err.Error() != "sipmon HEP udp 127.0.0.1:9060: address in use" {
		t.Fatalf("err = %v", err)
	}
	idle := func() (func(context.Context) error, error) {
		return func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, nil
	}
	s, err := Supervise([]Input{{Name: "interface eth1", Open: idle}, {Name: "HEP udp 127.0.0.1:9060", Open: idle}}, SuperviseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, d := s.Health(); !ok || d != "interface eth1, HEP udp 127.0.0.1:9060" {
		t.Fatalf("up: %v %q", ok, d)
	}
	s.setDown("interface eth1", "no such device")
	if ok, d := s.Health(); ok || d != "interface eth1: no such device" {
		t.Fatalf("down: %v %q", ok, d)
	}
}
