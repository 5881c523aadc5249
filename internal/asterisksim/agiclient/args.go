// Asterisk's argument splitting, as the simulated AGI and MSet need it.

package agiclient

import "strings"

// ParseArgs splits an AGI command line into words as Asterisk's parse_args does:
// spaces and tabs separate words outside double quotes; a quote toggles quoting
// (and starts a word when it opens one, so `""` is an empty word); a backslash makes
// the next character literal.
func ParseArgs(line string) []string {
	var (
		argv            []string
		cur             []byte
		inWord          bool
		quoted, escaped bool
	)
	start := func() {
		if !inWord {
			inWord = true
			cur = cur[:0]
		}
	}
	end := func() {
		if inWord {
			argv = append(argv, string(cur))
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"' && !escaped:
			quoted = !quoted
			if quoted {
				start()
			}
		case (c == ' ' || c == '\t') && !quoted && !escaped:
			end()
		case c == '\\' && !escaped:
			escaped = true
			continue
		default:
			start()
			cur = append(cur, c)
		}
		escaped = false
	}
	end()
	return argv
}

// mset is the MSet application (pbx_variables.c): the data split at commas,
// each part at its first '=' into a name and a value, set in order; a part
// without '=' is skipped (Asterisk logs a WARNING).
func (s *session) mset(data string, res *Result) {
	for _, part := range SeparateArgs(data, ',', 99) {
		pair := SeparateArgs(part, '=', 2)
		if len(pair) != 2 {
			continue
		}
		s.vars[pair[0]] = pair[1]
		res.Sets = append(res.Sets, Set{Name: pair[0], Value: pair[1]})
	}
}

// SeparateArgs splits an application's argument as Asterisk's
// __ast_app_separate_args (main/app.c) does with remove_chars set, into at
// most max parts: delim separates parts outside parentheses, brackets and
// double quotes (the counts carry over from part to part); a double quote
// toggles quoting and is dropped; a backslash is dropped and the character
// after it kept as it is. Once max-1 parts are cut, the rest is the last part
// as it stands, unparsed. A delim at the very end makes a last, empty part.
func SeparateArgs(s string, delim byte, max int) []string {
	var (
		out            []string
		paren, bracket int
		quote          bool
		wasDelim       = -1
		i              int
	)
	for i < len(s) && len(out) < max-1 {
		var cur []byte
	part:
		for i < len(s) {
			c := s[i]
			switch {
			case c == '(':
				paren++
			case c == ')':
				if paren > 0 {
					paren--
				}
			case c == '[':
				bracket++
			case c == ']':
				if bracket > 0 {
					bracket--
				}
			case c == '"' && delim != '"':
				quote = !quote
				i++
				continue
			case c == '\\':
				if i+1 < len(s) {
					cur = append(cur, s[i+1])
				}
				i += 2
				continue
			case c == delim && paren == 0 && bracket == 0 && !quote:
				wasDelim = i
				i++
				break part
			}
			cur = append(cur, c)
			i++
		}
		out = append(out, string(cur))
	}
	if i < len(s) || (i > 0 && i-1 == wasDelim) {
		out = append(out, s[min(i, len(s)):])
	}
	return out
}

// isTrue is Asterisk's ast_true.
func isTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "y", "t", "1", "on":
		return true
	}
	return false
}
