package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/license"
	"github.com/licbridge/licbridge/view"
)

// The -update flag rewrites golden files. Other test files of this package may
// register it too; whoever comes first owns it.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata/")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -run %s -update)", p, err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// sampleSet is a fixed set of keys covering every status, at a fixed instant.
func sampleSet(t *testing.T) *license.Set {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	host := license.HostID("A1B2-C3D4-E5F6")
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	onHost := license.Binding{Type: license.BoundHost, HostID: host}
	mk := func(file string, k license.Key, signer ed25519.PrivateKey, edit func(*license.Key)) license.Candidate {
		if k.Issued.IsZero() {
			k.Issued = t0.AddDate(0, -1, 0)
		}
		if k.Ends.IsZero() {
			k.Ends = t0.AddDate(1, 0, 0)
		}
		if k.Kind == "" {
			k.Kind = license.KindCommercial
		}
		license.Sign(&k, signer)
		if edit != nil {
			edit(&k)
		}
		return license.Candidate{File: "/var/lib/asterisk/licenses/" + file, Key: &k}
	}
	cands := []license.Candidate{
		mk("g729-a.lic", license.Key{ID: "G729-0000000A", Product: "g729", Channels: 10, Binding: onHost}, priv, nil),
		mk("g729-b.lic", license.Key{ID: "G729-0000000B", Product: "g729", Channels: 5, Binding: onHost, Ends: t0.Add(5 * license.Day), AutoRenew: true}, priv, nil),
		mk("g729-c.lic", license.Key{ID: "G729-0000000C", Product: "g729", Channels: 5, Binding: onHost}, priv, func(k *license.Key) { k.Channels = 50 }),
		mk("g729-d.lic", license.Key{ID: "G729-0000000D", Product: "g729", Channels: 8, Binding: license.Binding{Type: license.BoundHost, HostID: "0000-1111-2222"}}, priv, nil),
		mk("g729-e.lic", license.Key{ID: "G729-0000000E", Product: "g729", Channels: 3, Binding: onHost, Ends: t0.Add(-time.Hour)}, priv, nil),
		mk("g729-f.lic", license.Key{ID: "G729-0000000F", Product: "g729", Channels: 3, Binding: onHost}, other, nil),
		mk("hpec.lic", license.Key{ID: "HPEC-00000001", Product: "hpec", Channels: 30, Binding: license.Binding{Type: license.BoundDomain, Domain: "pbx-east"}}, priv, nil),
		mk("fax.lic", license.Key{ID: "FAX-00000001", Product: "fax", Channels: 4, Kind: license.KindTrial, Ends: t0.Add(12 * time.Hour)}, priv, nil),
		mk("ffa-1.lic", license.Key{ID: "FFA-00000001", Product: "ffa", Channels: 1, Binding: onHost}, priv, nil),
		mk("ffa-2.lic", license.Key{ID: "FFA-00000002", Product: "ffa", Channels: 1, Binding: onHost}, priv, nil),
		mk("g729-a-old.lic", license.Key{ID: "G729-0000000A", Product: "g729", Channels: 10, Binding: onHost, Ends: t0.AddDate(0, 6, 0)}, priv, nil),
		{File: "/var/lib/asterisk/licenses/broken.lic", Err: &license.ParseError{File: "/var/lib/asterisk/licenses/broken.lic", Line: 5, Msg: "Channels 0: must be at least 1"}},
	}
	return license.Evaluate(cands, license.EvalOptions{
		Trusted: license.NewTrusted(priv.Public().(ed25519.PublicKey)),
		HostID:  host,
		Domain:  "pbx-east",
		Now:     t0,
	})
}

func TestRenderLicenses(t *testing.T) {
	v := view.FromSet(sampleSet(t), "")
	v.Problems = []string{"licenses directory /etc/licbridge/keys: open: no such file or directory"}
	var txt, js bytes.Buffer
	if err := view.WriteText(&txt, v, nil); err != nil {
		t.Fatal(err)
	}
	if err := view.WriteJSON(&js, v); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "show_licenses.txt.golden", txt.Bytes())
	goldenFile(t, "show_licenses.json.golden", js.Bytes())
}

func TestRenderLicensesEmpty(t *testing.T) {
	s := license.Evaluate(nil, license.EvalOptions{Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	var txt, js bytes.Buffer
	v := view.FromSet(s, "no physical Ethernet interface to derive a host ID from")
	// The directories searched are named: "No license key files found." left
	// a user guessing where the keys should go (issue 13).
	if err := view.WriteText(&txt, v, license.SearchPath("/etc/licbridge/licenses")); err != nil {
		t.Fatal(err)
	}
	if err := view.WriteJSON(&js, v); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "show_licenses_empty.txt.golden", txt.Bytes())
	goldenFile(t, "show_licenses_empty.json.golden", js.Bytes())
}

// TestOneKeyModel: the CLI and the API (a node's view) show each key file
// with the same status and binding. They drifted: the API showed the ignored
// second ffa key as INVALID and an unbound key as "unbound", the CLI as
// ignored and "none" (issue 12).
func TestOneKeyModel(t *testing.T) {
	set := sampleSet(t)
	cli := view.FromSet(set, "")
	b, err := bridge.New(bridge.Options{Store: bridge.NewMemStore(), Node: "pbx-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	api, err := (&node.Source{Bridge: b, Set: set}).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byFile := func(v view.View) map[string]view.Key {
		m := map[string]view.Key{}
		for _, p := range v.Products {
			for _, k := range p.Keys {
				m[k.File] = k
			}
		}
		return m
	}
	ck, ak := byFile(cli), byFile(api)
	if len(ck) != 11 || len(ak) != len(ck) {
		t.Fatalf("keys: CLI %d, API %d, want 11 each", len(ck), len(ak))
	}
	for f, k := range ck {
		a := ak[f]
		if a.Status != k.Status || a.Binding != k.Binding || a.Reason != k.Reason {
			t.Errorf("%s: CLI %s/%q, API %s/%q", f, k.Status, k.Binding, a.Status, a.Binding)
		}
	}
	for _, c := range []struct{ file, status, binding string }{
		{"ffa-2.lic", view.StatusIgnored, "host A1B2-C3D4-E5F6"},
		{"fax.lic", view.StatusExpiring, "none"},
		{"g729-c.lic", view.StatusInvalid, "host A1B2-C3D4-E5F6"},
	} {
		a := ak["/var/lib/asterisk/licenses/"+c.file]
		if a.Status != c.status || a.Binding != c.binding {
			t.Errorf("API %s: %s %q, want %s %q", c.file, a.Status, a.Binding, c.status, c.binding)
		}
	}
	var txt bytes.Buffer
	if err := view.WriteText(&txt, api, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(txt.Bytes(), []byte("ffa-2.lic  ignored: only one ffa key")) {
		t.Errorf("the CLI does not print the node's view of ffa-2 as ignored:\n%s", txt.String())
	}
}
