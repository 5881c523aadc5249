package main

import (
	"fmt"
	"time"

	"github.com/licbridge/licbridge/config"
	"github.com/urfave/cli/v2"
)

// The config types live in package config; these names keep the commands'
// code short.
type (
	Config = config.Config
)

// defaultStateDir keeps the node ID, the pid file and the fail-open journal.
const defaultStateDir = config.DefaultStateDir

// loadConfig reads the file named by the global --config flag over the
// defaults. Commands whose flags all mean what config says use loadMerged;
// the others apply their own flags on top.
func loadConfig(c *cli.Context) (*Config, error) {
	return config.Load(c.String("config"))
}

// loadMerged is loadConfig with the command's flags and LICBRIDGE_*
// variables merged over it (config.Merge: the one way for every command).
func loadMerged(c *cli.Context, only ...string) (*Config, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, err
	}
	if err := cfg.Merge(c, only...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// configFlags are the CLI flags over config fields, with their environment
// variables, and their defaults taken from config.Default, so that the help
// shows each default once and truly.
func configFlags(names ...string) []cli.Flag {
	out := make([]cli.Flag, 0, len(names))
	for _, n := range names {
		f, ok := config.Lookup(n)
		if !ok {
			panic("config flag " + n + " is not in package config")
		}
		usage := fmt.Sprintf("%s (config %s)", f.Usage, f.Key)
		env := []string{f.Env()}
		switch f.Kind {
		case config.KindString:
			v, _ := f.Default().(string)
			out = append(out, &cli.StringFlag{Name: f.Name, Value: v, Usage: usage, EnvVars: env})
		case config.KindDuration:
			v, _ := f.Default().(time.Duration)
			out = append(out, &cli.DurationFlag{Name: f.Name, Value: v, Usage: usage, EnvVars: env})
		case config.KindInt:
			v, _ := f.Default().(int)
			out = append(out, &cli.IntFlag{Name: f.Name, Value: v, Usage: usage, EnvVars: env})
		case config.KindBool:
			out = append(out, &cli.BoolFlag{Name: f.Name, Usage: usage, EnvVars: env})
		case config.KindStrings, config.KindPairs:
			out = append(out, &cli.StringSliceFlag{Name: f.Name, Usage: usage, EnvVars: env})
		}
	}
	return out
}

// configFlagAs is the config flag name with what it does in this command as
// its usage (the table's words are run's), and more names.
func configFlagAs(name, usage string, aliases ...string) cli.Flag {
	f := configFlags(name)[0]
	f0, _ := config.Lookup(name)
	usage = fmt.Sprintf("%s (config %s)", usage, f0.Key)
	switch f := f.(type) {
	case *cli.StringFlag:
		f.Usage, f.Aliases = usage, aliases
	case *cli.DurationFlag:
		f.Usage, f.Aliases = usage, aliases
	}
	return f
}

// overrideString sets *dst from flag name when the flag (or its env var) was given.
func overrideString(c *cli.Context, name string, dst *string) {
	if c.IsSet(name) {
		*dst = c.String(name)
	}
}
