package agi

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsafe is a variable name or value that cannot be sent on one command line
// (a CR, an LF or a NUL would end or corrupt the line), or a name Asterisk would
// split or misread.
var ErrUnsafe = errors.New("cannot be sent in an AGI command")

// Quote returns s as one argument for Asterisk's AGI command parser (parse_args in
// res_agi.c): wrapped in double quotes, with every backslash and double quote
// escaped by a backslash, so spaces, quotes, `%`, `:` and parentheses survive as
// they are. s must not hold CR, LF or NUL (see checkValue).
func quote(s string) string { return string(appendQuote(make([]byte, 0, len(s)+2), s)) }

// appendQuote appends quote(s) to dst.
func appendQuote(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// checkValue reports whether s can be sent quoted on one command line.
func checkValue(s string) error {
	if i := strings.IndexAny(s, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("value %s: control character at %d: %w", clip(s), i, ErrUnsafe)
	}
	return nil
}

// checkName reports whether s can be sent unquoted as a variable name: not empty,
// and no space, quote, backslash or control character. A function call such as
// CHANNEL(linkedid) is a valid name.
func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("empty variable name: %w", ErrUnsafe)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c == '\\' || c == 0x7f {
			return fmt.Errorf("variable name %s: %w", clip(s), ErrUnsafe)
		}
	}
	return nil
}

// setVariableLine is the command line (with its LF) that sets name to value.
func setVariableLine(name, value string) (string, error) {
	line, err := appendSetVariable(nil, name, value)
	return string(line), err
}

// appendSetVariable appends the command line (with its LF) that sets name to
// value to dst: a session's commands all go through one reused buffer.
func appendSetVariable(dst []byte, name, value string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return dst, err
	}
	if err := checkValue(value); err != nil {
		return dst, err
	}
	dst = append(dst, "SET VARIABLE "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = appendQuote(dst, value)
	return append(dst, '\n'), nil
}
