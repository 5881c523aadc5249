package issuer

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/licbridge/licbridge/license"
)

// DefaultDB is the activation database of `licbridge issuer`: an embedded
// SQLite file.
const DefaultDB = "/var/lib/licbridge-issuer/issuer.db"

// DefaultListen is where `licbridge issuer serve` listens: loopback unless
// told otherwise (put TLS in front, or serve HTTPS, before opening it to the
// hosts).
const DefaultListen = "127.0.0.1:7443"

// ServeOptions configure Serve.
type ServeOptions struct {
	// Listen is the address (loopback by default in the CLI).
	Listen string
	// CertFile and KeyFile, both set, serve HTTPS.
	CertFile, KeyFile string
	Limits            RateLimits
	// Ready, if set, is called with the address once listening.
	Ready func(addr net.Addr)
}

// Serve runs the issuer's HTTP API until ctx ends, then shuts down within
// 10 s. Plain HTTP beyond loopback is served with a warning: activation codes
// would cross the network in clear.
func Serve(ctx context.Context, s *Service, o ServeOptions) error {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return fmt.Errorf("a TLS certificate and its key go together")
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           Handler(s, o.Limits),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	tls := o.CertFile != ""
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !tls && !net.ParseIP(host).IsLoopback() {
		s.log().Warn("issuer serving plain HTTP beyond loopback: activation codes cross the network in clear; pass --tls-cert and --tls-key")
	}
	errc := make(chan error, 1)
	go func() {
		if tls {
			errc <- srv.ServeTLS(ln, o.CertFile, o.KeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.log().Info("licbridge issuer ready", "listen", ln.Addr().String(), "tls", tls, "issuer", license.Fingerprint(s.Priv.Public().(ed25519.PublicKey)))
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// OpenDB opens the activation database named by dsn (a SQLite file path,
// sqlite:PATH, or postgres://...), creating a SQLite file's directory.
func OpenDB(ctx context.Context, dsn string) (Store, error) {
	if !strings.Contains(dsn, "://") {
		path := strings.TrimPrefix(dsn, "sqlite:")
		if i := strings.LastIndexByte(path, '/'); i > 0 {
			if err := os.MkdirAll(path[:i], 0o700); err != nil {
				return nil, fmt.Errorf("activation database: %w", err)
			}
		}
	}
	return Open(ctx, dsn)
}
