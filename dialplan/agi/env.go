package agi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Sentinel errors of the line protocol; match them with errors.Is.
var (
	// ErrMalformed is a line that does not follow the protocol.
	ErrMalformed = errors.New("malformed")
	// ErrLineTooLong is a line longer than Limits.MaxLine.
	ErrLineTooLong = errors.New("line too long")
	// ErrTooManyLines is an environment or a multi-line reply longer than Limits.MaxLines.
	ErrTooManyLines = errors.New("too many lines")
)

// Limits bound what a peer may send, so that a hostile or broken peer costs a
// bounded amount of memory. A zero field means its default.
type Limits struct {
	// MaxLine is the longest line accepted, without its LF. Default 4096 (Asterisk's
	// own command buffer is 2048 bytes).
	MaxLine int
	// MaxLines bounds the lines of an environment block or of one multi-line reply.
	// Default 256 (Asterisk passes at most 128 arguments, plus about 25 agi_* keys).
	MaxLines int
}

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = 4096
	}
	if l.MaxLines <= 0 {
		l.MaxLines = 256
	}
	return l
}

// Var is one `agi_name: value` line of the environment.
type Var struct {
	Key   string // with its agi_ prefix, e.g. agi_uniqueid
	Value string
}

// Env is the environment block Asterisk sends first, in arrival order.
type Env []Var

// Get returns the value of key (with its agi_ prefix) and whether it was sent.
func (e Env) Get(key string) (string, bool) {
	for _, v := range e {
		if v.Key == key {
			return v.Value, true
		}
	}
	return "", false
}

// Value returns the value of key, or "" when it was not sent.
func (e Env) Value(key string) string {
	v, _ := e.Get(key)
	return v
}

// Args returns agi_arg_1, agi_arg_2, ... in order, stopping at the first gap.
func (e Env) Args() []string {
	var args []string
	for i := 1; ; i++ {
		v, ok := e.Get(fmt.Sprintf("agi_arg_%d", i))
		if !ok {
			return args
		}
		args = append(args, v)
	}
}

// ReadEnv reads the environment block: `agi_name: value` lines ending with an empty
// line. The block may arrive in any number of TCP segments. A line that is not of
// that form, a repeated key, a line or a block over the limits, or EOF before the
// empty line is an error naming the line.
func ReadEnv(r *bufio.Reader, lim Limits) (Env, error) {
	lim = lim.withDefaults()
	// Asterisk sends about 25 lines: one allocation for the lot.
	env := make(Env, 0, 32)
	for n := 1; ; n++ {
		line, err := readLine(r, lim.MaxLine)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("agi: environment line %d: %w", n, err)
		}
		if line == "" {
			if len(env) == 0 {
				return nil, fmt.Errorf("agi: environment: empty block: %w", ErrMalformed)
			}
			return env, nil
		}
		if n > lim.MaxLines {
			return nil, fmt.Errorf("agi: environment: more than %d lines: %w", lim.MaxLines, ErrTooManyLines)
		}
		v, err := parseVar(line)
		if err != nil {
			return nil, fmt.Errorf("agi: environment line %d %s: %w", n, clip(line), err)
		}
		if _, dup := env.Get(v.Key); dup {
			return nil, fmt.Errorf("agi: environment line %d: %s repeated: %w", n, v.Key, ErrMalformed)
		}
		env = append(env, v)
	}
}

// parseVar splits `agi_name: value`. Asterisk writes "agi_%s: %s\n", so the value
// starts after the first colon and one space, and may itself hold colons.
func parseVar(line string) (Var, error) {
	key, val, ok := strings.Cut(line, ":")
	if !ok || !strings.HasPrefix(key, "agi_") || len(key) == len("agi_") {
		return Var{}, ErrMalformed
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return Var{}, ErrMalformed
		}
	}
	return Var{Key: key, Value: strings.TrimPrefix(val, " ")}, nil
}

// readLine reads one LF-terminated line without the LF (and without a CR before it,
// which Asterisk never sends but costs nothing to accept). It never holds more than
// max bytes of one line: a longer line is an error and the rest is not buffered.
func readLine(r *bufio.Reader, max int) (string, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(buf)+len(frag) > max+2 { // +2: room for the CR LF terminator
			return "", fmt.Errorf("over %d bytes: %w", max, ErrLineTooLong)
		}
		if buf == nil && err == nil {
			// The whole line is in the reader's buffer (the usual case):
			// one copy, straight into the string.
			buf = frag
		} else {
			buf = append(buf, frag...)
		}
		switch {
		case err == nil:
			buf = bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))
			line := string(buf)
			if len(line) > max {
				return "", fmt.Errorf("over %d bytes: %w", max, ErrLineTooLong)
			}
			if strings.ContainsAny(line, "\r\x00") {
				return "", fmt.Errorf("control character in %s: %w", clip(line), ErrMalformed)
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				return "", fmt.Errorf("unterminated line %s: %w", clip(string(buf)), io.ErrUnexpectedEOF)
			}
			return "", err
		}
	}
}

// clip quotes s for an error message, cut short so that a hostile line does not
// flood the log.
func clip(s string) string {
	const n = 80
	if len(s) > n {
		return fmt.Sprintf("%q...", s[:n])
	}
	return fmt.Sprintf("%q", s)
}
