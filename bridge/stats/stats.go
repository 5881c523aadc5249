package stats

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxDays is how many calendar days of statistics are kept and can be queried.
const MaxDays = 14

// Retention is how long buckets are kept: 14 days of reports plus a day, so
// that the oldest window of a 14-day report is still whole.
const Retention = 15 * 24 * time.Hour

// Store keeps the buckets of every product, shared by the cluster.
// Implementations must be safe for concurrent use.
type Store interface {
	// Raise sets each field of each named bucket of the product to the larger
	// of its current value and the given one, and keeps the buckets for
	// Retention from now.
	Raise(ctx context.Context, product string, buckets []string, fields map[string]int) error
	// Read returns the fields of each named bucket, in order; an empty or
	// missing bucket gives a nil map.
	Read(ctx context.Context, product string, buckets []string) ([]map[string]int, error)
}

// Window is one 60-minute window of a product.
type Window struct {
	// Start is the start of the window, in the configured zone.
	Start time.Time `json:"start"`
	// Peak is the most channels in use in the cluster during the window.
	Peak int `json:"peak"`
	// Nodes is the peak per node (only nodes that reported in the window).
	Nodes map[string]int `json:"nodes,omitempty"`
}

// Day is one calendar day of a product.
type Day struct {
	// Date is the day, YYYY-MM-DD in the configured zone.
	Date string `json:"date"`
	// Peak is the most channels in use in the cluster that day.
	Peak int `json:"peak"`
	// Nodes is the peak per node.
	Nodes map[string]int `json:"nodes,omitempty"`
}

// Report is what Query returns.
type Report struct {
	Product string `json:"product"`
	// Zone names the time zone of windows and days.
	Zone string `json:"zone"`
	// Windows covers every hour of the range, oldest first, with zero peaks
	// where nothing was recorded.
	Windows []Window `json:"windows"`
	// Days covers every day the range touches, oldest first.
	Days []Day `json:"days"`
	// Peak is the highest window peak of the range.
	Peak int `json:"peak"`
}

// Field names inside a bucket.
const (
	fieldCluster = "c"
	nodePrefix   = "n:"
)

// Options configure a Recorder. A zero value is usable: UTC, an in-memory store.
type Options struct {
	// Store keeps the buckets. Default: a new MemoryStore (single node).
	Store Store
	// Location is the zone of windows and days. Default UTC.
	Location *time.Location
}

// Recorder records observations and answers queries. Safe for concurrent use.
type Recorder struct {
	store Store
	loc   *time.Location

	mu sync.Mutex
	// written is the highest value this process has written per bucket field
	// (a lower bound of what the store holds, which only grows within a bucket).
	written map[cacheKey]int
	// last is the last observation per product and node, carried into later
	// windows by Flush and by the first observation of a new window.
	last map[seriesKey]sample
	// fresh is the newest observation per product, for its cluster count.
	fresh map[string]sample
	// hour is the newest window seen, to prune written.
	hour time.Time
}

type cacheKey struct {
	product, bucket, field string
}

type seriesKey struct{ product, node string }

type sample struct {
	at            time.Time
	node, cluster int
}

// New builds a Recorder.
func New(o Options) *Recorder {
	r := &Recorder{store: o.Store, loc: o.Location, written: map[cacheKey]int{}, last: map[seriesKey]sample{}, fresh: map[string]sample{}}
	if r.store == nil {
		r.store = NewMemoryStore()
	}
	if r.loc == nil {
		r.loc = time.UTC
	}
	return r
}

// Location returns the recorder's time zone.
func (r *Recorder) Location() *time.Location { return r.loc }

// HourStart returns the start of the 60-minute window holding t, in the
// recorder's zone. It removes the local minutes and seconds rather than
// truncating absolute time, so zones with half-hour offsets get local hours.
func (r *Recorder) HourStart(t time.Time) time.Time {
	lt := t.In(r.loc)
	return lt.Add(-time.Duration(lt.Minute())*time.Minute - time.Duration(lt.Second())*time.Second - time.Duration(lt.Nanosecond()))
}

func hourBucket(start time.Time) string { return "h:" + strconv.FormatInt(start.Unix(), 10) }

func dayBucket(date string) string { return "d:" + date }

const dateLayout = "2006-01-02"

// Observe records that at now the product had inUseNode channels in use on
// node and inUseCluster in the whole cluster. Call it on every change
// (admission, release, reconciliation); it reaches the store only when a
// value is a new peak for this process in the current window.
//
// The cluster count must be fresh (read from the counter store), since the
// cluster series is the highest count any node reported. When other nodes'
// changes do not reach this process as observations, the daemon should also
// observe periodically (once a minute) so that a window that opens with
// channels in use records them from its first minute.
func (r *Recorder) Observe(ctx context.Context, now time.Time, product, node string, inUseNode, inUseCluster int) error {
	start := r.HourStart(now)
	r.mu.Lock()
	sk := seriesKey{product, node}
	prev, seen := r.last[sk]
	r.last[sk] = sample{at: now, node: inUseNode, cluster: inUseCluster}
	if f, ok := r.fresh[product]; !ok || !now.Before(f.at) {
		r.fresh[product] = sample{at: now, cluster: inUseCluster}
	}
	n := inUseNode
	if seen && r.HourStart(prev.at).Before(start) {
		// What this node held when the window opened counts in it. Only the
		// node's own count is carried: its last cluster count may be stale.
		n = max(n, prev.node)
	}
	fields := r.newPeaksLocked(product, start, node, n, inUseCluster)
	r.mu.Unlock()
	if fields == nil {
		return nil
	}
	return r.raise(ctx, product, start, fields)
}

