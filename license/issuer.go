package license

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

const signatureSize = ed25519.SignatureSize

// Field names of the issuer key files.
const (
	fieldPrivateKey = "Licbridge-Issuer-Private-Key"
	fieldPublicKey  = "Licbridge-Issuer-Public-Key"
)

// IssuerID is the fingerprint of an issuer public key: the first 8 bytes of its
// SHA-256, in lowercase hex. Key files name their issuer by it.
type IssuerID string

// Fingerprint returns the IssuerID of pub.
func Fingerprint(pub ed25519.PublicKey) IssuerID {
	sum := sha256.Sum256(pub)
	return IssuerID(hex.EncodeToString(sum[:8]))
}

func validIssuerID(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Sentinel errors of signature checks.
var (
	// ErrBadSignature: the key's signature does not match its content.
	ErrBadSignature = errors.New("bad signature")
	// ErrUntrustedIssuer: the key names an issuer whose public key is not trusted.
	ErrUntrustedIssuer = errors.New("signed by an issuer this node does not trust")
)

// Trusted is the set of issuer public keys a node trusts, by fingerprint. Build it
// with NewTrusted; it is read-only afterwards and safe for concurrent use.
type Trusted map[IssuerID]ed25519.PublicKey

// NewTrusted returns a Trusted holding keys.
func NewTrusted(keys ...ed25519.PublicKey) Trusted {
	t := Trusted{}
	for _, k := range keys {
		t[Fingerprint(k)] = k
	}
	return t
}

// Sign sets k.Issuer to priv's fingerprint and signs k's canonical form.
func Sign(k *Key, priv ed25519.PrivateKey) {
	k.Issuer = Fingerprint(priv.Public().(ed25519.PublicKey))
	k.Signature = ed25519.Sign(priv, k.Canonical())
}

// Verify checks k's signature against the trusted issuers. The error is
// ErrUntrustedIssuer (wrapped, naming the issuer) or ErrBadSignature.
func (t Trusted) Verify(k *Key) error {
	pub, ok := t[k.Issuer]
	if !ok {
		return fmt.Errorf("%w (issuer %s)", ErrUntrustedIssuer, k.Issuer)
	}
	if !ed25519.Verify(pub, k.Canonical(), k.Signature) {
		return ErrBadSignature
	}
	return nil
}

// WritePrivateKey writes priv in the issuer.key form. The caller must create the
// file with mode 0600.
func WritePrivateKey(w io.Writer, priv ed25519.PrivateKey) error {
	_, err := fmt.Fprintf(w, "# licbridge issuer private key (%s). Keep it secret: it mints license keys.\n%s: %s\n",
		Fingerprint(priv.Public().(ed25519.PublicKey)), fieldPrivateKey, base64.StdEncoding.EncodeToString(priv.Seed()))
	return err
}

// WritePublicKey writes pub in the issuer.pub form.
func WritePublicKey(w io.Writer, pub ed25519.PublicKey) error {
	_, err := fmt.Fprintf(w, "# licbridge issuer public key (%s)\n%s: %s\n",
		Fingerprint(pub), fieldPublicKey, base64.StdEncoding.EncodeToString(pub))
	return err
}

// ParsePrivateKey reads an issuer.key file. name is used in errors.
func ParsePrivateKey(r io.Reader, name string) (ed25519.PrivateKey, error) {
	vals, err := keyFileValues(r, name, fieldPrivateKey)
	if err != nil {
		return nil, err
	}
	if len(vals) != 1 {
		return nil, &ParseError{File: name, Msg: fmt.Sprintf("want exactly one %s line, found %d", fieldPrivateKey, len(vals))}
	}
	seed, err := base64.StdEncoding.Strict().DecodeString(vals[0].value)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, &ParseError{File: name, Line: vals[0].line, Msg: fmt.Sprintf("%s: want base64 of %d bytes", fieldPrivateKey, ed25519.SeedSize)}
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParsePublicKeys reads an issuer.pub file, which holds one or more public keys.
func ParsePublicKeys(r io.Reader, name string) ([]ed25519.PublicKey, error) {
	vals, err := keyFileValues(r, name, fieldPublicKey)
	if err != nil {
		return nil, err
	}
	if len(vals) == 0 {
		return nil, &ParseError{File: name, Msg: fmt.Sprintf("no %s line", fieldPublicKey)}
	}
	out := make([]ed25519.PublicKey, 0, len(vals))
	for _, v := range vals {
		b, err := base64.StdEncoding.Strict().DecodeString(v.value)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, &ParseError{File: name, Line: v.line, Msg: fmt.Sprintf("%s: want base64 of %d bytes", fieldPublicKey, ed25519.PublicKeySize)}
		}
		out = append(out, ed25519.PublicKey(b))
	}
	return out, nil
}

type lineValue struct {
	line  int
	value string
}

// keyFileValues returns the values of every "want: value" line, rejecting any
// other field. Blank and "#" lines are skipped.
func keyFileValues(r io.Reader, name, want string) ([]lineValue, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, &ParseError{File: name, Msg: "read: " + err.Error()}
	}
	if len(data) > MaxFileSize {
		return nil, &ParseError{File: name, Msg: "too large for a key file"}
	}
	var out []lineValue
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := strings.TrimSpace(string(raw))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		// The line's value is never quoted: it may be a private key given by mistake.
		if !ok {
			return nil, &ParseError{File: name, Line: i + 1, Msg: fmt.Sprintf("want a %s line, got a line without \"Name:\"", want)}
		}
		if !strings.EqualFold(strings.TrimSpace(k), want) {
			return nil, &ParseError{File: name, Line: i + 1, Msg: fmt.Sprintf("want a %s line, got field %q", want, clip(strings.TrimSpace(k)))}
		}
		out = append(out, lineValue{line: i + 1, value: strings.TrimSpace(v)})
	}
	return out, nil
}
