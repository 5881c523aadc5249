package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture/hep"
)

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04

	defaultMaxStreams      = 16384
	defaultMaxStreamBuffer = 256 << 10
	defaultStreamIdle      = 5 * time.Minute
	defaultMaxBuffered     = 64 << 20
	// keptBufferCap: stream buffers up to this size are pooled when a stream ends;
	// larger ones (a rare huge message) go back to the garbage collector.
	keptBufferCap = 64 << 10
)

type segment struct {
	src, dst netip.AddrPort
	seq      uint32
	flags    uint8
	data     []byte
	ts       time.Time
}

// flowKey is one direction of a TCP connection: SIP messages are framed per
// direction.
type flowKey struct{ src, dst netip.AddrPort }

type stream struct {
	next uint32    // next expected sequence number
	buf  []byte    // bytes of an incomplete message
	last time.Time // capture time of the last segment
	// ooo holds segments that arrived ahead of a hole, in sequence order, until
	// the hole is filled or given up; oooBytes is their size.
	ooo      []oooSegment
	oooBytes int
}

// oooSegment is a segment received out of order (its data copied).
type oooSegment struct {
	seq  uint32
	data []byte
	ts   time.Time
}

const (
	// maxOutOfOrder segments are held per direction while waiting for a hole to
	// be filled; then, or after outOfOrderWait of capture time, the hole is
	// taken as lost.
	maxOutOfOrder  = 16
	outOfOrderWait = time.Second
)

// assembler reassembles TCP byte streams per direction and frames them into SIP
// messages (header block up to the empty line, then Content-Length bytes of body)
// or HEPv3 messages (by their length field). Retransmitted bytes are dropped.
// Segments that arrive ahead of a hole are held (a few, briefly) so that
// reordering costs nothing; a hole that is not filled in time (a segment the
// capture missed) drops the partial message and resynchronises on the next SIP
// start line. Memory is bounded: MaxStreamBuffer per direction (held segments
// included), MaxBufferedBytes in all, MaxStreams directions (least recently
// active evicted first), and idle streams expire.
type assembler struct {
	streams    map[flowKey]*stream
	free       []*stream
	maxStreams int
	maxBuf     int
	maxTotal   int
	buffered   int // bytes held in all streams' buffers and held segments
	idle       time.Duration
	lastSweep  time.Time
}

func newAssembler(maxStreams, maxBuf, maxTotal int, idle time.Duration) *assembler {
	if maxStreams <= 0 {
		maxStreams = defaultMaxStreams
	}
	if maxBuf <= 0 {
		maxBuf = defaultMaxStreamBuffer
	}
	if idle <= 0 {
		idle = defaultStreamIdle
	}
	if maxTotal <= 0 {
		maxTotal = defaultMaxBuffered
	}
	return &assembler{streams: make(map[flowKey]*stream), maxStreams: maxStreams, maxBuf: maxBuf, maxTotal: maxTotal, idle: idle}
}

func (a *assembler) segment(d *decoder, s *segment) error {
	k := flowKey{s.src, s.dst}
	st := a.streams[k]
	seq := s.seq
	if s.flags&tcpSYN != 0 {
		if st != nil { // the 4-tuple is reused by a new connection
			a.end(d, k, st)
		}
		st = a.open(d, k)
		seq++ // the SYN takes one sequence number
		st.next = seq
		st.last = s.ts
	}
	if len(s.data) > 0 {
		d.stats.TCPSegments++
		if st == nil { // picked up mid-connection: start here
			st = a.open(d, k)
			st.next = seq
		}
		st.last = s.ts
		if err := a.accept(d, k, st, seq, s.data, s.ts); err != nil {
			return err
		}
	}
	if st != nil && s.flags&(tcpFIN|tcpRST) != 0 {
		if err := a.finish(d, k, st); err != nil {
			return err
		}
	}
	a.sweep(d, s.ts)
	// Past the total budget, evict the least recently active streams (st may be
	// among them: it is not used after this).
	for a.buffered > a.maxTotal && len(a.streams) > 0 {
		a.evict(d, len(a.streams)/8+1)
	}
	return nil
}

