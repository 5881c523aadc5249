package sipmon

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// sipMsg is what leg tracking needs from one SIP message. Its strings are its
// own; callID points into the payload (the capture may reuse that buffer after
// the handler returns), so the tracker copies it when it keeps it.
type sipMsg struct {
	request bool
	method  string // request method, exactly as on the wire
	status  int    // response status code

	callID     []byte // valid only while the payload is
	cseq       uint32
	cseqMethod string

	fromUser, fromTag string
	toUser, toTag     string

	// correlation is the value of the configured correlation header, if any.
	correlation string

	sdp sdpInfo
}

// Malformed-message reasons. They are counted, never fatal.
var (
	errNotSIP        = errors.New("not a SIP message")
	errMissingHeader = errors.New("missing mandatory header")
	errParserPanic   = errors.New("parser panic")
)

// neededHeaders restricts sipgo's typed header parsing to the headers leg tracking
// reads (compact forms included); every other header stays a cheap generic header.
// Via, Contact and the route sets are the most expensive to parse and are not
// needed here.
var neededHeaders = func() sip.HeadersParser {
	all := sip.DefaultHeadersParser()
	keep := sip.HeadersParser{}
	for _, name := range []string{"f", "from", "t", "to", "i", "call-id", "cseq", "l", "content-length", "c", "content-type"} {
		keep[name] = all[name]
	}
	return keep
}()

// parser wraps sipgo's parser for the monitor's needs. It is not safe for
// concurrent use.
type parser struct {
	p           *sip.Parser
	correlation string // lower-case correlation header name, "" when off
	buf         []byte

	// Results of sipgo's address and URI parsers by input: the From and To values
	// and request URIs of a dialog repeat in every message, and parsing them is
	// most of scan's cost. Pure functions of their input, so caching is exact;
	// bounded by clearing when full.
	addrs map[string]addrResult
	uris  map[string]bool
}

type addrResult struct {
	user, tag string
	ok        bool
}

// maxCache bounds each parse cache.
const maxCache = 8192

func newParser(correlationHeader string) *parser {
	return &parser{
		p:           sip.NewParser(sip.WithHeadersParsers(neededHeaders)),
		correlation: strings.ToLower(strings.TrimSpace(correlationHeader)),
		addrs:       make(map[string]addrResult),
		uris:        make(map[string]bool),
	}
}

// parse turns one payload into a sipMsg. This is the ONE place that guards against
// a panic in the third-party parser: hostile input (see fixture 11a) must be counted
// as malformed, never take the monitor down.
//
// Well-formed messages of the usual shape take scan, a thin fast path over the
// few headers leg tracking reads; anything else, and every message scan is not
// sure of, goes through sipgo's full parser, which then decides.
func (ps *parser) parse(payload []byte) (m sipMsg, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errParserPanic, r)
		}
	}()
	if !looksLikeSIP(payload) {
		return m, errNotSIP
	}
	if ps.scan(payload, &m) {
		return m, m.check()
	}
	return ps.parseSipgo(payload)
}

// check applies the rules both paths share after parsing.
func (m *sipMsg) check() error {
	if !m.request && (m.status < 100 || m.status > 699) {
		return fmt.Errorf("status code %d out of range", m.status)
	}
	return nil
}

