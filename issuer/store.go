package issuer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/licbridge/licbridge/license"
)

// Entitlement is what the vendor sold: a key ID (the activation code) and the
// terms every file issued for it carries.
type Entitlement struct {
	KeyID    string
	Product  string
	Channels int
	Kind     license.Kind
	// DomainBound entitlements issue files bound to the requesting node's domain
	// (cloud nodes re-created often); the others issue host-bound files.
	DomainBound bool
	Issued      time.Time
	Ends        time.Time
	AutoRenew   bool
	Customer    string
	// Revoked is zero unless the vendor revoked the key.
	Revoked time.Time
}

// Activation is one host holding a key.
type Activation struct {
	KeyID   string
	HostID  license.HostID
	Domain  string
	Address string
	At      time.Time
}

// AuditEntry is one row of the audit table. The key appears only as KeyHash.
type AuditEntry struct {
	At      time.Time
	KeyHash string
	HostID  string
	Address string
	Action  string
	Outcome string
}

// Limits are a product's activation rules.
type Limits struct {
	MaxHosts   int
	OnePerHost bool
}

// ActivateParams is one activation attempt.
type ActivateParams struct {
	KeyID   string
	HostID  license.HostID
	Domain  string
	Address string
	At      time.Time
	// Limits gives the rules of the entitlement's product.
	Limits func(product string) Limits
}

// Store is the activation database. Activate enforces the limits inside one
// transaction, so concurrent attempts never exceed them.
type Store interface {
	CreateEntitlement(ctx context.Context, e Entitlement) error
	Entitlement(ctx context.Context, keyID string) (Entitlement, error)
	// UpdateEntitlement applies fn to the stored entitlement and saves it.
	UpdateEntitlement(ctx context.Context, keyID string, fn func(*Entitlement) error) (Entitlement, error)
	Entitlements(ctx context.Context) ([]Entitlement, error)
	// Activate records p.HostID for p.KeyID (again is fine) and returns the entitlement.
	Activate(ctx context.Context, p ActivateParams) (Entitlement, error)
	// Deactivate frees host's slot; false when the host did not hold the key.
	Deactivate(ctx context.Context, keyID string, host license.HostID) (bool, error)
	Activations(ctx context.Context, keyID string) ([]Activation, error)
	Audit(ctx context.Context, e AuditEntry) error
	AuditLog(ctx context.Context, limit int) ([]AuditEntry, error)
	Close() error
}

// Errors of the store.
var (
	ErrUnknownKey   = errors.New("no such key ID")
	ErrRevoked      = errors.New("the key was revoked by the issuer")
	ErrNotActivated = errors.New("the key is not activated for this host: register it first")
	ErrExists       = errors.New("the key ID exists already")
)

// LimitError: the key is active on its maximum of hosts.
type LimitError struct {
	Max   int
	Hosts []Activation
}

func (e *LimitError) Error() string {
	ids := make([]string, len(e.Hosts))
	for i, a := range e.Hosts {
		ids[i] = fmt.Sprintf("%s (since %s)", a.HostID, a.At.UTC().Format("2006-01-02"))
	}
	return fmt.Sprintf("the key is already active on %d of %d hosts: %s; free one with `licbridge license deactivate --issuer URL KEY-ID` on that host (or `licbridge issuer deactivate --host-id ID KEY-ID` on the issuer)",
		len(e.Hosts), e.Max, strings.Join(ids, ", "))
}

// OnePerHostError: the host already holds another key of a one-per-host product.
// The other key's ID is not named: it is that key's activation code.
type OnePerHostError struct {
	Product string
	HostID  license.HostID
	Other   string // hash of the other key
}

func (e *OnePerHostError) Error() string {
	return fmt.Sprintf("host %s already holds a %s key (%s) and a host may hold only one: deactivate that key first",
		e.HostID, e.Product, e.Other)
}

// KeyHash is the short form a key ID takes in logs and the audit table: the key
// ID is the activation code, so it is never written out.
func KeyHash(keyID string) string {
	sum := sha256.Sum256([]byte(keyID))
	return "sha256:" + hex.EncodeToString(sum[:4])
}
