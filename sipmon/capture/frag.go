package capture

import (
	"sort"
	"time"
)

const (
	defaultMaxPending   = 256
	defaultFragTimeout  = 30 * time.Second
	maxFragsPerDatagram = 64
	maxDatagram         = 65535
)

// fragKey identifies a datagram being reassembled (RFC 791 for IPv4, RFC 8200
// for IPv6; IPv4 addresses are stored mapped into IPv6 ones).
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
}

type span struct{ lo, hi int }

type pendingDatagram struct {
	buf   []byte // maxDatagram bytes, reused
	spans []span
	total int // payload length once the last fragment (MF clear) is seen, else -1
	first time.Time
	count int
}

// defragmenter reassembles IPv4 and IPv6 datagrams, bounded in the number of
// datagrams pending and in time, so that a flood of first fragments cannot grow
// memory. Overlapping fragments are copied over (last one wins): for counting
// SIP, the difference between overlap policies does not matter.
type defragmenter struct {
	pending    map[fragKey]*pendingDatagram
	free       []*pendingDatagram
	maxPending int
	timeout    time.Duration
	lastSweep  time.Time
}

func newDefragmenter(maxPending int, timeout time.Duration) *defragmenter {
	if maxPending <= 0 {
		maxPending = defaultMaxPending
	}
	if timeout <= 0 {
		timeout = defaultFragTimeout
	}
	return &defragmenter{pending: make(map[fragKey]*pendingDatagram), maxPending: maxPending, timeout: timeout}
}

// add files one fragment. When it completes its datagram, add returns the
// reassembled transport payload (valid until release) and done. dropped counts
// fragments given up on the way.
func (f *defragmenter) add(k fragKey, off int, more bool, data []byte, ts time.Time) (whole []byte, done bool, dropped int) {
	dropped = f.sweep(ts)
	end := off + len(data)
	if end > maxDatagram || (more && len(data)%8 != 0) {
		return nil, false, dropped + 1
	}
	p := f.pending[k]
	if p == nil {
		if len(f.pending) >= f.maxPending {
			dropped += f.evictOldest()
		}
		p = f.get()
		p.first = ts
		f.pending[k] = p
	}
	p.count++
	if p.count > maxFragsPerDatagram || (p.total >= 0 && end > p.total) || (!more && p.total >= 0 && end != p.total) {
		dropped += p.count
		f.drop(k, p)
		return nil, false, dropped
	}
	if !more {
		p.total = end
	}
	copy(p.buf[off:end], data)
	p.spans = append(p.spans, span{off, end})
	if p.total < 0 || !p.complete() {
		return nil, false, dropped
	}
	delete(f.pending, k)
	return p.buf[:p.total], true, dropped
}

// complete reports whether the spans cover [0, total).
func (p *pendingDatagram) complete() bool {
	sort.Slice(p.spans, func(i, j int) bool { return p.spans[i].lo < p.spans[j].lo })
	reach := 0
	for _, s := range p.spans {
		if s.lo > reach {
			return false
		}
		if s.hi > reach {
			reach = s.hi
		}
	}
	return reach >= p.total
}

// release returns a reassembled datagram's buffer for reuse.
func (f *defragmenter) release(whole []byte) {
	if cap(whole) < maxDatagram {
		return
	}
	f.free = append(f.free, &pendingDatagram{buf: whole[:maxDatagram]})
}

func (f *defragmenter) get() *pendingDatagram {
	var p *pendingDatagram
	if n := len(f.free); n > 0 {
		p, f.free = f.free[n-1], f.free[:n-1]
	} else {
		p = &pendingDatagram{buf: make([]byte, maxDatagram)}
	}
	p.spans = p.spans[:0]
	p.total = -1
	p.count = 0
	return p
}

func (f *defragmenter) drop(k fragKey, p *pendingDatagram) {
	delete(f.pending, k)
	if len(f.free) < 16 {
		f.free = append(f.free, p)
	}
}

// sweep drops datagrams older than the timeout, at most once per second of
// capture time.
func (f *defragmenter) sweep(now time.Time) (dropped int) {
	if len(f.pending) == 0 || now.Sub(f.lastSweep) < time.Second {
		return 0
	}
	f.lastSweep = now
	for k, p := range f.pending {
		if now.Sub(p.first) > f.timeout {
			dropped += p.count
			f.drop(k, p)
		}
	}
	return dropped
}

func (f *defragmenter) evictOldest() int {
	var (
		oldK fragKey
		oldP *pendingDatagram
	)
	for k, p := range f.pending {
		if oldP == nil || p.first.Before(oldP.first) {
			oldK, oldP = k, p
		}
	}
	if oldP == nil {
		return 0
	}
	n := oldP.count
	f.drop(oldK, oldP)
	return n
}

// reset drops everything pending and returns the number of fragments dropped.
func (f *defragmenter) reset() (dropped int) {
	for k, p := range f.pending {
		dropped += p.count
		f.drop(k, p)
	}
	return dropped
}
