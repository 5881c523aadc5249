package amisrv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/licbridge/licbridge/ami/proto"
)

// Banner is the greeting Asterisk 22 still sends.
const Banner = "Asterisk Call Manager/11.0.0"

// Options configure a Server. A zero field means its default.
type Options struct {
	// Addr to listen on. Default "127.0.0.1:0" (loopback, a free port).
	Addr string
	// User and Secret accepted by Login. Default "licbridge" / "licsecret",
	// the recorded test PBX's.
	User   string
	Secret string
	// AuthFailDelay is how long a wrong secret waits before the error (and
	// the close). Asterisk: about 1s, the default of Listen; Start defaults it
	// to 10ms to keep tests fast.
	AuthFailDelay time.Duration
	// VersionLine is the output of "core show version".
	VersionLine string
	// Commands adds or overrides CLI commands: command line → Output lines.
	Commands map[string][]string
	// Logger for the double's own diagnostics. Default: discarded.
	Logger *slog.Logger
}

// FAXStats are the counters FAXStats answers with.
type FAXStats struct {
	CurrentSessions, ReservedSessions, TransmitAttempts, ReceiveAttempts, CompletedFAXes, FailedFAXes int
}

// Server is a running AMI double.
type Server struct {
	opts Options
	ln   net.Listener
	log  *slog.Logger
	wg   sync.WaitGroup

	mu           sync.Mutex
	sessions     map[*session]struct{}
	channels     []*Channel // in creation order, as CoreShowChannels lists them here
	globals      map[string]string
	actions      []*proto.Message
	fax          FAXStats
	refused      map[string]bool // lower-case action names answered "Permission denied"
	unresponsive bool
	closed       bool
	seq          int
	epoch        int64
	processed    int
	bootTime     time.Time
	logins       int
	loginNotify  chan struct{}
}

// Listen starts a Server; Close (or Shutdown) stops it.
func Listen(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.User == "" {
		opts.User = "licbridge"
	}
	if opts.Secret == "" {
		opts.Secret = "licsecret"
	}
	if opts.AuthFailDelay == 0 {
		opts.AuthFailDelay = time.Second
	}
	if opts.VersionLine == "" {
		opts.VersionLine = "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-22 22:20:54 UTC"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("amisrv: listen on %s: %w", opts.Addr, err)
	}
	s := &Server{
		opts:        opts,
		ln:          ln,
		log:         opts.Logger.With("component", "amisrv"),
		sessions:    map[*session]struct{}{},
		globals:     map[string]string{},
		epoch:       time.Now().Unix(),
		bootTime:    time.Now(),
		loginNotify: make(chan struct{}),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Start is Listen for tests: it fails tb on error and closes the server when
// the test ends. AuthFailDelay defaults to 10ms here.
func Start(tb TB, opts Options) *Server {
	tb.Helper()
	if opts.AuthFailDelay == 0 {
		opts.AuthFailDelay = 10 * time.Millisecond
	}
	s, err := Listen(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Addr is the listening address ("127.0.0.1:port").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening and closes every connection without a word.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for ss := range s.sessions {
		ss.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Shutdown stops like Asterisk on SIGTERM: "Event: Shutdown" to sessions whose
// Events mask includes system, then EOF on every connection; the listener closes.
func (s *Server) Shutdown() {
	s.broadcast(proto.NewMessage("Event", "Shutdown", "Privilege", "system,all", "Shutdown", "Cleanly", "Restart", "False"))
	_ = s.Close()
}

// DropConnections closes every connection at once, as a crash would; the
// server keeps listening so clients can reconnect.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		ss.close()
	}
}

// SetUnresponsive makes the server read and record actions (and Logins) but
// answer nothing, like a hung Asterisk; false resumes normal answers.
func (s *Server) SetUnresponsive(v bool) {
	s.mu.Lock()
	s.unresponsive = v
	s.mu.Unlock()
}

// Actions returns copies of every action received so far, in order.
func (s *Server) Actions() []*proto.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*proto.Message, len(s.actions))
	for i, a := range s.actions {
		out[i] = a.Clone()
	}
	return out
}

// Logins counts successful logins so far.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// WaitLogins waits until at least n successful logins happened, or ctx ends.
func (s *Server) WaitLogins(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := s.logins, s.loginNotify
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("amisrv: %d of %d logins: %w", got, n, ctx.Err())
		}
	}
}

// Refuse makes the double answer these actions "Permission denied", as
// Asterisk does when the user's write classes do not allow them.
func (s *Server) Refuse(actions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]bool{}
	}
	for _, a := range actions {
		s.refused[strings.ToLower(a)] = true
	}
}

// SetFAXStats sets what FAXStats (and FAXSessions, as that many sessions) answers.
func (s *Server) SetFAXStats(f FAXStats) {
	s.mu.Lock()
	s.fax = f
	s.mu.Unlock()
}

// SetGlobal sets a global variable without emitting an event.
func (s *Server) SetGlobal(name, value string) {
	s.mu.Lock()
	s.globals[name] = value
	s.mu.Unlock()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("accept", "err", err)
			}
			return
		}
		ss := &session{srv: s, nc: nc, w: proto.NewWriter(nc), events: eventMask{all: true}}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.sessions[ss] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			ss.serve()
			s.mu.Lock()
			delete(s.sessions, ss)
			s.mu.Unlock()
		}()
	}
}

// eventMask is a session's "Events" setting.
type eventMask struct {
	all     bool
	classes map[string]bool
}

func parseMask(v string) eventMask {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "on", "yes", "true", "all":
		return eventMask{all: true}
	case "off", "no", "false", "none":
		return eventMask{}
	}
	m := eventMask{classes: map[string]bool{}}
	for _, c := range strings.Split(v, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if c == "all" {
			return eventMask{all: true}
		}
		m.classes[c] = true
	}
	return m
}

// allows reports whether an event with this Privilege header is sent.
func (m eventMask) allows(privilege string) bool {
	if m.all {
		return true
	}
	for _, c := range strings.Split(privilege, ",") {
		if c != "all" && m.classes[strings.ToLower(c)] {
			return true
		}
	}
	return false
}

// broadcast sends an event to every logged-in session whose mask allows it.
func (s *Server) broadcast(m *proto.Message) {
	s.mu.Lock()
	var to []*session
	for ss := range s.sessions {
		to = append(to, ss)
	}
	s.mu.Unlock()
	priv := m.Get("Privilege")
	for _, ss := range to {
		if ss.authed() && ss.mask().allows(priv) {
			_ = ss.write(m)
		}
	}
}

// Emit sends an event built from alternating keys and values, exactly as
// given (start with "Event", name, "Privilege", "call,all", ...), to every
// logged-in session whose Events mask allows its Privilege class.
func (s *Server) Emit(kv ...string) {
	s.broadcast(proto.NewMessage(kv...))
}

// EmitMessage is Emit for a ready message.
func (s *Server) EmitMessage(m *proto.Message) { s.broadcast(m) }

// TB is the part of testing.TB that the test helpers use, declared here so
// that the simulator, which the demo links into licbridge, does not link
// package testing.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}
