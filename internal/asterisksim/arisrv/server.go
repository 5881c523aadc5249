package arisrv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configures the double. A zero value means the default.
type Options struct {
	Addr       string           // listen address; default "127.0.0.1:0"
	User       string           // ARI user; default "licbridge"
	Password   string           // ARI password; default "licsecret"
	AsteriskID string           // asterisk_id / entity_id; default "02:fc:00:00:00:01" (recorded)
	Version    string           // Asterisk version; default "22.10.1"
	Now        func() time.Time // clock for Date headers and timestamps; default time.Now
	Logger     *slog.Logger     // default: discard

	// NoChannelDestroyed never sends ChannelDestroyed, as recorded for a
	// channel hung up while in Stasis: the app must release on StasisEnd or
	// ChannelHangupRequest.
	NoChannelDestroyed bool
}

// ErrNotRegistered is EnterStasis's answer when no WebSocket is connected for
// the application: Stasis() fails at once with STASISSTATUS=FAILED.
var ErrNotRegistered = errors.New("arisrv: stasis application not registered")

// Server is a running ARI double.
type Server struct {
	opts    Options
	ln      net.Listener
	started time.Time
	log     *slog.Logger

	mu       sync.Mutex
	channels map[string]*channel
	order    []string // channel ids in creation order
	apps     map[string]*app
	conns    map[net.Conn]struct{}
	changed  chan struct{} // closed and replaced whenever state changes
	seq      int
	refuseWS bool
	closed   bool
	wg       sync.WaitGroup
}

// app is a Stasis application with at least one WebSocket.
type app struct {
	name       string
	ws         []*wsConn
	allowed    []string
	disallowed []string
	subs       map[string]bool // channel ids subscribed explicitly
}

