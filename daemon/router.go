package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/licbridge/licbridge/bridge"
)

// OverLimit is what the router tells of use against the licensed total
// (overage.Tracker): inUse is admitted use, or demand when a request was
// refused for want of a free channel.
type OverLimit interface {
	Observe(product string, inUse, total int)
}

// Refusals keeps recent refusals by reason (node.Rejections), for the view.
type Refusals interface {
	Record(at time.Time, product, reason string)
}

// Peaks is what the router tells of admitted use for the statistics
// (stats.Async): this node's count and the cluster's.
type Peaks interface {
	Observe(now time.Time, product, node string, inUseNode, inUseCluster int)
}

// Router routes the bridge's events to the over-limit tracker and the
// statistics: each kind with the figure its meaning allows.
//
//   - admitted use (admit, reconcile: InUse and Total as the store reported
//     them) → tracker and statistics;
//   - demand (a refusal for want of a channel: OVER_LIMIT, LOCKED) → the
//     tracker as InUse+1 against Total. Any other refusal (store unavailable,
//     bad request, no licence, timeout) proves no demand beyond a total and
//     its figures are zero: it is not routed, or a fail-closed outage day
//     would be an over-limit day;
//   - a release carries no cluster count → statistics with this node's own
//     count as the cluster's lower bound (never 0 while this node holds
//     channels);
//   - decisions made without the store (Degraded) carry no store figures →
//     statistics of this node only, nothing to the tracker;
//   - every refusal, whatever its reason → the recent refusals of the view;
//   - observed (passive) and wire counts are not admitted use → neither.
//
// Record is the bridge's Observer: it never calls back into the bridge; the
// tracker and the statistics (which need this node's count of leases) are
// handed to Run's goroutine.
type Router struct {
	over  OverLimit
	peaks Peaks
	// refusals, if set, is told of every refusal (any reason).
	refusals Refusals
	// nodeInUse is this node's count of leases of a product (called from Run only).
	nodeInUse func(product string) int

	mu  sync.Mutex
	q   []bridge.Event
	sig chan struct{}
}

// NewRouter routes to over and peaks (either may be nil); nodeInUse counts
// this node's leases of a product.
func NewRouter(over OverLimit, peaks Peaks, nodeInUse func(product string) int) *Router {
	return &Router{over: over, peaks: peaks, nodeInUse: nodeInUse, sig: make(chan struct{}, 1)}
}

// Record implements bridge.Observer. It never blocks. The tracker and the
// statistics get the event from Run's next batch (issue 14: telling the
// tracker at once woke its goroutine for every admission, about 25 µs of a
// FastAGI admission's p50 on a busy 2-core node); the tracker's own refresh
// is once a second anyway.
func (r *Router) Record(e bridge.Event) {
	if e.Kind == bridge.EventReject && r.refusals != nil {
		r.refusals.Record(e.Time, e.Product, string(e.Reason))
	}
	if r.toOver(e) || r.toPeaks(e) {
		r.put(e)
	}
}

// toOver: e is admitted use or demand for the tracker.
func (r *Router) toOver(e bridge.Event) bool {
	if r.over == nil || e.Degraded {
		return false
	}
	switch e.Kind {
	case bridge.EventAdmit, bridge.EventReconcile:
		return true
	case bridge.EventReject:
		return demandRefused(e.Reason)
	}
	return false
}

// toPeaks: e changes the use the statistics record.
func (r *Router) toPeaks(e bridge.Event) bool {
	switch e.Kind {
	case bridge.EventAdmit, bridge.EventReconcile, bridge.EventRelease:
		return r.peaks != nil
	}
	return false
}

// demandRefused: the refusal says a channel was wanted beyond the total.
func demandRefused(r bridge.Reason) bool {
	return r == bridge.ReasonOverLimit || r == bridge.ReasonLocked
}

func (r *Router) put(e bridge.Event) {
	r.mu.Lock()
	r.q = append(r.q, e)
	r.mu.Unlock()
	select {
	case r.sig <- struct{}{}:
	default:
	}
}

// flushGap is the least time between two of Run's flushes. Waking Run for
// every admission cost a FastAGI admission about 60-90 µs at p50 on a busy
// 2-core node (issue 14, BenchmarkAdmissionPath); events carry their own
// node count (bridge.Event.NodeInUse), so batching them loses no peak.
const flushGap = 250 * time.Millisecond

// Run feeds the statistics until ctx ends: the first event after a quiet
// spell at once, later ones in batches at most every flushGap.
func (r *Router) Run(ctx context.Context) {
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Flush()
			return
		case <-r.sig:
		}
		r.Flush()
		gap.Reset(flushGap)
		select {
		case <-ctx.Done():
			r.Flush()
			return
		case <-gap.C:
		}
	}
}

// Flush feeds the statistics with what is queued (Run does it; tests call it).
func (r *Router) Flush() {
	r.mu.Lock()
	batch := r.q
	r.q = nil
	r.mu.Unlock()
	// One count per product per batch: a burst costs one walk of the leases
	// per product, not one per event.
	counts := map[string]int{}
	for _, e := range batch {
		if r.toOver(e) {
			inUse := e.InUse
			if e.Kind == bridge.EventReject {
				inUse++ // demand, not admitted use, decides an over-limit day
			}
			r.over.Observe(e.Product, inUse, e.Total)
		}
		if !r.toPeaks(e) {
			continue
		}
		n, ok := e.NodeInUse, e.NodeCounted
		if !ok {
			if n, ok = counts[e.Product]; !ok {
				n = r.nodeInUse(e.Product)
				counts[e.Product] = n
			}
		}
		cluster := e.InUse
		if e.Kind == bridge.EventRelease || e.Degraded {
			// No store figure: the cluster holds at least what this node does.
			cluster = max(e.InUse, n)
		}
		r.peaks.Observe(e.Time, e.Product, e.Node, n, cluster)
	}
}
