package issuer

import (
	"context"
	"time"

	"github.com/licbridge/licbridge/license"
)

// The vendor-side administration (licbridge issuer modify|revoke|list):
// changes to entitlements that hosts pick up with Get/Update License.

// ModifyParams change an entitlement; nil fields are left as they are.
type ModifyParams struct {
	Ends      *time.Time
	Channels  *int
	AutoRenew *bool
	Customer  *string
	// Revoke stops activations and updates (installed files run to their end).
	Revoke bool
}

// Modify applies p to the entitlement keyID, checking the product's rules
// (ffa is one channel) for a new channel count.
func (s *Service) Modify(ctx context.Context, keyID string, p ModifyParams) (Entitlement, error) {
	return s.Store.UpdateEntitlement(ctx, keyID, func(e *Entitlement) error {
		if p.Ends != nil {
			e.Ends = *p.Ends
		}
		if p.Channels != nil {
			prod, _ := s.Catalog.Lookup(e.Product)
			if err := license.CheckIssue(prod, *p.Channels); err != nil {
				return err
			}
			e.Channels = *p.Channels
		}
		if p.AutoRenew != nil {
			e.AutoRenew = *p.AutoRenew
		}
		if p.Customer != nil {
			e.Customer = *p.Customer
		}
		if p.Revoke {
			e.Revoked = s.now()
		}
		return nil
	})
}

// Listed is an entitlement with how many hosts hold it, of how many allowed.
type Listed struct {
	Entitlement
	Hosts, MaxHosts int
}

// List is every entitlement with its host count.
func (s *Service) List(ctx context.Context) ([]Listed, error) {
	ents, err := s.Store.Entitlements(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Listed, 0, len(ents))
	for _, e := range ents {
		acts, err := s.Store.Activations(ctx, e.KeyID)
		if err != nil {
			return nil, err
		}
		out = append(out, Listed{Entitlement: e, Hosts: len(acts), MaxHosts: s.MaxHosts(e.Product)})
	}
	return out, nil
}

// MaxHosts is how many hosts one key of product may be active on.
func (s *Service) MaxHosts(product string) int {
	if p, ok := s.Catalog.Lookup(product); ok && p.MaxHosts > 0 {
		return p.MaxHosts
	}
	return license.DefaultMaxHosts
}

// Activations lists the hosts the key keyID is active on; an unknown key is
// the store's not-found error.
func (s *Service) Activations(ctx context.Context, keyID string) ([]Activation, error) {
	if _, err := s.Store.Entitlement(ctx, keyID); err != nil {
		return nil, err
	}
	return s.Store.Activations(ctx, keyID)
}
