package issuer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/licbridge/licbridge/license"
)

// Service is the issuer: the signing key, the catalog and the activation
// database. It is safe for concurrent use.
type Service struct {
	Store   Store
	Priv    ed25519.PrivateKey
	Catalog *license.Catalog
	// Log gets one line per attempt; keys appear only as KeyHash.
	Log *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// KeyIDBytes is how many random bytes a new key ID carries (120 bits): the key
// ID is the activation code, so it must not be guessable.
const KeyIDBytes = 15

// NewKeyID returns PRODUCT-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX (base32, 120 random bits).
func NewKeyID(product string) (string, error) {
	b := make([]byte, KeyIDBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new key ID: %w", err)
	}
	enc := base32.StdEncoding.EncodeToString(b)
	var out strings.Builder
	out.WriteString(strings.ToUpper(product))
	for i := 0; i < len(enc); i += 4 {
		out.WriteString("-" + enc[i:i+4])
	}
	return out.String(), nil
}

// EntitleParams are the terms of a new entitlement.
type EntitleParams struct {
	Product     string
	Channels    int
	Kind        license.Kind
	Ends        time.Time // zero: one year (commercial) or 30 days (trial, emergency)
	AutoRenew   bool
	DomainBound bool
	Customer    string
}

// Entitle records a new entitlement under a fresh key ID, after the product
// rules (ffa is one channel).
func (s *Service) Entitle(ctx context.Context, p EntitleParams) (Entitlement, error) {
	prod, ok := s.Catalog.Lookup(p.Product)
	if !ok {
		return Entitlement{}, fmt.Errorf("unknown product %q (known: %s)", p.Product, strings.Join(s.Catalog.Names(), ", "))
	}
	if err := license.CheckIssue(prod, p.Channels); err != nil {
		return Entitlement{}, err
	}
	if p.Kind == "" {
		p.Kind = license.KindCommercial
	}
	now := s.now().Truncate(time.Second)
	e := Entitlement{Product: p.Product, Channels: p.Channels, Kind: p.Kind, Issued: now, Ends: p.Ends,
		AutoRenew: p.AutoRenew, DomainBound: p.DomainBound, Customer: p.Customer}
	switch p.Kind {
	case license.KindCommercial:
		if e.Ends.IsZero() {
			e.Ends = now.AddDate(1, 0, 0)
		}
	case license.KindTrial, license.KindEmergency:
		if p.AutoRenew {
			return Entitlement{}, fmt.Errorf("auto-renew is for commercial keys, not %s keys", p.Kind)
		}
		if e.Ends.IsZero() || (p.Kind == license.KindEmergency && e.Ends.After(now.Add(license.EmergencyTerm))) {
			if !e.Ends.IsZero() {
				return Entitlement{}, fmt.Errorf("an emergency key lasts at most 30 days from issue (%s)", now.Add(license.EmergencyTerm).Format(license.TimeLayout))
			}
			e.Ends = now.Add(license.EmergencyTerm)
		}
	default:
		return Entitlement{}, fmt.Errorf("kind %q: want commercial, trial or emergency", p.Kind)
	}
	if !e.Ends.After(now) {
		return Entitlement{}, fmt.Errorf("end date %s is not after now", e.Ends.Format(license.TimeLayout))
	}
	var err error
	if e.KeyID, err = NewKeyID(p.Product); err != nil {
		return Entitlement{}, err
	}
	if err := s.Store.CreateEntitlement(ctx, e); err != nil {
		return Entitlement{}, err
	}
	return e, nil
}

func (s *Service) limits(product string) Limits {
	p, ok := s.Catalog.Lookup(product)
	if !ok || p.MaxHosts <= 0 {
		// A product dropped from the catalog keeps the default rule.
		return Limits{MaxHosts: license.DefaultMaxHosts}
	}
	return Limits{MaxHosts: p.MaxHosts, OnePerHost: p.OnePerHost}
}

// Register activates r.KeyID for r.HostID (within the product's limits) and
// returns the signed key file bound to that host (or to r.Domain, for a
// domain-bound entitlement). addr is the client's address, for the audit.
func (s *Service) Register(ctx context.Context, r Request, addr string) ([]byte, error) {
	e, err := s.Store.Activate(ctx, ActivateParams{KeyID: r.KeyID, HostID: r.HostID, Domain: r.Domain, Address: addr, At: s.now(), Limits: s.limits})
	var file []byte
	if err == nil {
		file, err = s.keyFile(e, r)
		if err != nil {
			// Nothing to hand back: free the slot just taken.
			_, _ = s.Store.Deactivate(ctx, r.KeyID, r.HostID)
		}
	}
	s.audit(ctx, r, addr, "register", err)
	return file, err
}

// Fetch returns the current file of a key for a host it is activated on
// (Get/Update License: renewals and upgrades).
func (s *Service) Fetch(ctx context.Context, r Request, addr string) ([]byte, error) {
	file, err := s.fetch(ctx, r)
	s.audit(ctx, r, addr, "update", err)
	return file, err
}

func (s *Service) fetch(ctx context.Context, r Request) ([]byte, error) {
	e, err := s.Store.Entitlement(ctx, r.KeyID)
	if err != nil {
		return nil, err
	}
	if !e.Revoked.IsZero() {
		return nil, ErrRevoked
	}
	acts, err := s.Store.Activations(ctx, r.KeyID)
	if err != nil {
		return nil, err
	}
	for _, a := range acts {
		if a.HostID == r.HostID {
			if r.Domain == "" {
				r.Domain = a.Domain
			}
			return s.keyFile(e, r)
		}
	}
	return nil, ErrNotActivated
}

// Deactivate frees r.HostID's slot of r.KeyID.
func (s *Service) Deactivate(ctx context.Context, r Request, addr string) error {
	ok, err := s.Store.Deactivate(ctx, r.KeyID, r.HostID)
	if err == nil && !ok {
		if _, err = s.Store.Entitlement(ctx, r.KeyID); err == nil {
			err = ErrNotActivated
		}
	}
	s.audit(ctx, r, addr, "deactivate", err)
	return err
}

// keyFile signs the entitlement's terms bound to the requesting host.
func (s *Service) keyFile(e Entitlement, r Request) ([]byte, error) {
	k := &license.Key{ID: e.KeyID, Product: e.Product, Channels: e.Channels, Issued: e.Issued, Ends: e.Ends,
		AutoRenew: e.AutoRenew, Kind: e.Kind, Binding: license.Binding{Type: license.BoundHost, HostID: r.HostID}}
	if e.DomainBound {
		if r.Domain == "" {
			return nil, errors.New("the key is bound to a domain: send this node's domain (--domain, config domain)")
		}
		k.Binding = license.Binding{Type: license.BoundDomain, Domain: r.Domain}
	}
	license.Sign(k, s.Priv)
	var b bytes.Buffer
	if _, err := k.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("write key file: %w", err)
	}
	return b.Bytes(), nil
}

// audit records the attempt in the audit table and the log, with the key as
// its hash only.
func (s *Service) audit(ctx context.Context, r Request, addr, action string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "refused: " + err.Error()
	}
	kh := KeyHash(r.KeyID)
	lvl := slog.LevelInfo
	if err != nil {
		lvl = slog.LevelWarn
	}
	s.log().Log(ctx, lvl, "issuer "+action, "key", kh, "host_id", string(r.HostID), "addr", addr, "outcome", outcome)
	// The audit must not be lost to a cancelled request.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if aerr := s.Store.Audit(actx, AuditEntry{At: s.now(), KeyHash: kh, HostID: string(r.HostID), Address: addr, Action: action, Outcome: outcome}); aerr != nil {
		s.log().Error("issuer audit not written", "err", aerr)
	}
}
