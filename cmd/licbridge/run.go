package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/licbridge/licbridge/config"
	licd "github.com/licbridge/licbridge/daemon"
	"github.com/urfave/cli/v2"
)

// runFlags are licbridge run's flags over the config: every flag of package
// config's table (its usage and default), but the licence flags
// (licensesFlags has them) and sipmon's tracking flags (the standalone
// monitor's; the embedded one reads them from the file).
func runFlags() []cli.Flag {
	var names []string
	for _, f := range config.AllFlags() {
		if !slices.Contains(licenseFlagNames, f.Name) && !slices.Contains(sipmonTrackingFlags, f.Name) {
			names = append(names, f.Name)
		}
	}
	return configFlags(names...)
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the licbridge daemon beside an Asterisk node",
		Description: "One process per Asterisk node: FastAGI server, ARI Stasis application, AMI client, the counter\n" +
			"store (embedded, or Redis with --redis), the license keys (reloaded on SIGHUP and when a license\n" +
			"directory changes) and the admin HTTP server. SIGTERM drains: no new admissions, holdings kept\n" +
			"until their calls end; a second signal stops at once. Flags override the --config file.",
		Flags:  append(licensesFlags(), runFlags()...),
		Action: runAction,
	}
}

// runSettings merges the flags over the config file and checks the result.
func runSettings(c *cli.Context) (*config.Settings, licd.Licenses, error) {
	cfg, err := loadMerged(c)
	if err != nil {
		return nil, licd.Licenses{}, err
	}
	if cfg.NoAsterisk {
		cfg.AMI.Addr, cfg.ARI.URL = "", ""
	}
	s, err := cfg.Validate()
	if err != nil {
		return nil, licd.Licenses{}, err
	}
	if err := cfg.SIPMon.CheckIntervalFlag(given(c, "sipmon-interval", c.Duration)); err != nil {
		return nil, licd.Licenses{}, err
	}
	nl, err := licensesSetup(c, cfg)
	if err != nil {
		return nil, licd.Licenses{}, fmt.Errorf("run: %w", err)
	}
	return s, nl, nil
}

func runAction(c *cli.Context) error {
	s, nl, err := runSettings(c)
	if err != nil {
		return err
	}
	id, err := config.NodeID(s.NodeID, s.StateDir)
	if err != nil {
		return err
	}
	// SIGHUP reloads the license keys; without this it would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := licd.RunNode(c.Context, s, id, nl, version, hup, slog.Default()); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}
