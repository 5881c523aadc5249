package sipmon

import (
	"slices"
	"sort"
	"time"
)

// Report is what a read of captures found.
type Report struct {
	Stats
	// First and Last are the times of the first and last SIP message.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`

	LegsAnswered   int `json:"legs_answered"`
	LegsAttempted  int `json:"legs_attempted"`
	LegsUnanswered int `json:"legs_unanswered"`
	// PeakConcurrentLegs is the most legs up at once, each from its first INVITE
	// to its end; PeakAt is when it was first reached.
	PeakConcurrentLegs int       `json:"peak_concurrent_legs"`
	PeakAt             time.Time `json:"peak_at"`
	// DuplicatesMerged counts leg records folded into another because another
	// sensor saw the same call; CorrelatedMerged because a correlation header tied
	// their Call-IDs.
	DuplicatesMerged int `json:"duplicates_merged"`
	CorrelatedMerged int `json:"correlated_merged"`

	ByProduct map[string]ProductCount `json:"by_product"`
	Windows   []Window                `json:"windows"`
	Legs      []LegRecord             `json:"legs"`
}

// ProductCount is the use of one licensed product.
type ProductCount struct {
	// Legs counts answered legs that used the product.
	Legs int `json:"legs"`
	// PeakConcurrentLegs: G.729 legs count from first INVITE to end; fax legs from
	// the acceptance of T.38 to end (a fax session).
	PeakConcurrentLegs int `json:"peak_concurrent_legs"`
}

// Window is the peak of one 60-minute window, aligned on the UTC hour. A leg
// spanning windows counts in each.
type Window struct {
	Start              time.Time      `json:"start"`
	PeakConcurrentLegs int            `json:"peak_concurrent_legs"`
	ByProduct          map[string]int `json:"by_product"`
}

// LegRecord is one counted leg: one or more per-sensor Leg records merged.
type LegRecord struct {
	CallIDs  []string   `json:"call_ids"`
	Sensors  []string   `json:"sensors"`
	Caller   string     `json:"caller"`
	Called   string     `json:"called"`
	Invite   time.Time  `json:"invite"`
	Answer   *time.Time `json:"answer,omitempty"`
	End      time.Time  `json:"end"`
	Answered bool       `json:"answered"`
	Codec    string     `json:"codec,omitempty"`
	G729     bool       `json:"g729"`
	Fax      bool       `json:"fax"`
	EndedBy  string     `json:"ended_by"`

	faxAt time.Time
}

// record is a leg group during merging.
type record struct {
	legs    []int    // indexes into the leg slice, root first
	sensors []string // distinct, usually one
	invite  time.Time
	end     time.Time
	gone    bool
}

func buildReport(legs []Leg, correlate bool, tol time.Duration) *Report {
	sort.SliceStable(legs, func(i, j int) bool { return legs[i].Invite.Before(legs[j].Invite) })
	r := &Report{ByProduct: map[string]ProductCount{}, Windows: []Window{}, Legs: []LegRecord{}}

	// 1. One record per leg; the correlation header ties Call-IDs together.
	recs := make([]*record, len(legs))
	for i := range legs {
		recs[i] = &record{legs: []int{i}, sensors: []string{legs[i].Sensor}, invite: legs[i].Invite, end: legs[i].End}
	}
	if correlate {
		byCallID := map[string][]int{}
		for i, l := range legs {
			byCallID[l.CallID] = append(byCallID[l.CallID], i)
		}
		uf := newUnionFind(len(legs))
		for i, l := range legs {
			if l.Correlation == "" {
				continue
			}
			for _, j := range byCallID[dialogKey(l.Correlation)] {
				uf.union(j, i)
			}
		}
		groups := map[int]*record{}
		var merged []*record
		for i := range legs {
			root := uf.find(i)
			g := groups[root]
			if g == nil {
				g = recs[i]
				groups[root] = g
				merged = append(merged, g)
				continue
			}
			g.absorb(recs[i])
			r.CorrelatedMerged++
		}
		recs = merged
	}

	// 2. Across sensors: the same call seen twice counts once. A record merges
	// with an earlier one that no sensor of it has seen, that overlaps in time
	// within tol, and that shares a Call-ID or else the last 6 digits of both
	// numbers; the closest in start time wins. Within one sensor nothing merges.
	oneSensor := true
	for i := range legs {
		oneSensor = oneSensor && legs[i].Sensor == legs[0].Sensor
	}
	kept := recs
	if !oneSensor {
		kept = mergeSensors(recs, legs, tol, &r.DuplicatesMerged)
	}

	// 3. Records become counted legs.
	for _, rec := range kept {
		lr := rec.toLegRecord(legs)
		r.Legs = append(r.Legs, lr)
		r.LegsAttempted++
		if lr.Answered {
			r.LegsAnswered++
			if lr.G729 {
				pc := r.ByProduct[ProductG729]
				pc.Legs++
				r.ByProduct[ProductG729] = pc
			}
			if lr.Fax {
				pc := r.ByProduct[ProductFax]
				pc.Legs++
				r.ByProduct[ProductFax] = pc
			}
		}
	}
	r.LegsUnanswered = r.LegsAttempted - r.LegsAnswered
	r.countPeaks()
	return r
}

