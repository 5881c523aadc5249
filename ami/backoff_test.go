package ami

import (
	"context"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const minD, maxD = 100 * time.Millisecond, 2 * time.Second
	tests := []struct {
		name     string
		attempt  int
		low, top time.Duration // the un-jittered delay is top; jitter keeps at least half
	}{
		{"first", 0, minD / 2, minD},
		{"second", 1, minD, 2 * minD},
		{"fourth", 3, 4 * minD, 8 * minD},
		{"capped", 10, maxD / 2, maxD},
		{"huge_attempt_no_overflow", 200, maxD / 2, maxD},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for i := 0; i < 200; i++ {
				d := backoff(tc.attempt, minD, maxD)
				if d < tc.low || d > tc.top {
					t.Fatalf("backoff(%d) = %v, want in [%v, %v]", tc.attempt, d, tc.low, tc.top)
				}
				seen[d] = true
			}
			if len(seen) < 2 {
				t.Fatalf("no jitter: always %v", seen)
			}
		})
	}
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sleep(ctx, time.Hour) {
		t.Fatal("sleep ignored a cancelled context")
	}
	if !sleep(context.Background(), time.Microsecond) {
		t.Fatal("sleep did not complete")
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Addr != "127.0.0.1:5038" || o.KeepAlive <= 0 || o.PingTimeout <= 0 || o.MinBackoff <= 0 || o.MaxBackoff < o.MinBackoff || o.EventQueue <= 0 || o.Logger == nil {
		t.Fatalf("%+v", o)
	}
	o = Options{MinBackoff: time.Minute, MaxBackoff: time.Second}.withDefaults()
	if o.MaxBackoff != time.Minute {
		t.Fatalf("max below min not raised: %v", o.MaxBackoff)
	}
}

// The queue drops the oldest events past its bound and counts them, so a
// stalled consumer never blocks the socket reader.
func TestEventQueueBounded(t *testing.T) {
	c := New(Options{EventQueue: 3})
	for i := 0; i < 10; i++ {
		c.queue.push(nil)
	}
	if got := len(c.queue.take()); got != 3 {
		t.Fatalf("%d queued, want 3", got)
	}
	if c.DroppedEvents() != 7 {
		t.Fatalf("%d dropped, want 7", c.DroppedEvents())
	}
}
