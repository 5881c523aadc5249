package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/issuer"
	"github.com/licbridge/licbridge/license"
)

// ThisHost is this host's binding: its ID (config host_id, else computed
// from its Ethernet MACs under sysfs) and the config's domain (license verify
// and license request check and ask for it).
func ThisHost(cfg *config.Config, sysfs string) (license.HostID, string, error) {
	domain := cfg.Domain
	if cfg.HostID != "" {
		id, err := license.ParseHostID(cfg.HostID)
		if err != nil {
			return "", domain, fmt.Errorf("--host-id (config host_id): %w", err)
		}
		return id, domain, nil
	}
	rep, err := license.ReadHostID(sysfs)
	if err != nil {
		return "", domain, fmt.Errorf("this host's ID: %w", err)
	}
	return rep.ID, domain, nil
}

// VerifyOptions are the rules license verify checks key files by: cfg's
// trusted issuers (issuer_pub), catalog and renewal grace, at now. With
// thisHost the bindings are checked against this host (ThisHost); when it has
// no ID, note says why (its host-bound keys are then not valid here).
func VerifyOptions(cfg *config.Config, sysfs string, now time.Time, thisHost bool) (opts license.EvalOptions, note, err error) {
	trusted, err := TrustedIssuers(cfg.IssuerPub)
	if err != nil {
		return opts, nil, err
	}
	cat, err := cfg.Catalog()
	if err != nil {
		return opts, nil, err
	}
	opts = license.EvalOptions{Trusted: trusted, Catalog: cat, Policy: license.Policy{RenewalGrace: cfg.RenewalGrace}, Now: now}
	if thisHost {
		opts.HostID, opts.Domain, note = ThisHost(cfg, sysfs)
	}
	return opts, note, nil
}

// OfflineRequest is this host's activation request for keyID (license
// request): its ID (ThisHost) and cfg's domain.
func OfflineRequest(cfg *config.Config, keyID, sysfs string) (issuer.Request, error) {
	id, _, err := ThisHost(cfg, sysfs)
	if err != nil {
		return issuer.Request{}, err
	}
	return issuer.Request{KeyID: keyID, HostID: id, Domain: strings.ToLower(cfg.Domain)}, nil
}
