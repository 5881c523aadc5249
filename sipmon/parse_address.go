package sipmon

// The address and URI readers of scan: From, To and plain sip: URIs read in
// place, following sipgo's parsers step by step (fuzzed against them).

import (
	"bytes"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// scanAddress reads a From or To value as sipgo's ParseAddressValue does (see
// splitAddress), with sipgo parsing the URI. A comma (several values) is left
// to the full parser.
func (ps *parser) scanAddress(v []byte, user, tagOut *[]byte) bool {
	if bytes.IndexByte(v, ',') >= 0 {
		return false
	}
	uri, tag, ok := splitAddress(v)
	if !ok {
		return false
	}
	u, ok := ps.parseURI(uri)
	if !ok {
		return false
	}
	*user = u
	if len(tag) > 0 {
		*tagOut = tag
	}
	return true
}

// splitAddress splits a name-addr or addr-spec into its URI and the value of
// its last "tag" parameter, following sipgo's address parser step by step
// (display name, quoted or not; the URI in angle brackets, or up to the first
// semicolon; then header parameters split on ';' and each on its last '='), so
// that it fails where sipgo fails before parsing the URI. The URI is not
// checked here.
func splitAddress(s []byte) (uri, tag []byte, ok bool) {
	if len(s) == 0 {
		return nil, nil, false
	}
	var params []byte
	i := indexOf3(s, '"', '<', ';')
	switch {
	case i >= 0 && s[i] == '"':
		s = s[i+1:]
		end, escaped := -1, false
		for j, c := range s {
			if c == '\\' {
				escaped = !escaped
				continue
			}
			if escaped {
				if c == '\n' || c == '\r' {
					return nil, nil, false
				}
				escaped = false
				continue
			}
			if c == '"' {
				end = j
				break
			}
		}
		if end < 0 {
			return nil, nil, false
		}
		s = s[end+1:]
		k := indexOf3(s, '<', ';', ';')
		if k < 0 {
			return nil, nil, false
		}
		if s[k] == '<' {
			uri, params, ok = splitBracket(s[k+1:])
		} else {
			uri, params, ok = splitBare(s[k+1:])
		}
	case i >= 0 && s[i] == '<':
		uri, params, ok = splitBracket(s[i+1:])
	default:
		uri, params, ok = splitBare(s)
	}
	if !ok {
		return nil, nil, false
	}
	for params != nil {
		seg := params
		if k := bytes.IndexByte(params, ';'); k >= 0 {
			seg, params = params[:k], params[k+1:]
		} else {
			params = nil
		}
		if eq := bytes.LastIndexByte(seg, '='); eq > 0 {
			if string(seg[:eq]) == "tag" {
				tag = seg[eq+1:]
			}
		} else if string(seg) == "tag" {
			tag = nil // a bare "tag" sets it empty
		}
	}
	return uri, tag, true
}

// splitBracket splits "URI>params"; params is non-nil when present.
func splitBracket(s []byte) (uri, params []byte, ok bool) {
	k := bytes.IndexByte(s, '>')
	if len(s) == 0 || k < 0 {
		return nil, nil, false
	}
	return s[:k], s[k+1 : len(s) : len(s)], true
}

// splitBare splits "URI;params"; without a semicolon there are no params.
func splitBare(s []byte) (uri, params []byte, ok bool) {
	if len(s) == 0 {
		return nil, nil, false
	}
	if k := bytes.IndexByte(s, ';'); k >= 0 {
		return s[:k], s[k+1 : len(s) : len(s)], true
	}
	return s, nil, true
}

// uriResult is what the monitor takes from sipgo's parse of a URI.
type uriResult struct {
	user []byte // nil when empty
	ok   bool   // parsed, and not the wildcard
}

// parseURI returns the user part of a URI as uriUser reads it from sipgo's
// parse, and whether sipgo accepts the URI (the wildcard excluded). The plain
// shape "sip:user@host[:port]" is read in place (plainSIPURI); anything else
// goes through sipgo, cached: request URIs repeat across a dialog's
// messages, and often across calls. A pure function of its input, so caching
// is exact; bounded by clearing when full. The lookup with string(b) does not
// allocate.
func (ps *parser) parseURI(b []byte) (user []byte, ok bool) {
	if user, ok := plainSIPURI(b); ok {
		return user, true
	}
	r, hit := ps.uris[string(b)]
	if !hit {
		key := string(b)
		var uri sip.Uri
		err := sip.ParseUri(key, &uri)
		r = uriResult{ok: err == nil && !uri.Wildcard}
		if r.ok {
			r.user = nilIfEmpty(uriUser(&uri))
		}
		if len(ps.uris) >= maxCache {
			clear(ps.uris)
		}
		ps.uris[key] = r
	}
	return r.user, r.ok
}

// plainSIPURI reads "sip:user@host" or "sip:user@host:port" (no slashes,
// password, IPv6, parameters or headers; a non-empty user, a host other than the
// wildcard, a port of digits), which sipgo's URI parser accepts with that
// user, and returns false for anything else.
func plainSIPURI(b []byte) (user []byte, ok bool) {
	rest, found := bytes.CutPrefix(b, []byte("sip:"))
	if !found || bytes.HasPrefix(rest, []byte("//")) {
		return nil, false
	}
	at := bytes.IndexByte(rest, '@')
	if at <= 0 || indexOf3(rest[:at], '[', ':', ':') >= 0 {
		return nil, false
	}
	host := rest[at+1:]
	if indexOf3(host, '[', ';', '?') >= 0 {
		return nil, false
	}
	if c := bytes.IndexByte(host, ':'); c >= 0 {
		port := host[c+1:]
		if len(port) == 0 || len(port) > 9 {
			return nil, false
		}
		for _, d := range port {
			if d < '0' || d > '9' {
				return nil, false
			}
		}
		host = host[:c]
	}
	if len(host) == 0 || string(host) == "*" {
		return nil, false
	}
	return rest[:at], true
}

// validURI reports whether sipgo accepts a request URI.
func (ps *parser) validURI(b []byte) bool {
	_, ok := ps.parseURI(b)
	return ok
}

// keepNeeded copies into dst the start line, the header lines leg tracking reads
// and the body, dropping the other headers. It is a thin wrap for speed, measured
// on the 15,000-call capture: sipgo turns every header it does not know into two
// string allocations plus a generic header (about half its parse time with SIPp's
// and Asterisk's messages), and the monitor reads six headers. Lines without a
// colon are kept so that sipgo still rejects them; folded continuation lines go
// with their header. A message without the blank line after its headers is passed
// as it is, for sipgo to judge.
func (ps *parser) keepNeeded(dst, payload []byte) []byte {
	end := bytes.Index(payload, []byte("\r\n\r\n"))
	if end < 0 {
		return append(dst, payload...)
	}
	keep := true // the start line
	// Lines end at CR LF, as sipgo reads them.
	for pos := 0; pos < end+2; {
		i := bytes.IndexByte(payload[pos:end+2], '\r')
		if i < 0 || payload[pos+i+1] != '\n' {
			// A bare CR: let sipgo see all and judge.
			return append(dst[:0], payload...)
		}
		line := payload[pos : pos+i+2]
		if pos > 0 && line[0] != ' ' && line[0] != '\t' {
			colon := bytes.IndexByte(line, ':')
			keep = colon < 0 || ps.needed(trimRightSpace(line[:colon]))
		}
		if keep {
			dst = append(dst, line...)
		}
		pos += i + 2
	}
	return append(dst, payload[end+2:]...)
}

func trimRightSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// needed reports whether a header name is one leg tracking reads.
func (ps *parser) needed(name []byte) bool {
	if len(name) == 1 {
		switch name[0] | 0x20 {
		case 'f', 't', 'i', 'l', 'c':
			return true
		}
		return false
	}
	for _, n := range [...]string{"from", "to", "call-id", "cseq", "content-length", "content-type"} {
		if foldEq(name, n) {
			return true
		}
	}
	return ps.correlation != "" && bytes.EqualFold(name, []byte(ps.correlation))
}

// looksLikeSIP rejects at once what cannot be SIP (binary garbage, STUN, HTTP,
// keep-alives), before paying for a parse.
func looksLikeSIP(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	if bytes.HasPrefix(b, []byte("SIP/2.0 ")) {
		return true
	}
	// A request line: a token, a space, and "SIP/2.0" before the first CR.
	sp := bytes.IndexByte(b, ' ')
	if sp <= 0 || sp > 32 {
		return false
	}
	for _, c := range b[:sp] {
		if c < '!' || c > '~' {
			return false
		}
	}
	eol := bytes.IndexByte(b, '\r')
	return eol > 0 && bytes.HasSuffix(b[:eol], []byte(" SIP/2.0"))
}

// isSDP reports whether a body is SDP: Content-Type application/sdp, or no
// Content-Type and a body that starts like SDP.
func isSDP(contentType, body []byte) bool {
	if len(contentType) == 0 {
		return bytes.HasPrefix(body, []byte("v=0"))
	}
	return len(contentType) >= 15 && bytes.EqualFold(contentType[:15], []byte("application/sdp"))
}

// uriUser returns the user part of a SIP URI, or the number of a tel: URI.
func uriUser(u *sip.Uri) string {
	if u.User != "" {
		return u.User
	}
	if strings.EqualFold(u.Scheme, "tel") {
		raw := u.Raw()
		if i := strings.IndexByte(raw, ';'); i >= 0 {
			raw = raw[:i]
		}
		return raw
	}
	return ""
}

func tag(p sip.HeaderParams) string {
	t, _ := p.Get("tag")
	return t
}

// nilIfEmpty is s as sipMsg holds it: nil when empty.
func nilIfEmpty(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// indexOf3 is bytes.IndexAny for up to three ASCII bytes, without building a
// set on every call (a measurable cost at a few calls per message).
func indexOf3(b []byte, c1, c2, c3 byte) int {
	for i, c := range b {
		if c == c1 || c == c2 || c == c3 {
			return i
		}
	}
	return -1
}

// indexSpace is bytes.IndexAny(b, " \t").
func indexSpace(b []byte) int { return indexOf3(b, ' ', '\t', '\t') }
