package issuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/licbridge/licbridge/license"
)

// Request is what a host sends: the key ID (activation code), its host ID and,
// for domain-bound keys, its domain. It is also the content of an offline
// request file.
type Request struct {
	KeyID  string
	HostID license.HostID
	Domain string
}

// RequestType marks an offline request file.
const RequestType = "licbridge-activation-request/1"

// MaxRequestSize bounds a request body or request file.
const MaxRequestSize = 4 << 10

type wireRequest struct {
	Type   string `json:"type,omitempty"`
	KeyID  string `json:"key_id"`
	HostID string `json:"host_id"`
	Domain string `json:"domain,omitempty"`
}

// ParseRequest reads one JSON request (an API body or an offline request
// file), refusing unknown fields, oversize bodies and invalid values. The
// errors never quote the key ID.
func ParseRequest(r io.Reader) (Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRequestSize+1))
	if err != nil {
		return Request{}, fmt.Errorf("read request: %w", err)
	}
	if len(data) > MaxRequestSize {
		return Request{}, fmt.Errorf("request larger than %d bytes", MaxRequestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wireRequest
	if err := dec.Decode(&w); err != nil {
		return Request{}, fmt.Errorf("request: not a JSON object of key_id, host_id and domain: %w", jsonErr(err))
	}
	if dec.More() {
		return Request{}, errors.New("request: more than one JSON value")
	}
	if w.Type != "" && w.Type != RequestType {
		return Request{}, fmt.Errorf("request: type %q is not %q", clip(w.Type), RequestType)
	}
	return w.validate()
}

// jsonErr drops the offending text from JSON errors: it may hold the key ID.
func jsonErr(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("field %s: want a %s", te.Field, te.Type)
	case errors.Is(err, io.EOF):
		return errors.New("empty")
	}
	if strings.HasPrefix(err.Error(), "json: unknown field") {
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	return errors.New("malformed")
}

func (w wireRequest) validate() (Request, error) {
	if w.KeyID == "" {
		return Request{}, errors.New("request: key_id is missing")
	}
	if !license.ValidKeyID(w.KeyID) {
		return Request{}, errors.New("request: key_id must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")
	}
	if w.HostID == "" {
		return Request{}, errors.New("request: host_id is missing")
	}
	host, err := license.ParseHostID(w.HostID)
	if err != nil {
		return Request{}, fmt.Errorf("request: host_id: %w", err)
	}
	d := strings.ToLower(w.Domain)
	if d != "" && !license.ValidDomain(d) {
		return Request{}, errors.New("request: domain must be 1 to 253 characters of a-z, 0-9, '.', '_' and '-'")
	}
	return Request{KeyID: w.KeyID, HostID: host, Domain: d}, nil
}

// MarshalJSON writes the wire form (used by the client and offline requests).
func (r Request) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireRequest{KeyID: r.KeyID, HostID: string(r.HostID), Domain: r.Domain})
}

// ReadRequestFile reads an offline request file (issuer answer); an error
// in it names the file.
func ReadRequestFile(path string) (Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return Request{}, err
	}
	defer f.Close()
	r, err := ParseRequest(f)
	if err != nil {
		return Request{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// WriteRequestFile writes r as an offline request file.
func WriteRequestFile(w io.Writer, r Request) error {
	b, err := json.MarshalIndent(wireRequest{Type: RequestType, KeyID: r.KeyID, HostID: string(r.HostID), Domain: r.Domain}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
