package license_test

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

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Two fixed issuers, so that golden files are stable.
var (
	issuerA = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xA1}, ed25519.SeedSize))
	issuerB = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xB2}, ed25519.SeedSize))
	pubA    = issuerA.Public().(ed25519.PublicKey)
	pubB    = issuerB.Public().(ed25519.PublicKey)
)

const thisHost license.HostID = "A1B2-C3D4-E5F6"

// t0 is the reference instant of the tests.
var t0 = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// newKey is a signed 10-channel g729 key for thisHost, valid for a year from t0,
// after mods are applied (they run before signing).
func newKey(mods ...func(*license.Key)) *license.Key {
	k := &license.Key{
		ID:       "G729-00000001",
		Product:  "g729",
		Channels: 10,
		Binding:  license.Binding{Type: license.BoundHost, HostID: thisHost},
		Issued:   t0,
		Ends:     t0.AddDate(1, 0, 0),
		Kind:     license.KindCommercial,
	}
	for _, m := range mods {
		m(k)
	}
	license.Sign(k, issuerA)
	return k
}

func encode(t testing.TB, k *license.Key) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := k.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeKey(t testing.TB, dir, name string, k *license.Key) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, encode(t, k), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("golden %s: %v (run with -update)", p, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func id(s string) func(*license.Key) { return func(k *license.Key) { k.ID = s } }
func product(s string) func(*license.Key) {
	return func(k *license.Key) { k.Product = s }
}
func channels(n int) func(*license.Key)   { return func(k *license.Key) { k.Channels = n } }
func unbound(k *license.Key)              { k.Binding = license.Binding{} }
func ends(t time.Time) func(*license.Key) { return func(k *license.Key) { k.Ends = t } }
