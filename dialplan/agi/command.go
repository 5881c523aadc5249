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

// Variable is one channel variable to set.
type Variable struct{ Name, Value string }

// msetSafe reports whether b can stand in MSet's argument, after AGI's own
// quoting, as it is: MSet (pbx_variables.c) splits its argument at commas and
// each part at its first '=' with Asterisk's application argument rules
// (__ast_app_separate_args: double quotes, backslashes, parentheses and
// brackets change how it splits and what it keeps), EXEC expands ${...} when
// the channel has AGIEXECFULL set, and '|' was once a separator. Anything
// else printable, spaces and '=' in a value included, arrives unchanged
// (TestE2EAsteriskMSet plays each rule on the real Asterisk 22).
func msetSafe(b byte) bool {
	switch b {
	case ',', '"', '\\', '(', ')', '[', ']', '$', '|':
		return false
	}
	return b >= ' ' && b != 0x7f
}

// appendMSet appends the command line (with its LF) that sets vars in order
// with EXEC MSet, or reports false when a name or a value would not survive
// MSet's parsing as it is.
func appendMSet(dst []byte, vars []Variable) ([]byte, bool) {
	if len(vars) == 0 {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, `EXEC MSet "`...)
	for i, v := range vars {
		if checkName(v.Name) != nil {
			return dst, false
		}
		for j := 0; j < len(v.Name); j++ {
			if !msetSafe(v.Name[j]) || v.Name[j] == '=' {
				return dst, false
			}
		}
		for j := 0; j < len(v.Value); j++ {
			if !msetSafe(v.Value[j]) {
				return dst, false
			}
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(append(append(dst, v.Name...), '='), v.Value...)
	}
	dst = append(dst, "\"\n"...)
	// Asterisk reads a command line into 2048 bytes (AGI_BUF_LEN): a longer
	// MSet would be cut, where the SET VARIABLEs, each shorter, are not.
	return dst, len(dst)-start <= maxMSetLine
}

// maxMSetLine is the longest EXEC MSet line sent, LF included.
const maxMSetLine = 2000
