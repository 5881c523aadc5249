package sipmon

import (
	"cmp"
	"slices"
	"time"
)

// reporter counts finished per-sensor legs as they come, so that memory holds
// the legs still up (and those that may still merge with them), never every
// leg read. Legs are merged and swept in the order of their first INVITE:
// advance(frontier) takes the legs that started before frontier (no leg still
// to come started earlier), merges them, and hands on the records that nothing
// to come can join (ended more than tol before frontier). It is not safe for
// concurrent use: the Monitor serialises calls.
type reporter struct {
	correlate bool
	tol       time.Duration
	// sink, when set, takes each counted leg instead of the report keeping it.
	sink func(LegRecord)
	// retain and maxKeep bound the legs the report keeps (live mode); dropped
	// counts those forgotten.
	retain  time.Duration
	maxKeep int
	dropped *int64

	pending []pendingLeg // a heap (see pendingBefore)
	seq     uint64
	// free holds records counted and handed on, for place to reuse (see
	// output): a capture's legs then take a handful of records, not one each.
	free    []*record
	queue   []*record // records in start order, waiting to be final
	byCall  map[string][]*record
	byCorr  map[string]*record
	byDigit map[string][]*record
	sensors map[string]bool
	// indexed says whether the maps above are kept: they only serve merging,
	// which needs the correlation header or a second sensor. Until then (one
	// sensor, the usual capture) place and output skip them; when a second
	// sensor appears, indexQueue builds them from the queue, which is exact
	// because they hold the queue's records and nothing else.
	indexed bool

	sweep sweeper
	r     Report
}

func newReporter(cfg *Config, sink func(LegRecord), dropped *int64) *reporter {
	rp := &reporter{
		correlate: cfg.CorrelationHeader != "",
		tol:       cfg.SensorTolerance,
		sink:      sink,
		retain:    cfg.Retain,
		maxKeep:   cfg.MaxRetainedLegs,
		dropped:   dropped,
		byCall:    map[string][]*record{},
		byCorr:    map[string]*record{},
		byDigit:   map[string][]*record{},
		sensors:   map[string]bool{},
		indexed:   cfg.CorrelationHeader != "",
		r: Report{
			ByProduct: map[string]ProductCount{ProductG729: {}, ProductFax: {}},
			Windows:   []Window{},
			Legs:      []LegRecord{},
		},
	}
	rp.sweep.r = &rp.r
	return rp
}

// record is a counted leg being merged: one or more per-sensor legs.
type record struct {
	// first is the per-sensor leg the record came with (see add): a finished
	// leg arrives in a record of its own, which serves it as its record
	// unless it merges into another. One allocation per leg, not two.
	first Leg
	// legs are the finished per-sensor legs, root (earliest) first; each is
	// its dialog's own, which nothing else holds any more.
	legs    []*Leg
	sensors []string
	// one, oneSensor and oneCallID hold the first leg, sensor and Call-ID:
	// most records never merge, and this spares them allocations.
	one       [1]*Leg
	oneSensor [1]string
	oneCallID [1]string
	answer    time.Time // LegRecord.Answer points here when streamed
	invite    time.Time
	end       time.Time
	digits    string // last digits of the root's caller and called
	done      bool
}

// add takes a finished per-sensor leg, rec.first, in a record of its own.
func (rp *reporter) add(rec *record) {
	rp.seq++
	rp.pending = heapPush(rp.pending, pendingLeg{inv: nanos(rec.first.Invite), seq: rp.seq, rec: rec}, pendingBefore)
}

// addDialog takes the leg of a dialog tr has finalized; its record is made
// when the leg's turn comes (see record).
func (rp *reporter) addDialog(tr *tracker, d *dialog) {
	rp.seq++
	rp.pending = heapPush(rp.pending, pendingLeg{inv: d.invite, seq: rp.seq, d: d, tr: tr}, pendingBefore)
}

