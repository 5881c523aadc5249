package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/bridge/stats/chart"
	licd "github.com/licbridge/licbridge/daemon"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "concurrency statistics",
		Subcommands: []*cli.Command{{
			Name:      "concurrent",
			Usage:     "peak concurrent channels per hour and per day (14 days are kept)",
			UsageText: "licbridge stats concurrent [--product P] [--days N] [--json] [--redis URL]",
			Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "product", Aliases: []string{"p"}, Usage: "product to show (repeatable). Default: every product with data"},
				&cli.IntFlag{Name: "days", Value: stats.MaxDays, Usage: fmt.Sprintf("calendar days to show, today included (1 to %d)", stats.MaxDays)},
				&cli.BoolFlag{Name: "json", Usage: "print the reports as JSON"},
				&cli.BoolFlag{Name: "ascii", Usage: "plain-ASCII chart (the default when stdout is not a terminal)"},
				configFlag("redis", "shared store: redis://host:port/db or host:port[,host:port...]"), configFlag("redis-password", ""),
				configFlag("time-zone", "time zone of windows and days", "tz"),
			},
			Action: statsConcurrent,
		}},
		Action: func(c *cli.Context) error {
			return cli.ShowSubcommandHelp(c)
		},
	}
}

func statsConcurrent(c *cli.Context) error {
	cfg, err := loadMerged(c, "redis", "redis-password", "time-zone")
	if err != nil {
		return err
	}
	days := c.Int("days")
	if days < 1 || days > stats.MaxDays {
		return cli.Exit(fmt.Sprintf("stats: --days %d: want 1 to %d", days, stats.MaxDays), 2)
	}
	loc, err := cfg.Zone()
	if err != nil {
		return cli.Exit("stats: "+err.Error(), 2)
	}
	products := c.StringSlice("product")
	explicit := len(products) > 0
	if !explicit {
		products = cfg.ProductNames()
	}
	reps, err := licd.ConcurrencyReports(c.Context, cfg.Store, loc, products, explicit, days)
	switch {
	case errors.Is(err, licd.ErrNoStore):
		return cli.Exit("stats: no shared store given. Statistics live in the store the nodes share: "+
			"pass --redis (or set store.redis in the config). A single node without Redis keeps them in its "+
			"own process: read them from its admin API, http://127.0.0.1:8089/api/v1/stats?product=g729", 2)
	case err != nil:
		return fmt.Errorf("stats: %w", err)
	}
	return chart.WriteReports(c.App.Writer, reps, c.Bool("json"), chart.StyleFor(c.App.Writer, c.Bool("ascii")), days)
}
