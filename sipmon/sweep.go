package sipmon

import (
	"cmp"
	"slices"
	"time"
)

// event is one start or end in the concurrency sweep, at t (Unix ns, see
// nanos): 16 bytes, so that sorting a capture's worth of them is cheap.
type event struct {
	t     int64
	delta int8
	kind  int8 // 0 all legs, 1 g729, 2 fax
}

var kinds = []string{"", ProductG729, ProductFax}

// sweeper counts the overall peak, the per-product peaks and the hourly
// windows from the legs' intervals, in time order with ends before starts at
// equal times. Events wait in a heap until advance is told that nothing
// earlier can still come.
type sweeper struct {
	r    *Report
	evs  []event // a heap (see eventBefore)
	cur  [3]int
	peak [3]int
	win  int // index of the current window in r.Windows; -1 before the first
	// winEnd is where the current window ends (Unix ns): events before it
	// need no look at the windows.
	winEnd int64
	init   bool
}

func (s *sweeper) add(start, end time.Time, kind int8) {
	t0, t1 := nanos(start), nanos(end)
	if t1 < t0 {
		t1 = t0
	}
	s.evs = heapPush(s.evs, event{t0, +1, kind}, eventBefore)
	s.evs = heapPush(s.evs, event{t1, -1, kind}, eventBefore)
}

// advance applies the events before safe (all of them when all is set).
func (s *sweeper) advance(safe time.Time, all bool) {
	if !s.init {
		s.win, s.init = -1, true
	}
	if all {
		s.drain()
		return
	}
	for until := nanos(safe); len(s.evs) > 0 && s.evs[0].t < until; {
		var e event
		e, s.evs = heapPop(s.evs, eventBefore)
		s.windowAt(e.t)
		s.cur[e.kind] += int(e.delta)
		// Peaks are read once all events at one instant are applied.
		if len(s.evs) > 0 && s.evs[0].t == e.t {
			continue
		}
		s.readPeaks(e.t)
	}
}

// drain applies every event, sorted at once: cheaper than popping the heap
// one by one, and the same counts, since the order among events of one
// instant and one direction does not change them.
func (s *sweeper) drain() {
	evs := s.evs
	slices.SortFunc(evs, func(a, b event) int {
		if a.t != b.t {
			return cmp.Compare(a.t, b.t)
		}
		return int(a.delta) - int(b.delta)
	})
	for i := range evs {
		e := &evs[i]
		s.windowAt(e.t)
		s.cur[e.kind] += int(e.delta)
		if i+1 < len(evs) && evs[i+1].t == e.t {
			continue
		}
		s.readPeaks(e.t)
	}
	clear(evs)
	s.evs = evs[:0]
}

func (s *sweeper) readPeaks(ns int64) {
	r := s.r
	for k := range s.cur {
		if s.cur[k] > s.peak[k] {
			s.peak[k] = s.cur[k]
			if k == 0 {
				r.PeakAt = timeOf(ns)
				r.PeakConcurrentLegs = s.peak[0]
			} else {
				pc := r.ByProduct[kinds[k]]
				pc.PeakConcurrentLegs = s.peak[k]
				r.ByProduct[kinds[k]] = pc
			}
		}
	}
	win := &r.Windows[s.win]
	if s.cur[0] > win.PeakConcurrentLegs {
		win.PeakConcurrentLegs = s.cur[0]
	}
	for k := 1; k < len(kinds); k++ {
		if s.cur[k] > win.ByProduct[kinds[k]] {
			win.ByProduct[kinds[k]] = s.cur[k]
		}
	}
}

// windowAt opens the hourly windows up to t's. An event earlier than the
// current window (out of order, live) counts in the current one.
func (s *sweeper) windowAt(ns int64) {
	if s.win >= 0 && ns < s.winEnd {
		return
	}
	r := s.r
	start := timeOf(ns).Truncate(time.Hour)
	for s.win < 0 || r.Windows[s.win].Start.Before(start) {
		next := start
		if s.win >= 0 {
			next = r.Windows[s.win].Start.Add(time.Hour)
		}
		// A window opens with the legs carried over from the previous one.
		r.Windows = append(r.Windows, Window{Start: next, PeakConcurrentLegs: s.cur[0], ByProduct: map[string]int{ProductG729: s.cur[1], ProductFax: s.cur[2]}})
		s.win = len(r.Windows) - 1
		s.winEnd = nanos(next.Add(time.Hour))
	}
}

// eventBefore orders events by time, ends before starts.
func eventBefore(a, b *event) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	return a.delta < b.delta
}