// parseSipgo parses with sipgo's parser (restricted to the headers leg tracking
// reads, see keepNeeded).
func (ps *parser) parseSipgo(payload []byte) (m sipMsg, err error) {
	ps.buf = ps.keepNeeded(ps.buf[:0], payload)
	msg, err := ps.p.ParseSIP(ps.buf)
	if err != nil {
		return m, err
	}
	switch v := msg.(type) {
	case *sip.Request:
		m.request = true
		// sipgo upper-cases the method; RFC 3261 §7.1 makes methods case-sensitive,
		// so "invite" is an unknown extension method, not an INVITE.
		m.method = string(payload[:bytes.IndexByte(payload, ' ')])
	case *sip.Response:
		m.status = v.StatusCode
	default:
		return m, errNotSIP
	}
	callID, cseq, from, to := msg.CallID(), msg.CSeq(), msg.From(), msg.To()
	switch {
	case callID == nil:
		return m, fmt.Errorf("%w: Call-ID", errMissingHeader)
	case cseq == nil:
		return m, fmt.Errorf("%w: CSeq", errMissingHeader)
	case from == nil:
		return m, fmt.Errorf("%w: From", errMissingHeader)
	case to == nil:
		return m, fmt.Errorf("%w: To", errMissingHeader)
	}
	m.callID = []byte(callID.Value())
	m.cseq = cseq.SeqNo
	// sipgo keeps the whitespace run between number and method ("CSeq: 31    INVITE").
	m.cseqMethod = strings.TrimSpace(string(cseq.MethodName))
	m.fromUser, m.fromTag = uriUser(&from.Address), tag(from.Params)
	m.toUser, m.toTag = uriUser(&to.Address), tag(to.Params)
	if ps.correlation != "" {
		if hs := msg.GetHeaders(ps.correlation); len(hs) > 0 {
			m.correlation = strings.TrimSpace(hs[0].Value())
		}
	}
	var ct string
	if h := msg.GetHeaders("content-type"); len(h) > 0 {
		ct = h[0].Value()
	}
	if body := msg.Body(); len(body) > 0 && isSDP(ct, body) {
		m.sdp = parseSDP(body)
	}
	return m, m.check()
}

// scan is the fast path of parse, measured on the 15,000-call capture: sipgo
// builds a full message (a Request or Response of about 1.4 KB, every header
// string copied) where leg tracking needs six fields, which made parsing three
// quarters of the monitor's time and kept it under the throughput goal. scan reads
// those fields in place and still uses sipgo for what is not trivial (request
// URIs, the name-addr of From and To). It handles only the plain shape (CRLF
// lines, no folding, each needed header once, numeric lengths, a complete body)
// and returns false for anything else, so that sipgo's full parser decides;
// TestScanAgreesWithSipgo and FuzzScan check the two agree wherever scan answers.
func (ps *parser) scan(payload []byte, m *sipMsg) bool {
	if len(payload) > sip.ParseMaxMessageLength {
		return false
	}
	end := bytes.Index(payload, []byte("\r\n\r\n"))
	if end < 0 {
		return false
	}
	head := payload[:end+2]
	eol := bytes.IndexByte(head, '\r')
	if head[eol+1] != '\n' || bytes.IndexByte(head[:eol], '\n') >= 0 || !ps.scanStartLine(head[:eol], m) {
		return false
	}
	var (
		haveCallID, haveCSeq, haveFrom, haveTo, haveCL, haveCT, haveCorr bool
		clen                                                             = -1
		ct                                                               []byte
	)
	for pos := eol + 2; pos < len(head); {
		i := bytes.IndexByte(head[pos:], '\r')
		if i <= 0 || pos+i+1 >= len(head) {
			return false
		}
		line := head[pos : pos+i]
		pos += i + 2
		if head[pos-1] != '\n' || line[0] == ' ' || line[0] == '\t' || bytes.IndexByte(line, '\n') >= 0 {
			return false
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return false
		}
		name, value := trimRightSpace(line[:colon]), bytes.TrimSpace(line[colon+1:])
		switch {
		case is(name, "call-id", 'i'):
			if haveCallID || len(value) == 0 {
				return false
			}
			haveCallID, m.callID = true, value
		case is(name, "cseq", 0):
			if haveCSeq || !scanCSeq(value, m) {
				return false
			}
			haveCSeq = true
		case is(name, "from", 'f'):
			if haveFrom || !ps.scanAddress(value, &m.fromUser, &m.fromTag) {
				return false
			}
			haveFrom = true
		case is(name, "to", 't'):
			if haveTo || !ps.scanAddress(value, &m.toUser, &m.toTag) {
				return false
			}
			haveTo = true
		case is(name, "content-length", 'l'):
			if haveCL || len(value) == 0 || len(value) > 9 {
				return false
			}
			clen = 0
			for _, c := range value {
				if c < '0' || c > '9' {
					return false
				}
				clen = clen*10 + int(c-'0')
			}
			haveCL = true
		case is(name, "content-type", 'c'):
			if haveCT || len(value) == 0 {
				return false
			}
			haveCT, ct = true, value
		case ps.correlation != "" && !haveCorr && bytes.EqualFold(name, []byte(ps.correlation)):
			haveCorr, m.correlation = true, string(value)
		}
	}
	if !haveCallID || !haveCSeq || !haveFrom || !haveTo {
		return false
	}
	body := payload[end+4:]
	if haveCL {
		if clen > len(body) {
			return false
		}
		body = body[:clen]
	}
	if len(body) > 0 && isSDP(string(ct), body) {
		m.sdp = parseSDP(body)
	}
	return true
}

