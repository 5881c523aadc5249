package sipmon

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// sipMsg is what leg tracking needs from one SIP message, copied out of the
// parser's structures so that nothing points into the capture's reused buffer.
type sipMsg struct {
	request bool
	method  string // request method, exactly as on the wire
	status  int    // response status code

	callID     string
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

// parser wraps sipgo's parser for the monitor's needs.
type parser struct {
	p           *sip.Parser
	correlation string // lower-case correlation header name, "" when off
}

func newParser(correlationHeader string) *parser {
	return &parser{
		p:           sip.NewParser(sip.WithHeadersParsers(neededHeaders)),
		correlation: strings.ToLower(strings.TrimSpace(correlationHeader)),
	}
}

// parse turns one payload into a sipMsg. This is the ONE place that guards against
// a panic in the third-party parser: hostile input (see fixture 11a) must be counted
// as malformed, never take the monitor down.
func (ps *parser) parse(payload []byte) (m sipMsg, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errParserPanic, r)
		}
	}()
	if !looksLikeSIP(payload) {
		return m, errNotSIP
	}
	msg, err := ps.p.ParseSIP(payload)
	if err != nil {
		return m, err
	}
	switch v := msg.(type) {
	case *sip.Request:
		m.request = true
		// sipgo upper-cases the method; RFC 3261 §7.1 makes methods case-sensitive,
		// so "invite" is an unknown extension method, not an INVITE.
		m.method = string(v.Method)
		if !bytes.HasPrefix(payload, []byte(m.method+" ")) {
			m.method = string(payload[:bytes.IndexByte(payload, ' ')])
		}
	case *sip.Response:
		m.status = v.StatusCode
		if m.status < 100 || m.status > 699 {
			return m, fmt.Errorf("status code %d out of range", m.status)
		}
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
	m.callID = callID.Value()
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
	if body := msg.Body(); len(body) > 0 && isSDP(msg) {
		m.sdp = parseSDP(body)
	}
	return m, nil
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

// isSDP reports whether the body is SDP: Content-Type application/sdp, or no
// Content-Type and a body that starts like SDP.
func isSDP(msg sip.Message) bool {
	var ct *sip.ContentTypeHeader
	switch v := msg.(type) {
	case *sip.Request:
		ct = v.ContentType()
	case *sip.Response:
		ct = v.ContentType()
	}
	if ct == nil {
		return bytes.HasPrefix(msg.Body(), []byte("v=0"))
	}
	v := strings.ToLower(ct.Value())
	return strings.HasPrefix(v, "application/sdp")
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
