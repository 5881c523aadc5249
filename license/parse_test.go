package license_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/license"
)

func TestWriteToGolden(t *testing.T) {
	k := newKey()
	golden(t, "g729.lic", encode(t, k))
	golden(t, "g729.canonical", k.Canonical())
}

func TestParseRoundTrip(t *testing.T) {
	for name, k := range map[string]*license.Key{
		"host": newKey(),
		"domain": newKey(func(k *license.Key) {
			k.Binding = license.Binding{Type: license.BoundDomain, Domain: "cluster-1.example"}
		}),
		"unbound":   newKey(unbound, func(k *license.Key) { k.Kind = license.KindTrial }),
		"autorenew": newKey(func(k *license.Key) { k.AutoRenew = true }),
		"emergency": newKey(unbound, func(k *license.Key) { k.Kind = license.KindEmergency; k.Ends = t0.Add(license.EmergencyTerm) }),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := license.Parse(bytes.NewReader(encode(t, k)), "k.lic")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Canonical(), k.Canonical()) || !bytes.Equal(got.Signature, k.Signature) {
				t.Fatalf("round trip changed the key:\n%s\n%s", got.Canonical(), k.Canonical())
			}
			if err := license.NewTrusted(pubA).Verify(got); err != nil {
				t.Fatalf("verify after round trip: %v", err)
			}
		})
	}
}

// TestParseFreeForm: comments, blank lines, field order, name case, CRLF, a byte
// order mark and spaces around values are not signed, so they do not matter.
func TestParseFreeForm(t *testing.T) {
	k := newKey()
	lines := strings.Split(strings.TrimSpace(string(encode(t, k))), "\n")
	// Keep the magic line first, reverse the rest, lowercase the names, use CRLF.
	var b strings.Builder
	b.WriteString("\r\n# a comment\r\n")
	b.WriteString(lines[1] + "\r\n")
	for i := len(lines) - 1; i >= 2; i-- {
		name, val, _ := strings.Cut(lines[i], ":")
		b.WriteString(strings.ToLower(name) + ":   " + strings.TrimSpace(val) + "  \r\n\r\n")
	}
	got, err := license.Parse(strings.NewReader("\ufeff"+b.String()), "k.lic")
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if err := license.NewTrusted(pubA).Verify(got); err != nil {
		t.Fatal(err)
	}
}

