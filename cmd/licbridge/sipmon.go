package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/sipmon"
	"github.com/licbridge/licbridge/sipmon/capture"
)

func sipmonCommand() *cli.Command {
	return &cli.Command{
		Name:  "sipmon",
		Usage: "SIP side monitor: count the call legs on the wire",
		Subcommands: []*cli.Command{
			sipmonReadCommand(),
			sipmonHEPCommand(),
			sipmonLiveCommand(),
		},
	}
}

// sipmonTrackingFlags tune leg tracking; every sipmon subcommand takes them.
// Each overrides its key under sipmon: in the --config file.
var sipmonTrackingFlags = []string{"correlation-header", "dialog-timeout", "max-dialogs", "sensor-tolerance"}

// sipmonConfig merges the tracking flags over the config's sipmon: section:
// a flag given wins (and must be positive: config.Flag.Positive), a zero in
// the file means the default, and a bad value in the file is an error naming
// its key (daemon.Tracking).
func sipmonConfig(c *cli.Context) (sipmon.Config, error) {
	cfg, err := loadMerged(c, sipmonTrackingFlags...)
	if err != nil {
		return sipmon.Config{}, err
	}
	return licd.Tracking(cfg.SIPMon, slog.Default())
}

func sipmonReadCommand() *cli.Command {
	return &cli.Command{
		Name:      "read",
		Usage:     "read pcap/pcapng captures (gzip too) or directories of them and report the legs",
		ArgsUsage: "[SENSOR=]PATH...",
		Description: "Each PATH is a capture file or a directory of captures (read in time order). " +
			"Name the sensor that recorded it with SENSOR=PATH: the same call seen by two sensors counts once. " +
			"Paths without a name are one sensor.",
		Flags: append(configFlags(sipmonTrackingFlags...),
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.Exit("licbridge sipmon read: give at least one [SENSOR=]PATH", 2)
			}
			cfg, err := sipmonConfig(c)
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			inputs, err := sipmon.ReadInputs(c.Args().Slice())
			if err != nil {
				return cli.Exit("licbridge sipmon read: "+err.Error(), 2)
			}
			return sipmon.ReadCaptures(c.Context, c.App.Writer, c.App.ErrWriter, cfg, inputs, c.Bool("json"))
		},
	}
}

// sipmonLiveFlags are shared by the continuously running subcommands: the
// tracking flags, and where to publish the counts.
func sipmonLiveFlags() []cli.Flag {
	env := func(name string) []string { return []string{"LICBRIDGE_" + name} }
	return append(configFlags(sipmonTrackingFlags...),
		&cli.DurationFlag{Name: "interval", Value: 10 * time.Second, Usage: "how often to print and publish the counts", EnvVars: env("SIPMON_INTERVAL")},
		configFlag("redis", "shared store (Redis URL or HOST:PORT, a comma list for Cluster seeds or Sentinels) to publish the wire counts to; empty: they are only printed"),
		configFlag("redis-password", ""), configFlag("sentinel-master", ""),
		&cli.StringFlag{Name: "node-id", Usage: "the monitor's own node name in the store (default: the licbridge node's ID from the config or --state-dir, else the host name, plus \"" + licd.MonitorNodeSuffix + "\"); never the daemon's own ID", EnvVars: env("SIPMON_NODE_ID")},
		configFlag("state-dir", "where licbridge run keeps its node ID, to name the monitor after it"),
		configFlag("lapse", "how long the published counts outlive the monitor if it dies"),
		&cli.BoolFlag{Name: "json", Usage: "print the final report as JSON when stopped"},
	)
}

// sipmonLiveDescription documents where a live monitor's counts go.
const sipmonLiveDescription = "Prints the legs up (all, G.729, fax) every --interval. With --redis (or store.redis in the\n" +
	"--config file) it also publishes them to the shared store as wire counts (products legs, g729 and fax),\n" +
	"beside, never over, the admitted and passive counts of licbridge run. It publishes as a node of its own\n" +
	"that holds no keys and no channels: by default the licbridge node's ID (node_id, or the one kept in\n" +
	"--state-dir) plus \"-sipmon\", so it shows next to the Asterisk node it watches; with the host name\n" +
	"when no licbridge node runs here. Its counts lapse --lapse after it stops (killed or stopped alike).\n" +
	"Run one monitor per node ID: two monitors with one ID overwrite each other's counts."

