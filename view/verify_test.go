package view_test

import (
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
	"github.com/licbridge/licbridge/view"
)

func TestWriteVerified(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	key := &license.Key{ID: "G729-1", Product: "g729", Channels: 1}
	host := license.Binding{Type: license.BoundHost, HostID: "A1B2-C3D4-E5F6"}
	for _, tc := range []struct {
		name  string
		e     license.Entry
		valid bool
		want  string
	}{
		{"valid", license.Entry{Key: key, KeyID: "G729-1", Product: "g729", Channels: 1, Binding: host, Status: license.StatusValid, CountsUntil: now.AddDate(0, 1, 0)}, true,
			"k.lic: valid: key G729-1, g729, 1 channel, host-id A1B2-C3D4-E5F6, counts until 2026-12-22T12:00:00Z\n"},
		{"valid with a warning", license.Entry{Key: key, KeyID: "G729-1", Product: "g729", Channels: 5, Binding: license.Binding{Type: license.Unbound}, Status: license.StatusValid, Warning: "ends in 6 days", CountsUntil: now.AddDate(0, 0, 6)}, true,
			"k.lic: valid: key G729-1, g729, 5 channels, none, counts until 2026-11-28T12:00:00Z\n  warning: ends in 6 days\n"},
		{"invalid", license.Entry{Key: key, Status: license.StatusInvalid, Reason: "bad signature"}, false, "k.lic: INVALID: bad signature\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if valid := view.WriteVerified(&b, "k.lic", tc.e, now); valid != tc.valid || b.String() != tc.want {
				t.Fatalf("valid %v, wrote %q; want %v, %q", valid, b.String(), tc.valid, tc.want)
			}
		})
	}
}

// TestWriteVerifiedFiles: each file evaluated alone, the invalid counted.
func TestWriteVerifiedFiles(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	bad := view.WriteVerifiedFiles(&b, []string{dir + "/a.lic", dir + "/b.lic"}, license.EvalOptions{})
	if bad != 2 || strings.Count(b.String(), ": INVALID: ") != 2 || !strings.HasPrefix(b.String(), dir+"/a.lic: ") {
		t.Fatalf("bad %d, wrote %q", bad, b.String())
	}
}
