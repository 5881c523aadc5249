package license_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/license"
)

// writeRaw writes a key file's bytes after edit.
func writeRaw(t *testing.T, dir, name string, k *license.Key, edit func(string) string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(edit(string(encode(t, k)))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// badKeys writes one valid key and the invalid ones of the issue: tampered
// (a phantom product, more channels), unsigned, for another host, from an
// untrusted issuer. It returns the invalid files' names.
func badKeys(t *testing.T, dir string) []string {
	writeKey(t, dir, "good.lic", newKey(id("GOOD")))
	writeRaw(t, dir, "phantom.lic", newKey(id("PHANTOM")), func(s string) string {
		return strings.Replace(s, "Product: g729", "Product: g729x", 1)
	})
	writeRaw(t, dir, "more.lic", newKey(id("MORE")), func(s string) string {
		return strings.Replace(s, "Channels: 10", "Channels: 99", 1)
	})
	writeRaw(t, dir, "unsigned.lic", newKey(id("UNSIGNED")), func(s string) string {
		return regexp.MustCompile(`(?m)^Signature: .*\n`).ReplaceAllString(s, "")
	})
	writeKey(t, dir, "foreign.lic", newKey(id("FOREIGN"), func(k *license.Key) {
		k.Binding = license.Binding{Type: license.BoundHost, HostID: "FFFF-0000-1111"}
	}))
	k := newKey(id("UNTRUSTED"))
	license.Sign(k, issuerB)
	writeKey(t, dir, "untrusted.lic", k)
	return []string{"foreign.lic", "more.lic", "phantom.lic", "unsigned.lic", "untrusted.lic"}
}

// TestInvalidKeysNameNoProduct: a tampered "Product:" value invents no
// product, and none of the invalid files adds a channel.
func TestInvalidKeysNameNoProduct(t *testing.T) {
	dir := t.TempDir()
	want := badKeys(t, dir)
	s, err := license.Load(context.Background(), loadOpts(license.Dir{Path: dir}))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Products(); !slices.Equal(got, []string{"g729"}) {
		t.Errorf("Products() = %q, want only g729 (no phantom g729x)", got)
	}
	if s.Total("g729") != 10 || s.Total("g729x") != 0 {
		t.Errorf("totals %v, want g729 10 alone", s.Totals())
	}
	var got []string
	for _, e := range s.Invalid() {
		if e.Reason == "" {
			t.Errorf("%s: invalid without a reason", e.File)
		}
		got = append(got, filepath.Base(e.File))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Invalid() = %q, want %q", got, want)
	}
}

// TestWatcherLogsInvalidKeysOncePerChange: each invalid file is logged at
// WARN by name and reason when it appears or its reason changes, not on every
// reload, and "problems" counts them.
func TestWatcherLogsInvalidKeysOncePerChange(t *testing.T) {
	dir := t.TempDir()
	invalid := badKeys(t, dir)
	var logs bytes.Buffer
	w := license.NewWatcher(loadOpts(license.Dir{Path: dir}), license.WatcherOptions{
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	if _, err := w.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, name := range invalid {
		line := lineWith(out, name)
		if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "reason=") {
			t.Errorf("%s: not warned by name and reason: %q", name, line)
		}
	}
	if !strings.Contains(out, "problems=5") || !strings.Contains(out, "invalid_keys=5") {
		t.Errorf("problems not counted: %s", out)
	}
	if strings.Contains(out, "good.lic") {
		t.Errorf("the valid key warned of: %s", out)
	}
	for _, secret := range []string{"Signature: ", "Channels: ", "Licbridge-License"} {
		if strings.Contains(out, secret) {
			t.Errorf("log carries key content %q: %s", secret, out)
		}
	}

	// Nothing changed: nothing logged again.
	logs.Reset()
	if _, err := w.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("an unchanged reload logged: %s", logs.String())
	}

	// A new valid file changes the set: only it is news, no invalid file is
	// warned of again; one invalid file fixed, another newly broken.
	logs.Reset()
	writeKey(t, dir, "second.lic", newKey(id("SECOND")))
	writeKey(t, dir, "foreign.lic", newKey(id("FOREIGN")))
	writeRaw(t, dir, "second-bad.lic", newKey(id("SECOND-BAD")), func(s string) string {
		return strings.Replace(s, "Channels: 10", "Channels: 11", 1)
	})
	if _, err := w.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	out = logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "second-bad.lic") {
		t.Errorf("want one WARN, for second-bad.lic: %s", out)
	}
	if !strings.Contains(out, "problems=5") {
		t.Errorf("problems not recounted (4 old + 1 new): %s", out)
	}
}

func lineWith(out, sub string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