// record returns p's leg in a record of its own, reusing one from free.
func (rp *reporter) record(p *pendingLeg) *record {
	if p.rec != nil {
		return p.rec
	}
	var rec *record
	if n := len(rp.free); n > 0 {
		rec, rp.free[n-1] = rp.free[n-1], nil
		rp.free = rp.free[:n-1]
		*rec = record{}
	} else {
		rec = &record{}
	}
	rec.first = p.tr.leg(p.d)
	return rec
}

// maxFree bounds the records kept for reuse.
const maxFree = 64

// oneSensorOnly reports whether place cannot merge any pending leg: no
// correlation header, and every leg, placed or pending, of one sensor. Then
// a placed record is final at once when all are (see advance).
func (rp *reporter) oneSensorOnly() bool {
	if rp.correlate || rp.indexed || len(rp.sensors) > 1 {
		return false
	}
	sensor, known := "", false
	for s := range rp.sensors {
		sensor, known = s, true
	}
	for i := range rp.pending {
		s := rp.pending[i].sensor()
		if !known {
			sensor, known = s, true
		}
		if s != sensor {
			return false
		}
	}
	return true
}

// advance merges the legs that started before frontier and counts the records
// final by then; all finishes every one. horizon (at or after frontier) is the
// earliest a leg of a sensor not seen yet may start: until a second sensor
// or the correlation header makes merging possible (see indexed), a record
// is final once nothing to come can merge with it by that bound alone, so
// that the legs of calls up at once are not held twice, as dialogs and as
// records, while an earlier, longer call is still up.
func (rp *reporter) advance(frontier, horizon time.Time, all bool) {
	if all {
		// Sorted at once: cheaper than popping the heap one by one, and the
		// same order (start, then arrival).
		slices.SortFunc(rp.pending, func(a, b pendingLeg) int {
			if a.inv != b.inv {
				return cmp.Compare(a.inv, b.inv)
			}
			return cmp.Compare(a.seq, b.seq)
		})
		// With nothing to merge, each record is counted as soon as it is
		// placed (in the same order as placing all, then counting the
		// queue), so that its record serves the next leg.
		each := rp.oneSensorOnly()
		if each {
			rp.sweep.evs = slices.Grow(rp.sweep.evs, 3*(len(rp.queue)+len(rp.pending)))
		}
		for i := range rp.pending {
			rp.place(rp.record(&rp.pending[i]))
			if each {
				// Emptied in place, so that the queue keeps its room.
				for j, rec := range rp.queue {
					rp.queue[j] = nil
					rp.output(rec)
				}
				rp.queue = rp.queue[:0]
			}
		}
		clear(rp.pending)
		rp.pending = rp.pending[:0]
	}
	for until := nanos(frontier); len(rp.pending) > 0 && rp.pending[0].inv < until; {
		var p pendingLeg
		p, rp.pending = heapPop(rp.pending, pendingBefore)
		rp.place(rp.record(&p))
	}
	if all {
		// Room for every record's events at once (up to three each), rather
		// than growing the heap by copies through a whole capture's legs.
		rp.sweep.evs = slices.Grow(rp.sweep.evs, 3*len(rp.queue))
	}
	final := frontier
	if !rp.indexed && horizon.After(final) {
		final = horizon
	}
	for len(rp.queue) > 0 {
		rec := rp.queue[0]
		if !all && !rec.end.Add(rp.tol).Before(final) {
			break
		}
		rp.queue[0] = nil
		rp.queue = rp.queue[1:]
		rp.output(rec)
	}
	// Sweep up to the earliest start still to come: nothing later can add an
	// event before it.
	safe := frontier
	if len(rp.queue) > 0 && rp.queue[0].invite.Before(safe) {
		safe = rp.queue[0].invite
	}
	if len(rp.pending) > 0 {
		if inv := rp.pending[0].invite(); inv.Before(safe) {
			safe = inv
		}
	}
	rp.sweep.advance(safe, all)
}

