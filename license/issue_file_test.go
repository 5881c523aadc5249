package license_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

// TestIssueInputWriteFile: license issue's mint, sign and write; the file
// verifies with the pair's public key, an existing file is replaced only
// with force, and a refused input or a missing issuer key writes nothing.
func TestIssueInputWriteFile(t *testing.T) {
	dir := t.TempDir()
	kp, err := license.WriteKeyPair(filepath.Join(dir, "keys"), false)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := license.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	in := license.IssueInput{Product: "g729", Channels: 4, Kind: "commercial", Unbound: true, ID: "g729-t1"}
	out := filepath.Join(dir, "k.lic")
	k, err := in.WriteFile(cat, now, kp.KeyPath, out, false)
	if err != nil || k.ID != "g729-t1" {
		t.Fatalf("write: %v, %v", k, err)
	}
	data, _ := os.ReadFile(out)
	e := license.Evaluate([]license.Candidate{{File: out, Key: mustParse(t, data, out)}},
		license.EvalOptions{Trusted: license.NewTrusted(kp.Public), Catalog: cat, Now: now}).Keys()[0]
	if e.Status != license.StatusValid {
		t.Fatalf("the written file: %s %s", e.Status, e.Reason)
	}
	for _, tc := range []struct {
		name    string
		in      license.IssueInput
		keyFile string
		force   bool
		wantErr string
	}{
		{"exists", in, kp.KeyPath, false, "exists (pass --force"},
		{"refused input", license.IssueInput{Product: "g729", Channels: 4}, kp.KeyPath, true, "--host-id ID"},
		{"no issuer key", in, filepath.Join(dir, "none.key"), true, "issuer key"},
	} {
		if _, err := tc.in.WriteFile(cat, now, tc.keyFile, out, tc.force); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.wantErr)
		}
		if again, _ := os.ReadFile(out); string(again) != string(data) {
			t.Fatalf("%s: the file was changed", tc.name)
		}
	}
	if _, err := in.WriteFile(cat, now.Add(time.Hour), kp.KeyPath, out, true); err != nil {
		t.Fatalf("with force: %v", err)
	}
}

func mustParse(t *testing.T, data []byte, name string) *license.Key {
	t.Helper()
	k, err := license.ParseBytes(data, name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
