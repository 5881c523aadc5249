package sipmon

import (
	"encoding/hex"
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

type dialog struct {
	leg        Leg
	fromTag    string // From-tag of the initial INVITE: tells the caller's side
	inviteCSeq uint32 // CSeq of the current initial INVITE transaction
	responded  bool   // the initial INVITE drew a response: the leg is an attempt
	state      uint8
	lastSeen   time.Time

	offers [4]offer
	nOffer int

	seen  [8]uint64 // hashes of recent payloads, to spot retransmissions and copies
	nSeen int

	prev, next *dialog
	list       *dlist

	// The dialog's place in start order (see startList).
	sprev, snext *dialog
	starts       *startList
}

// dlist is an intrusive doubly linked list ordered by lastSeen (oldest first).
type dlist struct {
	head, tail *dialog
	n          int
}

func (l *dlist) pushBack(d *dialog) {
	d.list, d.prev, d.next = l, l.tail, nil
	if l.tail != nil {
		l.tail.next = d
	} else {
		l.head = d
	}
	l.tail = d
	l.n++
}

func (l *dlist) remove(d *dialog) {
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		l.head = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		l.tail = d.prev
	}
	d.prev, d.next, d.list = nil, nil, nil
	l.n--
}

// startList holds dialogs in the order of their first INVITE, oldest first,
// so that the start of the oldest dialog still in the table (whose leg is yet
// to come) is known at once: the report cannot count past it.
type startList struct{ head, tail *dialog }

// insert places d by its start, searching from the back: dialogs mostly
// arrive in start order.
func (l *startList) insert(d *dialog) {
	d.starts = l
	at := l.tail
	for at != nil && at.leg.Invite.After(d.leg.Invite) {
		at = at.sprev
	}
	d.sprev = at
	if at == nil {
		d.snext, l.head = l.head, d
	} else {
		d.snext, at.snext = at.snext, d
	}
	if d.snext == nil {
		l.tail = d
	} else {
		d.snext.sprev = d
	}
}

func (l *startList) remove(d *dialog) {
	if d.sprev != nil {
		d.sprev.snext = d.snext
	} else {
		l.head = d.snext
	}
	if d.snext != nil {
		d.snext.sprev = d.sprev
	} else {
		l.tail = d.sprev
	}
	d.sprev, d.snext, d.starts = nil, nil, nil
}

// tracker follows the dialogs of one sensor. It is not safe for concurrent use;
// the Monitor serialises calls.
type tracker struct {
	sensor     string
	timeout    time.Duration
	maxDialogs int
	stats      *Stats
	emit       func(*Leg) // takes the leg: the dialog is gone

	dialogs map[string]*dialog
	open    dlist // early and answered dialogs
	ended   dlist // ended dialogs lingering
	now     time.Time

	// In start order: dialogs that drew a response (legs to come) and those
	// that did not yet (legs only if a response still comes).
	answeredStarts, silentStarts startList
}

