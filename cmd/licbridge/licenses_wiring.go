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
		configFlags("licenses-dir")[0],
		&cli.BoolFlag{Name: "no-default-dirs", Usage: "do not search " + license.DefaultDirAsterisk + " and " + license.DefaultDirDigium, EnvVars: []string{"LICBRIDGE_NO_DEFAULT_DIRS"}},
		issuerPubFlag(),
		configFlags("host-id")[0],
		configFlags("domain")[0],
		configFlags("renewal-grace")[0],
		sysfsFlag(),
	}
}

func issuerPubFlag() cli.Flag {
	return configFlags("issuer-pub")[0]
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

// licenseFlagNames are the flags of licensesFlags that package config merges.
var licenseFlagNames = []string{"licenses-dir", "issuer-pub", "host-id", "domain", "renewal-grace"}

// licensesSetup merges the licence flags over the config (config.Merge) into
// load options: directories (defaults, then config licenses_dirs, then
// --licenses-dir), trusted issuers, host ID (flag/config, else computed; none
// is not an error here), domain, renewal grace and the product catalog.
func licensesSetup(c *cli.Context, cfg *Config) (nodeLicenses, error) {
	var nl nodeLicenses
	if err := cfg.Merge(c, licenseFlagNames...); err != nil {
		return nl, err
	}
	if c.Bool("no-default-dirs") {
		for _, d := range cfg.LicensesDirs {
			nl.Options.Dirs = append(nl.Options.Dirs, license.Dir{Path: d})
		}
	} else {
		nl.Options.Dirs = license.SearchPath(cfg.LicensesDirs...)
	}

	trusted, err := trustedIssuers(c, cfg)
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
		rep, err := license.ReadHostID(c.String("sysfs"))
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

// trustedIssuers reads the issuer public key files (--issuer-pub,
// LICBRIDGE_ISSUER_PUB, else the config's issuer_pub).
func trustedIssuers(c *cli.Context, cfg *Config) (license.Trusted, error) {
	if err := cfg.Merge(c, "issuer-pub"); err != nil {
		return nil, err
	}
	files := cfg.IssuerPub
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
func catalogFromConfig(cfg *Config) (*license.Catalog, error) { return cfg.Catalog() }

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
