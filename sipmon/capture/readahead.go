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
	cur   []byte
	spare []byte // the buffer cur points into, returned when drained
}

const (
	readaheadBufSize = 256 << 10
	readaheadBuffers = 3
)

func newReadahead(src io.Reader) *readahead {
	ra := &readahead{
		full:  make(chan []byte, readaheadBuffers),
		empty: make(chan []byte, readaheadBuffers),
		done:  make(chan struct{}),
		gone:  make(chan struct{}),
	}
	for range readaheadBuffers {
		ra.empty <- make([]byte, readaheadBufSize)
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

// Read implements io.Reader.
func (ra *readahead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.spare != nil {
			ra.empty <- ra.spare[:cap(ra.spare)] // never blocks: at most readaheadBuffers exist
			ra.spare = nil
		}
		buf, ok := <-ra.full
		if !ok {
			return 0, ra.err
		}
		ra.cur, ra.spare = buf, buf
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Peek returns the next n bytes without consuming them, as bufio.Reader.Peek
// does, when they are in the buffer at hand: enough for a file's magic,
// which is at the start of the first buffer. Fewer bytes left than n: io.EOF
// (or the source's error).
func (ra *readahead) Peek(n int) ([]byte, error) {
	if len(ra.cur) == 0 {
		if ra.spare != nil {
			ra.empty <- ra.spare[:cap(ra.spare)]
			ra.spare = nil
		}
		buf, ok := <-ra.full
		if !ok {
			if ra.err == io.EOF {
				return nil, io.EOF
			}
			return nil, ra.err
		}
		ra.cur, ra.spare = buf, buf
	}
	if len(ra.cur) < n {
		if len(ra.cur) < readaheadBufSize {
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
