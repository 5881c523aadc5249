package sipmon

import (
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// maxKeyLen bounds the Call-ID bytes kept per dialog: a hostile 9000-byte Call-ID
// (fixture 11a) is kept as a prefix plus a hash, so the table's memory stays bounded
// by MaxDialogs whatever the senders put on the wire.
const maxKeyLen = 256

// linger is how long an ended dialog stays in the table to absorb what still
// belongs to it (the 2xx to BYE on other hops, retransmissions, the ACK of a
// non-2xx) instead of mistaking it for a new call: 64*T1, the longest a UDP
// transaction can retransmit (RFC 3261 Timer B/F/H).
const linger = 32 * time.Second

// dialog states.
const (
	stateEarly    uint8 = iota // initial INVITE seen, no 2xx yet
	stateAnswered              // 2xx to the initial INVITE seen
	stateEnded                 // BYE, or final non-2xx of an unanswered attempt
)

// offer remembers whether an INVITE transaction carried SDP, so that the SDP of its
// 2xx (or, for a late offer, of its ACK) is known to be the answer.
type offer struct {
	cseq     uint32
	byCaller bool
	sdp      bool
}

// dialog is the state kept per live dialog. It is kept small (192 bytes plus
// its strings and its table entry, checked by TestMemoryPerLiveLeg): with
// 100,000 legs up at once it is most of the monitor's memory. Times are Unix
// nanoseconds (see nanos), the strings share one allocation, the codec is a
// number, and the Leg is only built when the dialog is finalized.
type dialog struct {
	// ids holds the Call-ID (the table's key), the From-tag of the initial
	// INVITE (tells the caller's side), the caller, the called user and the
	// correlation value end to end, ending at ends[0..3] and len(ids).
	ids string

	invite, answer, end, faxAt, lastSeen int64 // see Leg; answer, end and faxAt valid when set

	// The dialog's place in the open or ended list (by state) and in start
	// order (answeredStarts or silentStarts, by dialogResponded).
	prev, next   *dialog
	sprev, snext *dialog

	// Hashes of recent payloads, to spot retransmissions and copies: a ring,
	// next slot seenAt, nSeen filled.
	seen [8]uint64

	ends       [4]uint16
	inviteCSeq uint32 // CSeq of the current initial INVITE transaction

	// Recent INVITE offers (see offer), a ring as seen is.
	offerCSeq  [4]uint32
	offerFlags [4]uint8

	flags   uint8 // dialog* bits
	state   uint8
	endedBy uint8 // index in endedByNames
	codec   uint8 // index in codecTable; codecOther: in tracker.codecs

	offerAt, nOffer uint8
	seenAt, nSeen   uint8
}

// dialog flags.
const (
	dialogResponded uint8 = 1 << iota // the initial INVITE drew a response: the leg is an attempt
	dialogAnswered
	dialogG729
	dialogFax
)

// offer flags.
const (
	offerByCaller uint8 = 1 << iota
	offerSDP
)

// codecTable names the codecs a dialog keeps as a number: "" (none yet) and
// every name parseSDP gives without copying. codecOther stands for another,
// kept in tracker.codecs.
var codecTable = func() []string {
	t := []string{"", "G729"}
	for _, n := range staticPayloads {
		if !slices.Contains(t, n) {
			t = append(t, n)
		}
	}
	for _, n := range codecNames {
		if !slices.Contains(t, n) {
			t = append(t, n)
		}
	}
	slices.Sort(t[2:]) // the map's order varies
	return t
}()

const codecOther = 255

// endedByNames are Leg.EndedBy by dialog.endedBy.
var endedByNames = [...]string{"", EndBye, EndRejected, EndCancelled, EndTimeout, EndEvicted, EndCaptureEnd}

func endedByIndex(how string) uint8 {
	for i, n := range endedByNames {
		if n == how {
			return uint8(i)
		}
	}
	panic("sipmon: unknown end " + how)
}

func (d *dialog) callID() string { return d.ids[:d.ends[0]] }

func (d *dialog) fromTag() string     { return d.ids[d.ends[0]:d.ends[1]] }
func (d *dialog) caller() string      { return d.ids[d.ends[1]:d.ends[2]] }
func (d *dialog) called() string      { return d.ids[d.ends[2]:d.ends[3]] }
func (d *dialog) correlation() string { return d.ids[d.ends[3]:] }
func (d *dialog) has(f uint8) bool    { return d.flags&f != 0 }

// Dialog times are Unix nanoseconds, clamped to ±2^62 (the years 1824 to
// 2116, which hold every pcap and HEP time stamp: their seconds are 32-bit),
// so that adding or subtracting a duration of up to a century cannot
// overflow.
const (
	maxNanos = 1 << 62
	minNanos = -maxNanos
)

// nanos is t as a dialog keeps it.
func nanos(t time.Time) int64 {
	switch s := t.Unix(); {
	case s >= maxNanos/int64(time.Second):
		return maxNanos
	case s <= minNanos/int64(time.Second):
		return minNanos
	}
	return t.UnixNano()
}

// timeOf is the time of a dialog's nanoseconds, in UTC (every report prints
// and buckets times in UTC).
func timeOf(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// dialogsHint is the room the dialog table starts with (about 0.5 MB):
// growing it step by step to a busy capture's size (rehashing each step)
// was 3 % of reading the 15,000-call capture.
const dialogsHint = 16384

// tracker follows the dialogs of one sensor. It is not safe for concurrent use;
// the Monitor serialises calls.
type tracker struct {
	sensor     string
	timeout    time.Duration
	maxDialogs int
	stats      *Stats
	emit       func(*tracker, *dialog) // takes a finalized dialog's leg (see reporter.addDialog)

	dialogs map[string]*dialog // by Call-ID (dialogKey)
	open    dlist              // early and answered dialogs
	ended   dlist              // ended dialogs lingering
	now     int64              // Unix ns (see nanos); never: math.MinInt64
	codecs  map[*dialog]string // codecs not in codecTable, by dialog
	// flushing: finalize leaves the table to flush, which clears it whole.
	flushing bool

	// In start order: dialogs that drew a response (legs to come) and those
	// that did not yet (legs only if a response still comes).
	answeredStarts, silentStarts startList
}

func newTracker(sensor string, cfg *Config, stats *Stats, emit func(*tracker, *dialog)) *tracker {
	return &tracker{
		sensor:     sensor,
		timeout:    cfg.DialogTimeout,
		maxDialogs: cfg.MaxDialogs,
		stats:      stats,
		emit:       emit,
		dialogs:    make(map[string]*dialog, min(cfg.MaxDialogs, dialogsHint)),
		now:        math.MinInt64,
	}
}

// nowTime is the tracker's clock; the zero time before any message.
func (tr *tracker) nowTime() time.Time {
	if tr.now == math.MinInt64 {
		return time.Time{}
	}
	return timeOf(tr.now)
}

// list is the list d is in, by its state.
func (tr *tracker) list(d *dialog) *dlist {
	if d.state == stateEnded {
		return &tr.ended
	}
	return &tr.open
}

// starts is the start list d is in.
func (tr *tracker) starts(d *dialog) *startList {
	if d.has(dialogResponded) {
		return &tr.answeredStarts
	}
	return &tr.silentStarts
}

// lookup finds the dialog of a Call-ID; the map index with a converted []byte
// does not allocate.
func (tr *tracker) lookup(callID []byte) *dialog {
	if len(callID) <= maxKeyLen {
		return tr.dialogs[string(callID)]
	}
	return tr.dialogs[dialogKey(string(callID))]
}

// dialogKey bounds the key length (see maxKeyLen).
func dialogKey(callID string) string {
	if len(callID) <= maxKeyLen {
		return callID
	}
	var sum [8]byte
	h := xxhash.Sum64String(callID)
	for i := range sum {
		sum[i] = byte(h >> (56 - 8*i))
	}
	return callID[:maxKeyLen-17] + "#" + hex.EncodeToString(sum[:])
}

// handle applies one parsed message seen at t whose payload hashes to hash.
func (tr *tracker) handle(m *sipMsg, at time.Time, hash uint64) {
	t := nanos(at)
	tr.advance(t)
	d := tr.lookup(m.callID)
	if d != nil && d.sawPayload(hash) {
		tr.stats.DuplicateMessages++
		tr.touch(d, t)
		return
	}
	if m.request && m.method == "INVITE" && len(m.toTag) == 0 {
		tr.initialInvite(d, m, t, hash)
		return
	}
	if d == nil {
		// In-dialog traffic or a response for a call we never saw start (it began
		// before the capture, or its INVITE was lost): it cannot make a leg.
		tr.stats.OrphanMessages++
		return
	}
	d.rememberPayload(hash)
	tr.touch(d, t)
	byCaller := string(m.fromTag) == d.fromTag()
	if m.request {
		switch m.method {
		case "INVITE": // re-INVITE (To-tag present): never a new leg
			d.addOffer(offer{cseq: m.cseq, byCaller: byCaller, sdp: m.sdp.present})
		case "ACK":
			// Late offer: the INVITE had no SDP, its 2xx carried the offer and the
			// ACK carries the answer.
			if o, ok := d.findOffer(m.cseq, byCaller); ok && !o.sdp && m.sdp.present {
				tr.applyAnswer(d, &m.sdp, t, m.cseq == d.inviteCSeq && byCaller)
			}
		case "BYE":
			if d.state != stateEnded {
				tr.end(d, t, EndBye)
			}
		}
		return
	}
	switch m.cseqMethod {
	case "INVITE":
		initial := byCaller && m.cseq == d.inviteCSeq
		if initial {
			tr.initialResponse(d, m, t)
		}
		if m.status >= 200 && m.status < 300 && m.sdp.present {
			// The 2xx SDP is the answer unless the INVITE had none (late offer). An
			// INVITE we never saw is taken to have carried the offer.
			if o, ok := d.findOffer(m.cseq, byCaller); !ok || o.sdp {
				tr.applyAnswer(d, &m.sdp, t, initial)
			}
		}
	case "BYE":
		if m.status < 200 {
			return
		}
		switch {
		case d.state != stateEnded:
			tr.end(d, t, EndBye) // the BYE itself was not captured
		case endedByNames[d.endedBy] == EndBye && t > d.end:
			// The leg ends at the last 2xx to BYE (several hops may relay it).
			d.end = t
		}
	}
}

func (tr *tracker) initialInvite(d *dialog, m *sipMsg, t int64, hash uint64) {
	if d == nil {
		d = tr.newDialog(dialogKey(string(m.callID)), m, t)
	} else {
		tr.touch(d, t)
		if string(m.fromTag) == d.fromTag() && m.cseq != d.inviteCSeq {
			// A new initial INVITE transaction in the same call (after a 401/407
			// challenge, say): same leg; an attempt rejected so far is alive again.
			d.inviteCSeq = m.cseq
			if d.state == stateEnded && !d.has(dialogAnswered) {
				tr.reopen(d)
			}
		}
	}
	d.rememberPayload(hash)
	d.addOffer(offer{cseq: m.cseq, byCaller: string(m.fromTag) == d.fromTag(), sdp: m.sdp.present})
}

func (tr *tracker) initialResponse(d *dialog, m *sipMsg, t int64) {
	if !d.has(dialogResponded) {
		tr.silentStarts.remove(d)
		d.flags |= dialogResponded
		tr.answeredStarts.insert(d)
	}
	switch {
	case m.status >= 200 && m.status < 300:
		if d.has(dialogAnswered) {
			return
		}
		d.flags |= dialogAnswered
		d.answer = t
		if d.state == stateEnded {
			// A branch rejected first, another answered (serial forking).
			tr.reopen(d)
		}
		d.state = stateAnswered
	case m.status >= 300:
		if d.has(dialogAnswered) || d.state == stateEnded {
			return
		}
		how := EndRejected
		if m.status == 487 {
			how = EndCancelled
		}
		tr.end(d, t, how)
	}
}

func (tr *tracker) newDialog(key string, m *sipMsg, t int64) *dialog {
	if len(tr.dialogs) >= tr.maxDialogs {
		tr.evictOne()
	}
	// One allocation for the dialog's strings (see dialog.ids).
	var b strings.Builder
	b.Grow(len(key) + len(m.fromTag) + len(m.fromUser) + len(m.toUser) + len(m.correlation))
	b.WriteString(key)
	b.Write(m.fromTag)
	b.Write(m.fromUser)
	b.Write(m.toUser)
	b.WriteString(m.correlation)
	ids := b.String()
	d := &dialog{
		ids:        ids,
		inviteCSeq: m.cseq,
		invite:     t,
		lastSeen:   t,
	}
	// The parts come from one message of at most 64 KiB (sipgo's limit, and
	// scan's), the key being the Call-ID or shorter; the cap is for safety.
	end := 0
	for i, n := range [...]int{len(key), len(m.fromTag), len(m.fromUser), len(m.toUser)} {
		end = min(end+n, math.MaxUint16)
		d.ends[i] = uint16(end)
	}
	if len(d.ids) > math.MaxUint16 {
		d.ids = d.ids[:math.MaxUint16]
	}
	tr.dialogs[d.callID()] = d
	tr.open.pushBack(d)
	tr.silentStarts.insert(d)
	return d
}

// evictOne makes room: a lingering ended dialog first, else the stalest open one.
func (tr *tracker) evictOne() {
	if tr.ended.head != nil {
		tr.finalize(tr.ended.head, "")
		return
	}
	if tr.open.head != nil {
		tr.stats.Evicted++
		tr.finalize(tr.open.head, EndEvicted)
	}
}

func (tr *tracker) touch(d *dialog, t int64) {
	if t > d.lastSeen {
		d.lastSeen = t
	}
	l := tr.list(d)
	if l.tail != d {
		l.remove(d)
		l.pushBack(d)
	}
}

func (tr *tracker) end(d *dialog, t int64, how string) {
	tr.list(d).remove(d)
	d.state = stateEnded
	d.end, d.endedBy = t, endedByIndex(how)
	tr.ended.pushBack(d)
}

func (tr *tracker) reopen(d *dialog) {
	tr.list(d).remove(d)
	d.state = stateEarly
	d.end, d.endedBy = 0, 0
	tr.open.pushBack(d)
}

// advance moves the tracker's clock (capture time in file mode, wall time in live
// mode) and closes what lingered or timed out by then.
func (tr *tracker) advance(t int64) {
	if t > tr.now {
		tr.now = t
	}
	for d := tr.ended.head; d != nil && tr.now-d.lastSeen > int64(linger); d = tr.ended.head {
		tr.finalize(d, "")
	}
	for d := tr.open.head; d != nil && tr.now-d.lastSeen > int64(tr.timeout); d = tr.open.head {
		tr.stats.TimedOut++
		tr.finalize(d, EndTimeout)
	}
}

// flush closes every dialog: the input has ended.
func (tr *tracker) flush() {
	// Every dialog goes: the table is cleared at once after, rather than
	// entry by entry (1% of reading the 15,000-call capture).
	tr.flushing = true
	for d := tr.ended.head; d != nil; d = tr.ended.head {
		tr.finalize(d, "")
	}
	for d := tr.open.head; d != nil; d = tr.open.head {
		tr.finalize(d, EndCaptureEnd)
	}
	clear(tr.dialogs)
	tr.flushing = false
}

// finalize removes d and emits its leg if it was an attempt. A dialog still open
// ends by how: an unanswered attempt at its last message (nobody was talking), an
// answered leg at the timeout after its last message, or now for an eviction or
// the end of the input, since it was up as far as anyone can tell.
//
// The dialog itself is what goes on (see leg): it is out of the table and of
// every list, and its end is fixed here, so that finishing a leg allocates
// nothing. Building a Leg in a record of its own for every dialog here was a
// tenth of reading the 15,000-call capture, most of it faulting in the fresh
// memory the records took at the end of the input.
func (tr *tracker) finalize(d *dialog, how string) {
	tr.list(d).remove(d)
	tr.starts(d).remove(d)
	if !tr.flushing {
		delete(tr.dialogs, d.callID())
	}
	if !d.has(dialogResponded) {
		if d.codec == codecOther {
			delete(tr.codecs, d)
		}
		tr.stats.UnansweredInvites++
		return
	}
	if d.state != stateEnded {
		// The end as the leg has it; leg adds the timeout to an answered
		// leg that timed out (a time, not nanoseconds, may pass 2^62).
		d.endedBy = endedByIndex(how)
		switch {
		case !d.has(dialogAnswered), how == EndTimeout:
			d.end = d.lastSeen
		default:
			d.end = tr.now
		}
	}
	tr.emit(tr, d)
}

// leg builds the Leg of a dialog finalize has emitted. It takes the dialog's
// codec out of tr.codecs, so it is called once per emitted dialog.
func (tr *tracker) leg(d *dialog) Leg {
	var codec string
	if d.codec == codecOther {
		codec = tr.codecs[d]
		delete(tr.codecs, d)
	} else {
		codec = codecTable[d.codec]
	}
	leg := Leg{
		CallID:      d.callID(),
		Sensor:      tr.sensor,
		Correlation: d.correlation(),
		Caller:      d.caller(),
		Called:      d.called(),
		Invite:      timeOf(d.invite),
		Answered:    d.has(dialogAnswered),
		G729:        d.has(dialogG729),
		Fax:         d.has(dialogFax),
		Codec:       codec,
		End:         timeOf(d.end),
		EndedBy:     endedByNames[d.endedBy],
	}
	if leg.Answered {
		leg.Answer = timeOf(d.answer)
		if d.state != stateEnded && leg.EndedBy == EndTimeout {
			leg.End = leg.End.Add(tr.timeout)
		}
	}
	if leg.Fax {
		leg.FaxAt = timeOf(d.faxAt)
	}
	return leg
}

// oldestStart is the earliest start of a leg this tracker may still emit, and
// false when it holds none. A dialog that drew no response for longer than
// linger is as good as dead (an INVITE transaction times out by then): it
// does not hold the report back, and if it ever answers, its leg comes late.
func (tr *tracker) oldestStart() (time.Time, bool) {
	var t int64
	ok := false
	if d := tr.answeredStarts.head; d != nil {
		t, ok = d.invite, true
	}
	if d := tr.silentStarts.head; d != nil {
		s := max(d.invite, tr.now-int64(linger))
		if !ok || s < t {
			t, ok = s, true
		}
	}
	if !ok {
		return time.Time{}, false
	}
	return timeOf(t), true
}

// active counts the legs up now: attempts not yet ended.
func (tr *tracker) active() (legs, g729, fax int) {
	for d := tr.open.head; d != nil; d = d.next {
		if !d.has(dialogResponded) {
			continue
		}
		legs++
		if d.has(dialogG729) {
			g729++
		}
		if d.has(dialogFax) {
			fax++
		}
	}
	return legs, g729, fax
}

// applyAnswer records what an accepted SDP answer negotiates.
func (tr *tracker) applyAnswer(d *dialog, s *sdpInfo, t int64, initial bool) {
	if initial && d.codec == 0 && s.codec != "" {
		if i := slices.Index(codecTable, s.codec); i > 0 && i < codecOther {
			d.codec = uint8(i)
		} else {
			d.codec = codecOther
			if tr.codecs == nil {
				tr.codecs = make(map[*dialog]string)
			}
			tr.codecs[d] = s.codec
		}
	}
	if s.codec == "G729" {
		d.flags |= dialogG729
	}
	if s.t38 && !d.has(dialogFax) {
		d.flags |= dialogFax
		d.faxAt = t
	}
}
