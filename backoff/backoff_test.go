package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempt  int
		min, max time.Duration
		lo, hi   time.Duration
	}{
		{"first", 0, 100 * time.Millisecond, 5 * time.Second, 50 * time.Millisecond, 100 * time.Millisecond},
		{"doubles", 3, 100 * time.Millisecond, 5 * time.Second, 400 * time.Millisecond, 800 * time.Millisecond},
		{"capped", 10, 100 * time.Millisecond, 5 * time.Second, 2500 * time.Millisecond, 5 * time.Second},
		{"no overflow", 200, time.Second, 30 * time.Second, 15 * time.Second, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := Delay(tc.attempt, tc.min, tc.max)
				if d < tc.lo || d > tc.hi {
					t.Fatalf("Delay(%d) = %v, want in [%v, %v]", tc.attempt, d, tc.lo, tc.hi)
				}
				seen[d] = true
			}
			if len(seen) < 2 {
				t.Fatalf("no jitter: always %v", seen)
			}
		})
	}
	if Jitter(0) != 0 {
		t.Error("Jitter(0) != 0")
	}
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep with a cancelled context reported a full delay")
	}
	if !Sleep(context.Background(), time.Microsecond) {
		t.Fatal("Sleep of 1µs did not complete")
	}
}
