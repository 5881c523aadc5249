package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	out := c.App.Writer
	root, err := os.MkdirTemp("", "licbridge-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	keep := c.Bool("keep")
	if keep {
		defer fmt.Fprintf(out, "\nThe demo files are kept in %s: the show licenses command above works as written.\n", root)
	} else {
		defer os.RemoveAll(root)
	}
	fmt.Fprintf(out, "licbridge demo: sample license keys, one node, and a burst of calls from a simulated Asterisk\n\n")
	keys, err := demo.MintKeys(out, root, c.String("sysfs"))
	if err != nil {
		return err
	}
	if err := demo.Calls(c.Context, out, keys, c.Int("calls")); err != nil {
		return err
	}

	// Its own state dir: no daemon runs there, so the keys are read as they are
	// (not the usage of some other licbridge on this host).
	args := []string{"licbridge", "show", "licenses", "--state-dir", filepath.Join(root, "state"), "--no-default-dirs", "--licenses-dir", keys.LicDir, "--issuer-pub", keys.PubPath, "--host-id", string(keys.Host)}
	if keep {
		fmt.Fprintf(out, "\n$ %s\n\n", strings.Join(args, " "))
	} else {
		// The directory goes when the demo ends: show what ran, not a command
		// to copy that would find nothing.
		fmt.Fprintf(out, "\nThe keys as licbridge show licenses reads them (licbridge demo --keep keeps them, to run it yourself):\n\n")
	}
	app := newApp()
	app.Writer, app.ErrWriter = out, c.App.ErrWriter
	if err := app.RunContext(c.Context, args); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nWhat happened:\n"+
		"  - g729: the 10- and 5-channel keys stack to 15; the hand-edited key fails its\n"+
		"    signature check, is shown INVALID and adds nothing. Calls beyond 15 were refused\n"+
		"    with OVER_LIMIT, and the dialplan took its rejection branch.\n"+
		"  - every channel was released when Asterisk reported its hangup: no dialplan step.\n"+
		"  - ffa: free fax keys never stack; the first by key ID counts, the other is ignored.\n"+
		"  - warnings come 14, 7 and 1 days before a key stops counting; the auto-renew key\n"+
		"    keeps counting for 20 days of renewal grace after its formal end.\n"+
		"Next: licbridge dialplan prints the dialplan to include; the README (Running a node) says how to\n"+
		"run licbridge beside a real Asterisk (licbridge run --config licbridge.yaml).\n")
	return nil
}
