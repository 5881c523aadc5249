package issuer

import (
	"bytes"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

func TestText(t *testing.T) {
	ends := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	e := Entitlement{KeyID: "G729-AAAA", Product: "g729", Channels: 1, Kind: license.KindCommercial, Ends: ends, Customer: "ACME"}
	revoked := e
	revoked.Channels, revoked.Revoked = 10, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ name, got, want string }{
		{"summary", e.Summary(), "g729, 1 channel, commercial, ends 2027-03-01T00:00:00Z"},
		{"summary revoked", revoked.Summary(), "g729, 10 channels, commercial, ends 2027-03-01T00:00:00Z, revoked"},
		{"list", writeText(t, func(b *bytes.Buffer) error {
			return WriteList(b, []Listed{{Entitlement: e, Hosts: 1, MaxHosts: 3}, {Entitlement: revoked, MaxHosts: 3}})
		}), "KEY ID     PRODUCT  CHANNELS  KIND        ENDS        HOSTS  STATE               CUSTOMER\n" +
			"G729-AAAA  g729     1         commercial  2027-03-01  1/3    active              ACME\n" +
			"G729-AAAA  g729     10        commercial  2027-03-01  0/3    revoked 2026-12-01  ACME\n"},
		{"activations", writeText(t, func(b *bytes.Buffer) error {
			return WriteActivations(b, []Activation{{KeyID: "G729-AAAA", HostID: "A1B2-C3D4-E5F6", Domain: "pbx", Address: "10.0.0.1", At: ends}})
		}), "HOST ID         DOMAIN  ADDRESS   ACTIVATED\nA1B2-C3D4-E5F6  pbx     10.0.0.1  2027-03-01T00:00:00Z\n"},
		{"updates", writeText(t, func(b *bytes.Buffer) error {
			old := &license.Key{Channels: 1, Ends: ends}
			res := []UpdateResult{
				{Installed: Installed{Path: "a.lic", Key: old}},
				{Installed: Installed{Path: "b.lic", Key: old}, New: &license.Key{Channels: 7, Ends: ends.AddDate(1, 0, 0)}},
				{Installed: Installed{Path: "c.lic", Key: old}, Err: ErrUnreachable},
			}
			if n := WriteUpdates(b, res); n != 1 {
				t.Errorf("WriteUpdates: %d failed, want 1", n)
			}
			return nil
		}), "a.lic: unchanged\nb.lic: updated: 7 channels, ends 2028-03-01T00:00:00Z (was 1 channel, ends 2027-03-01T00:00:00Z)\n" +
			"c.lic: kept as it is: " + ErrUnreachable.Error() + "\n"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, tc.got, tc.want)
		}
	}
}

func writeText(t *testing.T, f func(*bytes.Buffer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
