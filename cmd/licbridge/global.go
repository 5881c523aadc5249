package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
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
	logger, err := newLogger(os.Stderr, c.String("log-level"), c.String("log-format"))
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	return nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
