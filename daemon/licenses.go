package daemon

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"

	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/license"
)

// Licenses is what loading this node's keys needs.
type Licenses struct {
	Options license.LoadOptions
	// HostIDNote says why the node has no host ID (host-bound keys are then invalid).
	HostIDNote string
}

// LicenseSources says where the keys and the host's identity come from,
// beside the config.
type LicenseSources struct {
	// NoDefaultDirs searches only cfg.LicensesDirs, not the Asterisk and
	// Digium defaults.
	NoDefaultDirs bool
	// Sysfs is the sysfs root host ID detection reads (default /sys).
	Sysfs string
}

// LoadLicenses turns cfg (flags merged) into load options: directories
// (defaults, then licenses_dirs), trusted issuers, host ID (host_id, else
// computed; none is not an error here), domain, renewal grace and the
// product catalog.
func LoadLicenses(cfg *config.Config, src LicenseSources) (Licenses, error) {
	var nl Licenses
	if src.NoDefaultDirs {
		for _, d := range cfg.LicensesDirs {
			nl.Options.Dirs = append(nl.Options.Dirs, license.Dir{Path: d})
		}
	} else {
		nl.Options.Dirs = license.SearchPath(cfg.LicensesDirs...)
	}
	trusted, err := TrustedIssuers(cfg.IssuerPub)
	if err != nil {
		return nl, err
	}
	nl.Options.Trusted = trusted

	if cfg.HostID != "" {
		id, err := license.ParseHostID(cfg.HostID)
		if err != nil {
			return nl, fmt.Errorf("--host-id: %w", err)
		}
		nl.Options.HostID = id
	} else {
		rep, err := license.ReadHostID(src.Sysfs)
		if err != nil {
			nl.HostIDNote = err.Error()
		}
		nl.Options.HostID = rep.ID
	}

	if cfg.Domain != "" && !license.ValidDomain(cfg.Domain) {
		return nl, fmt.Errorf("--domain %q: want 1 to 253 characters of a-z, 0-9, '.', '_' and '-'", cfg.Domain)
	}
	nl.Options.Domain = cfg.Domain
	nl.Options.RenewalGrace = cfg.RenewalGrace
	if nl.Options.RenewalGrace < 0 {
		return nl, fmt.Errorf("renewal grace %s is negative", nl.Options.RenewalGrace)
	}
	if nl.Options.Catalog, err = cfg.Catalog(); err != nil {
		return nl, err
	}
	return nl, nil
}

// TrustedIssuers reads the issuer public key files (config issuer_pub).
func TrustedIssuers(files []string) (license.Trusted, error) {
	if len(files) == 0 {
		return nil, errors.New("no issuer public key: pass --issuer-pub FILE, set LICBRIDGE_ISSUER_PUB, or set issuer_pub in the config")
	}
	var keys []ed25519.PublicKey
	for _, f := range files {
		ks, err := ReadPublicKeys(f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	return license.NewTrusted(keys...), nil
}

// ReadPublicKeys reads one issuer public key file.
func ReadPublicKeys(path string) ([]ed25519.PublicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("issuer public key: %w", err)
	}
	defer f.Close()
	return license.ParsePublicKeys(f, path)
}
