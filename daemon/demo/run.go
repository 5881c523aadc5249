package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Options are licbridge demo's flags.
type Options struct {
	// Keep keeps the demo directory instead of removing it.
	Keep bool
	// Calls is the number of G.729 calls in the burst.
	Calls int
	// Sysfs is the sysfs root host ID detection reads.
	Sysfs string
}

// Run is the whole demo, told on out: the sample keys in a fresh directory,
// the calls, then show licenses over the keys (run by show, given the
// command line), and what happened.
func Run(ctx context.Context, out io.Writer, o Options, show func(ctx context.Context, args []string) error) error {
	root, err := os.MkdirTemp("", "licbridge-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if o.Keep {
		defer fmt.Fprintf(out, "\nThe demo files are kept in %s: the show licenses command above works as written.\n", root)
	} else {
		defer os.RemoveAll(root)
	}
	fmt.Fprintf(out, "licbridge demo: sample license keys, one node, and a burst of calls from a simulated Asterisk\n\n")
	keys, err := MintKeys(out, root, o.Sysfs)
	if err != nil {
		return err
	}
	if err := Calls(ctx, out, keys, o.Calls); err != nil {
		return err
	}

	// Its own state dir: no daemon runs there, so the keys are read as they are
	// (not the usage of some other licbridge on this host).
	args := []string{"licbridge", "show", "licenses", "--state-dir", filepath.Join(root, "state"), "--no-default-dirs", "--licenses-dir", keys.LicDir, "--issuer-pub", keys.PubPath, "--host-id", string(keys.Host)}
	if o.Keep {
		fmt.Fprintf(out, "\n$ %s\n\n", strings.Join(args, " "))
	} else {
		// The directory goes when the demo ends: show what ran, not a command
		// to copy that would find nothing.
		fmt.Fprintf(out, "\nThe keys as licbridge show licenses reads them (licbridge demo --keep keeps them, to run it yourself):\n\n")
	}
	if err := show(ctx, args); err != nil {
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
