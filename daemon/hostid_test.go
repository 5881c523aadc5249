package daemon

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/license"
)

// TestVerifyOptions: license verify's rules come from the config, and this
// host's binding only when asked for; a host without an ID is a note, not an
// error.
func TestVerifyOptions(t *testing.T) {
	dir := t.TempDir()
	kp, err := license.WriteKeyPair(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	noSys := filepath.Join(dir, "no-sys")
	for _, tc := range []struct {
		name             string
		cfg              config.Config
		thisHost         bool
		wantHost, wantDm string
		wantNote, wantEr string
	}{
		{"this host from the config", config.Config{IssuerPub: []string{kp.PubPath}, HostID: "a1b2c3d4e5f6", Domain: "pbx"}, true, "A1B2-C3D4-E5F6", "pbx", "", ""},
		{"not this host", config.Config{IssuerPub: []string{kp.PubPath}, HostID: "a1b2c3d4e5f6", Domain: "pbx"}, false, "", "", "", ""},
		{"this host has no ID", config.Config{IssuerPub: []string{kp.PubPath}, Domain: "pbx"}, true, "", "pbx", "this host's ID", ""},
		{"no issuer key", config.Config{}, true, "", "", "", "no issuer public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, note, err := VerifyOptions(&tc.cfg, noSys, now, tc.thisHost)
			if tc.wantEr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantEr) {
					t.Fatalf("err %v, want one naming %q", err, tc.wantEr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(opts.HostID) != tc.wantHost || opts.Domain != tc.wantDm || !opts.Now.Equal(now) || opts.Trusted == nil || opts.Catalog == nil {
				t.Fatalf("opts %+v", opts)
			}
			if (note == nil) != (tc.wantNote == "") || note != nil && !strings.Contains(note.Error(), tc.wantNote) {
				t.Fatalf("note %v, want %q", note, tc.wantNote)
			}
		})
	}
}

func TestOfflineRequest(t *testing.T) {
	req, err := OfflineRequest(&config.Config{HostID: "a1b2c3d4e5f6", Domain: "PBX-East"}, "G729-1", t.TempDir())
	if err != nil || req.KeyID != "G729-1" || req.HostID != "A1B2-C3D4-E5F6" || req.Domain != "pbx-east" {
		t.Fatalf("request %+v, %v", req, err)
	}
	if _, err := OfflineRequest(&config.Config{}, "G729-1", t.TempDir()); err == nil {
		t.Fatal("a host without an ID made a request")
	}
}
