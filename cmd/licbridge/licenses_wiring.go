package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/licbridge/licbridge/license"
	"github.com/urfave/cli/v2"
)

// licensesFlags are the flags of every command that loads this node's license
// keys (show licenses, run). Each also reads its LICBRIDGE_* variable and, where
// one exists, the config file field.
func licensesFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "licenses-dir", Usage: "license directory searched after the defaults (repeatable; config licenses_dirs)", EnvVars: []string{"LICBRIDGE_LICENSES_DIR"}},
		&cli.BoolFlag{Name: "no-default-dirs", Usage: "do not search " + license.DefaultDirAsterisk + " and " + license.DefaultDirDigium, EnvVars: []string{"LICBRIDGE_NO_DEFAULT_DIRS"}},
		issuerPubFlag(),
		&cli.StringFlag{Name: "host-id", Usage: "this host's ID, instead of the one computed from its Ethernet MACs (config host_id)", EnvVars: []string{"LICBRIDGE_HOST_ID"}},
		&cli.StringFlag{Name: "domain", Usage: "this node's domain (cluster name) for domain-bound keys (config domain)", EnvVars: []string{"LICBRIDGE_DOMAIN"}},
		&cli.DurationFlag{Name: "renewal-grace", Value: license.DefaultRenewalGrace, Usage: "how long auto-renew keys count after their formal end (config renewal_grace)", EnvVars: []string{"LICBRIDGE_RENEWAL_GRACE"}},
		sysfsFlag(),
	}
}

func issuerPubFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "issuer-pub", Usage: "trusted issuer public key file (repeatable; config issuer_pub)", EnvVars: []string{"LICBRIDGE_ISSUER_PUB"}}
}

// sysfsFlag lets tests point host ID detection at a fake /sys tree.
func sysfsFlag() cli.Flag {
	return &cli.StringFlag{Name: "sysfs", Value: "/sys", Hidden: true, Usage: "sysfs root for host ID detection", EnvVars: []string{"LICBRIDGE_SYSFS"}}
}

// nodeLicenses is what a command needs to load this node's keys.
type nodeLicenses struct {
	Options license.LoadOptions
	// HostIDNote says why the node has no host ID (host-bound keys are then invalid).
	HostIDNote string
}

// licensesSetup merges flags over the config into load options: directories
// (defaults, then config licenses_dirs, then --licenses-dir), trusted issuers,
// host ID (flag/config, else computed; none is not an error here), domain,
// renewal grace and the product catalog.
func licensesSetup(c *cli.Context, cfg *Config) (nodeLicenses, error) {
	var nl nodeLicenses
	dirs := append([]string(nil), cfg.LicensesDirs...)
	overrideStrings(c, "licenses-dir", &dirs)
	if c.Bool("no-default-dirs") {
		for _, d := range dirs {
			nl.Options.Dirs = append(nl.Options.Dirs, license.Dir{Path: d})
		}
	} else {
		nl.Options.Dirs = license.SearchPath(dirs...)
	}

	trusted, err := trustedIssuers(c, cfg)
	if err != nil {
		return nl, err
	}
	nl.Options.Trusted = trusted

	hostID := cfg.HostID
	overrideString(c, "host-id", &hostID)
	if hostID != "" {
		id, err := license.ParseHostID(hostID)
		if err != nil {
			return nl, fmt.Errorf("--host-id: %w", err)
		}
		nl.Options.HostID = id
	} else {
		rep, err := license.ReadHostID(c.String("sysfs"))
		if err != nil {
			nl.HostIDNote = err.Error()
		}
		nl.Options.HostID = rep.ID
	}

	domain := cfg.Domain
	overrideString(c, "domain", &domain)
	if domain != "" && !license.ValidDomain(domain) {
		return nl, fmt.Errorf("--domain %q: want 1 to 253 characters of a-z, 0-9, '.', '_' and '-'", domain)
	}
	nl.Options.Domain = domain

	nl.Options.RenewalGrace = cfg.RenewalGrace
	if c.IsSet("renewal-grace") {
		nl.Options.RenewalGrace = c.Duration("renewal-grace")
	}
	if nl.Options.RenewalGrace < 0 {
		return nl, fmt.Errorf("renewal grace %s is negative", nl.Options.RenewalGrace)
	}
	cat, err := catalogFromConfig(cfg)
	if err != nil {
		return nl, err
	}
	nl.Options.Catalog = cat
	return nl, nil
}

// trustedIssuers reads the issuer public key files from --issuer-pub (or
// LICBRIDGE_ISSUER_PUB), else from the config's issuer_pub.
func trustedIssuers(c *cli.Context, cfg *Config) (license.Trusted, error) {
	files := cfg.IssuerPub
	if c.IsSet("issuer-pub") {
		files = c.StringSlice("issuer-pub")
	}
	if len(files) == 0 {
		return nil, errors.New("no issuer public key: pass --issuer-pub FILE, set LICBRIDGE_ISSUER_PUB, or set issuer_pub in the config")
	}
	var keys []ed25519.PublicKey
	for _, f := range files {
		ks, err := readPublicKeys(f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	return license.NewTrusted(keys...), nil
}

func readPublicKeys(path string) ([]ed25519.PublicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("issuer public key: %w", err)
	}
	defer f.Close()
	return license.ParsePublicKeys(f, path)
}

// catalogFromConfig is the built-in catalog plus the config's products.
func catalogFromConfig(cfg *Config) (*license.Catalog, error) {
	extra := make([]license.Product, 0, len(cfg.Products))
	for _, p := range cfg.Products {
		stacks := true
		if p.Stacks != nil {
			stacks = *p.Stacks
		}
		extra = append(extra, license.Product{Name: p.Name, Stacks: stacks, MaxHosts: p.MaxHosts, OnePerHost: p.OnePerHost})
	}
	cat, err := license.NewCatalog(extra...)
	if err != nil {
		return nil, fmt.Errorf("config products: %w", err)
	}
	return cat, nil
}

// fixedClock returns the --now override for tests and demos, or nil for the real clock.
func fixedClock(c *cli.Context) (func() time.Time, error) {
	if !c.IsSet("now") {
		return nil, nil
	}
	t, err := license.ParseTime(c.String("now"))
	if err != nil {
		return nil, fmt.Errorf("--now: %w", err)
	}
	return func() time.Time { return t }, nil
}

func nowFlag() cli.Flag {
	return &cli.StringFlag{Name: "now", Hidden: true, Usage: "evaluate at this instant instead of the current time (tests)", EnvVars: []string{"LICBRIDGE_NOW"}}
}
