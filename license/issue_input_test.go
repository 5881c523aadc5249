package license_test

import (
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

// TestIssueInput: license issue's flags as text, each refusal naming its flag.
func TestIssueInput(t *testing.T) {
	cat, err := license.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	s := func(v string) *string { return &v }
	g729 := func(in license.IssueInput) license.IssueInput {
		in.Product, in.Channels = "g729", 10
		return in
	}
	for _, tc := range []struct {
		name    string
		in      license.IssueInput
		wantErr string
		want    license.Binding
	}{
		{"host", g729(license.IssueInput{HostID: s("a1b2c3d4e5f6")}), "", license.Binding{Type: license.BoundHost, HostID: "A1B2-C3D4-E5F6"}},
		{"domain lowercased", g729(license.IssueInput{Domain: s("PBX-East")}), "", license.Binding{Type: license.BoundDomain, Domain: "pbx-east"}},
		{"unbound", g729(license.IssueInput{Unbound: true}), "", license.Binding{Type: license.Unbound}},
		{"none for commercial", g729(license.IssueInput{}), "choose the binding of a commercial key: --host-id ID, --domain NAME or --unbound", license.Binding{}},
		{"host and domain", g729(license.IssueInput{HostID: s("a1b2c3d4e5f6"), Domain: s("x")}), "--host-id and --domain exclude each other", license.Binding{}},
		{"all three", g729(license.IssueInput{HostID: s("a1b2c3d4e5f6"), Domain: s("x"), Unbound: true}), "--host-id and --domain and --unbound exclude each other", license.Binding{}},
		{"empty host ID given", g729(license.IssueInput{HostID: s("")}), "--host-id: ", license.Binding{}},
		{"bad domain", g729(license.IssueInput{Domain: s("a b")}), `--domain "a b": want 1 to 253`, license.Binding{}},
		{"bad issued", g729(license.IssueInput{Unbound: true, Issued: s("yesterday")}), "--issued: ", license.Binding{}},
		{"bad ends", g729(license.IssueInput{Unbound: true, Ends: s("2026-13-01")}), "--ends: ", license.Binding{}},
		{"field error as a flag", license.IssueInput{Product: "ffa", Channels: 3, Unbound: true}, "--channels 3: ", license.Binding{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.in.NewKey(cat, now)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one starting %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Binding != tc.want {
				t.Fatalf("binding %+v, want %+v", k.Binding, tc.want)
			}
		})
	}
}