// accept takes one data segment: in order, it is consumed (retransmitted bytes
// trimmed) along with any held segments it makes contiguous; ahead of a hole, it
// is held, unless the hold is full or too old, in which case the hole is given
// up.
func (a *assembler) accept(d *decoder, k flowKey, st *stream, seq uint32, data []byte, ts time.Time) error {
	for int32(seq-st.next) > 0 {
		if a.hold(st, seq, data, ts) {
			return nil
		}
		if err := a.skipHole(d, k, st, seq); err != nil {
			return err
		}
	}
	if err := a.inOrder(d, k, st, seq, data, ts); err != nil {
		return err
	}
	return a.drain(d, k, st)
}

// skipHole gives up the first hole: what was partial before it is lost, and the
// stream goes on from the first held segment (or from seq, if earlier or none).
func (a *assembler) skipHole(d *decoder, k flowKey, st *stream, seq uint32) error {
	d.stats.TCPGaps++
	if len(st.buf) > 0 {
		d.stats.TCPIncomplete++
	}
	a.buffered -= len(st.buf)
	st.buf = st.buf[:0]
	st.next = seq
	if len(st.ooo) > 0 && int32(st.ooo[0].seq-seq) < 0 {
		st.next = st.ooo[0].seq
	}
	return a.drain(d, k, st)
}

// finish ends a stream that closed (FIN, RST, end of input): holes still open are
// given up, so that the messages held behind them are delivered.
func (a *assembler) finish(d *decoder, k flowKey, st *stream) error {
	var err error
	for err == nil && len(st.ooo) > 0 {
		err = a.skipHole(d, k, st, st.ooo[0].seq)
	}
	a.end(d, k, st)
	return err
}

// inOrder consumes a segment that starts at or before st.next.
func (a *assembler) inOrder(d *decoder, k flowKey, st *stream, seq uint32, data []byte, ts time.Time) error {
	if diff := int32(seq - st.next); diff < 0 {
		d.stats.TCPRetransmits++
		if int64(-diff) >= int64(len(data)) {
			return nil
		}
		data = data[-diff:]
	}
	if len(data) == 0 {
		return nil
	}
	st.next += uint32(len(data))
	return a.consume(d, k, st, data, ts)
}

// drain consumes the held segments that have become contiguous.
func (a *assembler) drain(d *decoder, k flowKey, st *stream) error {
	for len(st.ooo) > 0 && int32(st.ooo[0].seq-st.next) <= 0 {
		o := st.ooo[0]
		st.ooo = st.ooo[1:]
		st.oooBytes -= len(o.data)
		a.buffered -= len(o.data)
		if err := a.inOrder(d, k, st, o.seq, o.data, o.ts); err != nil {
			return err
		}
	}
	if len(st.ooo) == 0 {
		st.ooo = st.ooo[:0:0] // let the backing array go
	}
	return nil
}

// hold keeps a segment that arrived ahead of a hole, in sequence order; false
// when the hold is full or its oldest segment has waited long enough.
func (a *assembler) hold(st *stream, seq uint32, data []byte, ts time.Time) bool {
	if len(st.ooo) >= maxOutOfOrder || st.oooBytes+len(st.buf)+len(data) > a.maxBuf ||
		(len(st.ooo) > 0 && ts.Sub(st.ooo[0].ts) > outOfOrderWait) {
		return false
	}
	i := len(st.ooo)
	for i > 0 && int32(st.ooo[i-1].seq-seq) > 0 {
		i--
	}
	st.ooo = slices.Insert(st.ooo, i, oooSegment{seq: seq, data: append([]byte(nil), data...), ts: ts})
	st.oooBytes += len(data)
	a.buffered += len(data)
	return true
}

