package license_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/licbridge/licbridge/license"
)

// FuzzParse: Parse never panics, fails only with a *ParseError, and whatever it
// accepts survives a write and re-parse unchanged (so the canonical form a
// signature covers is a function of the parsed values alone).
func FuzzParse(f *testing.F) {
	f.Add(encode(f, newKey()))
	f.Add(encode(f, newKey(unbound, func(k *license.Key) { k.Kind = license.KindTrial })))
	f.Add(encode(f, newKey(func(k *license.Key) { k.Binding = license.Binding{Type: license.BoundDomain, Domain: "c1"} })))
	f.Add([]byte("Licbridge-License: 1\nKey-ID: x\n"))
	f.Add([]byte("# c\r\nLicbridge-License: 1\r\nchannels: 0\r\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := license.ParseBytes(data, "f.lic")
		if err != nil {
			var pe *license.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if k.Channels <= 0 || !k.Ends.After(k.Issued) || len(k.Signature) != 64 {
			t.Fatalf("accepted an invalid key: %+v", k)
		}
		var b bytes.Buffer
		if _, err := k.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		k2, err := license.ParseBytes(b.Bytes(), "f2.lic")
		if err != nil {
			t.Fatalf("re-parse of written key: %v\n%s", err, b.Bytes())
		}
		if !bytes.Equal(k.Canonical(), k2.Canonical()) || !bytes.Equal(k.Signature, k2.Signature) {
			t.Fatalf("write/parse changed the key:\n%s\n%s", k.Canonical(), k2.Canonical())
		}
	})
}

// FuzzParsePublicKeys: the issuer.pub parser never panics and returns 32-byte keys.
func FuzzParsePublicKeys(f *testing.F) {
	var b bytes.Buffer
	if err := license.WritePublicKey(&b, pubA); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte("Licbridge-Issuer-Public-Key: AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := license.ParsePublicKeys(bytes.NewReader(data), "p")
		if err != nil {
			return
		}
		for _, k := range keys {
			if len(k) != 32 {
				t.Fatalf("key of %d bytes", len(k))
			}
		}
	})
}
