package license_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

func TestVerify(t *testing.T) {
	trusted := license.NewTrusted(pubB, pubA)
	if err := trusted.Verify(newKey()); err != nil {
		t.Fatalf("genuine key: %v", err)
	}
	// Every signed value matters: change each one after signing.
	tamper := map[string]func(*license.Key){
		"key id":     func(k *license.Key) { k.ID = "G729-00000002" },
		"product":    func(k *license.Key) { k.Product = "hpec" },
		"channels":   func(k *license.Key) { k.Channels = 100 },
		"binding":    func(k *license.Key) { k.Binding = license.Binding{} },
		"issued":     func(k *license.Key) { k.Issued = k.Issued.Add(-time.Second) },
		"ends":       func(k *license.Key) { k.Ends = k.Ends.Add(time.Second) },
		"auto-renew": func(k *license.Key) { k.AutoRenew = true },
		"kind":       func(k *license.Key) { k.Kind = license.KindTrial },
		"signature":  func(k *license.Key) { k.Signature[0] ^= 1 },
	}
	for name, mod := range tamper {
		t.Run(name, func(t *testing.T) {
			k := newKey()
			mod(k)
			if err := trusted.Verify(k); !errors.Is(err, license.ErrBadSignature) {
				t.Fatalf("got %v, want ErrBadSignature", err)
			}
		})
	}
	t.Run("issuer swapped", func(t *testing.T) {
		k := newKey()
		k.Issuer = license.Fingerprint(pubB)
		if err := trusted.Verify(k); !errors.Is(err, license.ErrBadSignature) {
			t.Fatalf("got %v, want ErrBadSignature", err)
		}
	})
	t.Run("untrusted issuer", func(t *testing.T) {
		err := license.NewTrusted(pubB).Verify(newKey())
		if !errors.Is(err, license.ErrUntrustedIssuer) || !strings.Contains(err.Error(), string(license.Fingerprint(pubA))) {
			t.Fatalf("got %v, want ErrUntrustedIssuer naming %s", err, license.Fingerprint(pubA))
		}
	})
	t.Run("second trusted issuer", func(t *testing.T) {
		k := newKey()
		license.Sign(k, issuerB)
		if err := trusted.Verify(k); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIssuerKeyFiles(t *testing.T) {
	var priv, pub bytes.Buffer
	if err := license.WritePrivateKey(&priv, issuerA); err != nil {
		t.Fatal(err)
	}
	if err := license.WritePublicKey(&pub, pubA); err != nil {
		t.Fatal(err)
	}
	gotPriv, err := license.ParsePrivateKey(bytes.NewReader(priv.Bytes()), "issuer.key")
	if err != nil || !gotPriv.Equal(issuerA) {
		t.Fatalf("private key round trip: %v", err)
	}
	// Several public keys in one file, and in several files.
	var two bytes.Buffer
	two.Write(pub.Bytes())
	if err := license.WritePublicKey(&two, pubB); err != nil {
		t.Fatal(err)
	}
	keys, err := license.ParsePublicKeys(bytes.NewReader(two.Bytes()), "issuer.pub")
	if err != nil || len(keys) != 2 || !keys[0].Equal(pubA) || !keys[1].Equal(pubB) {
		t.Fatalf("public keys: %v %v", keys, err)
	}

	t.Run("private key given as public never quoted", func(t *testing.T) {
		_, err := license.ParsePublicKeys(bytes.NewReader(priv.Bytes()), "issuer.key")
		if err == nil {
			t.Fatal("private key file accepted as public")
		}
		secret := priv.String()[strings.LastIndex(priv.String(), " ")+1:]
		if strings.Contains(err.Error(), strings.TrimSpace(secret)[:8]) {
			t.Fatalf("error quotes the secret: %v", err)
		}
	})
	bad := map[string]string{
		"empty":       "",
		"short":       "Licbridge-Issuer-Private-Key: AAAA\n",
		"two":         "Licbridge-Issuer-Private-Key: x\nLicbridge-Issuer-Private-Key: y\n",
		"other field": "Foo: bar\n",
	}
	for name, in := range bad {
		t.Run("bad private "+name, func(t *testing.T) {
			if _, err := license.ParsePrivateKey(strings.NewReader(in), "issuer.key"); err == nil || !strings.Contains(err.Error(), "issuer.key") {
				t.Fatalf("got %v, want an error naming the file", err)
			}
		})
	}
	for name, in := range map[string]string{"empty": "", "short": "Licbridge-Issuer-Public-Key: AAAA\n", "no colon": "xyz\n"} {
		t.Run("bad public "+name, func(t *testing.T) {
			if _, err := license.ParsePublicKeys(strings.NewReader(in), "issuer.pub"); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	a, b := license.Fingerprint(pubA), license.Fingerprint(pubB)
	if a == b || len(a) != 16 {
		t.Fatalf("fingerprints %s %s", a, b)
	}
	if license.Fingerprint(ed25519.PublicKey(bytes.Clone(pubA))) != a {
		t.Fatal("fingerprint not stable")
	}
}
