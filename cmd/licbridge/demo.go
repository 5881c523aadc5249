package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/licbridge/licbridge/license"
	"github.com/urfave/cli/v2"
)

// demoCommand shows license keys at work: it mints sample keys with a fresh
// issuer into a temporary directory and runs show licenses on them. (The full
// demo of the running cluster replaces it in a later issue.)
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a self-contained demo: mint sample license keys and show them",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keep", Usage: "keep the demo directory instead of removing it", EnvVars: []string{"LICBRIDGE_DEMO_KEEP"}},
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
	issuerDir, licDir := filepath.Join(root, "issuer"), filepath.Join(root, "licenses")
	for _, d := range []string{issuerDir, licDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	pubPath := filepath.Join(issuerDir, "issuer.pub")
	if err := writeNew(filepath.Join(issuerDir, "issuer.key"), 0o600, false, func(w io.Writer) error { return license.WritePrivateKey(w, priv) }); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := writeNew(pubPath, 0o644, false, func(w io.Writer) error { return license.WritePublicKey(w, pub) }); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	// Bind to this host when it has a host ID; otherwise to a made-up one that
	// the demo then passes as --host-id (the opt-in fallback).
	host, note := license.HostID("DE30-0000-0001"), "a demo host ID (this machine has no physical Ethernet interface)"
	if rep, err := license.ReadHostID(c.String("sysfs")); err == nil {
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

	fmt.Fprintf(out, "licbridge demo: license keys\n\n")
	fmt.Fprintf(out, "A fresh issuer key pair (issuer %s) in %s.\n", license.Fingerprint(pub), issuerDir)
	fmt.Fprintf(out, "Sample keys for %s, %s, in %s:\n", host, note, licDir)
	for _, dk := range keys {
		k := dk.key
		license.Sign(&k, priv)
		var b bytes.Buffer
		if _, err := k.WriteTo(&b); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		text := b.String()
		if dk.tamper != nil {
			text = dk.tamper(text)
		}
		if err := os.WriteFile(filepath.Join(licDir, dk.file), []byte(text), 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintf(out, "  %-18s %s\n", dk.file, dk.what)
	}

	args := []string{"licbridge", "show", "licenses", "--no-default-dirs", "--licenses-dir", licDir, "--issuer-pub", pubPath, "--host-id", string(host)}
	fmt.Fprintf(out, "\n$ %s\n\n", strings.Join(args, " "))
	app := newApp()
	app.Writer, app.ErrWriter = out, c.App.ErrWriter
	if err := app.RunContext(c.Context, args); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nWhat happened:\n"+
		"  - g729: the 10- and 5-channel keys stack to 15; the hand-edited key fails its\n"+
		"    signature check, is shown INVALID and adds nothing.\n"+
		"  - ffa: free fax keys never stack; the first by key ID counts, the other is ignored.\n"+
		"  - warnings come 14, 7 and 1 days before a key stops counting; the auto-renew key\n"+
		"    keeps counting for 20 days of renewal grace after its formal end.\n"+
		"Try it on your own keys: licbridge license keygen --out DIR, licbridge license issue ...,\n"+
		"then licbridge show licenses --licenses-dir DIR --issuer-pub DIR/issuer.pub.\n")
	return nil
}