func newTracker(sensor string, cfg *Config, stats *Stats, emit func(*Leg)) *tracker {
	return &tracker{
		sensor:     sensor,
		timeout:    cfg.DialogTimeout,
		maxDialogs: cfg.MaxDialogs,
		stats:      stats,
		emit:       emit,
		dialogs:    make(map[string]*dialog),
	}
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
func (tr *tracker) handle(m *sipMsg, t time.Time, hash uint64) {
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
	byCaller := string(m.fromTag) == d.fromTag
	if m.request {
		switch m.method {
		case "INVITE": // re-INVITE (To-tag present): never a new leg
			d.addOffer(offer{cseq: m.cseq, byCaller: byCaller, sdp: m.sdp.present})
		case "ACK":
			// Late offer: the INVITE had no SDP, its 2xx carried the offer and the
			// ACK carries the answer.
			if o, ok := d.findOffer(m.cseq, byCaller); ok && !o.sdp && m.sdp.present {
				d.applyAnswer(&m.sdp, t, m.cseq == d.inviteCSeq && byCaller)
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
				d.applyAnswer(&m.sdp, t, initial)
			}
		}
	case "BYE":
		if m.status < 200 {
			return
		}
		switch {
		case d.state != stateEnded:
			tr.end(d, t, EndBye) // the BYE itself was not captured
		case d.leg.EndedBy == EndBye && t.After(d.leg.End):
			// The leg ends at the last 2xx to BYE (several hops may relay it).
			d.leg.End = t
		}
	}
}

func (tr *tracker) initialInvite(d *dialog, m *sipMsg, t time.Time, hash uint64) {
	if d == nil {
		d = tr.newDialog(dialogKey(string(m.callID)), m, t)
	} else {
		tr.touch(d, t)
		if string(m.fromTag) == d.fromTag && m.cseq != d.inviteCSeq {
			// A new initial INVITE transaction in the same call (after a 401/407
			// challenge, say): same leg; an attempt rejected so far is alive again.
			d.inviteCSeq = m.cseq
			if d.state == stateEnded && !d.leg.Answered {
				tr.reopen(d)
			}
		}
	}
	d.rememberPayload(hash)
	d.addOffer(offer{cseq: m.cseq, byCaller: string(m.fromTag) == d.fromTag, sdp: m.sdp.present})
}

func (tr *tracker) initialResponse(d *dialog, m *sipMsg, t time.Time) {
	if !d.responded {
		d.responded = true
		d.starts.remove(d)
		tr.answeredStarts.insert(d)
	}
	switch {
	case m.status >= 200 && m.status < 300:
		if d.leg.Answered {
			return
		}
		d.leg.Answered, d.leg.Answer = true, t
		if d.state == stateEnded {
			// A branch rejected first, another answered (serial forking).
			tr.reopen(d)
		}
		d.state = stateAnswered
	case m.status >= 300:
		if d.leg.Answered || d.state == stateEnded {
			return
		}
		how := EndRejected
		if m.status == 487 {
			how = EndCancelled
		}
		tr.end(d, t, how)
	}
}

func (tr *tracker) newDialog(key string, m *sipMsg, t time.Time) *dialog {
	if len(tr.dialogs) >= tr.maxDialogs {
		tr.evictOne()
	}
	d := &dialog{
		fromTag:    string(m.fromTag),
		inviteCSeq: m.cseq,
		lastSeen:   t,
		leg: Leg{
			CallID:      key,
			Sensor:      tr.sensor,
			Correlation: m.correlation,
			Caller:      string(m.fromUser),
			Called:      string(m.toUser),
			Invite:      t,
		},
	}
	tr.dialogs[key] = d
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

func (tr *tracker) touch(d *dialog, t time.Time) {
	if t.After(d.lastSeen) {
		d.lastSeen = t
	}
	l := d.list
	if l.tail != d {
		l.remove(d)
		l.pushBack(d)
	}
}

func (tr *tracker) end(d *dialog, t time.Time, how string) {
	d.state = stateEnded
	d.leg.End, d.leg.EndedBy = t, how
	d.list.remove(d)
	tr.ended.pushBack(d)
}

func (tr *tracker) reopen(d *dialog) {
	d.state = stateEarly
	d.leg.End, d.leg.EndedBy = time.Time{}, ""
	d.list.remove(d)
	tr.open.pushBack(d)
}

// advance moves the tracker's clock (capture time in file mode, wall time in live
// mode) and closes what lingered or timed out by then.
func (tr *tracker) advance(t time.Time) {
	if t.After(tr.now) {
		tr.now = t
	}
	for d := tr.ended.head; d != nil && tr.now.Sub(d.lastSeen) > linger; d = tr.ended.head {
		tr.finalize(d, "")
	}
	for d := tr.open.head; d != nil && tr.now.Sub(d.lastSeen) > tr.timeout; d = tr.open.head {
		tr.stats.TimedOut++
		tr.finalize(d, EndTimeout)
	}
}

// flush closes every dialog: the input has ended.
func (tr *tracker) flush() {
	for d := tr.ended.head; d != nil; d = tr.ended.head {
		tr.finalize(d, "")
	}
	for d := tr.open.head; d != nil; d = tr.open.head {
		tr.finalize(d, EndCaptureEnd)
	}
}

// finalize removes d and emits its leg if it was an attempt. A dialog still open
// ends by how: an unanswered attempt at its last message (nobody was talking), an
// answered leg at the timeout after its last message, or now for an eviction or
// the end of the input, since it was up as far as anyone can tell.
func (tr *tracker) finalize(d *dialog, how string) {
	d.list.remove(d)
	d.starts.remove(d)
	delete(tr.dialogs, d.leg.CallID) // the table's key
	if !d.responded {
		tr.stats.UnansweredInvites++
		return
	}
	// d is out of every list and the table: its leg is handed on, not copied.
	leg := &d.leg
	if d.state != stateEnded {
		leg.EndedBy = how
		switch {
		case !leg.Answered:
			leg.End = d.lastSeen
		case how == EndTimeout:
			leg.End = d.lastSeen.Add(tr.timeout)
		default:
			leg.End = tr.now
		}
	}
	tr.emit(leg)
}

// oldestStart is the earliest start of a leg this tracker may still emit, and
// false when it holds none. A dialog that drew no response for longer than
// linger is as good as dead (an INVITE transaction times out by then): it
// does not hold the report back, and if it ever answers, its leg comes late.
func (tr *tracker) oldestStart() (time.Time, bool) {
	var t time.Time
	ok := false
	if d := tr.answeredStarts.head; d != nil {
		t, ok = d.leg.Invite, true
	}
	if d := tr.silentStarts.head; d != nil {
		s := d.leg.Invite
		if cut := tr.now.Add(-linger); s.Before(cut) {
			s = cut
		}
		if !ok || s.Before(t) {
			t, ok = s, true
		}
	}
	return t, ok
}

// active counts the legs up now: attempts not yet ended.
func (tr *tracker) active() (legs, g729, fax int) {
	for d := tr.open.head; d != nil; d = d.next {
		if !d.responded {
			continue
		}
		legs++
		if d.leg.G729 {
			g729++
		}
		if d.leg.Fax {
			fax++
		}
	}
	return legs, g729, fax
}

func (d *dialog) sawPayload(h uint64) bool {
	n := min(d.nSeen, len(d.seen))
	for i := range n {
		if d.seen[i] == h {
			return true
		}
	}
	return false
}

func (d *dialog) rememberPayload(h uint64) {
	d.seen[d.nSeen%len(d.seen)] = h
	d.nSeen++
}

func (d *dialog) addOffer(o offer) {
	if _, ok := d.findOffer(o.cseq, o.byCaller); ok {
		return
	}
	d.offers[d.nOffer%len(d.offers)] = o
	d.nOffer++
}

func (d *dialog) findOffer(cseq uint32, byCaller bool) (offer, bool) {
	n := min(d.nOffer, len(d.offers))
	for i := range n {
		if o := d.offers[i]; o.cseq == cseq && o.byCaller == byCaller {
			return o, true
		}
	}
	return offer{}, false
}

// applyAnswer records what an accepted SDP answer negotiates.
func (d *dialog) applyAnswer(s *sdpInfo, t time.Time, initial bool) {
	if initial && d.leg.Codec == "" {
		d.leg.Codec = s.codec
	}
	if s.codec == "G729" {
		d.leg.G729 = true
	}
	if s.t38 && !d.leg.Fax {
		d.leg.Fax, d.leg.FaxAt = true, t
	}
}
