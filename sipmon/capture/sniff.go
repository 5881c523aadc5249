package capture

import "bytes"

// maxStartLine bounds how far looksLikeSIP scans for the end of the first line.
// Request-URIs are short in practice; a longer first line is not worth the scan.
const maxStartLine = 4096

var (
	sipVersionSP = []byte("SIP/2.0 ")
	spSIPVersion = []byte(" SIP/2.0")
)

// looksLikeSIP is the cheap test that decides whether a payload is handed on as a
// SIP candidate: a status line ("SIP/2.0 " first) or a request line (a method
// token of upper-case letters, a space, anything, " SIP/2.0" at the end of the
// first line, before CRLF or a bare LF). It does not check the rest: the SIP parser
// decides whether the message is malformed. RFC 3261 methods and the version are
// case-sensitive, so "invite ... sip/2.0" is not SIP (as tshark also decides).
func looksLikeSIP(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	if bytes.HasPrefix(b, sipVersionSP) {
		return true
	}
	if b[0] < 'A' || b[0] > 'Z' {
		return false
	}
	line := b
	if len(line) > maxStartLine {
		line = line[:maxStartLine]
	}
	i := bytes.IndexByte(line, '\n')
	if i < 0 {
		return false
	}
	line = line[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if !bytes.HasSuffix(line, spSIPVersion) {
		return false
	}
	// Method token: upper-case letters (and the few token characters real methods
	// never use are not worth allowing) up to the first space.
	for j, c := range line {
		if c == ' ' {
			return j > 0 && j < len(line)-len(spSIPVersion)
		}
		if (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return false
}
