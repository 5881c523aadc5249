package demo

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

	"github.com/licbridge/licbridge/bridge"
	licnode "github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/config"
	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/internal/asterisksim"
	"github.com/licbridge/licbridge/license"
)

type sampleKey struct {
	file, what string
	key        license.Key
	// tamper edits the signed file afterwards, as a hand edit would.
	tamper func(string) string
}

// Keys is what the sample keys came out as.
type Keys struct {
	LicDir, PubPath string
	Host            license.HostID
}

// MintKeys writes a fresh issuer key pair and the sample keys under root.
func MintKeys(out io.Writer, root, sysfs string) (Keys, error) {
	issuerDir, licDir := filepath.Join(root, "issuer"), filepath.Join(root, "licenses")
	for _, d := range []string{issuerDir, licDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return Keys{}, fmt.Errorf("demo: %w", err)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Keys{}, fmt.Errorf("demo: %w", err)
	}
	pubPath := filepath.Join(issuerDir, "issuer.pub")
	var keyText, pubText bytes.Buffer
	if err := license.WritePrivateKey(&keyText, priv); err != nil {
		return Keys{}, fmt.Errorf("demo: %w", err)
	}
	if err := license.WritePublicKey(&pubText, pub); err != nil {
		return Keys{}, fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(issuerDir, "issuer.key"), keyText.Bytes(), 0o600); err != nil {
		return Keys{}, fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(pubPath, pubText.Bytes(), 0o644); err != nil {
		return Keys{}, fmt.Errorf("demo: %w", err)
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
	keys := []sampleKey{
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
			return Keys{}, fmt.Errorf("demo: %w", err)
		}
		text := b.String()
		if dk.tamper != nil {
			text = dk.tamper(text)
		}
		if err := os.WriteFile(filepath.Join(licDir, dk.file), []byte(text), 0o644); err != nil {
			return Keys{}, fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintf(out, "  %-18s %s\n", dk.file, dk.what)
	}
	return Keys{LicDir: licDir, PubPath: pubPath, Host: host}, nil
}

// watch collects the node's decisions so that each printed line can say
// where the product stood.
type watch struct {
	mu       sync.Mutex
	decided  map[string]bridge.Event // channel → its admit or reject
	released chan bridge.Event
	observed chan bridge.Event
}

func (w *watch) Record(e bridge.Event) {
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

func (w *watch) decision(product, channel string) (bridge.Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.decided[product+":"+channel]
	return e, ok
}

// waitReleased waits until every channel in chans has been released.
func (w *watch) waitReleased(ctx context.Context, chans []string) error {
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
func (w *watch) forgetObserved() {
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
func (w *watch) waitObserved(ctx context.Context, want map[string]int) error {
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

// Calls runs a node beside the Asterisk double and places the calls.
func Calls(parent context.Context, out io.Writer, keys Keys, burst int) error {
	ctx, cancel := context.WithTimeout(parent, 45*time.Second)
	defer cancel()
	// The demo's own output tells the story; the node's logs only show problems.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pbx, err := asterisksim.Start(asterisksim.Options{})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer pbx.Close()
	watch := &watch{decided: map[string]bridge.Event{}, released: make(chan bridge.Event, 1024), observed: make(chan bridge.Event, 1024)}

	d, err := node(ctx, pbx, keys, watch, logger)
	if err != nil {
		return err
	}
	defer d.Close()
	nd, b := d.Node(), d.Bridge()
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx, nil) }()
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

	st := &story{ctx: ctx, out: out, pbx: pbx, nd: nd, b: b, watch: watch}
	return st.tell(burst)
}

// story is the demo's calls, told as they happen.
type story struct {
	ctx   context.Context
	out   io.Writer
	pbx   *asterisksim.PBX
	nd    *licnode.Node
	b     *bridge.Bridge
	watch *watch
	seq   int
	up    []*asterisksim.Placed
}

// place places one call and prints its fate; a refused call hangs up.
func (st *story) place(c asterisksim.Call) (*asterisksim.Placed, error) {
	st.seq++
	pl, err := st.pbx.Place(st.ctx, c)
	if err != nil {
		return nil, fmt.Errorf("demo: call %d: %w", st.seq, err)
	}
	via := "FastAGI"
	if c.Via == asterisksim.ViaARI {
		via = "ARI    "
	}
	line := fmt.Sprintf("  call %2d  %s -> %s  %s  ", st.seq, pl.Caller, pl.Called, via)
	switch {
	case pl.Admitted():
		line += fmt.Sprintf("%-22s", "ADMITTED")
	default:
		line += fmt.Sprintf("%-22s", "REJECTED "+pl.Reason)
	}
	if e, ok := st.watch.decision(c.Product, pl.Channels[0]); ok {
		line += fmt.Sprintf("%s %2d/%d in use", c.Product, e.InUse, e.Total)
	}
	if !pl.Admitted() {
		line += "  (busy tone, hangs up)"
	}
	fmt.Fprintln(st.out, line)
	if !pl.Admitted() {
		return pl, st.pbx.Hangup(pl)
	}
	st.up = append(st.up, pl)
	return pl, nil
}

// g729 places n G.729 calls, through ARI every other one when alternate.
func (st *story) g729(n int, alternate bool) error {
	for i := range n {
		via := asterisksim.ViaAGI
		if alternate && i%2 == 1 {
			via = asterisksim.ViaARI
		}
		if _, err := st.place(asterisksim.Call{Caller: fmt.Sprintf("2%03d", st.seq+1), Product: "g729", Via: via, Codec: "g729"}); err != nil {
			return err
		}
	}
	return nil
}

// hangup ends the first n calls up and waits for their release.
func (st *story) hangup(n int) error {
	pls := st.up[:n]
	var chans []string
	for _, pl := range pls {
		if err := st.pbx.Hangup(pl); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		chans = append(chans, pl.Channels...)
	}
	if err := st.watch.waitReleased(st.ctx, chans); err != nil {
		return err
	}
	for _, pl := range pls {
		fmt.Fprintf(st.out, "  released  %s -> %s  (Asterisk reported the hangup)\n", pl.Caller, pl.Called)
	}
	fmt.Fprintf(st.out, "  in use now: %s\n", inUse(st.ctx, st.b))
	st.up = st.up[n:]
	return nil
}

func (st *story) tell(burst int) error {
	out := st.out
	fmt.Fprintf(out, "\nA licbridge node (\"demo\", embedded store) beside a simulated Asterisk 22:\n")
	fmt.Fprintf(out, "  FastAGI %s   AMI %s   ARI %s\n", st.nd.AGIAddr(), st.pbx.AMIAddr(), st.pbx.ARIURL())
	fmt.Fprintf(out, "  licensed now: %s\n", totals(st.ctx, st.b))
	fmt.Fprintf(out, "\nA burst of %d G.729 calls, alternating AGI(agi://.../admit,g729) and Stasis(licbridge,admit,g729):\n", burst)
	if err := st.g729(burst, true); err != nil {
		return err
	}
	n := min(5, len(st.up))
	fmt.Fprintf(out, "\n%d calls end; the channels are free again with no dialplan step:\n", n)
	if err := st.hangup(n); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nNew calls take the freed channels:\n")
	if err := st.g729(min(3, n), false); err != nil {
		return err
	}
	return st.passiveAndEnd()
}

// passiveAndEnd shows passive accounting (a fax call, and a G.729 call that
// never asks), then hangs everyone up.
func (st *story) passiveAndEnd() error {
	ctx, out := st.ctx, st.out
	st.watch.forgetObserved()
	fmt.Fprintf(out, "\nA fax call asks for a fax channel; a G.729 call that never asks is seen anyway:\n")
	if _, err := st.place(asterisksim.Call{Caller: "3001", Called: "fax", Product: "fax", Via: asterisksim.ViaAGI, Fax: true}); err != nil {
		return err
	}
	sneaky, err := st.pbx.Place(ctx, asterisksim.Call{Caller: "4001", Called: "200", Codec: "g729"})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	st.seq++
	fmt.Fprintf(out, "  call %2d  %s -> %s  (no admission; its native format is G.729)\n", st.seq, sneaky.Caller, sneaky.Called)
	g729Up := 0
	for _, pl := range st.up {
		if pl.Product == "g729" {
			g729Up++
		}
	}
	if err := st.watch.waitObserved(ctx, map[string]int{"g729": g729Up + 1, "fax": 1}); err != nil {
		return err
	}
	for _, o := range st.nd.ObservedNow() {
		switch {
		case o.Units == 0:
		case o.Product == "fax":
			fmt.Fprintf(out, "  passive accounting: fax: %d session in progress (FAXStats)\n", o.Units)
		default:
			fmt.Fprintf(out, "  passive accounting: %s: %d channels on Asterisk use it, %d of them without admission\n", o.Product, o.Units, o.Unadmitted)
		}
	}
	fmt.Fprintf(out, "\nEveryone hangs up:\n")
	var chans []string
	for _, pl := range append(st.up, sneaky) {
		if err := st.pbx.Hangup(pl); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if pl != sneaky {
			chans = append(chans, pl.Channels...)
		}
	}
	if err := st.watch.waitReleased(ctx, chans); err != nil {
		return err
	}
	fmt.Fprintf(out, "  %d channels released; in use now: %s\n", len(chans), inUse(ctx, st.b))
	return nil
}

// node builds the demo's node through the same composition root as
// licbridge run: the embedded store, the Asterisk double's AMI and ARI,
// FastAGI on a free loopback port, no admin server and no journal.
func node(ctx context.Context, pbx *asterisksim.PBX, keys Keys, watch *watch, logger *slog.Logger) (*licd.Daemon, error) {
	trusted, err := trustedFromFile(keys.PubPath)
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.AMI = config.AMIConfig{Addr: pbx.AMIAddr(), User: "licbridge", Secret: "licsecret"}
	cfg.ARI = config.ARIConfig{URL: pbx.ARIURL(), User: "licbridge", Password: "licsecret", App: config.DefaultARIApp}
	cfg.AGI.Listen, cfg.HTTP.Listen = "127.0.0.1:0", config.Off
	// The demo's calls have all ended when it stops; should one not have,
	// there is nobody to wait for.
	cfg.DrainTimeout = 100 * time.Millisecond
	s, err := cfg.Validate()
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d, err := licd.New(ctx, licd.Options{
		Settings: s, NodeID: "demo", Journal: "-", Observer: watch, Logger: logger,
		Licenses: license.LoadOptions{Dirs: []license.Dir{{Path: keys.LicDir}}, Trusted: trusted, HostID: keys.Host},
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return d, nil
}

func trustedFromFile(path string) (license.Trusted, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	defer f.Close()
	keys, err := license.ParsePublicKeys(f, path)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return license.NewTrusted(keys...), nil
}

// totals is "g729 15, fax 4, ffa 1".
func totals(ctx context.Context, b *bridge.Bridge) string {
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

// inUse is "g729 10/15, fax 0/4, ffa 0/1".
func inUse(ctx context.Context, b *bridge.Bridge) string {
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
