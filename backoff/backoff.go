package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay is minD·2^attempt capped at maxD, spread over [d/2, d] so that many
// nodes restarting together do not reconnect in step. attempt counts from 0.
func Delay(attempt int, minD, maxD time.Duration) time.Duration {
	d := maxD
	if attempt < 62 {
		if x := minD << attempt; x > 0 && x < maxD {
			d = x
		}
	}
	return Jitter(d)
}

// Jitter spreads d over [d/2, d].
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Sleep waits d or until ctx ends; it reports whether the full delay passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
