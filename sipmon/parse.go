package sipmon

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// sipMsg is what leg tracking needs from one SIP message. Its strings are its
// own; its byte slices may point into the payload (the capture may reuse that
// buffer after the handler returns), so the tracker copies what it keeps.
type sipMsg struct {
	request bool
	method  string // request method, exactly as on the wire
	status  int    // response status code

	callID     []byte // valid only while the payload is
	cseq       uint32
	cseqMethod string

	// The users of the From and To URIs and the From and To tags, nil when
	// absent or empty; like callID they may point into the payload.
	fromUser, toUser []byte
	fromTag, toTag   []byte

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

	// Results of sipgo's URI parser by input (see parseURI).
	uris map[string]uriResult
}

// maxCache bounds the URI cache.
const maxCache = 8192

func newParser(correlationHeader string) *parser {
	return &parser{
		p:           sip.NewParser(sip.WithHeadersParsers(neededHeaders)),
		correlation: strings.ToLower(strings.TrimSpace(correlationHeader)),
		uris:        make(map[string]uriResult),
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
	m.fromUser, m.fromTag = nilIfEmpty(uriUser(&from.Address)), nilIfEmpty(tag(from.Params))
	m.toUser, m.toTag = nilIfEmpty(uriUser(&to.Address)), nilIfEmpty(tag(to.Params))
	if ps.correlation != "" {
		if hs := msg.GetHeaders(ps.correlation); len(hs) > 0 {
			m.correlation = strings.TrimSpace(hs[0].Value())
		}
	}
	var ct []byte
	if h := msg.GetHeaders("content-type"); len(h) > 0 {
		ct = []byte(h[0].Value())
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
// URIs and the URIs of From and To, cached by text). It handles only the plain
// shape (CRLF lines, no folding, each needed header once, numeric lengths, a
// complete body) and returns false for anything else, so that sipgo's full parser
// decides; TestScanAgreesWithSipgo and FuzzScan check the two agree wherever scan
// answers.
func (ps *parser) scan(payload []byte, m *sipMsg) bool {
	if len(payload) > sip.ParseMaxMessageLength {
		return false
	}
	// Lines end at CR LF, the headers at the first empty line. Bare LFs are
	// left to sipgo: there must be one LF per line, checked once at the end.
	eol := bytes.IndexByte(payload, '\r')
	if eol < 0 || eol+1 >= len(payload) || payload[eol+1] != '\n' || !ps.scanStartLine(payload[:eol], m) {
		return false
	}
	h := headerScan{clen: -1}
	lines, pos := 1, eol+2
	for {
		i := bytes.IndexByte(payload[pos:], '\r')
		if i < 0 || pos+i+1 >= len(payload) || payload[pos+i+1] != '\n' {
			return false
		}
		line := payload[pos : pos+i]
		pos += i + 2
		lines++
		if i == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' || !ps.scanHeader(line, m, &h) {
			return false
		}
	}
	if bytes.Count(payload[:pos], []byte("\n")) != lines {
		return false
	}
	if h.seen&needMask != needMask {
		return false
	}
	body := payload[pos:]
	if h.seen&seenCL != 0 {
		if h.clen > len(body) {
			return false
		}
		body = body[:h.clen]
	}
	if len(body) > 0 && isSDP(h.ct, body) {
		m.sdp = parseSDP(body)
	}
	return true
}

// headerScan is what scan keeps between header lines.
type headerScan struct {
	seen uint8 // seen* bits
	clen int
	ct   []byte
}

// Headers scan reads, by bit; each may appear once.
const (
	seenCallID uint8 = 1 << iota
	seenCSeq
	seenFrom
	seenTo
	seenCL
	seenCT
	seenCorr

	needMask = seenCallID | seenCSeq | seenFrom | seenTo
)

// scanHeader reads one header line into m, or returns false for a shape scan
// leaves to sipgo.
func (ps *parser) scanHeader(line []byte, m *sipMsg, h *headerScan) bool {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return false
	}
	name := trimRightSpace(line[:colon])
	kind := headerKind(name)
	if kind == 0 {
		// Most headers are of no interest: their value is not even trimmed.
		if ps.correlation != "" && h.seen&seenCorr == 0 && bytes.EqualFold(name, []byte(ps.correlation)) {
			h.seen |= seenCorr
			m.correlation = string(bytes.TrimSpace(line[colon+1:]))
		}
		return true
	}
	value := bytes.TrimSpace(line[colon+1:])
	if h.seen&kind != 0 {
		return false
	}
	h.seen |= kind
	switch kind {
	case seenCallID:
		m.callID = value
		return len(value) > 0
	case seenCSeq:
		return scanCSeq(value, m)
	case seenFrom:
		return ps.scanAddress(value, &m.fromUser, &m.fromTag)
	case seenTo:
		return ps.scanAddress(value, &m.toUser, &m.toTag)
	case seenCL:
		if len(value) == 0 || len(value) > 9 {
			return false
		}
		h.clen = 0
		for _, c := range value {
			if c < '0' || c > '9' {
				return false
			}
			h.clen = h.clen*10 + int(c-'0')
		}
		return true
	default: // seenCT
		h.ct = value
		return len(value) > 0
	}
}

// headerKind names a header scan reads (full or compact form, any case) by its
// seen* bit; 0 for any other.
func headerKind(name []byte) uint8 {
	switch len(name) {
	case 1:
		switch name[0] | 0x20 {
		case 'i':
			return seenCallID
		case 'f':
			return seenFrom
		case 't':
			return seenTo
		case 'l':
			return seenCL
		case 'c':
			return seenCT
		}
	case 2:
		if foldEq(name, "to") {
			return seenTo
		}
	case 4:
		if foldEq(name, "from") {
			return seenFrom
		}
		if foldEq(name, "cseq") {
			return seenCSeq
		}
	case 7:
		if foldEq(name, "call-id") {
			return seenCallID
		}
	case 12:
		if foldEq(name, "content-type") {
			return seenCT
		}
	case 14:
		if foldEq(name, "content-length") {
			return seenCL
		}
	}
	return 0
}

// foldEq reports whether b is lower, an ASCII lower-case name, in any case.
// For header names it agrees with bytes.EqualFold, which was a measurable
// part of scanning: a name of lower's length that folds to it is ASCII
// (a multi-byte rune folding to an ASCII letter would make it longer).
func foldEq(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
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

// scanCSeq parses "<number> <method>" as sipgo's parseCSeqHeader does.
func scanCSeq(v []byte, m *sipMsg) bool {
	sp := indexSpace(v)
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
