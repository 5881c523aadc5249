package dialplan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/dialplan/agi"
)

// Defaults of Config.
const (
	DefaultAddr           = "127.0.0.1:4573"
	DefaultSessionTimeout = 2 * time.Second
	DefaultMaxSessions    = 512
	// DefaultMaxSessionsPerClient keeps one client address from taking every
	// session. Often one Asterisk (on loopback) is the only client, so it must
	// stay well above a burst of calls arriving at once (TestConcurrentSessions
	// sends 100); a quarter of DefaultMaxSessions leaves the other clients 384.
	DefaultMaxSessionsPerClient = 128
	// DefaultEnvTimeout: Asterisk writes the whole agi_ environment at once on
	// connect, so a client silent for this long is not Asterisk.
	DefaultEnvTimeout = time.Second
	// refusalLogEvery rate-limits the WARN about refused connections, per
	// client and reason.
	refusalLogEvery = 10 * time.Second
)

// DefaultAllow is the allow-list when Config.Allow is empty: loopback only.
var DefaultAllow = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// Config tunes the FastAGI server. A zero value means the defaults.
type Config struct {
	// Addr is the TCP listen address. Default 127.0.0.1:4573 (loopback: anything
	// wider must be asked for).
	Addr string
	// Allow lists the client networks that may connect; others are closed on at once,
	// without a byte sent. Default loopback only (DefaultAllow).
	Allow []netip.Prefix
	// SessionTimeout bounds a whole session: environment, admission, variables.
	// Default 2s. A client slower than that is closed on. Up to 500ms of it (half,
	// for short timeouts) is kept for setting the variables, so an Admitter that
	// overruns still gets an ERROR/TIMEOUT answer out.
	SessionTimeout time.Duration
	// MaxSessions bounds concurrent sessions. A connection beyond it (or beyond
	// MaxSessionsPerClient) waits up to SessionTimeout for a slot, as many waiting
	// as may run; beyond that it is closed at once, so the dialplan takes its
	// failure branch. Default 512.
	MaxSessions int
	// MaxSessionsPerClient bounds concurrent sessions from one client IP address;
	// a connection beyond it is closed at once (WARN naming the client, at most
	// one per client every 10s), so one noisy or hostile client cannot take the
	// sessions of the others. Default 128 (DefaultMaxSessionsPerClient).
	MaxSessionsPerClient int
	// EnvTimeout bounds reading the agi_ environment at the start of a session;
	// a client that has not sent it all by then is closed. Default 1s
	// (DefaultEnvTimeout), never more than SessionTimeout.
	EnvTimeout time.Duration
	// Limits bound line length and line count (see agi.Limits).
	Limits agi.Limits
	// Logger receives the server's logs, tagged component=agi. Default: discard.
	Logger *slog.Logger
}

