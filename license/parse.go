package license

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Field names of the key-file format.
const (
	fieldMagic     = "Licbridge-License"
	fieldKeyID     = "Key-ID"
	fieldProduct   = "Product"
	fieldChannels  = "Channels"
	fieldBinding   = "Binding"
	fieldIssued    = "Issued"
	fieldEnds      = "Ends"
	fieldAutoRenew = "Auto-Renew"
	fieldKind      = "Kind"
	fieldIssuer    = "Issuer"
	fieldSignature = "Signature"

	formatVersion = "1"
)

// fieldOrder lists the required fields (after the magic line), for messages.
var fieldOrder = []string{
	fieldKeyID, fieldProduct, fieldChannels, fieldBinding, fieldIssued,
	fieldEnds, fieldAutoRenew, fieldKind, fieldIssuer, fieldSignature,
}

// MaxFileSize bounds a key file; a larger file is not a key file.
const MaxFileSize = 64 << 10

// MaxChannels bounds the channels of one key, so that sums cannot overflow.
const MaxChannels = 1_000_000

// ParseError is a key file that is not well formed. Line is 0 when the problem
// is with the file as a whole (a missing field, say).
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Parse reads one key file. name is used in errors (usually the file path).
// Parse checks the form only: signature, binding, catalog and time are checked by
// Verify and Evaluate. Every error is a *ParseError.
func Parse(r io.Reader, name string) (*Key, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, &ParseError{File: name, Msg: "read: " + err.Error()}
	}
	return ParseBytes(data, name)
}

// ParseBytes is Parse over bytes already in memory.
func ParseBytes(data []byte, name string) (*Key, error) {
	p := parser{name: name, seen: map[string]int{}}
	return p.parse(data)
}

type parser struct {
	name string
	seen map[string]int // canonical field name → line
	key  Key
	// Raw values kept until all fields are in, for cross-field checks.
	issuedLine, endsLine, renewLine int
}

