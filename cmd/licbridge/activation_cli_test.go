package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/redistest"
	"github.com/licbridge/licbridge/license"
)

// activationWorld is an issuer, a config naming this host's ID, and a real
// redis-server.
type activationWorld struct {
	dir, pub, cfg, redis string
	priv                 ed25519.PrivateKey
}

func newActivationWorld(t *testing.T) *activationWorld {
	t.Helper()
	t.Setenv("LICBRIDGE_REDIS", "")
	w := &activationWorld{dir: t.TempDir(), redis: redistest.Start(t).Addr}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w.priv = priv
	var b bytes.Buffer
	if err := license.WritePublicKey(&b, pub); err != nil {
		t.Fatal(err)
	}
	w.pub = w.write(t, "issuer.pub", b.Bytes())
	w.cfg = w.write(t, "cfg.yaml", []byte("host_id: A1B2-C3D4-E5F6\n"))
	return w
}

func (w *activationWorld) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// keyFile writes a signed, unbound key of product.
func (w *activationWorld) keyFile(t *testing.T, id, product string) string {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	k := &license.Key{ID: id, Product: product, Channels: 1, Binding: license.Binding{Type: license.Unbound},
		Issued: now.Add(-time.Hour), Ends: now.AddDate(1, 0, 0), Kind: license.KindCommercial}
	license.Sign(k, w.priv)
	var b bytes.Buffer
	if _, err := k.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return w.write(t, id+".lic", b.Bytes())
}

func (w *activationWorld) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runApp(t, append([]string{"--config", w.cfg, "license"}, args...)...)
}

func TestLicenseRegisterActivations(t *testing.T) {
	w := newActivationWorld(t)
	key := w.keyFile(t, "G729-ACT1", "g729")
	install := filepath.Join(w.dir, "licenses")
	reg := func(extra ...string) (string, error) {
		return w.run(t, append(append([]string{"register", "--redis", w.redis, "--issuer-pub", w.pub, "--install-dir", install}, extra...), key)...)
	}

	out, err := reg()
	if err != nil {
		t.Fatalf("register on this host: %v\n%s", err, out)
	}
	installed, err := os.ReadFile(filepath.Join(install, "G729-ACT1.lic"))
	orig, _ := os.ReadFile(key)
	if err != nil || !bytes.Equal(installed, orig) {
		t.Fatalf("installed file: %v (equal %v)", err, bytes.Equal(installed, orig))
	}
	if !strings.Contains(out, "host A1B2-C3D4-E5F6 (1 of 3 hosts)") {
		t.Fatalf("output: %s", out)
	}
	for _, h := range []string{"0000-0000-0002", "0000-0000-0003", "0000-0000-0003"} {
		if out, err := reg("--host-id", h); err != nil || !strings.Contains(out, "not installed here") {
			t.Fatalf("register for %s: %v\n%s", h, err, out)
		}
	}
	out, err = reg("--host-id", "0000-0000-0004")
	if err == nil {
		t.Fatalf("fourth host accepted:\n%s", out)
	}
	for _, want := range []string{"G729-ACT1", "A1B2-C3D4-E5F6", "0000-0000-0002", "0000-0000-0003", "0000-0000-0004", "3 of 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("refusal %q does not name %s", err, want)
		}
	}

	out, err = w.run(t, "activations", "--redis", w.redis, "G729-ACT1")
	if err != nil || strings.Count(out, "\n") != 4 || !strings.Contains(out, "0000-0000-0002") {
		t.Fatalf("activations: %v\n%s", err, out)
	}
	if out, err := w.run(t, "deactivate", "--redis", w.redis, "--host-id", "0000-0000-0002", "G729-ACT1"); err != nil {
		t.Fatalf("deactivate: %v\n%s", err, out)
	}
	if _, err := w.run(t, "deactivate", "--redis", w.redis, "--host-id", "0000-0000-0002", "G729-ACT1"); err == nil || !strings.Contains(err.Error(), "not activated for host 0000-0000-0002") {
		t.Fatalf("deactivating twice: %v", err)
	}
	if out, err := reg("--host-id", "0000-0000-0004"); err != nil {
		t.Fatalf("register after freeing a slot: %v\n%s", err, out)
	}
}

func TestLicenseRegisterRefusals(t *testing.T) {
	w := newActivationWorld(t)
	ffa := w.keyFile(t, "FFA-1", "ffa")
	good := w.keyFile(t, "G729-OK", "g729")
	tampered := w.keyFile(t, "G729-BAD", "g729")
	data, _ := os.ReadFile(tampered)
	os.WriteFile(tampered, bytes.Replace(data, []byte("Channels: 1"), []byte("Channels: 9"), 1), 0o644)

	if out, err := w.run(t, "register", "--redis", w.redis, "--issuer-pub", w.pub, "--host-id", "0000-0000-0001", ffa); err != nil {
		t.Fatalf("ffa on one host: %v\n%s", err, out)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"ffa on a second host", []string{"register", "--redis", w.redis, "--issuer-pub", w.pub, "--host-id", "0000-0000-0002", ffa}, "1 of 1 hosts (0000-0000-0001)"},
		{"tampered file", []string{"register", "--redis", w.redis, "--issuer-pub", w.pub, "--host-id", "0000-0000-0002", tampered}, "bad signature"},
		{"no store", []string{"register", "--issuer-pub", w.pub, "--host-id", "0000-0000-0002", good}, "activation database needs --redis"},
		{"no store to list", []string{"activations", "G729-OK"}, "activation database needs --redis"},
		{"bad host id", []string{"deactivate", "--redis", w.redis, "--host-id", "nope", "G729-OK"}, "--host-id"},
		{"no file", []string{"register", "--redis", w.redis, "--issuer-pub", w.pub}, "name one key file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := w.run(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q\n%s", err, tc.want, out)
			}
		})
	}
	if out, _ := w.run(t, "activations", "--redis", w.redis, "G729-BAD"); !strings.Contains(out, "not activated on any host") {
		t.Fatalf("a refused file left an activation: %s", out)
	}
}