// place merges the leg of rec into a record: by the correlation header, else
// with the same call seen by another sensor, else as a record of its own,
// rec.
func (rp *reporter) place(rec *record) {
	l := &rec.first
	rp.sensors[l.Sensor] = true
	if !rp.indexed && len(rp.sensors) > 1 {
		rp.indexQueue()
	}
	if rp.correlate {
		if rec := rp.correlated(l); rec != nil {
			rec.absorb(l)
			rp.index(rec, l, false)
			rp.r.CorrelatedMerged++
			return
		}
	}
	if len(rp.sensors) > 1 {
		if rec := rp.sameCall(l); rec != nil {
			rec.absorb(l)
			rp.index(rec, l, false)
			rp.r.DuplicatesMerged++
			return
		}
	}
	rec.invite, rec.end = l.Invite, l.End
	rec.one[0], rec.oneSensor[0] = l, l.Sensor
	rec.legs, rec.sensors = rec.one[:], rec.oneSensor[:]
	rp.queue = append(rp.queue, rec)
	if rp.indexed {
		rec.digits = digitsKey(l)
		rp.index(rec, l, true)
	}
}

// digitsKey is the key of byDigit for a record whose root leg is l: "" when
// either number has no digits.
func digitsKey(l *Leg) string {
	a, b := lastDigits(l.Caller), lastDigits(l.Called)
	if a == "" || b == "" {
		return ""
	}
	return a + "|" + b
}

// indexQueue starts keeping the merge maps (see indexed): it indexes the
// queue's records as place would have, in the same order.
func (rp *reporter) indexQueue() {
	rp.indexed = true
	for _, rec := range rp.queue {
		rec.digits = digitsKey(rec.legs[0])
		for i, l := range rec.legs {
			rp.index(rec, l, i == 0)
		}
	}
}

// correlated finds the record l's correlation header names, or the record
// whose header names l.
func (rp *reporter) correlated(l *Leg) *record {
	if l.Correlation != "" {
		if recs := rp.byCall[dialogKey(l.Correlation)]; len(recs) > 0 {
			return recs[0]
		}
	}
	return rp.byCorr[l.CallID]
}

// sameCall finds the record of the same call from other sensors: overlapping
// in time within tol, sharing a Call-ID, or else the last digits of both
// numbers; the closest in start time wins. Within one sensor nothing merges.
func (rp *reporter) sameCall(l *Leg) *record {
	var best *record
	pick := func(cands []*record) {
		for _, c := range cands {
			if slices.Contains(c.sensors, l.Sensor) || !overlaps(c.invite, c.end, l.Invite, l.End, rp.tol) {
				continue
			}
			if best == nil || absDur(c.invite.Sub(l.Invite)) < absDur(best.invite.Sub(l.Invite)) {
				best = c
			}
		}
	}
	pick(rp.byCall[l.CallID])
	if best == nil {
		a, b := lastDigits(l.Caller), lastDigits(l.Called)
		if a != "" && b != "" {
			pick(rp.byDigit[a+"|"+b])
		}
	}
	return best
}

// index makes rec findable by l's Call-ID and correlation value (and by its
// numbers when it is new).
func (rp *reporter) index(rec *record, l *Leg, isNew bool) {
	if !slices.Contains(rp.byCall[l.CallID], rec) {
		rp.byCall[l.CallID] = append(rp.byCall[l.CallID], rec)
	}
	if l.Correlation != "" && rp.correlate {
		rp.byCorr[dialogKey(l.Correlation)] = rec
	}
	if isNew && rec.digits != "" {
		rp.byDigit[rec.digits] = append(rp.byDigit[rec.digits], rec)
	}
}

// unindex forgets a record that is final.
func (rp *reporter) unindex(rec *record) {
	drop := func(m map[string][]*record, k string) {
		list := slices.DeleteFunc(m[k], func(r *record) bool { return r == rec })
		if len(list) == 0 {
			delete(m, k)
		} else {
			m[k] = list
		}
	}
	for _, l := range rec.legs {
		drop(rp.byCall, l.CallID)
		if l.Correlation != "" {
			if k := dialogKey(l.Correlation); rp.byCorr[k] == rec {
				delete(rp.byCorr, k)
			}
		}
	}
	if rec.digits != "" {
		drop(rp.byDigit, rec.digits)
	}
}

