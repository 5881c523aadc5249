package view_test

import (
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
	"github.com/licbridge/licbridge/view"
)

// TestKeyOf: every license status maps to one view status and binding, the
// same on every surface (the CLI said "ignored" and "none" where the API said
// INVALID and "unbound").
func TestKeyOf(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	key := &license.Key{ID: "K"}
	host := license.Binding{Type: license.BoundHost, HostID: "A1B2-C3D4-E5F6"}
	for _, c := range []struct {
		name    string
		e       license.Entry
		status  string
		binding string
		days    int // ends_in_days; -1: unset
	}{
		{"valid", license.Entry{Key: key, Status: license.StatusValid, Binding: host}, view.StatusValid, "host A1B2-C3D4-E5F6", -1},
		{"ignored", license.Entry{Key: key, Status: license.StatusIgnored, Reason: "only one ffa key"}, view.StatusIgnored, "none", -1},
		{"invalid", license.Entry{Key: key, Status: license.StatusInvalid, Reason: "bad signature"}, view.StatusInvalid, "none", -1},
		{"expired", license.Entry{Key: key, Status: license.StatusExpired}, view.StatusExpired, "none", -1},
		{"expiring", license.Entry{Key: key, Status: license.StatusValid, Warning: "ends in 6 days", Ends: now.Add(6 * 24 * time.Hour), CountsUntil: now.Add(6*24*time.Hour + time.Hour)}, view.StatusExpiring, "none", 6},
		{"renewal_grace", license.Entry{Key: key, Status: license.StatusValid, Warning: "in renewal grace", Ends: now.Add(-time.Hour), CountsUntil: now.Add(3*24*time.Hour + time.Hour)}, view.StatusGrace, "none", 3},
		{"unparsable", license.Entry{File: "/k/x.lic", Status: license.StatusInvalid, Reason: "line 5"}, view.StatusInvalid, "", -1},
		{"domain", license.Entry{Key: key, Status: license.StatusValid, Binding: license.Binding{Type: license.BoundDomain, Domain: "east"}}, view.StatusValid, "domain east", -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := view.KeyOf(c.e, now)
			if k.Status != c.status || k.Binding != c.binding {
				t.Errorf("status %s binding %q, want %s %q", k.Status, k.Binding, c.status, c.binding)
			}
			switch {
			case c.days < 0 && k.EndsInDays != nil:
				t.Errorf("ends_in_days %d, want none", *k.EndsInDays)
			case c.days >= 0 && (k.EndsInDays == nil || *k.EndsInDays != c.days):
				t.Errorf("ends_in_days %v, want %d", k.EndsInDays, c.days)
			}
			if c.e.Key == nil && k.ID != c.e.File {
				t.Errorf("an unparsable file's ID %q, want its name %q", k.ID, c.e.File)
			}
		})
	}
}
