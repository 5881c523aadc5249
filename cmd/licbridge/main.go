// Command licbridge is the one binary of licbridge: the daemon that sits beside an
// Asterisk node (run), the admin's views (show, stats), license tooling (license),
// the SIP side monitor (sipmon), dialplan printing (dialplan) and the demo.
//
// main stays thin: flags → config → wiring → Run(ctx). Each command lives in its
// own file (the host side of activation in license_activation.go), the flags
// they share in flags.go; what is not parsing or printing lives in the
// packages (daemon, license, issuer, view, config).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/licbridge/licbridge/internal/cliargs"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// The first SIGINT/SIGTERM cancels ctx (drain); stop() restores the default
	// handler so that a second signal kills the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	app := newApp()
	if err := app.RunContext(ctx, cliargs.Reorder(app, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "licbridge:", err)
		os.Exit(exitCode(err))
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "licbridge",
		Usage:   "cluster-wide G.729 / HPEC / fax channel licensing for Asterisk",
		Version: version,
		Flags:   globalFlags(),
		Before:  setupLogging,
		Commands: []*cli.Command{
			runCommand(),
			showCommand(),
			licenseCommand(),
			issuerCommand(),
			statsCommand(),
			sipmonCommand(),
			dialplanCommand(),
			demoCommand(),
			benchCommand(),
		},
		// Errors are printed once, in main.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// exitCode maps an error to the process exit status: a cli.ExitCoder keeps its own.
func exitCode(err error) int {
	if ec, ok := err.(cli.ExitCoder); ok { //nolint:errorlint // cli.Exit values are not wrapped
		return ec.ExitCode()
	}
	return 1
}
