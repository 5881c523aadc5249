package main

import (
	"bytes"
	"crypto/ed25519"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
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
	v := newLicensesView(sampleSet(t), "")
	v.Problems = []string{"licenses directory /etc/licbridge/keys: open: no such file or directory"}
	var txt, js bytes.Buffer
	if err := renderLicensesText(&txt, v); err != nil {
		t.Fatal(err)
	}
	if err := renderLicensesJSON(&js, v); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "show_licenses.txt.golden", txt.Bytes())
	goldenFile(t, "show_licenses.json.golden", js.Bytes())
}

func TestRenderLicensesEmpty(t *testing.T) {
	s := license.Evaluate(nil, license.EvalOptions{Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	var txt, js bytes.Buffer
	v := newLicensesView(s, "no physical Ethernet interface to derive a host ID from")
	if err := renderLicensesText(&txt, v); err != nil {
		t.Fatal(err)
	}
	if err := renderLicensesJSON(&js, v); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "show_licenses_empty.txt.golden", txt.Bytes())
	goldenFile(t, "show_licenses_empty.json.golden", js.Bytes())
}