// scanStartLine reads "METHOD SP Request-URI SP SIP/2.0" or "SIP/2.0 SP code SP
// reason" as sipgo's parseLine does, or returns false.
func (ps *parser) scanStartLine(line []byte, m *sipMsg) bool {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return false
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 < 0 {
		return false
	}
	sp2 += sp1 + 1
	first, mid, last := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	if string(first) == "SIP/2.0" {
		if len(mid) != 3 {
			return false
		}
		code := 0
		for _, c := range mid {
			if c < '0' || c > '9' {
				return false
			}
			code = code*10 + int(c-'0')
		}
		m.status = code
		return true
	}
	if string(last) != "SIP/2.0" {
		return false
	}
	for _, c := range first {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	if !ps.validURI(mid) {
		return false
	}
	m.request, m.method = true, methodName(first)
	return true
}

// methods are the method names interned by methodName.
var methods = []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE", "INFO", "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH"}

// methodName returns b as a string without allocating for the usual methods.
func methodName(b []byte) string {
	for _, m := range methods {
		if string(b) == m {
			return m
		}
	}
	return string(b)
}

// is matches a header name against its full and compact forms, ignoring case.
func is(name []byte, full string, compact byte) bool {
	if len(name) == 1 {
		return compact != 0 && name[0]|0x20 == compact
	}
	return len(name) == len(full) && bytes.EqualFold(name, []byte(full))
}

// scanCSeq parses "<number> <method>" as sipgo's parseCSeqHeader does.
func scanCSeq(v []byte, m *sipMsg) bool {
	sp := bytes.IndexAny(v, " \t")
	if sp < 1 || len(v)-sp < 2 || sp > 10 {
		return false
	}
	var n uint64
	for _, c := range v[:sp] {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 2147483647 {
		return false
	}
	m.cseq = uint32(n)
	m.cseqMethod = methodName(bytes.TrimSpace(v[sp+1:]))
	return true
}

// scanAddress parses a From or To value with sipgo's name-addr parser. A comma
// (several values) is left to the full parser.
func (ps *parser) scanAddress(v []byte, user, tagOut *string) bool {
	r, hit := ps.addrs[string(v)]
	if !hit {
		key := string(v)
		r = parseAddress(key)
		if len(ps.addrs) >= maxCache {
			clear(ps.addrs)
		}
		ps.addrs[key] = r
	}
	*user, *tagOut = r.user, r.tag
	return r.ok
}

func parseAddress(v string) addrResult {
	if strings.IndexByte(v, ',') >= 0 {
		return addrResult{}
	}
	var (
		uri    sip.Uri
		params sip.HeaderParams
	)
	if _, err := sip.ParseAddressValue(v, &uri, &params); err != nil || uri.Wildcard {
		return addrResult{}
	}
	return addrResult{user: uriUser(&uri), tag: tag(params), ok: true}
}

// validURI reports whether sipgo accepts a request URI.
func (ps *parser) validURI(b []byte) bool {
	ok, hit := ps.uris[string(b)]
	if !hit {
		key := string(b)
		var uri sip.Uri
		err := sip.ParseUri(key, &uri)
		ok = err == nil && !uri.Wildcard
		if len(ps.uris) >= maxCache {
			clear(ps.uris)
		}
		ps.uris[key] = ok
	}
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
		if len(name) == len(n) && bytes.EqualFold(name, []byte(n)) {
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
func isSDP(contentType string, body []byte) bool {
	if contentType == "" {
		return bytes.HasPrefix(body, []byte("v=0"))
	}
	return len(contentType) >= 15 && strings.EqualFold(contentType[:15], "application/sdp")
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