// startLive reads the settings of a continuously running subcommand
// (daemon.MonitorSettings) and builds its monitor (daemon.NewMonitor), which
// dials the store when one is named: a store that does not answer is an
// error at start (exit 1), a bad setting exits 2.
func startLive(c *cli.Context) (*licd.Monitor, error) {
	cfg, err := loadMerged(c, slices.Concat(sipmonTrackingFlags, []string{"redis", "redis-password", "sentinel-master", "state-dir"})...)
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	opts, err := licd.MonitorSettings(cfg, licd.MonitorFlags{Interval: c.Duration("interval"), NodeID: c.String("node-id"),
		Lapse: given(c, "lapse", c.Duration)}, slog.Default())
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	out := c.App.Writer
	opts.OnTick = func(a sipmon.Active, s sipmon.Stats) {
		fmt.Fprintf(out, "%s  legs up %d  g729 %d  fax %d  SIP messages %d  malformed %d\n",
			time.Now().UTC().Format(time.RFC3339), a.Legs, a.G729, a.Fax, s.SIPMessages, s.Malformed)
	}
	mon, err := licd.NewMonitor(c.Context, opts)
	if err != nil {
		return nil, fmt.Errorf("sipmon %s: %w", c.Command.Name, err)
	}
	return mon, nil
}

func sipmonHEPCommand() *cli.Command {
	return &cli.Command{
		Name:        "hep",
		Usage:       "receive HEPv3 (Asterisk res_hep, Kamailio siptrace, heplify) and count the legs",
		Description: sipmonLiveDescription,
		Flags: append(sipmonLiveFlags(),
			&cli.StringFlag{Name: "listen", Value: capture.DefaultHEPAddr, Usage: "address to receive HEP on (loopback by default)", EnvVars: []string{"LICBRIDGE_SIPMON_HEP_LISTEN"}},
			&cli.StringSliceFlag{Name: "network", Value: cli.NewStringSlice("udp", "tcp"), Usage: "udp, tcp or both"},
			&cli.StringFlag{Name: "sensor", Usage: "name of this sensor"},
		),
		Action: liveAction(func(c *cli.Context, mon *licd.Monitor) (func(context.Context) error, error) {
			return mon.ListenHEP(c.StringSlice("network"), c.String("listen"), c.String("sensor"), slog.Default())
		}),
	}
}

func sipmonLiveCommand() *cli.Command {
	return &cli.Command{
		Name:        "live",
		Usage:       "capture SIP from a network interface and count the legs",
		Description: sipmonLiveDescription,
		Flags: append(sipmonLiveFlags(),
			&cli.StringFlag{Name: "interface", Aliases: []string{"i"}, Required: true, Usage: "interface to capture on (\"any\" for all)"},
			&cli.StringFlag{Name: "filter", Usage: "capture filter: a pcap-filter expression (e.g. \"10.0.0.1 and port 5060\"), or \"raw-bpf:\" then `tcpdump -ddd` output for a kernel program; empty: everything"},
			&cli.StringFlag{Name: "sensor", Usage: "name of this sensor"},
		),
		Action: liveAction(func(c *cli.Context, mon *licd.Monitor) (func(context.Context) error, error) {
			return mon.Live(c.String("interface"), c.String("filter"), c.String("sensor"))
		}),
	}
}

// liveAction is the action of a continuously running subcommand: its monitor
// (startLive) on the capture that open starts, until the context ends, then
// the report of what was seen.
func liveAction(open func(c *cli.Context, mon *licd.Monitor) (func(context.Context) error, error)) cli.ActionFunc {
	return func(c *cli.Context) error {
		mon, err := startLive(c)
		if err != nil {
			return err
		}
		defer mon.Close()
		capture, err := open(c, mon)
		if err != nil {
			return fmt.Errorf("sipmon %s: %w", c.Command.Name, err)
		}
		r, err := mon.Run(c.Context, capture)
		_ = sipmon.WriteReport(c.App.Writer, r, c.Bool("json"))
		if err != nil {
			return fmt.Errorf("sipmon: %w", err)
		}
		return nil
	}
}