// mergeSensors folds records of the same call seen by different sensors (step 2
// of buildReport), counting the legs folded into merged.
func mergeSensors(recs []*record, legs []Leg, tol time.Duration, merged *int) []*record {
	byCallID := map[string][]*record{}
	byDigits := map[string][]*record{}
	var kept []*record
	for _, rec := range recs {
		callIDs, digits := rec.keys(legs)
		var best *record
		// pick also drops candidates that ended too long ago to match this record
		// or any later one (records come in start order), so that a number pair
		// called all day does not make the merge quadratic.
		pick := func(cands []*record) []*record {
			live := cands[:0]
			for _, c := range cands {
				if c.gone || c.end.Add(tol).Before(rec.invite) {
					continue
				}
				live = append(live, c)
				if !c.disjoint(rec) || !overlaps(c, rec, tol) {
					continue
				}
				if best == nil || absDur(c.invite.Sub(rec.invite)) < absDur(best.invite.Sub(rec.invite)) {
					best = c
				}
			}
			return live
		}
		for _, id := range callIDs {
			byCallID[id] = pick(byCallID[id])
		}
		if best == nil && digits != "" {
			byDigits[digits] = pick(byDigits[digits])
		}
		if best != nil {
			best.absorb(rec)
			*merged += len(rec.legs)
			rec = best
		} else {
			kept = append(kept, rec)
		}
		for _, id := range callIDs {
			byCallID[id] = append(byCallID[id], rec)
		}
		if digits != "" {
			byDigits[digits] = append(byDigits[digits], rec)
		}
	}
	return kept
}

func (rec *record) absorb(o *record) {
	rec.legs = append(rec.legs, o.legs...)
	for _, s := range o.sensors {
		if !slices.Contains(rec.sensors, s) {
			rec.sensors = append(rec.sensors, s)
		}
	}
	if o.invite.Before(rec.invite) {
		rec.invite = o.invite
	}
	if o.end.After(rec.end) {
		rec.end = o.end
	}
	o.gone = true
}

func (rec *record) disjoint(o *record) bool {
	for _, s := range o.sensors {
		if slices.Contains(rec.sensors, s) {
			return false
		}
	}
	return true
}

// keys returns the record's Call-IDs and its number key (last 6 digits of caller
// and called, from the root leg).
func (rec *record) keys(legs []Leg) (callIDs []string, digits string) {
	for _, i := range rec.legs {
		callIDs = append(callIDs, legs[i].CallID)
	}
	root := legs[rec.legs[0]]
	a, b := lastDigits(root.Caller), lastDigits(root.Called)
	if a != "" && b != "" {
		digits = a + "|" + b
	}
	return callIDs, digits
}

// lastDigits returns the last 6 digits of a number, or all of them when it has
// fewer; "" when it has none.
func lastDigits(s string) string {
	var d []byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			d = append(d, s[i])
		}
	}
	if len(d) > 6 {
		d = d[len(d)-6:]
	}
	return string(d)
}

