package proto

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrUnsafeValue is the reason a header is refused for writing: a CR, LF or NUL
// would end the header (or the message) early and let the rest be read by
// Asterisk as headers of its own — header injection through a caller ID or a
// variable value.
//
// We reject rather than strip: silently changing a caller ID or a variable is
// a data change the caller should decide on (Clean does the stripping for those
// who want it).
var ErrUnsafeValue = errors.New("contains CR, LF or NUL")

// ErrBadKey is the reason a header name is refused: empty, or holding a colon,
// white space or a control character.
var ErrBadKey = errors.New("is not a valid header name")

// FieldError names the header that could not be written and why.
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("ami header %q: %v", e.Key, e.Err)
}

// Unwrap returns ErrUnsafeValue or ErrBadKey.
func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks that every header can be written without changing the
// message's meaning on the wire.
func (m *Message) Validate() error {
	if m == nil || len(m.Fields) == 0 {
		return errors.New("ami: empty message")
	}
	for _, f := range m.Fields {
		if err := ValidateField(f); err != nil {
			return err
		}
	}
	return nil
}

// ValidateField checks one header (see ErrUnsafeValue and ErrBadKey).
func ValidateField(f Field) error {
	if f.Key == "" {
		return &FieldError{Key: f.Key, Err: ErrBadKey}
	}
	for i := 0; i < len(f.Key); i++ {
		c := f.Key[i]
		if c <= ' ' || c == ':' || c == 0x7f {
			return &FieldError{Key: f.Key, Err: ErrBadKey}
		}
	}
	if strings.ContainsAny(f.Value, "\r\n\x00") {
		return &FieldError{Key: f.Key, Err: ErrUnsafeValue}
	}
	return nil
}

// Clean replaces CR, LF and NUL with a space, for callers that prefer to send a
// mangled value over refusing it.
func Clean(s string) string {
	if !strings.ContainsAny(s, "\r\n\x00") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '\r', '\n', 0:
			return ' '
		}
		return r
	}, s)
}

// AppendMessage appends m in wire form to dst after validating it. Values are
// copied verbatim: no formatting verbs are interpreted (a "%" stays a "%").
func AppendMessage(dst []byte, m *Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return dst, err
	}
	for _, f := range m.Fields {
		dst = append(dst, f.Key...)
		dst = append(dst, ':', ' ')
		dst = append(dst, f.Value...)
		dst = append(dst, '\r', '\n')
	}
	return append(dst, '\r', '\n'), nil
}

// Marshal returns m in wire form after validating it.
func Marshal(m *Message) ([]byte, error) { return AppendMessage(nil, m) }

// Writer writes whole messages, each in one Write call so that messages from
// different goroutines never interleave when the caller serialises WriteMessage.
// It is not safe for concurrent use on its own.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteMessage validates and writes m. Nothing is written if validation fails.
func (w *Writer) WriteMessage(m *Message) error {
	b, err := AppendMessage(w.buf[:0], m)
	if err != nil {
		return err
	}
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("ami: write %s: %w", m.Name(), err)
	}
	return nil
}
