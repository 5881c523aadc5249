package stats

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// Async puts a Recorder behind an Observe that never blocks, for the
// admission path: observations are queued and a worker (Run) records them.
// Queued observations are merged per product, node and window without losing
// a peak: the window's highest counts, and the latest sample (which later
// windows carry).
type Async struct {
	rec *Recorder

	mu      sync.Mutex
	pending map[pendingKey]*pendingObs
	kick    chan struct{}
}

type pendingKey struct {
	product, node string
	window        time.Time
}

type pendingObs struct {
	peakNode, peakCluster int
	latest                sample
}

// NewAsync wraps rec; call Run to start its worker.
func NewAsync(rec *Recorder) *Async {
	return &Async{rec: rec, pending: map[pendingKey]*pendingObs{}, kick: make(chan struct{}, 1)}
}

// Observe queues an observation (see Recorder.Observe). It never blocks.
func (a *Async) Observe(now time.Time, product, node string, inUseNode, inUseCluster int) {
	k := pendingKey{product, node, a.rec.HourStart(now)}
	a.mu.Lock()
	p := a.pending[k]
	if p == nil {
		p = &pendingObs{peakNode: inUseNode, peakCluster: inUseCluster}
		a.pending[k] = p
	}
	p.peakNode, p.peakCluster = max(p.peakNode, inUseNode), max(p.peakCluster, inUseCluster)
	if !now.Before(p.latest.at) {
		p.latest = sample{at: now, node: inUseNode, cluster: inUseCluster}
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run records queued observations as they come, and calls the Recorder's
// Flush every FlushInterval, until ctx ends; then it records what is still
// queued. Errors go to onErr (may be nil); failed observations are queued again.
func (a *Async) Run(ctx context.Context, onErr func(error)) error {
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	report := func(err error) {
		if err != nil && onErr != nil {
			onErr(err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			// Last chance for what is queued, on a short leash.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			report(a.Drain(sctx))
			cancel()
			return nil
		case <-a.kick:
			report(a.Drain(ctx))
		case now := <-tick.C:
			report(a.Drain(ctx))
			report(a.rec.Flush(ctx, now))
		}
	}
}

// Drain records everything queued, now.
func (a *Async) Drain(ctx context.Context) error {
	a.mu.Lock()
	batch := a.pending
	a.pending = map[pendingKey]*pendingObs{}
	a.mu.Unlock()
	keys := make([]pendingKey, 0, len(batch))
	for k := range batch {
		keys = append(keys, k)
	}
	// Oldest window first, so that carrying into later windows sees the right last sample.
	sort.Slice(keys, func(i, j int) bool { return keys[i].window.Before(keys[j].window) })
	var errs []error
	for _, k := range keys {
		p := batch[k]
		err := a.rec.Observe(ctx, p.latest.at, k.product, k.node, p.peakNode, p.peakCluster)
		if err == nil {
			// Below the peak just recorded: costs no store call, sets the last sample.
			err = a.rec.Observe(ctx, p.latest.at, k.product, k.node, p.latest.node, p.latest.cluster)
		}
		if err != nil {
			errs = append(errs, err)
			a.requeue(k, p)
		}
	}
	return errors.Join(errs...)
}

func (a *Async) requeue(k pendingKey, p *pendingObs) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.pending[k]
	if cur == nil {
		a.pending[k] = p
		return
	}
	cur.peakNode, cur.peakCluster = max(cur.peakNode, p.peakNode), max(cur.peakCluster, p.peakCluster)
}
