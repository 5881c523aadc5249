package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/ari"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/internal/asterisktest"
	"github.com/licbridge/licbridge/license"
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

type demoKey struct {
	file, what string
	key        license.Key
	// tamper edits the signed file afterwards, as a hand edit would.
	tamper func(string) string
}

// demoKeys is what the sample keys came out as.
type demoKeys struct {
	licDir, pubPath string
	host            license.HostID
}

func demoAction(c *cli.Context) error {
	out := c.App.Writer
	root, err := os.MkdirTemp("", "licbridge-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if c.Bool("keep") {
		defer fmt.Fprintf(out, "\nThe demo files are kept in %s.\n", root)
	} else {
		defer os.RemoveAll(root)
	}
	fmt.Fprintf(out, "licbridge demo: sample license keys, one node, and a burst of calls from a simulated Asterisk\n\n")
	keys, err := mintDemoKeys(out, root, c.String("sysfs"))
	if err != nil {
		return err
	}
	if err := demoCalls(c.Context, out, keys, c.Int("calls")); err != nil {
		return err
	}

	args := []string{"licbridge", "show", "licenses", "--no-default-dirs", "--licenses-dir", keys.licDir, "--issuer-pub", keys.pubPath, "--host-id", string(keys.host)}
	fmt.Fprintf(out, "\n$ %s\n\n", strings.Join(args, " "))
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

// mintDemoKeys writes a fresh issuer key pair and the sample keys under root.
func mintDemoKeys(out io.Writer, root, sysfs string) (demoKeys, error) {
	issuerDir, licDir := filepath.Join(root, "issuer"), filepath.Join(root, "licenses")
	for _, d := range []string{issuerDir, licDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return demoKeys{}, fmt.Errorf("demo: %w", err)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return demoKeys{}, fmt.Errorf("demo: %w", err)
	}
	pubPath := filepath.Join(issuerDir, "issuer.pub")
	if err := writeNew(filepath.Join(issuerDir, "issuer.key"), 0o600, false, func(w io.Writer) error { return license.WritePrivateKey(w, priv) }); err != nil {
		return demoKeys{}, fmt.Errorf("demo: %w", err)
	}
	if err := writeNew(pubPath, 0o644, false, func(w io.Writer) error { return license.WritePublicKey(w, pub) }); err != nil {
		return demoKeys{}, fmt.Errorf("demo: %w", err)
	}

	// Bind to this host when it has a host ID; otherwise to a made-up one that
	// the demo then passes as --host-id (the opt-in fallback).
	host, note := license.HostID("DE30-0000-0001"), "a demo host ID (this machine has no physical Ethernet interface)"
	if rep, err := license.ReadHostID(sysfs); err == nil {
		host, note = rep.ID, "this host's ID"
	}
	now := time.Now().UTC().Truncate(time.Second)
	year := now.AddDate(1, 0, 0)
	onHost := license.Binding{Type: license.BoundHost, HostID: host}
	keys := []demoKey{
		{file: "g729-10.lic", what: "10-channel G.729 key for this host",
			key: license.Key{ID: "G729-DEMO0010", Product: "g729", Channels: 10, Binding: onHost, Issued: now, Ends: year, Kind: license.KindCommercial}},
		{file: "g729-5.lic", what: "5-channel G.729 key for this host, auto-renewing",
			key: license.Key{ID: "G729-DEMO0005", Product: "g729", Channels: 5, Binding: onHost, Issued: now, Ends: now.Add(10 * license.Day), AutoRenew: true, Kind: license.KindCommercial}},
		{file: "g729-tampered.lic", what: "5-channel G.729 key, hand-edited afterwards to say 50",
			key:    license.Key{ID: "G729-DEMO0050", Product: "g729", Channels: 5, Binding: onHost, Issued: now, Ends: year, Kind: license.KindCommercial},
			tamper: func(s string) string { return strings.Replace(s, "Channels: 5\n", "Channels: 50\n", 1) }},
		{file: "fax-4.lic", what: "4-channel fax trial key, unbound, ending in 5 days",
			key: license.Key{ID: "FAX-DEMO0004", Product: "fax", Channels: 4, Issued: now, Ends: now.Add(5 * license.Day), Kind: license.KindTrial}},
		{file: "ffa-a.lic", what: "free fax (ffa) key",
			key: license.Key{ID: "FFA-DEMO000A", Product: "ffa", Channels: 1, Binding: onHost, Issued: now, Ends: year, Kind: license.KindCommercial}},
		{file: "ffa-b.lic", what: "a second free fax key (only one counts per host)",
			key: license.Key{ID: "FFA-DEMO000B", Product: "ffa", Channels: 1, Binding: onHost, Issued: now, Ends: year, Kind: license.KindCommercial}},
	}

	fmt.Fprintf(out, "A fresh issuer key pair (issuer %s) in %s.\n", license.Fingerprint(pub), issuerDir)
	fmt.Fprintf(out, "Sample keys for %s, %s, in %s:\n", host, note, licDir)
	for _, dk := range keys {
		k := dk.key
		license.Sign(&k, priv)
		var b bytes.Buffer
		if _, err := k.WriteTo(&b); err != nil {
			return demoKeys{}, fmt.Errorf("demo: %w", err)
		}
		text := b.String()
		if dk.tamper != nil {
			text = dk.tamper(text)
		}
		if err := os.WriteFile(filepath.Join(licDir, dk.file), []byte(text), 0o644); err != nil {
			return demoKeys{}, fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintf(out, "  %-18s %s\n", dk.file, dk.what)
	}
	return demoKeys{licDir: licDir, pubPath: pubPath, host: host}, nil
}

// demoWatch collects the node's decisions so that each printed line can say
// where the product stood.
type demoWatch struct {
	mu       sync.Mutex
	decided  map[string]bridge.Event // channel → its admit or reject
	released chan bridge.Event
	observed chan bridge.Event
}

func (w *demoWatch) Record(e bridge.Event) {
	switch e.Kind {
	case bridge.EventAdmit, bridge.EventReject:
		w.mu.Lock()
		w.decided[e.Product+":"+e.Channel] = e
		w.mu.Unlock()
	case bridge.EventRelease:
		select {
		case w.released <- e:
		default:
		}
	case bridge.EventObserved:
		select {
		case w.observed <- e:
		default:
		}
	}
}

func (w *demoWatch) decision(product, channel string) (bridge.Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.decided[product+":"+channel]
	return e, ok
}

// waitReleased waits until every channel in chans has been released.
func (w *demoWatch) waitReleased(ctx context.Context, chans []string) error {
	left := map[string]bool{}
	for _, ch := range chans {
		left[ch] = true
	}
	for len(left) > 0 {
		select {
		case e := <-w.released:
			delete(left, e.Channel)
		case <-ctx.Done():
			return fmt.Errorf("demo: channels never released: %v", left)
		}
	}
	return nil
}

// forgetObserved drops the observations so far, so that waitObserved sees
// only new ones.
func (w *demoWatch) forgetObserved() {
	for {
		select {
		case <-w.observed:
		default:
			return
		}
	}
}

// waitObserved waits until the latest observation of each product in want
// is at its count.
func (w *demoWatch) waitObserved(ctx context.Context, want map[string]int) error {
	got := map[string]int{}
	for {
		done := true
		for p, n := range want {
			if got[p] != n {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case e := <-w.observed:
			got[e.Product] = e.InUse
		case <-ctx.Done():
			return fmt.Errorf("demo: observed %v, want %v", got, want)
		}
	}
}

// demoCalls runs a node beside the Asterisk double and places the calls.
func demoCalls(parent context.Context, out io.Writer, keys demoKeys, burst int) error {
	ctx, cancel := context.WithTimeout(parent, 45*time.Second)
	defer cancel()
	// The demo's own output tells the story; the node's logs only show problems.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pbx, err := asterisktest.Start(asterisktest.Options{})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer pbx.Close()

	trusted, err := trustedFromFile(keys.pubPath)
	if err != nil {
		return err
	}
	watcher := license.NewWatcher(license.LoadOptions{Dirs: []license.Dir{{Path: keys.licDir}}, Trusted: trusted, HostID: keys.host}, license.WatcherOptions{Logger: logger})
	watch := &demoWatch{decided: map[string]bridge.Event{}, released: make(chan bridge.Event, 1024), observed: make(chan bridge.Event, 1024)}
	b, err := bridge.New(bridge.Options{Node: "demo", Observer: watch, Logger: logger})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer b.Close()
	nd, err := node.New(node.Options{
		Bridge: b, Licenses: watcher, Logger: logger,
		AMI: &ami.Options{Addr: pbx.AMIAddr(), Username: "licbridge", Secret: "licsecret", Logger: logger},
		ARI: &ari.Options{URL: pbx.ARIURL(), User: "licbridge", Password: "licsecret", Logger: logger},
		AGI: &dialplan.Config{Addr: "127.0.0.1:0", Logger: logger},
		// The demo's calls have all ended when it stops; should one not have,
		// there is nobody to wait for.
		DrainTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- nd.Run(runCtx) }()
	defer func() { stop(); <-done }()
	for _, wait := range []<-chan struct{}{nd.Ready(), nd.AMI().Ready()} {
		select {
		case <-wait:
		case err := <-done:
			return fmt.Errorf("demo: node stopped: %w", err)
		case <-ctx.Done():
			return errors.New("demo: the node did not start")
		}
	}
	if err := pbx.ARI.WaitConnected(ctx, "licbridge"); err != nil {
		return fmt.Errorf("demo: the Stasis application did not connect: %w", err)
	}
	pbx.SetAGIAddr(nd.AGIAddr())

	fmt.Fprintf(out, "\nA licbridge node (\"demo\", embedded store) beside a simulated Asterisk 22:\n")
	fmt.Fprintf(out, "  FastAGI %s   AMI %s   ARI %s\n", nd.AGIAddr(), pbx.AMIAddr(), pbx.ARIURL())
	fmt.Fprintf(out, "  licensed now: %s\n", demoTotals(ctx, b))

	seq := 0
	placeOne := func(c asterisktest.Call) (*asterisktest.Placed, error) {
		seq++
		pl, err := pbx.Place(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("demo: call %d: %w", seq, err)
		}
		via := "FastAGI"
		if c.Via == asterisktest.ViaARI {
			via = "ARI    "
		}
		line := fmt.Sprintf("  call %2d  %s -> %s  %s  ", seq, pl.Caller, pl.Called, via)
		switch {
		case pl.Admitted():
			line += fmt.Sprintf("%-22s", "ADMITTED")
		default:
			line += fmt.Sprintf("%-22s", "REJECTED "+pl.Reason)
		}
		if e, ok := watch.decision(c.Product, pl.Channels[0]); ok {
			line += fmt.Sprintf("%s %2d/%d in use", c.Product, e.InUse, e.Total)
		}
		if !pl.Admitted() {
			line += "  (busy tone, hangs up)"
		}
		fmt.Fprintln(out, line)
		if !pl.Admitted() {
			return pl, pbx.Hangup(pl)
		}
		return pl, nil
	}

	fmt.Fprintf(out, "\nA burst of %d G.729 calls, alternating AGI(agi://.../admit,g729) and Stasis(licbridge,admit,g729):\n", burst)
	var up []*asterisktest.Placed
	for i := range burst {
		via := asterisktest.ViaAGI
		if i%2 == 1 {
			via = asterisktest.ViaARI
		}
		pl, err := placeOne(asterisktest.Call{Caller: fmt.Sprintf("2%03d", seq+1), Product: "g729", Via: via, Codec: "g729"})
		if err != nil {
			return err
		}
		if pl.Admitted() {
			up = append(up, pl)
		}
	}

	hangupSome := func(pls []*asterisktest.Placed) error {
		var chans []string
		for _, pl := range pls {
			if err := pbx.Hangup(pl); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			chans = append(chans, pl.Channels...)
		}
		if err := watch.waitReleased(ctx, chans); err != nil {
			return err
		}
		for _, pl := range pls {
			fmt.Fprintf(out, "  released  %s -> %s  (Asterisk reported the hangup)\n", pl.Caller, pl.Called)
		}
		fmt.Fprintf(out, "  in use now: %s\n", demoInUse(ctx, b))
		return nil
	}
	n := min(5, len(up))
	fmt.Fprintf(out, "\n%d calls end; the channels are free again with no dialplan step:\n", n)
	if err := hangupSome(up[:n]); err != nil {
		return err
	}
	up = up[n:]

	fmt.Fprintf(out, "\nNew calls take the freed channels:\n")
	for range min(3, n) {
		pl, err := placeOne(asterisktest.Call{Caller: fmt.Sprintf("2%03d", seq+1), Product: "g729", Via: asterisktest.ViaAGI, Codec: "g729"})
		if err != nil {
			return err
		}
		if pl.Admitted() {
			up = append(up, pl)
		}
	}

	watch.forgetObserved()
	fmt.Fprintf(out, "\nA fax call asks for a fax channel; a G.729 call that never asks is seen anyway:\n")
	fax, err := placeOne(asterisktest.Call{Caller: "3001", Called: "fax", Product: "fax", Via: asterisktest.ViaAGI, Fax: true})
	if err != nil {
		return err
	}
	sneaky, err := pbx.Place(ctx, asterisktest.Call{Caller: "4001", Called: "200", Codec: "g729"})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	seq++
	fmt.Fprintf(out, "  call %2d  %s -> %s  (no admission; its native format is G.729)\n", seq, sneaky.Caller, sneaky.Called)
	if err := watch.waitObserved(ctx, map[string]int{"g729": len(up) + 1, "fax": 1}); err != nil {
		return err
	}
	for _, o := range nd.ObservedNow() {
		switch {
		case o.Units == 0:
		case o.Product == "fax":
			fmt.Fprintf(out, "  passive accounting: fax: %d session in progress (FAXStats)\n", o.Units)
		default:
			fmt.Fprintf(out, "  passive accounting: %s: %d channels on Asterisk use it, %d of them without admission\n", o.Product, o.Units, o.Unadmitted)
		}
	}
	if fax.Admitted() {
		up = append(up, fax)
	}
	up = append(up, sneaky)

	fmt.Fprintf(out, "\nEveryone hangs up:\n")
	var chans []string
	for _, pl := range up {
		if err := pbx.Hangup(pl); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if pl != sneaky {
			chans = append(chans, pl.Channels...)
		}
	}
	if err := watch.waitReleased(ctx, chans); err != nil {
		return err
	}
	fmt.Fprintf(out, "  %d channels released; in use now: %s\n", len(chans), demoInUse(ctx, b))
	return nil
}

func trustedFromFile(path string) (license.Trusted, error) {
	keys, err := readPublicKeys(path)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return license.NewTrusted(keys...), nil
}

// demoTotals is "g729 15, fax 4, ffa 1".
func demoTotals(ctx context.Context, b *bridge.Bridge) string {
	us, err := b.Usage(ctx)
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, u := range us {
		parts = append(parts, fmt.Sprintf("%s %d", u.Product, u.Total))
	}
	return strings.Join(parts, ", ") + " channels"
}

// demoInUse is "g729 10/15, fax 0/4, ffa 0/1".
func demoInUse(ctx context.Context, b *bridge.Bridge) string {
	us, err := b.Usage(ctx)
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, u := range us {
		parts = append(parts, fmt.Sprintf("%s %d/%d", u.Product, u.InUse, u.Total))
	}
	return strings.Join(parts, ", ")
}
