package main

import (
	"fmt"
	"log/slog"

	licd "github.com/licbridge/licbridge/daemon"
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
		Flags: append(licensesFlags(), configFlag("redis", "shared store (redis://HOST:PORT, or host:port[,host:port...] for Cluster/Sentinel): adds the cluster's usage"),
			configFlag("redis-password", ""), configFlag("state-dir", "the daemon's state dir, where it records its admin address"),
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table", EnvVars: []string{"LICBRIDGE_JSON"}},
			nowFlag(),
		),
		Action: func(c *cli.Context) error {
			cfg, err := loadMerged(c, "redis", "redis-password", "state-dir")
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
			v, err := licd.LicensesView(c.Context, cfg, nl, slog.Default())
			if err != nil {
				return fmt.Errorf("show licenses: %w", err)
			}
			if c.Bool("json") {
				return view.WriteJSON(c.App.Writer, v)
			}
			return view.WriteText(c.App.Writer, v, nl.Options.Dirs)
		},
	}
}
