package main

import (
	"fmt"
	"time"

	licd "github.com/licbridge/licbridge/daemon"
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
type nodeLicenses = licd.Licenses

// licenseFlagNames are the flags of licensesFlags that package config merges.
var licenseFlagNames = []string{"licenses-dir", "issuer-pub", "host-id", "domain", "renewal-grace"}

// licensesSetup merges the licence flags over the config (config.Merge) and
// builds the load options (daemon.LoadLicenses).
func licensesSetup(c *cli.Context, cfg *Config) (nodeLicenses, error) {
	if err := cfg.Merge(c, licenseFlagNames...); err != nil {
		return nodeLicenses{}, err
	}
	return licd.LoadLicenses(cfg, licd.LicenseSources{NoDefaultDirs: c.Bool("no-default-dirs"), Sysfs: c.String("sysfs")})
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
