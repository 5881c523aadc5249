package license

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Kind is the commercial kind of a key.
type Kind string

// The kinds of key.
const (
	// KindCommercial is a paid key with a formal end date, optionally auto-renewing.
	KindCommercial Kind = "commercial"
	// KindTrial is a time-limited key that ends on its date.
	KindTrial Kind = "trial"
	// KindEmergency is an emergency trial key that lasts 30 days from issue.
	KindEmergency Kind = "emergency"
)

func parseKind(s string) (Kind, bool) {
	switch k := Kind(s); k {
	case KindCommercial, KindTrial, KindEmergency:
		return k, true
	}
	return "", false
}

// BindingType says what a key is bound to.
type BindingType int

// The binding types.
const (
	// Unbound keys work on any node (trial keys, typically).
	Unbound BindingType = iota
	// BoundHost keys work only on the host with that host ID.
	BoundHost
	// BoundDomain keys work only on nodes of that domain (cluster name).
	BoundDomain
)

// Binding is what a key is bound to: a host ID, a domain, or nothing.
type Binding struct {
	Type BindingType
	// HostID is set when Type is BoundHost.
	HostID HostID
	// Domain is set when Type is BoundDomain.
	Domain string
}

// String is the form used in key files: "none", "host-id XXXX-XXXX-XXXX" or "domain NAME".
func (b Binding) String() string {
	switch b.Type {
	case BoundHost:
		return "host-id " + string(b.HostID)
	case BoundDomain:
		return "domain " + b.Domain
	}
	return "none"
}

// Short is a compact form for tables: "host A1B2-C3D4-E5F6", "domain NAME" or "none".
func (b Binding) Short() string {
	if b.Type == BoundHost {
		return "host " + string(b.HostID)
	}
	return b.String()
}

// ParseBinding parses the key-file form of a binding (see Binding.String).
func ParseBinding(s string) (Binding, error) {
	if s == "none" {
		return Binding{}, nil
	}
	typ, val, ok := strings.Cut(s, " ")
	if !ok {
		return Binding{}, fmt.Errorf("binding %q: want none, host-id ID or domain NAME", s)
	}
	switch typ {
	case "host-id":
		if !isCanonicalHostID(val) {
			return Binding{}, fmt.Errorf("binding %q: host ID must look like A1B2-C3D4-E5F6", s)
		}
		return Binding{Type: BoundHost, HostID: HostID(val)}, nil
	case "domain":
		if !validDomain(val) {
			return Binding{}, fmt.Errorf("binding %q: domain must be 1 to 253 characters of a-z, 0-9, '.', '_' and '-'", s)
		}
		return Binding{Type: BoundDomain, Domain: val}, nil
	}
	return Binding{}, fmt.Errorf("binding %q: want none, host-id ID or domain NAME", s)
}

// Key is one license key: the content of one key file.
type Key struct {
	// ID identifies the key; a renewed key keeps its ID.
	ID string
	// Product names a catalog product.
	Product string
	// Channels is how many channels the key grants (> 0).
	Channels int
	// Binding is what the key is bound to.
	Binding Binding
	// Issued is when the key starts counting (UTC, whole seconds).
	Issued time.Time
	// Ends is the formal end date (UTC, whole seconds).
	Ends time.Time
	// AutoRenew keys keep counting through the renewal grace window after Ends.
	AutoRenew bool
	// Kind is commercial, trial or emergency.
	Kind Kind
	// Issuer is the fingerprint of the issuer key that signed the key.
	Issuer IssuerID
	// Signature is the ed25519 signature over Canonical().
	Signature []byte
}

// TimeLayout is the one accepted form of Issued and Ends.
const TimeLayout = "2006-01-02T15:04:05Z"

const canonicalMagic = "licbridge-license-v1"

// Canonical returns the bytes the signature covers (see the package doc).
func (k *Key) Canonical() []byte {
	var b bytes.Buffer
	b.Grow(256)
	line := func(name, val string) {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(val)
		b.WriteByte('\n')
	}
	b.WriteString(canonicalMagic + "\n")
	line("key-id", k.ID)
	line("product", k.Product)
	line("channels", strconv.Itoa(k.Channels))
	line("binding", k.Binding.String())
	line("issued", k.Issued.UTC().Format(TimeLayout))
	line("ends", k.Ends.UTC().Format(TimeLayout))
	line("auto-renew", yesNo(k.AutoRenew))
	line("kind", string(k.Kind))
	line("issuer", string(k.Issuer))
	return b.Bytes()
}

// WriteTo writes k in the key-file form, with a comment header and the fields in
// canonical order. It implements io.WriterTo.
func (k *Key) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	b.WriteString("# licbridge license key. Do not edit: any change breaks the signature.\n")
	fmt.Fprintf(&b, "%s: %s\n", fieldMagic, formatVersion)
	fmt.Fprintf(&b, "%s: %s\n", fieldKeyID, k.ID)
	fmt.Fprintf(&b, "%s: %s\n", fieldProduct, k.Product)
	fmt.Fprintf(&b, "%s: %d\n", fieldChannels, k.Channels)
	fmt.Fprintf(&b, "%s: %s\n", fieldBinding, k.Binding)
	fmt.Fprintf(&b, "%s: %s\n", fieldIssued, k.Issued.UTC().Format(TimeLayout))
	fmt.Fprintf(&b, "%s: %s\n", fieldEnds, k.Ends.UTC().Format(TimeLayout))
	fmt.Fprintf(&b, "%s: %s\n", fieldAutoRenew, yesNo(k.AutoRenew))
	fmt.Fprintf(&b, "%s: %s\n", fieldKind, k.Kind)
	fmt.Fprintf(&b, "%s: %s\n", fieldIssuer, k.Issuer)
	fmt.Fprintf(&b, "%s: %s\n", fieldSignature, base64.StdEncoding.EncodeToString(k.Signature))
	return b.WriteTo(w)
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}