// ParseAllow turns CIDR strings (or bare addresses) into an allow-list, naming the
// entry that does not parse.
func ParseAllow(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range cidrs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("agi allow-list entry %q: not a CIDR or address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Server is the FastAGI server. Build it with NewServer and start it with Run.
type Server struct {
	adm   admission.Admitter
	cfg   Config
	log   *slog.Logger
	ready chan struct{}
	// closed is closed once the server no longer accepts connections.
	closed    chan struct{}
	closeOnce sync.Once
	addr      net.Addr
	slots     chan struct{}
	ran       atomic.Bool
	// oneByOne: a client refused an EXEC MSet, so answers go as one SET
	// VARIABLE each from then on (see answer).
	oneByOne atomic.Bool

	mu       sync.Mutex
	perIP    map[netip.Addr]int // sessions open per client address
	refusals map[refusalKey]*refusal
	// waiting counts connections waiting for a session slot, per client and
	// in all; freed is closed (and replaced) whenever a slot is released.
	waiting    map[netip.Addr]int
	waitingAll int
	freed      chan struct{}
}

// refusalKey names a kind of refused connection from one client.
type refusalKey struct {
	ip     netip.Addr
	reason string
}

// refusal is the rate-limiting state of one refusalKey's WARN.
type refusal struct {
	logged     time.Time
	suppressed int
}

// NewServer checks cfg, fills its defaults and returns a server that asks adm.
func NewServer(adm admission.Admitter, cfg Config) (*Server, error) {
	if adm == nil {
		return nil, errors.New("dialplan: NewServer: nil Admitter")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("dialplan: agi listen address %q: %w", cfg.Addr, err)
	}
	if len(cfg.Allow) == 0 {
		cfg.Allow = DefaultAllow
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxSessionsPerClient <= 0 {
		cfg.MaxSessionsPerClient = DefaultMaxSessionsPerClient
	}
	if cfg.EnvTimeout <= 0 {
		cfg.EnvTimeout = DefaultEnvTimeout
	}
	cfg.EnvTimeout = min(cfg.EnvTimeout, cfg.SessionTimeout)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{
		adm:    adm,
		cfg:    cfg,
		log:    log.With("component", "agi"),
		ready:  make(chan struct{}),
		closed: make(chan struct{}),
		slots:  make(chan struct{}, cfg.MaxSessions),

		perIP:    map[netip.Addr]int{},
		waiting:  map[netip.Addr]int{},
		freed:    make(chan struct{}),
		refusals: map[refusalKey]*refusal{},
	}, nil
}

// Ready is closed once the server listens; Addr is valid from then on.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Closed is closed once the server no longer accepts connections: its
// listener is closed (ctx ended) or it never listened. Sessions in flight may
// still be finishing.
func (s *Server) Closed() <-chan struct{} { return s.closed }

func (s *Server) markClosed() { s.closeOnce.Do(func() { close(s.closed) }) }

// Addr is the address the server listens on, once Ready is closed.
func (s *Server) Addr() net.Addr { return s.addr }

// Run listens and serves until ctx ends, then stops accepting, lets the sessions
// in flight finish (each is bounded by SessionTimeout) and returns nil. It returns
// an error only when it cannot listen. A Server runs once.
func (s *Server) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("dialplan: FastAGI server: Run called twice")
	}
	defer s.markClosed()
	// No TCP keep-alive: a session lasts SessionTimeout at most, far less than
	// a first probe, and turning it on costs every session four setsockopt calls.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dialplan: agi listen on %s: %w", s.cfg.Addr, err)
	}
	s.addr = ln.Addr()
	s.log.Info("FastAGI server listening", "addr", s.addr.String())
	close(s.ready)

	stop := context.AfterFunc(ctx, func() {
		_ = ln.Close()
		s.markClosed()
	})
	defer stop()
	// Sessions outlive ctx by at most SessionTimeout: a channel already in AGI() gets
	// its answer during a graceful stop.
	sessCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.log.Info("FastAGI server stopping")
				return nil
			}
			// Out of file descriptors and the like: wait a little and retry, as
			// net/http does, rather than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("FastAGI accept failed", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		backoff = 0
		s.admitConn(ctx, sessCtx, &wg, nc)
	}
}

// admitConn starts a session for nc, or has it wait for a slot, or refuses it.
func (s *Server) admitConn(ctx, sessCtx context.Context, wg *sync.WaitGroup, nc net.Conn) {
	ip := remoteIP(nc.RemoteAddr())
	if !s.allowed(ip) {
		s.refuse(nc, ip, "not in the allow-list")
		return
	}
	if !s.takeSlot(ip) {
		// A burst from an honest Asterisk beyond the caps waits a little
		// for a slot: closing it would send those calls down the failure
		// branch (fail-open: uncounted). Waiting is bounded in time and
		// in number, so silent sockets cannot pile up.
		if perClient, ok := s.startWaiting(ip); !ok {
			if perClient {
				s.refuse(nc, ip, "too many sessions from this client", "max_per_client", s.cfg.MaxSessionsPerClient)
			} else {
				s.refuse(nc, ip, "too many sessions", "max", s.cfg.MaxSessions)
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := s.waitSlot(ctx, ip)
			s.stopWaiting(ip)
			if !ok {
				s.refuse(nc, ip, "no session slot in time", "max_per_client", s.cfg.MaxSessionsPerClient, "max", s.cfg.MaxSessions)
				return
			}
			defer s.releaseSlot(ip)
			s.serve(sessCtx, nc)
		}()
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer s.releaseSlot(ip)
		s.serve(sessCtx, nc)
	}()
}

// takeSlot takes a session slot for ip (its own and a global one), without
// waiting.
func (s *Server) takeSlot(ip netip.Addr) bool {
	if !s.takeClientSlot(ip) {
		return false
	}
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		s.releaseClientSlot(ip)
		return false
	}
}

// releaseSlot gives a session's slots back and wakes the waiting.
func (s *Server) releaseSlot(ip netip.Addr) {
	<-s.slots
	s.mu.Lock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	// Only a connection counted in waitingAll waits on freed (it counts itself
	// before it first looks), so with none there is nobody to wake.
	if s.waitingAll > 0 {
		close(s.freed)
		s.freed = make(chan struct{})
	}
	s.mu.Unlock()
}