// Flush carries the last observation of every product and node into the
// window holding now, so that an hour in which nothing changed still shows
// what was in use: each node's own last count, and the freshest cluster count
// this process saw for the product. Run calls it every minute.
func (r *Recorder) Flush(ctx context.Context, now time.Time) error {
	start := r.HourStart(now)
	type job struct {
		product string
		fields  map[string]int
	}
	var jobs []job
	r.mu.Lock()
	for sk, s := range r.last {
		if f := r.newPeaksLocked(sk.product, start, sk.node, s.node, r.fresh[sk.product].cluster); f != nil {
			jobs = append(jobs, job{sk.product, f})
		}
	}
	r.mu.Unlock()
	var errs []error
	for _, j := range jobs {
		if err := r.raise(ctx, j.product, start, j.fields); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stats: flush: %w (and %d more)", errs[0], len(errs)-1)
	}
	return nil
}

// FlushInterval is how often Run calls Flush.
const FlushInterval = time.Minute

// Run calls Flush every FlushInterval until ctx ends; store errors are passed
// to onErr (which may be nil) and do not stop it.
func (r *Recorder) Run(ctx context.Context, onErr func(error)) error {
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if err := r.Flush(ctx, now); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// newPeaksLocked returns the fields whose value is above what this process
// already wrote in the window, and notes them as written; nil when none.
func (r *Recorder) newPeaksLocked(product string, start time.Time, node string, n, c int) map[string]int {
	if start.After(r.hour) {
		r.hour = start
		// Entries of earlier windows cannot be hit again (except by a late,
		// out-of-order observation, which then just writes again): drop them.
		for k := range r.written {
			if k.bucket != hourBucket(start) {
				delete(r.written, k)
			}
		}
	}
	hb := hourBucket(start)
	var fields map[string]int
	for f, v := range map[string]int{fieldCluster: c, nodePrefix + node: n} {
		k := cacheKey{product, hb, f}
		if w, ok := r.written[k]; ok && v <= w {
			continue
		}
		r.written[k] = v
		if fields == nil {
			fields = map[string]int{}
		}
		fields[f] = v
	}
	return fields
}

func (r *Recorder) raise(ctx context.Context, product string, start time.Time, fields map[string]int) error {
	buckets := []string{hourBucket(start), dayBucket(start.Format(dateLayout))}
	if err := r.store.Raise(ctx, product, buckets, fields); err != nil {
		// Forget what we believed written, so that the next observation retries.
		r.mu.Lock()
		for f := range fields {
			delete(r.written, cacheKey{product, buckets[0], f})
		}
		r.mu.Unlock()
		return fmt.Errorf("stats: record %s: %w", product, err)
	}
	return nil
}

// Query returns the windows that start in [from, to) and the days they touch.
func (r *Recorder) Query(ctx context.Context, product string, from, to time.Time) (Report, error) {
	rep := Report{Product: product, Zone: r.loc.String()}
	var buckets []string
	for t := r.HourStart(from); t.Before(to); t = t.Add(time.Hour) {
		rep.Windows = append(rep.Windows, Window{Start: t})
		buckets = append(buckets, hourBucket(t))
	}
	if len(rep.Windows) == 0 {
		return rep, nil
	}
	for d := rep.Windows[0].Start; ; {
		date := d.Format(dateLayout)
		rep.Days = append(rep.Days, Day{Date: date})
		buckets = append(buckets, dayBucket(date))
		y, m, dd := d.Date()
		d = time.Date(y, m, dd+1, 0, 0, 0, 0, r.loc)
		if !d.Before(to) {
			break
		}
	}
	got, err := r.store.Read(ctx, product, buckets)
	if err != nil {
		return rep, fmt.Errorf("stats: query %s: %w", product, err)
	}
	for i := range rep.Windows {
		w := &rep.Windows[i]
		w.Peak, w.Nodes = split(got[i])
		rep.Peak = max(rep.Peak, w.Peak)
	}
	for i := range rep.Days {
		d := &rep.Days[i]
		d.Peak, d.Nodes = split(got[len(rep.Windows)+i])
	}
	return rep, nil
}

// Last returns the report of the last days calendar days up to now, today included.
func (r *Recorder) Last(ctx context.Context, product string, now time.Time, days int) (Report, error) {
	lt := now.In(r.loc)
	y, m, d := lt.Date()
	from := time.Date(y, m, d-days+1, 0, 0, 0, 0, r.loc)
	to := time.Date(y, m, d+1, 0, 0, 0, 0, r.loc)
	return r.Query(ctx, product, from, to)
}

func split(fields map[string]int) (peak int, nodes map[string]int) {
	for f, v := range fields {
		if f == fieldCluster {
			peak = v
		} else if node, ok := strings.CutPrefix(f, nodePrefix); ok {
			if nodes == nil {
				nodes = map[string]int{}
			}
			nodes[node] = v
		}
	}
	return peak, nodes
}

// NodeNames returns the nodes named in a report, sorted.
func (rep Report) NodeNames() []string {
	set := map[string]bool{}
	for _, w := range rep.Windows {
		for n := range w.Nodes {
			set[n] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