// consume frames data onto what the stream had buffered. When nothing was
// buffered (the usual case) messages are delivered straight from the packet and
// only an incomplete tail is copied.
func (a *assembler) consume(d *decoder, k flowKey, st *stream, data []byte, ts time.Time) error {
	before := len(st.buf)
	defer func() { a.buffered += len(st.buf) - before }()
	var err error
	if len(st.buf) == 0 {
		n, ferr := a.frameAll(d, k, data, ts)
		err = ferr
		st.buf = append(st.buf[:0], data[n:]...)
	} else {
		st.buf = append(st.buf, data...)
		n, ferr := a.frameAll(d, k, st.buf, ts)
		err = ferr
		st.buf = st.buf[:copy(st.buf, st.buf[n:])]
	}
	if len(st.buf) > a.maxBuf {
		d.stats.TCPOverflow++
		st.buf = st.buf[:0]
	}
	return err
}

type frameKind uint8

const (
	frameNeedMore frameKind = iota
	frameSkip               // keep-alive CRLFs
	frameGarbage            // not SIP: skipped to resynchronise
	frameSIP
	frameHEP
	frameTooBig // a message that cannot fit the stream buffer
)

func (a *assembler) frameAll(d *decoder, k flowKey, b []byte, ts time.Time) (int, error) {
	off := 0
	garbage := false
	for off < len(b) {
		n, kind := frame(b[off:], a.maxBuf)
		switch kind {
		case frameNeedMore:
			return off, nil
		case frameSkip:
		case frameGarbage:
			if !garbage {
				d.stats.NotSIP++
				garbage = true
			}
		case frameTooBig:
			d.stats.TCPOverflow++
		case frameSIP:
			garbage = false
			if err := d.deliver(k.src, k.dst, TCP, false, b[off:off+n], ts); err != nil {
				return off + n, err
			}
		case frameHEP:
			garbage = false
			if err := d.hepMessage(b[off:off+n], ts); err != nil {
				return off + n, err
			}
		}
		off += n
	}
	return off, nil
}

var hepMagic = []byte("HEP3")

// frame finds the first message at the start of b: it returns its length and kind,
// or frameNeedMore when b holds only part of it. An incomplete message that would
// need more than limit bytes of buffer is reported as frameTooBig with n = len(b)
// (all dropped, then resynchronised); a complete one is delivered whatever its size.
func frame(b []byte, limit int) (n int, kind frameKind) {
	if len(b) == 0 {
		return 0, frameNeedMore
	}
	if b[0] == '\r' || b[0] == '\n' {
		i := 1
		for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
			i++
		}
		return i, frameSkip
	}
	if b[0] == 'H' && len(b) < 4 && bytes.HasPrefix(hepMagic, b) {
		return 0, frameNeedMore
	}
	if hep.IsHEP3(b) {
		if len(b) < hep.HeaderLen {
			return 0, frameNeedMore
		}
		l := int(binary.BigEndian.Uint16(b[4:6]))
		if l < hep.HeaderLen {
			return 4, frameGarbage
		}
		if l > len(b) {
			return 0, frameNeedMore
		}
		return l, frameHEP
	}
	head := b
	if len(head) > maxStartLine {
		head = head[:maxStartLine]
	}
	eol := bytes.IndexByte(head, '\n')
	if eol < 0 {
		if len(b) < maxStartLine && b[0] >= 'A' && b[0] <= 'Z' {
			return 0, frameNeedMore // possibly a start line cut by the segment
		}
		return len(head), frameGarbage
	}
	if !looksLikeSIP(b) {
		return eol + 1, frameGarbage
	}
	// Walk the header lines up to the empty one, noting Content-Length.
	pos := eol + 1
	clen := -1
	for {
		j := bytes.IndexByte(b[pos:], '\n')
		if j < 0 {
			if len(b) > limit {
				return len(b), frameTooBig
			}
			return 0, frameNeedMore
		}
		line := b[pos : pos+j]
		pos += j + 1
		if l := len(line); l > 0 && line[l-1] == '\r' {
			line = line[:l-1]
		}
		if len(line) == 0 {
			break
		}
		if clen < 0 {
			if v, ok := contentLength(line); ok {
				clen = v
			}
		}
	}
	if clen < 0 {
		clen = 0 // required on TCP; without it the body is taken as empty
	}
	total := pos + clen
	switch {
	case total <= len(b):
		return total, frameSIP // complete: delivered whatever its size
	case total > limit:
		return len(b), frameTooBig // would have to be buffered beyond the bound
	}
	return 0, frameNeedMore
}