// startWaiting counts a connection from ip waiting for a slot, unless as many
// wait already as may have sessions (per client, and in all).
func (s *Server) startWaiting(ip netip.Addr) (perClient, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// One client may have as many waiting as the server has sessions: a
	// burst from one Asterisk is the common case; the global bound keeps
	// the waiting (and their descriptors) to MaxSessions in all.
	if s.waiting[ip] >= s.cfg.MaxSessions {
		return true, false
	}
	if s.waitingAll >= s.cfg.MaxSessions {
		return false, false
	}
	s.waiting[ip]++
	s.waitingAll++
	return false, true
}

func (s *Server) stopWaiting(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiting[ip]--; s.waiting[ip] <= 0 {
		delete(s.waiting, ip)
	}
	s.waitingAll--
}

// waitSlot waits for a session slot for ip, at most SessionTimeout: a silent
// session gives its slot up within EnvTimeout, an honest one within
// SessionTimeout, so an honest burst is served however busy the machine.
func (s *Server) waitSlot(ctx context.Context, ip netip.Addr) bool {
	t := time.NewTimer(s.cfg.SessionTimeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		freed := s.freed
		s.mu.Unlock()
		if s.takeSlot(ip) {
			return true
		}
		select {
		case <-freed:
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// remoteIP is the client's address, unmapped; the zero Addr when a is not TCP.
func remoteIP(a net.Addr) netip.Addr {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip, _ := netip.AddrFromSlice(tcp.IP)
	return ip.Unmap()
}

func (s *Server) allowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range s.cfg.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// takeClientSlot counts a session from ip, unless ip has MaxSessionsPerClient.
func (s *Server) takeClientSlot(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] >= s.cfg.MaxSessionsPerClient {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *Server) releaseClientSlot(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// refuse closes nc at once and logs why at WARN, at most once per client and
// reason every refusalLogEvery (with the count of refusals left unlogged), so
// that a flood of connections cannot flood the log as well.
func (s *Server) refuse(nc net.Conn, ip netip.Addr, reason string, attrs ...any) {
	_ = nc.Close()
	now := time.Now()
	k := refusalKey{ip, reason}
	s.mu.Lock()
	r := s.refusals[k]
	if r == nil {
		if len(s.refusals) >= 1024 { // many clients: forget the quiet ones
			for k, r := range s.refusals {
				if now.Sub(r.logged) >= refusalLogEvery {
					delete(s.refusals, k)
				}
			}
		}
		r = &refusal{}
		s.refusals[k] = r
	} else if now.Sub(r.logged) < refusalLogEvery {
		r.suppressed++
		s.mu.Unlock()
		return
	}
	suppressed := r.suppressed
	r.logged, r.suppressed = now, 0
	s.mu.Unlock()
	attrs = append([]any{"client", ip.String(), "remote", nc.RemoteAddr().String()}, attrs...)
	if suppressed > 0 {
		attrs = append(attrs, "refused_unlogged", suppressed)
	}
	s.log.Warn("FastAGI client refused: "+reason, attrs...)
}

// serve runs one session and closes it as soon as the answer is set.
func (s *Server) serve(ctx context.Context, nc net.Conn) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SessionTimeout)
	defer cancel()
	c := agi.NewConn(nc, s.cfg.Limits)
	defer c.Close()
	log := &sessionLog{base: s.log, nc: nc}

	// Every read and write of the session is bounded: by EnvTimeout here, by
	// the session's deadline (SessionTimeout) afterwards.
	envCtx, cancelEnv := context.WithTimeout(ctx, s.cfg.EnvTimeout)
	env, err := c.ReadEnv(envCtx)
	cancelEnv()
	if err != nil {
		// Nothing sensible can be said to a peer that does not speak AGI: close.
		// Asterisk then continues with LICBRIDGE_STATUS unset, which the printed
		// dialplan treats as a failure.
		log.get().Warn("FastAGI session dropped: bad environment", "err", err)
		return
	}
	req, err := ParseRequest(env)
	if err != nil {
		log.get().Warn("FastAGI bad request", "err", err, "script", env.Value("agi_network_script"))
		s.answer(ctx, c, log, admission.BadRequest())
		return
	}
	log.req = &req
	// The Admitter gets the session's time minus a reserve, so that a slow
	// admission is still answered (ERROR, TIMEOUT) before the session deadline.
	deadline, _ := ctx.Deadline()
	askCtx, cancelAsk := context.WithDeadline(ctx, deadline.Add(-admission.Reserve(s.cfg.SessionTimeout)))
	ans, ok := s.handle(askCtx, c, log, req)
	cancelAsk()
	if ok {
		s.answer(ctx, c, log, ans)
	}
}

// sessionLog is a session's logger, built when first used: With formats its
// attributes at once (the remote address too), and most sessions log nothing.
type sessionLog struct {
	base *slog.Logger
	nc   net.Conn
	req  *Request // nil until the request is parsed
	l    *slog.Logger
	lreq bool // l carries req's attributes
}

func (sl *sessionLog) get() *slog.Logger {
	if sl.l == nil {
		sl.l = sl.base.With("remote", sl.nc.RemoteAddr().String())
	}
	if sl.req != nil && !sl.lreq {
		sl.l = sl.l.With("request", sl.req.Verb, "product", sl.req.Product, "uniqueid", sl.req.Channel)
		sl.lreq = true
	}
	return sl.l
}

// handle asks the Admitter; false means the session is broken, out of time or
// hung up, and is closed without an answer.
func (s *Server) handle(ctx context.Context, c *agi.Conn, log *sessionLog, req Request) (admission.Answer, bool) {
	areq := admission.Request{
		Product: req.Product, Channel: req.Channel, Call: req.Call,
		Caller: req.Caller, Called: req.Called,
	}
	if req.Verb == admission.VerbAdmit {
		if areq.Call == "" {
			// Asterisk 22 puts no linkedid in the environment, and this
			// dialplan passed no linkedid=... argument: ask for it.
			v, ok, err := c.GetVariable(ctx, "CHANNEL(linkedid)")
			if err != nil {
				log.get().Warn("FastAGI: reading CHANNEL(linkedid) failed", "err", err)
				return admission.Answer{}, false
			}
			if ok && v != "" {
				areq.Call = v
			} else {
				areq.Call = req.Channel
			}
		}
		if c.HungUp() {
			// The caller is gone: admitting now would only be undone by the hangup.
			log.get().Info("FastAGI: channel hung up before admission; nothing admitted")
			return admission.Answer{}, false
		}
	}
	ans := admission.Do(ctx, s.adm, req.Verb, areq)
	switch {
	case ans.Err != nil && ans.Expected:
		log.get().Info("FastAGI "+string(req.Verb)+" refused", "reason", ans.Reason, "err", ans.Err)
	case ans.Err != nil:
		log.get().Error("FastAGI "+string(req.Verb)+" failed", "reason", ans.Reason, "err", ans.Err)
	case s.log.Enabled(ctx, slog.LevelDebug): // the common case: no message built for nothing
		log.get().Debug("FastAGI "+string(req.Verb), "status", ans.Status, "reason", ans.Reason)
	}
	return ans, true
}

// answer sets the variables, LICBRIDGE_STATUS last so that a session cut short
// never leaves a status without its reason: in one exchange (EXEC MSet) when
// the values allow it, else one SET VARIABLE each; the write side is shut
// right after the last command, so that Asterisk's AGI() ends as soon as it
// has run it (see agi.Conn.Answer). The caller closes at once afterwards.
//
// A refused EXEC MSet cannot be followed by SET VARIABLEs in that session
// (Asterisk 22 runs it even on a hung-up channel: TestE2EAsteriskMSet), so
// that session ends without an answer, which the printed dialplan takes as a
// failure, and every later session of this server answers one SET VARIABLE
// at a time.
func (s *Server) answer(ctx context.Context, c *agi.Conn, log *sessionLog, ans admission.Answer) {
	settings := ans.Settings()
	vars := make([]agi.Variable, 0, 4)
	for _, v := range settings {
		vars = append(vars, agi.Variable{Name: v.Name, Value: sanitize(v.Value)})
	}
	_, err := c.Answer(ctx, s.oneByOne.Load(), vars...)
	switch {
	case errors.Is(err, agi.ErrMSetRefused):
		s.oneByOne.Store(true)
		log.get().Warn("FastAGI: the client refused EXEC MSet: this answer is lost, later ones go one SET VARIABLE at a time",
			"status", ans.Status, "err", err)
	case err != nil:
		log.get().Warn("FastAGI: setting the answer failed", "status", ans.Status, "err", err)
	}
}

// sanitize keeps a value from the Admitter on one command line: control
// characters (CR and LF would end the command) become spaces.
func sanitize(v string) string {
	if !strings.ContainsFunc(v, isControl) {
		return v
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, v)
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }
