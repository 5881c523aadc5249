package main

// The flags and settings the commands share: the global flags and logging,
// the config file with the flags over its fields (package config's table),
// and the flags of the commands that load this node's license keys.

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/licbridge/licbridge/config"
	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/license"
)

// globalFlags are accepted anywhere on the line, before or after the subcommand
// (cliargs.Reorder moves them ahead for urfave/cli). Every flag can also be set from
// the LICBRIDGE_* environment variable named in its EnvVars.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "YAML config file (see contrib/licbridge.yaml)", EnvVars: []string{"LICBRIDGE_CONFIG"}},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"LICBRIDGE_LOG_LEVEL"}},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json", EnvVars: []string{"LICBRIDGE_LOG_FORMAT"}},
	}
}

// setupLogging installs the process-wide slog logger from --log-level/--log-format.
// Logs go to stderr so that command output on stdout stays machine-readable.
func setupLogging(c *cli.Context) error {
	logger, err := licd.NewLogger(os.Stderr, c.String("log-level"), c.String("log-format"))
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	return nil
}

// loadConfig reads the file named by the global --config flag over the
// defaults. Commands whose flags all mean what config says use loadMerged;
// the others apply their own flags on top.
func loadConfig(c *cli.Context) (*config.Config, error) {
	return config.Load(c.String("config"))
}

// loadMerged is loadConfig with the command's flags and LICBRIDGE_*
// variables merged over it (config.Merge: the one way for every command).
func loadMerged(c *cli.Context, only ...string) (*config.Config, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, err
	}
	if err := cfg.Merge(c, only...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// configFlag is config flag name as a CLI flag, with its environment
// variable and its default taken from config.Default, so that the help shows
// each default once and truly. usage, when set, says what the flag does in
// this command (the table's words are run's); aliases are more names.
func configFlag(name, usage string, aliases ...string) cli.Flag {
	f, ok := config.Lookup(name)
	if !ok {
		panic("config flag " + name + " is not in package config")
	}
	if usage == "" {
		usage = f.Usage
	}
	usage = fmt.Sprintf("%s (config %s)", usage, f.Key)
	env := []string{f.Env()}
	switch f.Kind {
	case config.KindDuration:
		v, _ := f.Default().(time.Duration)
		return &cli.DurationFlag{Name: f.Name, Aliases: aliases, Value: v, Usage: usage, EnvVars: env}
	case config.KindInt:
		v, _ := f.Default().(int)
		return &cli.IntFlag{Name: f.Name, Aliases: aliases, Value: v, Usage: usage, EnvVars: env}
	case config.KindBool:
		return &cli.BoolFlag{Name: f.Name, Aliases: aliases, Usage: usage, EnvVars: env}
	case config.KindStrings, config.KindPairs:
		return &cli.StringSliceFlag{Name: f.Name, Aliases: aliases, Usage: usage, EnvVars: env}
	default:
		v, _ := f.Default().(string)
		return &cli.StringFlag{Name: f.Name, Aliases: aliases, Value: v, Usage: usage, EnvVars: env}
	}
}

// configFlags are config flags names with the table's usage.
func configFlags(names ...string) []cli.Flag {
	out := make([]cli.Flag, 0, len(names))
	for _, n := range names {
		out = append(out, configFlag(n, ""))
	}
	return out
}

// overrideString sets *dst from flag name when the flag (or its env var) was given.
func overrideString(c *cli.Context, name string, dst *string) {
	if c.IsSet(name) {
		*dst = c.String(name)
	}
}

// licensesFlags are the flags of every command that loads this node's license
// keys (show licenses, run). Each also reads its LICBRIDGE_* variable and, where
// one exists, the config file field.
func licensesFlags() []cli.Flag {
	return []cli.Flag{
		configFlag("licenses-dir", ""),
		&cli.BoolFlag{Name: "no-default-dirs", Usage: "do not search " + license.DefaultDirAsterisk + " and " + license.DefaultDirDigium, EnvVars: []string{"LICBRIDGE_NO_DEFAULT_DIRS"}},
		configFlag("issuer-pub", ""),
		configFlag("host-id", ""),
		configFlag("domain", ""),
		configFlag("renewal-grace", ""),
		sysfsFlag(),
	}
}

// sysfsFlag lets tests point host ID detection at a fake /sys tree.
func sysfsFlag() cli.Flag {
	return &cli.StringFlag{Name: "sysfs", Value: "/sys", Hidden: true, Usage: "sysfs root for host ID detection", EnvVars: []string{"LICBRIDGE_SYSFS"}}
}

// licenseFlagNames are the flags of licensesFlags that package config merges.
var licenseFlagNames = []string{"licenses-dir", "issuer-pub", "host-id", "domain", "renewal-grace"}

// licensesSetup merges the licence flags over the config (config.Merge) and
// builds the load options (daemon.LoadLicenses).
func licensesSetup(c *cli.Context, cfg *config.Config) (licd.Licenses, error) {
	if err := cfg.Merge(c, licenseFlagNames...); err != nil {
		return licd.Licenses{}, err
	}
	return licd.LoadLicenses(cfg, licenseSources(c))
}

// licenseSources are licensesFlags' flags that config does not hold.
func licenseSources(c *cli.Context) licd.LicenseSources {
	return licd.LicenseSources{NoDefaultDirs: c.Bool("no-default-dirs"), Sysfs: c.String("sysfs")}
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

// given is flag name's value when the flag (or its variable) was given, else
// nil: a setting to change only when asked to.
func given[T any](c *cli.Context, name string, get func(string) T) *T {
	if !c.IsSet(name) {
		return nil
	}
	v := get(name)
	return &v
}