func overlaps(a, b *record, tol time.Duration) bool {
	return !a.invite.Add(-tol).After(b.end) && !b.invite.Add(-tol).After(a.end)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func (rec *record) toLegRecord(legs []Leg) LegRecord {
	root := legs[rec.legs[0]]
	lr := LegRecord{
		Caller: root.Caller, Called: root.Called,
		Invite: rec.invite.UTC(), End: rec.end.UTC(),
		Codec: root.Codec, EndedBy: root.EndedBy,
	}
	for _, i := range rec.legs {
		l := legs[i]
		if !slices.Contains(lr.CallIDs, l.CallID) {
			lr.CallIDs = append(lr.CallIDs, l.CallID)
		}
		if l.Answered {
			lr.Answered = true
			if lr.Answer == nil || l.Answer.Before(*lr.Answer) {
				a := l.Answer.UTC()
				lr.Answer = &a
			}
			if lr.Codec == "" {
				lr.Codec = l.Codec
			}
		}
		lr.G729 = lr.G729 || l.G729
		if l.Fax && (!lr.Fax || l.FaxAt.Before(lr.faxAt)) {
			lr.Fax, lr.faxAt = true, l.FaxAt
		}
		if !l.End.Before(lr.End) {
			lr.EndedBy = l.EndedBy
		}
	}
	lr.Sensors = slices.Clone(rec.sensors)
	sort.Strings(lr.Sensors)
	return lr
}

// event is one start or end in the concurrency sweep.
type event struct {
	t     time.Time
	delta int
	kind  int // 0 all legs, 1 g729, 2 fax
}

var kinds = []string{"", ProductG729, ProductFax}

// countPeaks sweeps the legs' intervals in time order, ends before starts at
// equal times, for the overall peak, the per-product peaks and the hourly windows.
func (r *Report) countPeaks() {
	var evs []event
	add := func(start, end time.Time, kind int) {
		if end.Before(start) {
			end = start
		}
		evs = append(evs, event{start, +1, kind}, event{end, -1, kind})
	}
	for _, l := range r.Legs {
		add(l.Invite, l.End, 0)
		if l.G729 && l.Answered {
			add(l.Invite, l.End, 1)
		}
		if l.Fax {
			add(l.faxAt, l.End, 2)
		}
	}
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].t.Equal(evs[j].t) {
			return evs[i].t.Before(evs[j].t)
		}
		return evs[i].delta < evs[j].delta
	})
	var (
		cur  [3]int
		peak [3]int
		win  *Window
	)
	windowAt := func(t time.Time) {
		start := t.UTC().Truncate(time.Hour)
		for win == nil || win.Start.Before(start) {
			next := start
			if win != nil {
				next = win.Start.Add(time.Hour)
			}
			// A window opens with the legs carried over from the previous one.
			r.Windows = append(r.Windows, Window{Start: next, PeakConcurrentLegs: cur[0], ByProduct: map[string]int{ProductG729: cur[1], ProductFax: cur[2]}})
			win = &r.Windows[len(r.Windows)-1]
		}
	}
	for i, e := range evs {
		windowAt(e.t)
		cur[e.kind] += e.delta
		// Peaks are read once all events at one instant are applied.
		if i+1 < len(evs) && evs[i+1].t.Equal(e.t) {
			continue
		}
		for k := range cur {
			if cur[k] > peak[k] {
				peak[k] = cur[k]
				if k == 0 {
					r.PeakAt = e.t.UTC()
				}
			}
		}
		if cur[0] > win.PeakConcurrentLegs {
			win.PeakConcurrentLegs = cur[0]
		}
		for k := 1; k < len(kinds); k++ {
			if cur[k] > win.ByProduct[kinds[k]] {
				win.ByProduct[kinds[k]] = cur[k]
			}
		}
	}
	r.PeakConcurrentLegs = peak[0]
	for k := 1; k < len(kinds); k++ {
		pc := r.ByProduct[kinds[k]]
		pc.PeakConcurrentLegs = peak[k]
		r.ByProduct[kinds[k]] = pc
	}
}

// unionFind is a plain disjoint-set forest.
type unionFind []int

func newUnionFind(n int) unionFind {
	u := make(unionFind, n)
	for i := range u {
		u[i] = i
	}
	return u
}

func (u unionFind) find(i int) int {
	for u[i] != i {
		u[i] = u[u[i]]
		i = u[i]
	}
	return i
}

// union keeps the smaller index as root: legs are sorted by start, so the root is
// the earliest leg, whose numbers name the call.
func (u unionFind) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return
	}
	if rb < ra {
		ra, rb = rb, ra
	}
	u[rb] = ra
}
