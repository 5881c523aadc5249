package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licbridge/licbridge/bridge"
)

// latencies collects one worker's round trips.
type latencies struct{ admit, release []time.Duration }

// tally is what the workers share.
type tally struct {
	mu       sync.Mutex
	lat      latencies
	admitted atomic.Int64
	released atomic.Int64
	refused  atomic.Int64
	errors   atomic.Int64
	maxInUse atomic.Int64
	firstErr atomic.Value
}

func (t *tally) merge(l latencies) {
	t.mu.Lock()
	t.lat.admit = append(t.lat.admit, l.admit...)
	t.lat.release = append(t.lat.release, l.release...)
	t.mu.Unlock()
}

func (t *tally) fail(err error) {
	t.errors.Add(1)
	t.firstErr.CompareAndSwap(nil, err)
}

// admit asks for one channel and records what the store said.
func (r *run) admit(ctx context.Context, t *tally, l *latencies, node, product, channel string) bool {
	now := time.Now()
	start := time.Now()
	rep, err := r.store.Admit(ctx, bridge.AdmitOp{Node: node, Product: product, Channel: channel, Now: now, Expires: now.Add(r.cfg.Lapse)})
	l.admit = append(l.admit, time.Since(start))
	if err != nil {
		t.fail(fmt.Errorf("admit %s on %s: %w", channel, node, err))
		return false
	}
	for {
		m := t.maxInUse.Load()
		if int64(rep.InUse) <= m || t.maxInUse.CompareAndSwap(m, int64(rep.InUse)) {
			break
		}
	}
	if !rep.Admitted {
		t.refused.Add(1)
		return false
	}
	t.admitted.Add(1)
	return true
}

func (r *run) release(ctx context.Context, t *tally, l *latencies, node, product, channel string) {
	start := time.Now()
	err := r.store.Release(ctx, node, product, channel)
	l.release = append(l.release, time.Since(start))
	if err != nil {
		t.fail(fmt.Errorf("release %s on %s: %w", channel, node, err))
		return
	}
	t.released.Add(1)
}

// burst makes cfg.Admissions admissions, each released at once, from
// cfg.Concurrency workers, spread over the nodes and products.
func (r *run) burst(ctx context.Context, res *Result) error {
	var t tally
	var next atomic.Int64
	floor1, before, err := r.before(ctx, res)
	if err != nil {
		return err
	}
	start := time.Now()
	stop := r.phase(fmt.Sprintf("burst: %d admissions, each released at once, %d in flight", r.cfg.Admissions, r.cfg.Concurrency),
		int64(r.cfg.Admissions), t.admitted.Load)
	var wg sync.WaitGroup
	for w := 0; w < r.cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var l latencies
			for ctx.Err() == nil {
				i := int(next.Add(1))
				if i > r.cfg.Admissions {
					break
				}
				node, product := r.nodes[i%len(r.nodes)], r.products[i%len(r.products)]
				ch := "b" + strconv.Itoa(i)
				if r.admit(ctx, &t, &l, node, product, ch) {
					r.release(ctx, &t, &l, node, product, ch)
				}
			}
			t.merge(l)
		}()
	}
	wg.Wait()
	stop()
	return r.finishWithFloor(ctx, res, &t, before, time.Since(start), floor1)
}

// held is one channel the steady state holds.
type held struct{ node, product, channel string }

// steady fills every product to cfg.Hold channels, then for cfg.Duration
// ends one and admits another cfg.Churn times a second.
func (r *run) steady(ctx context.Context, res *Result) error {
	var fill tally
	pool := make(chan held, r.cfg.Hold*len(r.products))
	var next atomic.Int64
	stop := r.phase(fmt.Sprintf("filling every product to %d channels held", r.cfg.Hold), int64(r.cfg.Hold*len(r.products)), fill.admitted.Load)
	r.workers(r.cfg.Concurrency, func(l *latencies) bool {
		i := int(next.Add(1))
		if i > r.cfg.Hold*len(r.products) || ctx.Err() != nil {
			return false
		}
		h := held{r.nodes[i%len(r.nodes)], r.products[i%len(r.products)], "h" + strconv.Itoa(i)}
		if r.admit(ctx, &fill, l, h.node, h.product, h.channel) {
			pool <- h
		}
		return true
	}, &fill)
	stop()
	if fill.errors.Load() > 0 {
		return fmt.Errorf("bench: filling to %d held: %v", r.cfg.Hold, fill.firstErr.Load())
	}
	var t tally
	t.maxInUse.Store(fill.maxInUse.Load())
	floor1, before, err := r.before(ctx, res)
	if err != nil {
		return err
	}
	jobs := r.pace(ctx, r.cfg.Duration)
	start := time.Now()
	var n atomic.Int64
	stop = r.phase(fmt.Sprintf("steady state: %d admissions and releases a second for %s", r.cfg.Churn, r.cfg.Duration),
		int64(r.cfg.Churn)*int64(r.cfg.Duration/time.Second), t.admitted.Load)
	r.workers(r.cfg.Concurrency, func(l *latencies) bool {
		if _, ok := <-jobs; !ok {
			return false
		}
		h := <-pool
		if h.channel != "" {
			r.release(ctx, &t, l, h.node, h.product, h.channel)
		}
		h.node = r.nodes[rand.IntN(len(r.nodes))]
		h.channel = "s" + strconv.FormatInt(n.Add(1), 10)
		if !r.admit(ctx, &t, l, h.node, h.product, h.channel) {
			h.channel = "" // nothing held in its place
		}
		pool <- h
		return true
	}, &t)
	stop()
	return r.finishWithFloor(ctx, res, &t, before, time.Since(start), floor1)
}

