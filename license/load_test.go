package license_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

func loadOpts(dirs ...license.Dir) license.LoadOptions {
	return license.LoadOptions{
		Dirs:    dirs,
		Trusted: license.NewTrusted(pubA),
		HostID:  thisHost,
		Now:     func() time.Time { return t0.Add(license.Day) },
	}
}

func TestLoad(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	writeKey(t, d1, "a.lic", newKey(id("A")))
	writeKey(t, d2, "b.lic", newKey(id("B"), channels(5)))
	tampered := encode(t, newKey(id("C"), channels(5)))
	tampered = []byte(strings.Replace(string(tampered), "Channels: 5", "Channels: 9", 1))
	if err := os.WriteFile(filepath.Join(d2, "c.lic"), tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d2, "junk.lic"), []byte("Licbridge-License: 1\nChannels: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Not key files: other names, hidden files, directories.
	if err := os.WriteFile(filepath.Join(d2, "README.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeKey(t, d2, ".hidden.lic", newKey(id("H")))
	if err := os.Mkdir(filepath.Join(d2, "sub.lic"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An unreadable file (a dangling symlink) is reported, not fatal.
	if err := os.Symlink(filepath.Join(d2, "nowhere"), filepath.Join(d2, "dangling.lic")); err != nil {
		t.Fatal(err)
	}
	missingOptional := filepath.Join(t.TempDir(), "optional")
	missingRequired := filepath.Join(t.TempDir(), "required")

	s, err := license.Load(context.Background(), loadOpts(
		license.Dir{Path: missingOptional, Optional: true},
		license.Dir{Path: d1},
		license.Dir{Path: d2},
		license.Dir{Path: d1 + "/"}, // the same directory again
		license.Dir{Path: missingRequired},
	))
	if err != nil {
		t.Fatal(err)
	}
	if s.Total("g729") != 15 {
		t.Fatalf("total %d, want 15", s.Total("g729"))
	}
	want := map[string]string{
		filepath.Join(d1, "a.lic"):        "valid",
		filepath.Join(d2, "b.lic"):        "valid",
		filepath.Join(d2, "c.lic"):        "bad signature",
		filepath.Join(d2, "junk.lic"):     "junk.lic:2: Channels 0: must be at least 1",
		filepath.Join(d2, "dangling.lic"): "no such file or directory",
	}
	if len(s.Keys()) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(s.Keys()), len(want), s.Keys())
	}
	for f, w := range want {
		e := entry(t, s, f)
		if got := string(e.Status) + " " + e.Reason; !strings.Contains(got, w) {
			t.Errorf("%s: %q, want %q", f, got, w)
		}
	}
	probs := s.Problems()
	if len(probs) != 1 || !strings.Contains(probs[0], missingRequired) {
		t.Fatalf("problems %q, want only the missing required directory", probs)
	}
}

func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := license.Load(ctx, loadOpts(license.Dir{Path: t.TempDir()})); err == nil {
		t.Fatal("cancelled load returned no error")
	}
}

func TestSearchPath(t *testing.T) {
	got := license.SearchPath("/etc/x")
	if len(got) != 3 || got[0].Path != license.DefaultDirAsterisk || !got[0].Optional || got[1].Path != license.DefaultDirDigium ||
		!got[1].Optional || got[2].Path != "/etc/x" || got[2].Optional {
		t.Fatalf("SearchPath = %+v", got)
	}
}