// Start listens and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.User == "" {
		opts.User = "licbridge"
	}
	if opts.Password == "" {
		opts.Password = "licsecret"
	}
	if opts.AsteriskID == "" {
		opts.AsteriskID = "02:fc:00:00:00:01"
	}
	if opts.Version == "" {
		opts.Version = "22.10.1"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("arisrv: listen on %s: %w", opts.Addr, err)
	}
	s := &Server{
		opts:     opts,
		ln:       ln,
		started:  opts.Now(),
		log:      opts.Logger.With("component", "arisrv"),
		channels: map[string]*channel{},
		apps:     map[string]*app{},
		conns:    map[net.Conn]struct{}{},
		changed:  make(chan struct{}),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// URL is the base URL to give an ARI client ("http://127.0.0.1:PORT").
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops listening and closes every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	for _, a := range s.apps {
		for _, w := range a.ws {
			w.close()
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// notifyLocked wakes every waiter; s.mu is held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor blocks until cond (evaluated under s.mu) holds or ctx ends.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		if cond() {
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Changed returns a channel closed at the double's next state change (a
// channel, variable, application or subscription). Take it before checking a
// condition, then wait on it, so that no change is missed.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// WaitConnected blocks until a WebSocket is connected for appName.
func (s *Server) WaitConnected(ctx context.Context, appName string) error {
	err := s.waitFor(ctx, func() bool { a := s.apps[appName]; return a != nil && len(a.ws) > 0 })
	if err != nil {
		return fmt.Errorf("arisrv: wait for application %q: %w", appName, err)
	}
	return nil
}

// WaitEventFilter blocks until appName has set an event filter.
func (s *Server) WaitEventFilter(ctx context.Context, appName string) ([]string, error) {
	var allowed []string
	err := s.waitFor(ctx, func() bool {
		a := s.apps[appName]
		if a == nil || a.allowed == nil {
			return false
		}
		allowed = append([]string(nil), a.allowed...)
		return true
	})
	return allowed, err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			owned := s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			if !owned {
				c.Close()
			}
		}()
	}
}

// response is one HTTP answer in Asterisk's layout.
type response struct {
	code    int
	reason  string
	body    []byte // JSON; nil means no body and no Content-type
	wwwAuth bool
}

func jsonResp(code int, reason string, v any) response {
	return response{code: code, reason: reason, body: marshal(v)}
}

func errResp(code int, reason, msg string) response {
	return jsonResp(code, reason, messageJSON{msg})
}

var noContent = response{code: 204, reason: "No Content"}

// write puts r on the wire as Asterisk 22 does: Server, Date, [Connection:
// close], Cache-Control, [WWW-Authenticate], [Content-type], Content-Length.
func (s *Server) write(w io.Writer, r response, closeConn bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", r.code, r.reason)
	fmt.Fprintf(&b, "Server: Asterisk/%s\r\n", s.opts.Version)
	fmt.Fprintf(&b, "Date: %s\r\n", s.opts.Now().UTC().Format(http.TimeFormat))
	if closeConn {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("Cache-Control: no-cache, no-store\r\n")
	if r.wwwAuth {
		b.WriteString("WWW-Authenticate: Basic realm=\"Asterisk REST Interface\"\r\n")
	}
	if r.body != nil {
		b.WriteString("Content-type: application/json\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(r.body))
	b.Write(r.body)
	_, err := io.WriteString(w, b.String())
	return err
}

// serveConn serves HTTP requests on c until it closes; true when a WebSocket
// took the connection over.
func (s *Server) serveConn(c net.Conn) bool {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return false
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		req.Body.Close()
		if err != nil {
			return false
		}
		if isUpgrade(req) {
			return s.upgrade(c, br, req)
		}
		resp := s.route(req, body)
		if err := s.write(c, resp, req.Close); err != nil || req.Close {
			return false
		}
	}
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// authorized checks ?api_key=user:pass or Basic credentials.
func (s *Server) authorized(r *http.Request) bool {
	if k := r.URL.Query().Get("api_key"); k != "" {
		return k == s.opts.User+":"+s.opts.Password
	}
	u, p, ok := r.BasicAuth()
	return ok && u == s.opts.User && p == s.opts.Password
}

var unauthorized = response{
	code: 401, reason: "Unauthorized", wwwAuth: true,
	body: marshal(messageJSON{"Authentication required"}),
}

// route answers one REST request.
func (s *Server) route(r *http.Request, body []byte) response {
	if !s.authorized(r) {
		return unauthorized
	}
	p := strings.TrimPrefix(r.URL.Path, "/ari")
	if p == r.URL.Path {
		return errResp(404, "Not Found", "Resource not found")
	}
	seg := strings.Split(strings.Trim(p, "/"), "/")
	q := r.URL.Query()
	m := r.Method
	switch {
	case len(seg) == 2 && seg[0] == "asterisk" && seg[1] == "info" && m == http.MethodGet:
		return jsonResp(200, "OK", s.info())
	case len(seg) == 1 && seg[0] == "channels" && m == http.MethodGet:
		return jsonResp(200, "OK", s.channelList())
	case len(seg) == 2 && seg[0] == "channels":
		switch m {
		case http.MethodGet:
			return s.getChannel(seg[1])
		case http.MethodDelete:
			return s.deleteChannel(seg[1], q)
		}
	case len(seg) == 3 && seg[0] == "channels" && seg[2] == "variable":
		switch m {
		case http.MethodGet:
			return s.getVariable(seg[1], q.Get("variable"))
		case http.MethodPost:
			return s.postVariable(seg[1], q, body)
		}
	case len(seg) == 3 && seg[0] == "channels" && seg[2] == "continue" && m == http.MethodPost:
		return s.continueChannel(seg[1], q)
	case len(seg) == 1 && seg[0] == "applications" && m == http.MethodGet:
		return jsonResp(200, "OK", s.appList())
	case len(seg) == 2 && seg[0] == "applications" && m == http.MethodGet:
		return s.getApp(seg[1])
	case len(seg) == 3 && seg[0] == "applications" && seg[2] == "eventFilter" && m == http.MethodPut:
		return s.putEventFilter(seg[1], body)
	case len(seg) == 3 && seg[0] == "applications" && seg[2] == "subscription":
		switch m {
		case http.MethodPost:
			return s.subscribe(seg[1], q.Get("eventSource"), true)
		case http.MethodDelete:
			return s.subscribe(seg[1], q.Get("eventSource"), false)
		}
	}
	return errResp(404, "Not Found", "Resource not found")
}

func (s *Server) info() infoJSON {
	var i infoJSON
	i.Build.OS, i.Build.Kernel, i.Build.Machine = "Linux", "6.18.44-fc-v657", "x86_64"
	i.Build.Options, i.Build.Date, i.Build.User = "OPTIONAL_API", "2026-11-22 22:20:54 UTC", "root"
	i.System.Version, i.System.EntityID = s.opts.Version, s.opts.AsteriskID
	i.Config.DefaultLanguage = "en"
	i.Status.StartupTime = ariTime(s.started)
	i.Status.LastReloadTime = ariTime(s.started)
	return i
}

func (s *Server) appList() []applicationJSON {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.apps))
	for n := range s.apps {
		names = append(names, n)
	}
	sort.Strings(names)
	list := []applicationJSON{}
	for _, n := range names {
		list = append(list, s.appJSONLocked(s.apps[n]))
	}
	return list
}

func (s *Server) appJSONLocked(a *app) applicationJSON {
	j := applicationJSON{
		Name: a.name, ChannelIDs: []string{}, BridgeIDs: []string{}, EndpointIDs: []string{},
		DeviceNames: []string{}, EventsAllowed: []eventTypeJSON{}, EventsDisallowed: []eventTypeJSON{},
	}
	for _, id := range s.order {
		if c := s.channels[id]; c != nil && (a.subs[id] || c.stasisApp == a.name) {
			j.ChannelIDs = append(j.ChannelIDs, id)
		}
	}
	for _, t := range a.allowed {
		j.EventsAllowed = append(j.EventsAllowed, eventTypeJSON{t})
	}
	for _, t := range a.disallowed {
		j.EventsDisallowed = append(j.EventsDisallowed, eventTypeJSON{t})
	}
	return j
}

func (s *Server) getApp(name string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[name]
	if a == nil {
		return errResp(404, "Not Found", "Application not found")
	}
	return jsonResp(200, "OK", s.appJSONLocked(a))
}