// before takes what a run measures before its own phase: Redis idle, the
// floor's first half, and the Redis figures to count the phase from.
func (r *run) before(ctx context.Context, res *Result) (floorSample, redisStats, error) {
	if err := r.idle(ctx, res); err != nil {
		return floorSample{}, redisStats{}, err
	}
	if err := r.floorSetup(ctx); err != nil {
		return floorSample{}, redisStats{}, err
	}
	floor1, err := r.floorHalf(ctx, res.RedisIdleCPUMsPerSec)
	if err != nil {
		return floorSample{}, redisStats{}, err
	}
	stats, err := r.redisStats(ctx)
	return floor1, stats, err
}

// finishWithFloor finishes the run's figures, then measures the floor's
// second half and sets the floor figures.
func (r *run) finishWithFloor(ctx context.Context, res *Result, t *tally, before redisStats, took time.Duration, floor1 floorSample) error {
	if err := r.finish(ctx, res, t, before, took); err != nil {
		return err
	}
	floor2, err := r.floorHalf(ctx, res.RedisIdleCPUMsPerSec)
	if err != nil {
		return err
	}
	setFloor(res, floor1, floor2)
	return nil
}

// workers runs step on c goroutines until it returns false.
func (r *run) workers(c int, step func(*latencies) bool, t *tally) {
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var l latencies
			for step(&l) {
			}
			t.merge(l)
		}()
	}
	wg.Wait()
}

// pace sends cfg.Churn jobs a second for d, then closes the channel. A slow
// store gets fewer: the rate reached is reported.
func (r *run) pace(ctx context.Context, d time.Duration) <-chan struct{} {
	jobs := make(chan struct{})
	go func() {
		defer close(jobs)
		end := time.Now().Add(d)
		every := time.Second / time.Duration(r.cfg.Churn)
		next := time.Now()
		for time.Now().Before(end) && ctx.Err() == nil {
			if d := time.Until(next); d > 0 {
				time.Sleep(d) // pacing the offered load
			}
			next = next.Add(every)
			select {
			case jobs <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return jobs
}

// idle measures for a second what the Redis servers spend with only the
// heartbeats running (their own housekeeping, a Cluster's gossip), so that
// the CPU per admission leaves it out.
func (r *run) idle(ctx context.Context, res *Result) error {
	s0, err := r.redisStats(ctx)
	if err != nil {
		return err
	}
	const quiet = time.Second
	r.say("measuring what Redis spends idle, for %s", quiet)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(quiet): // measuring, not synchronising
	}
	s1, err := r.redisStats(ctx)
	res.RedisIdleCPUMsPerSec = (s1.cpu - s0.cpu) * 1e3 / quiet.Seconds()
	return err
}

// finish fills res from the tally and the Redis figures since before.
func (r *run) finish(ctx context.Context, res *Result, t *tally, before redisStats, took time.Duration) error {
	after, err := r.redisStats(ctx)
	if err != nil {
		return err
	}
	res.Admissions, res.Releases = int(t.admitted.Load()), int(t.released.Load())
	res.Refused, res.Errors = int(t.refused.Load()), int(t.errors.Load())
	res.Seconds = took.Seconds()
	res.PerSecond = float64(res.Admissions) / took.Seconds()
	res.AdmitP50, res.AdmitP99 = percentile(t.lat.admit, 50), percentile(t.lat.admit, 99)
	res.ReleaseP50, res.ReleaseP99 = percentile(t.lat.release, 50), percentile(t.lat.release, 99)
	if calls := after.calls - before.calls; calls > 0 {
		res.RedisUsPerCall = (after.usec - before.usec) / float64(calls)
	}
	if pairs := max(res.Admissions, res.Releases); pairs > 0 {
		busy := after.cpu - before.cpu - res.RedisIdleCPUMsPerSec/1e3*took.Seconds()
		res.RedisCPUUsPerPair = max(busy, 0) * 1e6 / float64(pairs)
	}
	res.MaxInUse = int(t.maxInUse.Load())
	res.LimitExceeded = res.Mode == "steady" && res.MaxInUse > r.capacity
	if res.Mode == "steady" {
		if err := r.checkHeld(ctx, res); err != nil {
			return err
		}
	}
	if res.Errors > 0 {
		return fmt.Errorf("bench: %d of the store's answers were errors, the first: %v", res.Errors, t.firstErr.Load())
	}
	return nil
}

// checkHeld asks the store how many units each product holds at the end:
// never more than its total.
func (r *run) checkHeld(ctx context.Context, res *Result) error {
	for _, p := range r.products {
		snap, err := r.store.Snapshot(ctx, p, time.Now())
		if err != nil {
			return fmt.Errorf("bench: final count of %s: %w", p, err)
		}
		units := 0
		for _, n := range snap.Nodes {
			units += n.Units
		}
		if units > r.capacity {
			res.LimitExceeded = true
		}
	}
	return nil
}

// percentile of ds in microseconds (nearest rank).
func percentile(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := (len(ds)*p + 99) / 100
	return float64(ds[max(i-1, 0)].Nanoseconds()) / 1e3
}
