package proto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Limits bound what a Reader keeps in memory for one message. A zero field means
// its default.
type Limits struct {
	// MaxLineBytes is the longest header line accepted, without its line ending.
	// Default 65536 (CLI output lines and long variable values stay far below).
	MaxLineBytes int
	// MaxFields is the most headers one message may have. Default 16384: a
	// "core show channels" Command answers with one Output header per channel.
	MaxFields int
	// MaxMessageBytes bounds the sum of a message's header lines. Default 4 MiB.
	MaxMessageBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = 64 << 10
	}
	if l.MaxFields <= 0 {
		l.MaxFields = 16 << 10
	}
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = 4 << 20
	}
	return l
}

// Sentinel reasons carried by a *FrameError.
var (
	ErrLineTooLong     = errors.New("header line too long")
	ErrTooManyFields   = errors.New("too many headers in one message")
	ErrMessageTooLarge = errors.New("message too large")
	ErrMalformedLine   = errors.New("line is not a \"Key: Value\" header")
)

// FrameError reports one message that could not be decoded. The Reader has
// already skipped the rest of that message when it returns one, so the next
// ReadMessage starts on the following message.
type FrameError struct {
	Err  error  // one of the Err… sentinels above
	Line string // the offending line, shortened, when there is one
}

func (e *FrameError) Error() string {
	if e.Line != "" {
		return fmt.Sprintf("ami frame: %v: %q", e.Err, e.Line)
	}
	return "ami frame: " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *FrameError) Unwrap() error { return e.Err }

// Reader decodes AMI messages from a byte stream. It is not safe for concurrent
// use. A read error from the underlying reader (a deadline, say) loses nothing:
// the partial line and message are kept and the next ReadMessage goes on from
// where the stream stopped.
type Reader struct {
	br  *bufio.Reader
	lim Limits

	line     []byte // partial line across read errors
	skipLine bool   // the current line is over the limit and being discarded

	// The current message's values are gathered in vals and turned into one
	// string when it ends: one allocation per message instead of one per header.
	keys  []string
	ends  []int
	vals  []byte
	size  int   // bytes of the message so far
	inMsg bool  // at least one non-empty line of the current message seen
	bad   error // current message is broken; skipping to its end
}

// NewReader returns a Reader on r with the given limits (zero value: defaults).
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 4096), lim: lim.withDefaults()}
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its ending ("\n", "\r\n"). The slice
// is valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	for {
		frag, err := r.br.ReadSlice('\n')
		if !r.skipLine {
			if len(r.line)+len(frag) > r.lim.MaxLineBytes+2 {
				r.skipLine = true
				r.line = r.line[:0]
			} else {
				r.line = append(r.line, frag...)
			}
		}
		switch err {
		case nil:
			if r.skipLine {
				r.skipLine = false
				return nil, errLineTooLong
			}
			l := r.line
			r.line = r.line[:0]
			l = bytes.TrimSuffix(l, []byte{'\n'})
			l = bytes.TrimSuffix(l, []byte{'\r'})
			if len(l) > r.lim.MaxLineBytes {
				return nil, errLineTooLong
			}
			return l, nil
		case bufio.ErrBufferFull:
			continue
		default:
			return nil, err
		}
	}
}

// ReadBanner reads the one-line greeting Asterisk sends on connect
// ("Asterisk Call Manager/11.0.0"), without its line ending.
func (r *Reader) ReadBanner() (string, error) {
	l, err := r.readLine()
	if errors.Is(err, errLineTooLong) {
		return "", &FrameError{Err: ErrLineTooLong}
	}
	if err != nil {
		return "", err
	}
	return string(l), nil
}

// ReadMessage returns the next message. Empty lines between messages are skipped.
// A *FrameError means one message was bad and has been skipped; the stream can be
// read on. io.EOF means the stream ended cleanly between messages; an EOF inside a
// message gives io.ErrUnexpectedEOF.
func (r *Reader) ReadMessage() (*Message, error) {
	for {
		line, err := r.readLine()
		if errors.Is(err, errLineTooLong) {
			r.inMsg = true
			r.breakMessage(&FrameError{Err: ErrLineTooLong})
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && (r.inMsg || len(r.line) > 0 || r.skipLine) {
				r.reset()
				r.line = r.line[:0]
				r.skipLine = false
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(line) == 0 {
			if !r.inMsg {
				continue
			}
			if bad := r.bad; bad != nil {
				r.reset()
				return nil, bad
			}
			m := r.build()
			r.reset()
			return m, nil
		}
		r.inMsg = true
		if r.bad != nil {
			continue
		}
		r.size += len(line) + 2
		if r.size > r.lim.MaxMessageBytes {
			r.breakMessage(&FrameError{Err: ErrMessageTooLarge})
			continue
		}
		if len(r.keys) >= r.lim.MaxFields {
			r.breakMessage(&FrameError{Err: ErrTooManyFields})
			continue
		}
		key, val, ok := splitHeader(line)
		if !ok {
			r.breakMessage(&FrameError{Err: ErrMalformedLine, Line: shorten(line)})
			continue
		}
		r.keys = append(r.keys, internKey(key))
		r.vals = append(r.vals, val...)
		r.ends = append(r.ends, len(r.vals))
	}
}

func (r *Reader) build() *Message {
	all := string(r.vals)
	fields := make([]Field, len(r.keys))
	start := 0
	for i, k := range r.keys {
		fields[i] = Field{Key: k, Value: all[start:r.ends[i]]}
		start = r.ends[i]
	}
	return &Message{Fields: fields}
}

func (r *Reader) breakMessage(err error) {
	if r.bad == nil {
		r.bad = err
	}
	r.clearFields()
}

// clearFields forgets the headers gathered so far, and the memory of a
// message that grew large.
func (r *Reader) clearFields() {
	r.keys, r.ends, r.vals = r.keys[:0], r.ends[:0], r.vals[:0]
	if cap(r.vals) > 64<<10 {
		r.vals = nil
	}
	if cap(r.keys) > 1024 {
		r.keys, r.ends = nil, nil
	}
}

func (r *Reader) reset() {
	r.clearFields()
	r.size = 0
	r.inMsg = false
	r.bad = nil
}

// splitHeader splits "Key: Value". Exactly one space after the colon belongs
// to the separator; anything further is kept, so values round-trip exactly.
func splitHeader(line []byte) (key, val []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, false
	}
	key = line[:i]
	if bytes.ContainsAny(key, " \t\r") {
		return nil, nil, false
	}
	val = line[i+1:]
	if len(val) > 0 && val[0] == ' ' {
		val = val[1:]
	}
	return key, val, true
}

func shorten(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// commonKeys are header names seen in nearly every message; sharing their string
// saves an allocation per header on the hot event path.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Event", "Response", "Action", "ActionID", "Message", "Privilege",
		"Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
		"ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode", "Context",
		"Exten", "Priority", "Uniqueid", "Linkedid", "Variable", "Value", "Cause",
		"Cause-txt", "Extension", "Application", "AppData", "Output", "EventList",
		"ListItems", "Device", "State", "DestChannel", "DestUniqueid", "DestLinkedid",
		"BridgeUniqueid", "BridgeType", "BridgeTechnology", "BridgeCreator",
		"BridgeName", "BridgeNumChannels", "BridgeVideoSourceMode", "Status",
	} {
		m[k] = k
	}
	return m
}()

func internKey(b []byte) string {
	if s, ok := commonKeys[string(b)]; ok { // no allocation for the lookup
		return s
	}
	return string(b)
}
