package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/net/netutil"
)

// DefaultListen is the default listen address: loopback only.
const DefaultListen = "127.0.0.1:8089"

// Defaults of the connection limits in Options. Every endpoint is a quick GET
// with a small answer (no streaming), so the bounds can be tight; they exist so
// that idle or trickling clients cannot hold the process's file descriptors
// (which the FastAGI server needs too).
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds a request from its headers to the end of the
	// answer; a snapshot of the store takes well under a second.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout outlasts a 15 s or 30 s Prometheus scrape interval,
	// so a scraper's keep-alive connection is reused.
	DefaultIdleTimeout    = 60 * time.Second
	DefaultMaxHeaderBytes = 32 << 10
	// DefaultMaxConns bounds open connections: a browser opens about six,
	// Prometheus one. Connections beyond it wait in the kernel's accept queue,
	// taking no descriptor of the process.
	DefaultMaxConns = 64
	// DefaultMaxBodyBytes: no endpoint takes a body today.
	DefaultMaxBodyBytes = 64 << 10
)

// ErrTokenRequired is returned when the server would listen off loopback
// without a token.
var ErrTokenRequired = errors.New("admin: a token is required to listen off loopback")

// Options configure a Server. A zero value is usable: loopback, no token, no
// data (the API answers 503), always ready, fresh Metrics, no logs.
type Options struct {
	// Listen is the address. Default DefaultListen. Off loopback (including
	// ":8089", all interfaces), Token is required.
	Listen string
	// Token is the bearer token; when set it is required on every request
	// except the status page's static files, wherever the server listens.
	// Never logged.
	Token string
	// Source supplies the data.
	Source Source
	// Health reports the components /readyz reflects. Default: none (ready).
	Health Health
	// Metrics is what /metrics exposes. Default NewMetrics().
	Metrics *Metrics
	// Logger gets request errors and refused requests. Default: discard.
	Logger *slog.Logger
	// AddrFile, when set, is where the server records its bound address
	// (http://host:port, one line) once it listens, and removes it when it
	// stops: licbridge show licenses finds the daemon through it. Typically
	// AddrFileName in the state dir.
	AddrFile string

	// Connection limits; zero (or negative) means the Default* constant.
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end of
	// its answer.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request before the server closes it.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes int
	// MaxConns bounds concurrent connections; more wait, unaccepted, in the
	// kernel's queue until one closes.
	MaxConns int
	// MaxBodyBytes bounds what a handler may read of a request body. A
	// request with a body is answered with "Connection: close", so an unread
	// body is never drained.
	MaxBodyBytes int64
}

// withDefaults fills the zero (or negative) limits.
func (o *Options) withDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// Server is the admin HTTP server.
type Server struct {
	opt     Options
	handler http.Handler

	ready chan struct{}
	mu    sync.Mutex
	addr  net.Addr
}

// New checks the options and builds a Server.
func New(o Options) (*Server, error) {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = o.Logger.With("component", "admin")
	o.withDefaults()
	if o.Token == "" && !loopbackAddr(o.Listen) {
		return nil, fmt.Errorf("%w: %s (set http.token, or listen on 127.0.0.1)", ErrTokenRequired, o.Listen)
	}
	s := &Server{opt: o, ready: make(chan struct{})}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's HTTP handler, with authentication, for tests
// and for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the metrics the server exposes.
func (s *Server) Metrics() *Metrics { return s.opt.Metrics }

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the address the server listens on, once Ready.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run listens and serves until ctx ends, then shuts down, giving requests in
// flight a few seconds.
func (s *Server) Run(ctx context.Context) error {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.opt.Listen)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.opt.Listen, err)
	}
	// The bound address is the truth (a host name may resolve anywhere).
	if s.opt.Token == "" && !loopbackAddr(l.Addr().String()) {
		l.Close()
		return fmt.Errorf("%w: %s is bound to %s", ErrTokenRequired, s.opt.Listen, l.Addr())
	}
	srv := s.httpServer(ctx)
	l = netutil.LimitListener(l, s.opt.MaxConns)
	s.mu.Lock()
	s.addr = l.Addr()
	s.mu.Unlock()
	if s.opt.AddrFile != "" {
		if err := WriteAddrFile(s.opt.AddrFile, l.Addr().String()); err != nil {
			l.Close()
			return err
		}
		defer os.Remove(s.opt.AddrFile)
	}
	close(s.ready)
	s.opt.Logger.Info("admin server listening", "addr", l.Addr().String(), "auth", s.opt.Token != "")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// httpServer is the http.Server Run serves with, carrying the limits.
func (s *Server) httpServer(ctx context.Context) *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.opt.ReadHeaderTimeout,
		ReadTimeout:       s.opt.ReadTimeout,
		WriteTimeout:      s.opt.WriteTimeout,
		IdleTimeout:       s.opt.IdleTimeout,
		MaxHeaderBytes:    s.opt.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.opt.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
}

// loopbackAddr reports whether a host:port names only loopback: an IP
// literal in 127.0.0.0/8 or ::1, or "localhost". An empty host (all
// interfaces) and other names are not loopback.
func loopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
