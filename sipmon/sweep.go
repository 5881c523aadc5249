package sipmon

import (
	"slices"
	"time"
)

// event is one start or end in the concurrency sweep.
type event struct {
	t     time.Time
	delta int
	kind  int // 0 all legs, 1 g729, 2 fax
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
	init bool
}

func (s *sweeper) add(start, end time.Time, kind int) {
	if end.Before(start) {
		end = start
	}
	s.evs = heapPush(s.evs, event{start, +1, kind}, eventBefore)
	s.evs = heapPush(s.evs, event{end, -1, kind}, eventBefore)
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
	for len(s.evs) > 0 && s.evs[0].t.Before(safe) {
		var e event
		e, s.evs = heapPop(s.evs, eventBefore)
		s.windowAt(e.t)
		s.cur[e.kind] += e.delta
		// Peaks are read once all events at one instant are applied.
		if len(s.evs) > 0 && s.evs[0].t.Equal(e.t) {
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
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	for i := range evs {
		e := &evs[i]
		s.windowAt(e.t)
		s.cur[e.kind] += e.delta
		if i+1 < len(evs) && evs[i+1].t.Equal(e.t) {
			continue
		}
		s.readPeaks(e.t)
	}
	clear(evs)
	s.evs = evs[:0]
}

func (s *sweeper) readPeaks(t time.Time) {
	r := s.r
	for k := range s.cur {
		if s.cur[k] > s.peak[k] {
			s.peak[k] = s.cur[k]
			if k == 0 {
				r.PeakAt = t.UTC()
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
func (s *sweeper) windowAt(t time.Time) {
	r := s.r
	start := t.UTC().Truncate(time.Hour)
	for s.win < 0 || r.Windows[s.win].Start.Before(start) {
		next := start
		if s.win >= 0 {
			next = r.Windows[s.win].Start.Add(time.Hour)
		}
		// A window opens with the legs carried over from the previous one.
		r.Windows = append(r.Windows, Window{Start: next, PeakConcurrentLegs: s.cur[0], ByProduct: map[string]int{ProductG729: s.cur[1], ProductFax: s.cur[2]}})
		s.win = len(r.Windows) - 1
	}
}

// eventBefore orders events by time, ends before starts.
func eventBefore(a, b *event) bool {
	if c := a.t.Compare(b.t); c != 0 {
		return c < 0
	}
	return a.delta < b.delta
}
