package license_test

import (
	"errors"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

// TestNewKey: the rules of license issue, with the refused field named.
func TestNewKey(t *testing.T) {
	cat, err := license.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	host := license.Binding{Type: license.BoundHost, HostID: "A1B2-C3D4-E5F6"}
	for _, tc := range []struct {
		name  string
		p     license.IssueParams
		field string // the FieldError's field; "" valid, "-" another error
	}{
		{"commercial", license.IssueParams{Product: "g729", Channels: 10, Binding: host, Bound: true}, ""},
		{"trial unbound", license.IssueParams{Product: "fax", Channels: 2, Kind: license.KindTrial}, ""},
		{"no binding", license.IssueParams{Product: "g729", Channels: 10}, "-"},
		{"unknown product", license.IssueParams{Product: "opus", Channels: 1, Bound: true}, "-"},
		{"ffa is one channel", license.IssueParams{Product: "ffa", Channels: 3, Bound: true}, "channels"},
		{"bad kind", license.IssueParams{Product: "g729", Channels: 1, Kind: "free", Bound: true}, "kind"},
		{"trial auto-renew", license.IssueParams{Product: "g729", Channels: 1, Kind: license.KindTrial, AutoRenew: true}, "auto-renew"},
		{"ends before issue", license.IssueParams{Product: "g729", Channels: 1, Bound: true, Ends: now.AddDate(0, 0, -1)}, "ends"},
		{"emergency too long", license.IssueParams{Product: "g729", Channels: 1, Kind: license.KindEmergency, Ends: now.AddDate(0, 2, 0)}, "ends"},
		{"bad key id", license.IssueParams{Product: "g729", Channels: 1, Bound: true, ID: "no spaces"}, "key-id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := license.NewKey(cat, tc.p, now)
			var fe *license.FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.field == "" && (k.ID == "" || !k.Ends.After(k.Issued)):
				t.Fatalf("key %+v", k)
			case tc.field == "-" && (err == nil || errors.As(err, &fe)):
				t.Fatalf("error %v, want one naming no field", err)
			case tc.field != "" && tc.field != "-" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("error %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
}
