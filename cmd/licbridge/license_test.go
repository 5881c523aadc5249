package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/license"
)

// runApp runs the CLI in-process and returns its output and error.
func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.RunContext(context.Background(), reorderArgs(app, append([]string{"licbridge"}, args...)))
	return out.String() + errOut.String(), err
}

func TestIssueFlags(t *testing.T) {
	dir := t.TempDir()
	if _, err := runApp(t, "license", "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfg, []byte("products:\n  - name: opus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	issued := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, k *license.Key)
	}{
		{"commercial needs a binding", []string{"--product", "g729", "--channels", "10"}, "choose the binding", nil},
		{"host and domain", []string{"--product", "g729", "--channels", "10", "--host-id", "A1B2-C3D4-E5F6", "--domain", "x"}, "--host-id and --domain exclude each other", nil},
		{"host and unbound", []string{"--product", "g729", "--channels", "10", "--host-id", "A1B2-C3D4-E5F6", "--unbound"}, "exclude each other", nil},
		{"bad host id", []string{"--product", "g729", "--channels", "10", "--host-id", "xyz"}, "host ID", nil},
		{"unknown product", []string{"--product", "opus", "--channels", "10", "--unbound"}, "unknown product \"opus\" (known: fax, ffa, g729, hpec)", nil},
		{"ffa is one channel", []string{"--product", "ffa", "--channels", "3", "--unbound"}, "--channels 3: product ffa is exactly one channel", nil},
		{"zero channels", []string{"--product", "g729", "--channels", "0", "--unbound"}, "--channels 0", nil},
		{"bad kind", []string{"--product", "g729", "--channels", "1", "--unbound", "--kind", "free"}, "--kind", nil},
		{"trial auto-renew", []string{"--product", "g729", "--channels", "1", "--kind", "trial", "--auto-renew"}, "--auto-renew is for commercial keys", nil},
		{"ends before issue", []string{"--product", "g729", "--channels", "1", "--unbound", "--ends", "2026-11-01"}, "not after the issue time", nil},
		{"emergency too long", []string{"--product", "g729", "--channels", "1", "--kind", "emergency", "--ends", "2027-01-01"}, "at most 30 days", nil},
		{"bad key id", []string{"--product", "g729", "--channels", "1", "--unbound", "--key-id", "no spaces"}, "--key-id", nil},
		{"commercial defaults", []string{"--product", "g729", "--channels", "10", "--host-id", "a1b2c3d4e5f6"}, "", func(t *testing.T, k *license.Key) {
			if k.Binding.HostID != "A1B2-C3D4-E5F6" || !k.Ends.Equal(issued.AddDate(1, 0, 0)) || k.Kind != license.KindCommercial ||
				!strings.HasPrefix(k.ID, "G729-") || len(k.ID) != len("G729-")+8 {
				t.Fatalf("key %+v", k)
			}
		}},
		{"trial defaults", []string{"--product", "fax", "--channels", "2", "--kind", "trial"}, "", func(t *testing.T, k *license.Key) {
			if k.Binding.Type != license.Unbound || !k.Ends.Equal(issued.Add(30*license.Day)) {
				t.Fatalf("key %+v", k)
			}
		}},
		{"domain, ends, auto-renew, key id", []string{"--product", "hpec", "--channels", "3", "--domain", "PBX-East", "--ends", "2027-03-01", "--auto-renew", "--key-id", "HPEC-1"}, "", func(t *testing.T, k *license.Key) {
			if k.Binding.Domain != "pbx-east" || k.Ends.Format(license.TimeLayout) != "2027-03-01T00:00:00Z" || !k.AutoRenew || k.ID != "HPEC-1" {
				t.Fatalf("key %+v", k)
			}
		}},
		{"product from the config", []string{"--config", cfg, "--product", "opus", "--channels", "3", "--unbound"}, "", func(t *testing.T, k *license.Key) {
			if k.Product != "opus" {
				t.Fatalf("key %+v", k)
			}
		}},
	}
	pubs, err := licd.ReadPublicKeys(filepath.Join(dir, "issuer.pub"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".lic")
			args := []string{"license", "issue", "--issuer-key", filepath.Join(dir, "issuer.key"), "--out", out, "--issued", issued.Format(license.TimeLayout)}
			// --config is a global flag: it goes before the command.
			if len(tc.args) > 1 && tc.args[0] == "--config" {
				args = append([]string{tc.args[0], tc.args[1]}, args...)
				tc.args = tc.args[2:]
			}
			msg, err := runApp(t, append(args, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v (%s), want an error containing %q", err, msg, tc.wantErr)
				}
				if _, statErr := os.Stat(out); statErr == nil {
					t.Fatal("a key file was written despite the error")
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, msg)
			}
			k, err := license.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := license.NewTrusted(pubs...).Verify(k); err != nil {
				t.Fatalf("verify: %v", err)
			}
			tc.check(t, k)
		})
	}
	t.Run("no overwrite without --force", func(t *testing.T) {
		out := filepath.Join(dir, "once.lic")
		args := []string{"license", "issue", "--issuer-key", filepath.Join(dir, "issuer.key"), "--out", out, "--product", "g729", "--channels", "1", "--unbound"}
		if _, err := runApp(t, args...); err != nil {
			t.Fatal(err)
		}
		if _, err := runApp(t, args...); err == nil || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("second issue: %v", err)
		}
		if _, err := runApp(t, append(args, "--force")...); err != nil {
			t.Fatalf("--force: %v", err)
		}
	})
}

