package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// floorScript is the least a script call can cost: each admit+release pair
// is measured against two of them, made the same way in the same run, so
// that the figures read the same on a quiet machine and a busy one (the
// Redis CPU of one request and reply depends on the machine far more than
// on the script: about 27 us for this one on a shared 2-core VM).
var floorScript = redis.NewScript("return 1")

// Limits of the floor phase, which only needs enough calls for steady figures.
const (
	floorPairs = 20000
	floorTime  = 10 * time.Second
)

// floorSample is what one floor phase measured.
type floorSample struct {
	busy  float64 // Redis CPU seconds beyond idle
	pairs int64
	lat   []time.Duration
}

// floorSetup names a key in each product's slot for the floor's calls and
// runs the script once on each, so that no measured call loads it.
func (r *run) floorSetup(ctx context.Context) error {
	r.floorKeys = make([][]string, len(r.products))
	for i, p := range r.products {
		r.floorKeys[i] = []string{"{lb:" + p + "}:floor"}
		if err := floorScript.Run(ctx, r.store.Client(), r.floorKeys[i]).Err(); err != nil {
			return fmt.Errorf("bench: floor script on %s: %w", p, err)
		}
	}
	return nil
}

// floorHalf runs half the floor phase: pairs of trivial script calls on the
// products' slots, made the way the run makes its admissions and releases
// (paced at cfg.Churn in the steady state, as fast as cfg.Concurrency allows
// in a burst), with the heartbeats running. It writes nothing. The run takes
// one half before its own measurement and one after, so that a machine that
// gets busier or quieter meanwhile weighs on both alike.
func (r *run) floorHalf(ctx context.Context, idleMsPerSec float64) (floorSample, error) {
	rdb, keys := r.store.Client(), r.floorKeys
	before, err := r.redisStats(ctx)
	if err != nil {
		return floorSample{}, err
	}
	r.say("floor: pairs of calls of a script that only returns, made the same way")
	var jobs <-chan struct{}
	pairs := int64(min(r.cfg.Admissions, floorPairs) / 2)
	if r.cfg.Hold > 0 {
		jobs = r.pace(ctx, min(r.cfg.Duration, floorTime)/2)
	}
	var t tally
	var next, done atomic.Int64
	call := func(l *[]time.Duration, k []string) bool {
		start := time.Now()
		err := floorScript.Run(ctx, rdb, k).Err()
		*l = append(*l, time.Since(start))
		if err != nil {
			t.fail(fmt.Errorf("floor script: %w", err))
			return false
		}
		return true
	}
	start := time.Now()
	r.workers(r.cfg.Concurrency, func(l *latencies) bool {
		i := next.Add(1)
		if jobs != nil {
			if _, ok := <-jobs; !ok {
				return false
			}
		} else if i > pairs {
			return false
		}
		k := keys[int(i)%len(keys)]
		// Two calls: one standing for the admission, one for the release.
		if call(&l.admit, k) {
			if call(&l.admit, k) {
				done.Add(1)
			}
		}
		return ctx.Err() == nil
	}, &t)
	took := time.Since(start)
	if t.errors.Load() > 0 {
		return floorSample{}, fmt.Errorf("bench: %d floor script calls failed, the first: %v", t.errors.Load(), t.firstErr.Load())
	}
	after, err := r.redisStats(ctx)
	if err != nil {
		return floorSample{}, err
	}
	return floorSample{busy: after.cpu - before.cpu - idleMsPerSec/1e3*took.Seconds(), pairs: done.Load(), lat: t.lat.admit}, nil
}

// setFloor fills res's floor figures from the two halves.
func setFloor(res *Result, a, b floorSample) {
	lat := append(a.lat, b.lat...)
	res.FloorP50, res.FloorP99 = percentile(lat, 50), percentile(lat, 99)
	if n := a.pairs + b.pairs; n > 0 {
		res.FloorCPUUsPerPair = max(a.busy+b.busy, 0) * 1e6 / float64(n)
	}
	if res.FloorCPUUsPerPair > 0 {
		res.PairOverFloor = res.RedisCPUUsPerPair / res.FloorCPUUsPerPair
	}
}