func (p *parser) errf(line int, format string, args ...any) error {
	return &ParseError{File: p.name, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse(data []byte) (*Key, error) {
	if len(data) > MaxFileSize {
		return nil, p.errf(0, "larger than %d bytes: not a license key file", MaxFileSize)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, p.errf(0, "binary content: not a license key file")
	}
	// An editor on Windows may have added a byte order mark; it is not content.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	first := true
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		line := strings.TrimSuffix(string(raw), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, p.errf(lineNo, "want \"Name: value\", got %q", clip(line))
		}
		name = strings.TrimSpace(name)
		value = strings.TrimSpace(value)
		if first {
			if !strings.EqualFold(name, fieldMagic) {
				return nil, p.errf(lineNo, "not a licbridge license key file (the first field must be %q)", fieldMagic+": "+formatVersion)
			}
			if value != formatVersion {
				return nil, p.errf(lineNo, "unsupported format version %q (this licbridge reads %s)", clip(value), formatVersion)
			}
			first = false
			continue
		}
		if err := p.field(lineNo, name, value); err != nil {
			return nil, err
		}
	}
	if first {
		return nil, p.errf(0, "empty: not a license key file")
	}
	for _, f := range fieldOrder {
		if _, ok := p.seen[f]; !ok {
			return nil, p.errf(0, "missing field %s", f)
		}
	}
	k := &p.key
	if !k.Ends.After(k.Issued) {
		return nil, p.errf(p.endsLine, "Ends %s is not after Issued %s", k.Ends.Format(TimeLayout), k.Issued.Format(TimeLayout))
	}
	if k.AutoRenew && k.Kind != KindCommercial {
		return nil, p.errf(p.renewLine, "Auto-Renew: yes is only allowed for commercial keys, this one is %s", k.Kind)
	}
	return k, nil
}

func (p *parser) field(line int, name, value string) error {
	canon := ""
	for _, f := range fieldOrder {
		if strings.EqualFold(name, f) {
			canon = f
			break
		}
	}
	if canon == "" {
		if strings.EqualFold(name, fieldMagic) {
			return p.errf(line, "duplicate field %s", fieldMagic)
		}
		return p.errf(line, "unknown field %q", clip(name))
	}
	if prev, dup := p.seen[canon]; dup {
		return p.errf(line, "duplicate field %s (first on line %d)", canon, prev)
	}
	p.seen[canon] = line
	for _, r := range value {
		if r < 0x20 || r == 0x7f {
			return p.errf(line, "%s: control character in value", canon)
		}
	}
	k := &p.key
	switch canon {
	case fieldKeyID:
		if !ValidKeyID(value) {
			return p.errf(line, "Key-ID %q: want 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'", clip(value))
		}
		k.ID = value
	case fieldProduct:
		if !ValidProductName(value) {
			return p.errf(line, "Product %q: %s", clip(value), productNameRule)
		}
		k.Product = value
	case fieldChannels:
		n, err := strconv.Atoi(value)
		if err != nil || strconv.Itoa(n) != value {
			return p.errf(line, "Channels %q: want a whole number", clip(value))
		}
		if n <= 0 {
			return p.errf(line, "Channels %d: must be at least 1", n)
		}
		if n > MaxChannels {
			return p.errf(line, "Channels %d: more than %d", n, MaxChannels)
		}
		k.Channels = n
	case fieldBinding:
		b, err := ParseBinding(value)
		if err != nil {
			return p.errf(line, "%s", err)
		}
		k.Binding = b
	case fieldIssued, fieldEnds:
		t, err := parseTime(value)
		if err != nil {
			return p.errf(line, "%s %q: want a UTC time like 2026-11-22T00:00:00Z", canon, clip(value))
		}
		if canon == fieldIssued {
			k.Issued, p.issuedLine = t, line
		} else {
			k.Ends, p.endsLine = t, line
		}
	case fieldAutoRenew:
		switch value {
		case "yes":
			k.AutoRenew = true
		case "no":
			k.AutoRenew = false
		default:
			return p.errf(line, "Auto-Renew %q: want yes or no", clip(value))
		}
		p.renewLine = line
	case fieldKind:
		kind, ok := parseKind(value)
		if !ok {
			return p.errf(line, "Kind %q: want commercial, trial or emergency", clip(value))
		}
		k.Kind = kind
	case fieldIssuer:
		if !validIssuerID(value) {
			return p.errf(line, "Issuer %q: want 16 lowercase hex digits", clip(value))
		}
		k.Issuer = IssuerID(value)
	case fieldSignature:
		sig, err := base64.StdEncoding.Strict().DecodeString(value)
		if err != nil {
			return p.errf(line, "Signature: not base64")
		}
		if len(sig) != signatureSize {
			return p.errf(line, "Signature: %d bytes, want %d", len(sig), signatureSize)
		}
		k.Signature = sig
	}
	return nil
}

// parseTime accepts exactly TimeLayout, so that one instant has one spelling.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.Format(TimeLayout) != s {
		return time.Time{}, errors.New("not in canonical form")
	}
	return t, nil
}

// ParseTime parses a date given by an operator: the key-file form
// 2006-01-02T15:04:05Z, any RFC 3339 time (converted to UTC, truncated to the
// second), or a bare date 2006-01-02 meaning 00:00:00 UTC that day.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Truncate(time.Second), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("date %q: want 2006-01-02 or 2006-01-02T15:04:05Z", s)
}

// ValidKeyID reports whether s is an acceptable key ID.
func ValidKeyID(s string) bool {
	if len(s) == 0 || len(s) > 64 || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func validDomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLowerAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// ValidDomain reports whether s is an acceptable domain (cluster name) for a binding.
func ValidDomain(s string) bool { return validDomain(s) }

func isAlnum(c byte) bool {
	return isLowerAlnum(c) || (c >= 'A' && c <= 'Z')
}

func isLowerAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
}

// clip shortens a value quoted in an error, so that a garbage file cannot flood a log.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
