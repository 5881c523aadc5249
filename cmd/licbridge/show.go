package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/licbridge/licbridge/bridge/redisstore"
	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/license"
	"github.com/licbridge/licbridge/view"
	"github.com/urfave/cli/v2"
)

func showCommand() *cli.Command {
	return &cli.Command{
		Name:  "show",
		Usage: "show licenses and usage",
		Subcommands: []*cli.Command{
			showLicensesCommand(),
		},
	}
}

func showLicensesCommand() *cli.Command {
	return &cli.Command{
		Name:  "licenses",
		Usage: "per product: each key (ID, channels, binding, end, status or reason) and the stacked total",
		Flags: append(licensesFlags(), configFlagAs("redis", "shared store (redis://HOST:PORT, or host:port[,host:port...] for Cluster/Sentinel): adds the cluster's usage"),
			configFlags("redis-password")[0], configFlagAs("state-dir", "the daemon's state dir, where it records its admin address"),
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table", EnvVars: []string{"LICBRIDGE_JSON"}},
			nowFlag(),
		),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			nl, err := licensesSetup(c, cfg)
			if err != nil {
				return fmt.Errorf("show licenses: %w", err)
			}
			if nl.Options.Now, err = fixedClock(c); err != nil {
				return err
			}
			set, err := license.Load(c.Context, nl.Options)
			if err != nil {
				return fmt.Errorf("show licenses: %w", err)
			}
			v, err := licensesViewOf(c, cfg, set, nl.HostIDNote)
			if err != nil {
				return fmt.Errorf("show licenses: %w", err)
			}
			if c.Bool("json") {
				return renderLicensesJSON(c.App.Writer, v)
			}
			return view.WriteText(c.App.Writer, v, nl.Options.Dirs)
		},
	}
}

// licensesViewOf is what show licenses prints: the cluster's view read from
// the shared store (--redis), else the running daemon's (found through its
// state dir), else this host's key files alone, saying that no daemon runs.
// The key files are always this command's own reading of them.
func licensesViewOf(c *cli.Context, cfg *Config, set *license.Set, hostIDNote string) (view.View, error) {
	if err := cfg.Merge(c, "redis", "redis-password"); err != nil {
		return view.View{}, err
	}
	modeOf := func(p string) view.Mode { return view.Mode(cfg.Enforcement[p]) }
	if cfg.Store.Redis != "" {
		v, err := clusterSnapshot(c.Context, cfg)
		if err != nil {
			return view.View{}, err
		}
		v.From = "shared store " + redisstore.Redact(cfg.Store.Redis)
		v.AddKeyFiles(set, modeOf)
		v.HostIDNote = hostIDNote
		return v, nil
	}
	v, err := licd.DaemonView(c.Context, daemonStateDir(c, cfg), cfg.HTTP.Token)
	if err != nil {
		v = view.FromSet(set, hostIDNote)
		v.Note = err.Error()
		return v, nil
	}
	v.AddKeyFiles(set, modeOf)
	v.HostIDNote = hostIDNote
	return v, nil
}

func renderLicensesJSON(w io.Writer, v view.View) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// statusText is one entry's status for line-oriented output (license verify).
func statusText(e license.Entry) string {
	return view.StatusText(view.KeyOf(e, time.Now()))
}

// daemonStateDir is the state dir in which to look for a running daemon:
// --state-dir, else the config's state_dir, else the default.
func daemonStateDir(c *cli.Context, cfg *Config) string {
	if c.IsSet("state-dir") {
		return c.String("state-dir")
	}
	if cfg.StateDir != "" {
		return cfg.StateDir
	}
	return defaultStateDir
}
