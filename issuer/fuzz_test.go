package issuer

import (
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want: error substring, "" for success
	}{
		{"ok", `{"key_id":"G729-ABCD","host_id":"a1b2c3d4e5f6"}`, ""},
		{"offline file", `{"type":"` + RequestType + `","key_id":"G729-ABCD","host_id":"A1B2-C3D4-E5F6","domain":"PBX-East"}`, ""},
		{"empty", ``, "empty"},
		{"not an object", `[1]`, "not a JSON object"},
		{"unknown field", `{"key_id":"G729-ABCD","host_id":"A1B2-C3D4-E5F6","x":1}`, `unknown field "x"`},
		{"no key", `{"host_id":"A1B2-C3D4-E5F6"}`, "key_id is missing"},
		{"bad key", `{"key_id":"G729 SECRET","host_id":"A1B2-C3D4-E5F6"}`, "key_id must be"},
		{"no host", `{"key_id":"G729-ABCD"}`, "host_id is missing"},
		{"bad host", `{"key_id":"G729-ABCD","host_id":"xyz"}`, "host_id"},
		{"bad domain", `{"key_id":"G729-ABCD","host_id":"A1B2-C3D4-E5F6","domain":"a b"}`, "domain must be"},
		{"wrong type", `{"type":"other","key_id":"G729-ABCD","host_id":"A1B2-C3D4-E5F6"}`, "type"},
		{"two values", `{"key_id":"G729-ABCD","host_id":"A1B2-C3D4-E5F6"} {}`, "more than one"},
		{"key as number", `{"key_id":12,"host_id":"A1B2-C3D4-E5F6"}`, "field key_id"},
		{"too large", `{"key_id":"` + strings.Repeat("A", MaxRequestSize) + `"}`, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRequest(strings.NewReader(tc.in))
			if tc.want == "" {
				if err != nil || r.HostID != "A1B2-C3D4-E5F6" || r.KeyID != "G729-ABCD" {
					t.Fatalf("ParseRequest = %+v, %v", r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseRequest error %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParseRequest: any input gives a valid request or an error that never
// quotes the key ID (the activation code).
func FuzzParseRequest(f *testing.F) {
	f.Add(`{"key_id":"G729-ABCD","host_id":"a1b2c3d4e5f6"}`)
	f.Add(`{"type":"` + RequestType + `","key_id":"K","host_id":"A1B2-C3D4-E5F6","domain":"x"}`)
	f.Add(`{"key_id":"SECRETSECRET","host_id":"bad"}`)
	f.Add(`{"key_id":"SECRET SECRET"}`)
	f.Add(`{"key_id":"SECRETSECRET",`)
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseRequest(strings.NewReader(in))
		if err != nil {
			if strings.Contains(err.Error(), "SECRETSECRET") {
				t.Fatalf("error quotes the key ID: %v", err)
			}
			return
		}
		if r.KeyID == "" || r.HostID == "" {
			t.Fatalf("accepted an incomplete request %+v", r)
		}
		if _, err := ParseRequest(strings.NewReader(mustJSON(t, r))); err != nil {
			t.Fatalf("round trip of %+v: %v", r, err)
		}
	})
}

func mustJSON(t *testing.T, r Request) string {
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
