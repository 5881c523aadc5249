package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestCA writes a private CA (ca.pem) and a certificate for 127.0.0.1
// signed by it (cert.pem, key.pem) into dir. Made here rather than kept in
// testdata: a stored certificate would expire.
func writeTestCA(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "licbridge test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "issuer.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, b := range map[string]*pem.Block{
		ca: {Type: "CERTIFICATE", Bytes: caDER}, cert: {Type: "CERTIFICATE", Bytes: leafDER}, key: {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}

// TestIssuerServeTLS: issuer serve with --tls-cert/--tls-key serves HTTPS; a
// host trusts its private CA with --issuer-ca (or the config's issuer.url and
// issuer.ca) and is refused without it, keeping nothing half-done.
func TestIssuerServeTLS(t *testing.T) {
	root := t.TempDir()
	ca, cert, key := writeTestCA(t, root)
	db := filepath.Join(root, "issuer.db")
	issuerKey, pub, lic := filepath.Join(root, "issuer", "issuer.key"), filepath.Join(root, "issuer", "issuer.pub"), filepath.Join(root, "licenses")
	mustRun(t, nil, "license", "keygen", "--out", filepath.Join(root, "issuer"))
	serve := startCommand(t, "--log-format", "json", "issuer", "serve", "--issuer-key", issuerKey, "--db", db,
		"--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	m := serve.waitLog(t, "licbridge issuer ready", 20*time.Second)
	if m["tls"] != true {
		t.Fatalf("issuer ready without TLS: %v", m)
	}
	addr, _ := m["listen"].(string)
	url := "https://" + addr
	id := strings.TrimSpace(mustRun(t, nil, "issuer", "entitle", "--db", db, "--product", "g729", "--channels", "4"))
	host := func(args ...string) result {
		full := append([]string{"license"}, args...)
		return licbridge(t, nil, append(full, "--issuer-pub", pub, "--host-id", e2eHost, "--no-default-dirs", "--licenses-dir", lic)...)
	}

	// The system's roots do not know the private CA.
	if r := host("register", "--issuer", url, id); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("register without --issuer-ca: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := host("register", "--issuer", url, "--issuer-ca", ca, id); r.code != 0 || !strings.Contains(r.stdout, "activated for host") {
		t.Fatalf("register with --issuer-ca: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// issuer.url and issuer.ca from the config serve license update too.
	cfg := filepath.Join(root, "licbridge.yaml")
	if err := os.WriteFile(cfg, []byte("issuer: {url: '"+url+"', ca: '"+ca+"'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := host("update", "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "unchanged") {
		t.Fatalf("update from the config's issuer: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