// contentLength recognises a Content-Length header (or its compact form "l") in
// any case, with any spacing, and returns its value. An unreadable value counts as
// 0: the SIP parser downstream will call the message malformed.
func contentLength(line []byte) (int, bool) {
	var rest []byte
	switch c := line[0] | 0x20; c {
	case 'l':
		rest = line[1:]
	case 'c':
		const name = "content-length"
		if len(line) < len(name) {
			return 0, false
		}
		for i := 0; i < len(name); i++ {
			if line[i]|0x20 != name[i] && !(name[i] == '-' && line[i] == '-') {
				return 0, false
			}
		}
		rest = line[len(name):]
	default:
		return 0, false
	}
	rest = bytes.TrimLeft(rest, " \t")
	if len(rest) == 0 || rest[0] != ':' {
		return 0, false
	}
	rest = bytes.Trim(rest[1:], " \t")
	v := 0
	for _, c := range rest {
		if c < '0' || c > '9' || v > 1<<30 {
			return 0, true
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func (a *assembler) open(d *decoder, k flowKey) *stream {
	if len(a.streams) >= a.maxStreams {
		a.evict(d, len(a.streams)/8+1)
	}
	var st *stream
	if n := len(a.free); n > 0 {
		st, a.free = a.free[n-1], a.free[:n-1]
	} else {
		st = &stream{}
	}
	a.streams[k] = st
	return st
}

func (a *assembler) end(d *decoder, k flowKey, st *stream) {
	if len(st.buf) > 0 || len(st.ooo) > 0 {
		d.stats.TCPIncomplete++
	}
	a.buffered -= len(st.buf) + st.oooBytes
	delete(a.streams, k)
	st.buf = st.buf[:0]
	st.ooo, st.oooBytes = nil, 0
	if cap(st.buf) > keptBufferCap {
		st.buf = nil
	}
	if len(a.free) < 256 {
		a.free = append(a.free, st)
	}
}

// evict ends the n least recently active streams.
func (a *assembler) evict(d *decoder, n int) {
	type aged struct {
		k    flowKey
		last time.Time
	}
	all := make([]aged, 0, len(a.streams))
	for k, st := range a.streams {
		all = append(all, aged{k, st.last})
	}
	slices.SortFunc(all, func(x, y aged) int { return x.last.Compare(y.last) })
	for _, e := range all[:min(n, len(all))] {
		d.stats.TCPEvicted++
		a.end(d, e.k, a.streams[e.k])
	}
}

// sweep ends streams idle for longer than a.idle, checking a few times per idle
// period of capture time.
func (a *assembler) sweep(d *decoder, now time.Time) {
	if now.Sub(a.lastSweep) < a.idle/4 {
		return
	}
	a.lastSweep = now
	for k, st := range a.streams {
		if now.Sub(st.last) > a.idle {
			d.stats.TCPEvicted++
			a.end(d, k, st)
		}
	}
}

// flush finishes every stream (end of input).
func (a *assembler) flush(d *decoder) error {
	for k, st := range a.streams {
		if err := a.finish(d, k, st); err != nil {
			return err
		}
	}
	return nil
}
