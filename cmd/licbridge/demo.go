package main

import (
	"context"

	"github.com/licbridge/licbridge/daemon/demo"
	"github.com/urfave/cli/v2"
)

// demoCommand is the newcomer's first command: sample keys minted with a fresh
// issuer, a licbridge node on the embedded store beside the Asterisk double,
// and a burst of calls through FastAGI and ARI, then show licenses.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a self-contained demo: sample keys, a node, and a burst of calls from a simulated Asterisk",
		Description: "Needs neither Redis nor Asterisk: the node runs on the embedded store and a protocol-faithful\n" +
			"Asterisk double (AMI, ARI, FastAGI) places the calls. Takes a few seconds.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keep", Usage: "keep the demo directory instead of removing it", EnvVars: []string{"LICBRIDGE_DEMO_KEEP"}},
			&cli.IntFlag{Name: "calls", Value: 20, Usage: "G.729 calls in the burst", EnvVars: []string{"LICBRIDGE_DEMO_CALLS"}},
			sysfsFlag(),
		},
		Action: demoAction,
	}
}

func demoAction(c *cli.Context) error {
	// show licenses runs as its own command line, writing where demo writes.
	show := func(ctx context.Context, args []string) error {
		app := newApp()
		app.Writer, app.ErrWriter = c.App.Writer, c.App.ErrWriter
		return app.RunContext(ctx, args)
	}
	return demo.Run(c.Context, c.App.Writer, demo.Options{Keep: c.Bool("keep"), Calls: c.Int("calls"), Sysfs: c.String("sysfs")}, show)
}