func TestKeygenForceKeepsPrivateMode(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "issuer.key")
	if err := os.WriteFile(key, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runApp(t, "license", "keygen", "--out", dir, "--force"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("issuer.key mode %v, want 0600", st.Mode())
	}
	f, err := os.Open(key)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	priv, err := license.ParsePrivateKey(f, key)
	if err != nil || len(priv) != ed25519.PrivateKeySize {
		t.Fatalf("issuer.key: %v", err)
	}
}

func TestDemo(t *testing.T) {
	out, err := runApp(t, "demo")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"g729: 15 channels licensed", "INVALID: bad signature", "ffa: 1 channel licensed", "ignored: only one ffa key"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// TestShowLicensesConfig: the config's renewal grace and products reach the
// rules, and the flag overrides the config.
func TestShowLicensesConfig(t *testing.T) {
	dir := t.TempDir()
	lic := filepath.Join(dir, "lic")
	if _, err := runApp(t, "license", "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cfg.yaml")
	body := "renewal_grace: 1h\nhost_id: A1B2-C3D4-E5F6\nissuer_pub: [" + filepath.Join(dir, "issuer.pub") + "]\n" +
		"licenses_dirs: [" + lic + "]\nproducts:\n  - name: opus\n    stacks: false\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(lic, 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	issue := func(name string, args ...string) {
		t.Helper()
		base := []string{"--config", cfg, "license", "issue", "--issuer-key", filepath.Join(dir, "issuer.key"), "--out", filepath.Join(lic, name), "--unbound"}
		if out, err := runApp(t, append(base, args...)...); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	// Formal end two hours ago: inside a 5h grace, outside a 1h one.
	issue("renew.lic", "--product", "g729", "--channels", "10", "--auto-renew",
		"--issued", now.Add(-48*time.Hour).Format(license.TimeLayout), "--ends", now.Add(-2*time.Hour).Format(license.TimeLayout))
	issue("opus-1.lic", "--product", "opus", "--channels", "4", "--key-id", "OPUS-1")
	issue("opus-2.lic", "--product", "opus", "--channels", "4", "--key-id", "OPUS-2")

	show := func(args ...string) showJSON {
		t.Helper()
		out, err := runApp(t, append([]string{"--config", cfg, "show", "licenses", "--no-default-dirs", "--json"}, args...)...)
		if err != nil {
			t.Fatalf("%v %s", err, out)
		}
		var v showJSON
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return v
	}
	v := show()
	if st, _ := v.key("renew.lic"); st != "expired" || v.total("g729") != 0 {
		t.Fatalf("with the config's 1h grace: %s, total %d", st, v.total("g729"))
	}
	if v.total("opus") != 4 {
		t.Fatalf("opus (stacks: false) total %d, want 4", v.total("opus"))
	}
	v = show("--renewal-grace", "5h")
	if st, _ := v.key("renew.lic"); st != "valid" || v.total("g729") != 10 {
		t.Fatalf("with --renewal-grace 5h: %s, total %d", st, v.total("g729"))
	}
}

// TestVerifyChecksThisHost: without --host-id, verify checks the bindings
// against this host (config host_id here) and exits non-zero for a key bound
// to another host (issue 13); --any-host skips the check.
func TestVerifyChecksThisHost(t *testing.T) {
	dir := t.TempDir()
	if _, err := runApp(t, "license", "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfg, []byte("host_id: A1B2-C3D4-E5F6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "other.lic")
	if out, err := runApp(t, "license", "issue", "--issuer-key", filepath.Join(dir, "issuer.key"), "--product", "g729",
		"--channels", "2", "--host-id", "0000-1111-2222", "--out", key); err != nil {
		t.Fatalf("issue: %v\n%s", err, out)
	}
	pub := filepath.Join(dir, "issuer.pub")
	out, err := runApp(t, "--config", cfg, "license", "verify", "--issuer-pub", pub, key)
	if err == nil || exitCode(err) != 1 || !strings.Contains(out, "another host ID") {
		t.Fatalf("verify of another host's key: %v\n%s", err, out)
	}
	if out, err := runApp(t, "--config", cfg, "license", "verify", "--issuer-pub", pub, "--any-host", key); err != nil {
		t.Fatalf("verify --any-host: %v\n%s", err, out)
	}
}
