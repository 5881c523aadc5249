package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallHonoursNow: the host-side commands check a key file at --now
// (the old code dropped the clock when it assembled the host side, so a key
// that ends in 2027 installed "at" 2030).
func TestInstallHonoursNow(t *testing.T) {
	dir := t.TempDir()
	if _, err := runApp(t, "license", "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "k.lic")
	if out, err := runApp(t, "license", "issue", "--issuer-key", filepath.Join(dir, "issuer.key"), "--product", "g729", "--channels", "2",
		"--host-id", "A1B2-C3D4-E5F6", "--issued", "2026-01-01", "--ends", "2027-01-01", "--out", key); err != nil {
		t.Fatalf("issue: %v\n%s", err, out)
	}
	install := func(now string) (string, error) {
		return runApp(t, "license", "install", "--issuer-pub", filepath.Join(dir, "issuer.pub"), "--host-id", "A1B2-C3D4-E5F6",
			"--no-default-dirs", "--install-dir", filepath.Join(dir, "lic-"+now), "--now", now, key)
	}
	if out, err := install("2026-06-01"); err != nil || !strings.Contains(out, "installed") {
		t.Fatalf("install within the term: %v\n%s", err, out)
	}
	out, err := install("2030-01-01")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "EXPIRED") {
		t.Fatalf("install after the term: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "lic-2030-01-01")); !os.IsNotExist(err) {
		t.Fatalf("a refused file was installed: %v", err)
	}
}