func (rec *record) absorb(l *Leg) {
	rec.legs = append(rec.legs, l)
	if !slices.Contains(rec.sensors, l.Sensor) {
		rec.sensors = append(rec.sensors, l.Sensor)
	}
	if l.Invite.Before(rec.invite) {
		rec.invite = l.Invite
	}
	if l.End.After(rec.end) {
		rec.end = l.End
	}
}

// output counts a final record and hands its leg on.
func (rp *reporter) output(rec *record) {
	rec.done = true
	if rp.indexed {
		rp.unindex(rec)
	}
	lr := rec.toLegRecord(rp.sink != nil)
	r := &rp.r
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
	rp.sweep.add(lr.Invite, lr.End, 0)
	if lr.G729 && lr.Answered {
		rp.sweep.add(lr.Invite, lr.End, 1)
	}
	if lr.Fax {
		rp.sweep.add(lr.faxAt, lr.End, 2)
	}
	if rp.sink != nil {
		rp.sink(lr)
	} else {
		rp.keep(lr)
	}
	// Nothing holds rec now (the sink's LegRecord was only valid during the
	// call; a kept one has its own slices), unless it absorbed other legs,
	// whose records it points into: those are left to the collector.
	if len(rec.legs) == 1 && len(rp.free) < maxFree {
		rp.free = append(rp.free, rec)
	}
}

// keep adds lr to the report's legs; with retain set (live mode) at most
// maxKeep, the oldest going first.
func (rp *reporter) keep(lr LegRecord) {
	legs := rp.r.Legs
	if rp.retain > 0 && len(legs) >= rp.maxKeep {
		// Forget the oldest tenth at once, so the copy is paid rarely.
		drop := max(1, len(legs)/10)
		*rp.dropped += int64(drop)
		n := copy(legs, legs[drop:])
		clear(legs[n:])
		legs = legs[:n]
	}
	rp.r.Legs = append(legs, lr)
}

// forget drops kept legs that ended before cut (live mode).
func (rp *reporter) forget(cut time.Time) {
	kept := rp.r.Legs[:0]
	for _, l := range rp.r.Legs {
		if !l.End.Before(cut) {
			kept = append(kept, l)
		}
	}
	clear(rp.r.Legs[len(kept):])
	rp.r.Legs = kept
}

// report returns a copy of the counts so far.
func (rp *reporter) report() *Report {
	r := rp.r
	r.LegsUnanswered = r.LegsAttempted - r.LegsAnswered
	r.ByProduct = make(map[string]ProductCount, len(rp.r.ByProduct))
	for k, v := range rp.r.ByProduct {
		r.ByProduct[k] = v
	}
	r.Windows = make([]Window, len(rp.r.Windows))
	for i, w := range rp.r.Windows {
		w.ByProduct = map[string]int{ProductG729: w.ByProduct[ProductG729], ProductFax: w.ByProduct[ProductFax]}
		r.Windows[i] = w
	}
	r.Legs = slices.Clone(rp.r.Legs)
	if r.Legs == nil {
		r.Legs = []LegRecord{}
	}
	r.sensors = make([]string, 0, len(rp.sensors))
	for s := range rp.sensors {
		r.sensors = append(r.sensors, s)
	}
	slices.Sort(r.sensors)
	return &r
}

// pendingLeg is a finished leg waiting for its turn, by start (inv, Unix ns,
// see nanos) and then arrival (seq): the finalized dialog d of tr (see
// tracker.leg), or a leg already in its record, rec. It is held by pointer
// so that the heap moves a few words, not a whole Leg, and compares without
// following it.
type pendingLeg struct {
	inv int64
	seq uint64
	d   *dialog
	tr  *tracker
	rec *record
}

// invite is the leg's Leg.Invite.
func (p *pendingLeg) invite() time.Time {
	if p.rec != nil {
		return p.rec.first.Invite
	}
	return timeOf(p.d.invite)
}

func (p *pendingLeg) sensor() string {
	if p.rec != nil {
		return p.rec.first.Sensor
	}
	return p.tr.sensor
}

func pendingBefore(a, b *pendingLeg) bool {
	if a.inv != b.inv {
		return a.inv < b.inv
	}
	return a.seq < b.seq
}
