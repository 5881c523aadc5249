package capture

import (
	"errors"
	"io"
	"sync"
)

// readahead runs a slow reader (gzip inflation) in its own goroutine, a few
// buffers ahead of the consumer, so that inflating the next megabyte overlaps with
// decoding and SIP parsing of the previous one on another core. Close stops the
// goroutine even when the consumer stops early.
type readahead struct {
	full  chan []byte // filled buffers, in order
	empty chan []byte // buffers to refill
	done  chan struct{}
	gone  chan struct{} // closed when fill has returned
	once  sync.Once
	err   error // the source's error, valid once full is closed
	size  int   // of each buffer
	cur   []byte
	spare []byte // the buffer cur points into, returned when drained
	// scratch gathers what next returns across buffers.
	scratch []byte
}

const (
	readaheadBufSize = 256 << 10
	readaheadBuffers = 3
)

func newReadahead(src io.Reader) *readahead { return newReadaheadSize(src, readaheadBufSize) }

// newReadaheadSize is newReadahead with buffers of size bytes (tests use small
// ones, to cross buffer ends often).
func newReadaheadSize(src io.Reader, size int) *readahead {
	ra := &readahead{
		full:  make(chan []byte, readaheadBuffers),
		empty: make(chan []byte, readaheadBuffers),
		done:  make(chan struct{}),
		gone:  make(chan struct{}),
		size:  size,
	}
	for range readaheadBuffers {
		ra.empty <- make([]byte, size)
	}
	go ra.fill(src)
	return ra
}

func (ra *readahead) fill(src io.Reader) {
	defer close(ra.gone)
	defer close(ra.full)
	for {
		var buf []byte
		select {
		case buf = <-ra.empty:
		case <-ra.done:
			return
		}
		n, err := io.ReadFull(src, buf[:cap(buf)])
		if n > 0 {
			select {
			case ra.full <- buf[:n]:
			case <-ra.done:
				return
			}
		}
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			ra.err = err
			return
		}
	}
}

// fetch makes the next filled buffer current, handing the drained one back
// to fill: false at the end of the source (ra.err says why).
func (ra *readahead) fetch() bool {
	if ra.spare != nil {
		ra.empty <- ra.spare[:cap(ra.spare)] // never blocks: at most readaheadBuffers exist
		ra.spare = nil
	}
	buf, ok := <-ra.full
	if !ok {
		return false
	}
	ra.cur, ra.spare = buf, buf
	return true
}

// Read implements io.Reader.
func (ra *readahead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if !ra.fetch() {
			return 0, ra.err
		}
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// next returns the next n bytes of the stream with io.ReadFull's errors
// (io.EOF when none is left, io.ErrUnexpectedEOF when fewer, or the source's
// error): in place when they lie in one buffer, which is the point (no copy
// of the capture's bytes at all), else gathered into scratch. They are valid
// until the next call of next, Read or Peek.
func (ra *readahead) next(n int) ([]byte, error) {
	if len(ra.cur) == 0 && n > 0 && !ra.fetch() {
		return nil, ra.err
	}
	if len(ra.cur) >= n {
		b := ra.cur[:n:n]
		ra.cur = ra.cur[n:]
		return b, nil
	}
	// Lengths come from the file: scratch grows with the bytes actually
	// there, never to n up front.
	ra.scratch = ra.scratch[:0]
	for len(ra.scratch) < n {
		if len(ra.cur) == 0 && !ra.fetch() {
			if ra.err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, ra.err
		}
		k := min(n-len(ra.scratch), len(ra.cur))
		ra.scratch = append(ra.scratch, ra.cur[:k]...)
		ra.cur = ra.cur[k:]
	}
	return ra.scratch, nil
}

// Peek returns the next n bytes without consuming them, as bufio.Reader.Peek
// does, when they are in the buffer at hand: enough for a file's magic,
// which is at the start of the first buffer. Fewer bytes left than n: io.EOF
// (or the source's error).
func (ra *readahead) Peek(n int) ([]byte, error) {
	if len(ra.cur) == 0 && !ra.fetch() {
		if ra.err == io.EOF {
			return nil, io.EOF
		}
		return nil, ra.err
	}
	if len(ra.cur) < n {
		if len(ra.cur) < ra.size {
			// A short buffer is the last: fill has met the source's end or
			// error, and closes full once it has kept it in err.
			if _, ok := <-ra.full; !ok && ra.err != io.EOF {
				return ra.cur, ra.err
			}
			return ra.cur, io.EOF
		}
		return ra.cur, errors.New("capture: readahead: peek across buffers")
	}
	return ra.cur[:n], nil
}

// Close stops the filling goroutine and waits for it (at most one buffer's read),
// so that the source may be closed safely afterwards; it does not close the source.
func (ra *readahead) Close() {
	ra.once.Do(func() { close(ra.done) })
	<-ra.gone
}