func TestParseErrors(t *testing.T) {
	good := string(encode(t, newKey()))
	// replace swaps the value of one field (the whole "Name: value" line).
	replace := func(field, line string) string {
		var out []string
		for _, l := range strings.Split(good, "\n") {
			if strings.HasPrefix(l, field+":") {
				if line == "" {
					continue
				}
				l = line
			}
			out = append(out, l)
		}
		return strings.Join(out, "\n")
	}
	tests := []struct {
		name     string
		in       string
		line     int
		contains string
	}{
		{"empty", "", 0, "empty"},
		{"only comments", "# nothing\n\n", 0, "empty"},
		{"not ours", "Key: value\n", 1, "not a licbridge license key file"},
		{"future version", strings.Replace(good, "Licbridge-License: 1", "Licbridge-License: 2", 1), 2, "unsupported format version"},
		{"no colon", good + "garbage\n", 13, `want "Name: value"`},
		{"unknown field", good + "Color: blue\n", 13, `unknown field "Color"`},
		{"duplicate field", good + "Channels: 10\n", 13, "duplicate field Channels (first on line 5)"},
		{"duplicate field other case", good + "CHANNELS: 10\n", 13, "duplicate field Channels"},
		{"duplicate magic", good + "Licbridge-License: 1\n", 13, "duplicate field Licbridge-License"},
		{"missing signature", replace("Signature", ""), 0, "missing field Signature"},
		{"missing key id", replace("Key-ID", ""), 0, "missing field Key-ID"},
		{"zero channels", replace("Channels", "Channels: 0"), 5, "must be at least 1"},
		{"negative channels", replace("Channels", "Channels: -5"), 5, "must be at least 1"},
		{"channels leading zero", replace("Channels", "Channels: 010"), 5, "want a whole number"},
		{"channels plus", replace("Channels", "Channels: +10"), 5, "want a whole number"},
		{"channels words", replace("Channels", "Channels: ten"), 5, "want a whole number"},
		{"channels huge", replace("Channels", "Channels: 99999999999999999999"), 5, "want a whole number"},
		{"channels over max", replace("Channels", "Channels: 1000001"), 5, "more than 1000000"},
		{"bad date", replace("Issued", "Issued: 2026-13-01T00:00:00Z"), 7, "want a UTC time"},
		{"date only", replace("Issued", "Issued: 2026-11-22"), 7, "want a UTC time"},
		{"date with zone", replace("Issued", "Issued: 2026-11-22T00:00:00+01:00"), 7, "want a UTC time"},
		{"date fraction", replace("Ends", "Ends: 2027-11-22T00:00:00.5Z"), 8, "want a UTC time"},
		{"ends before issued", replace("Ends", "Ends: 2026-11-21T00:00:00Z"), 8, "is not after Issued"},
		{"ends equal issued", replace("Ends", "Ends: 2026-11-22T00:00:00Z"), 8, "is not after Issued"},
		{"bad auto-renew", replace("Auto-Renew", "Auto-Renew: true"), 9, "want yes or no"},
		{"trial auto-renew", strings.Replace(replace("Kind", "Kind: trial"), "Auto-Renew: no", "Auto-Renew: yes", 1), 9, "only allowed for commercial keys"},
		{"bad kind", replace("Kind", "Kind: free"), 10, "want commercial, trial or emergency"},
		{"bad binding", replace("Binding", "Binding: host A1B2-C3D4-E5F6"), 6, "want none, host-id ID or domain NAME"},
		{"lowercase host id", replace("Binding", "Binding: host-id a1b2-c3d4-e5f6"), 6, "host ID must look like"},
		{"short host id", replace("Binding", "Binding: host-id A1B2"), 6, "host ID must look like"},
		{"bad domain", replace("Binding", "Binding: domain Bad Domain"), 6, "domain must be"},
		{"bare binding word", replace("Binding", "Binding: domain"), 6, "want none"},
		{"bad product", replace("Product", "Product: G729"), 4, "Product"},
		{"bad key id", replace("Key-ID", "Key-ID: -x"), 3, "Key-ID"},
		{"bad issuer", replace("Issuer", "Issuer: XYZ"), 11, "16 lowercase hex digits"},
		{"signature not base64", replace("Signature", "Signature: !!!"), 12, "not base64"},
		{"signature short", replace("Signature", "Signature: AAAA"), 12, "3 bytes, want 64"},
		{"control character", replace("Key-ID", "Key-ID: A\x01B"), 3, "control character"},
		{"nul byte", good + "\x00", 0, "binary content"},
		{"too large", good + "#" + strings.Repeat("x", license.MaxFileSize) + "\n", 0, "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := license.Parse(strings.NewReader(tc.in), "/lic/k.lic")
			var pe *license.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("want *ParseError, got %v", err)
			}
			if pe.File != "/lic/k.lic" || pe.Line != tc.line || !strings.Contains(pe.Msg, tc.contains) {
				t.Fatalf("got %q (file %s, line %d), want line %d containing %q", err, pe.File, pe.Line, tc.line, tc.contains)
			}
			if !strings.HasPrefix(err.Error(), "/lic/k.lic") {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2027-01-31", "2027-01-31T00:00:00Z"},
		{"2027-01-31T12:30:05Z", "2027-01-31T12:30:05Z"},
		{"2027-01-31T12:30:05.9Z", "2027-01-31T12:30:05Z"},
		{"2027-01-31T12:30:05+02:00", "2027-01-31T10:30:05Z"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := license.ParseTime(tc.in)
			if err != nil || got.Format(license.TimeLayout) != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
	if _, err := license.ParseTime("31/01/2027"); err == nil {
		t.Fatal("31/01/2027 accepted")
	}
}
