package ari

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"
)

// AdmitRequest asks for one licensed channel.
type AdmitRequest struct {
	Product string // e.g. "g729"
	Channel string // the channel's Uniqueid (ARI channel id)
	Call    string // the channel's Linkedid when known, else ""
	Caller  string // caller ID number
	Called  string // dialplan extension the channel is on
}

// Decision is the admitter's answer. Reason is one of the dialplan's reason
// tokens (OVER_LIMIT, NO_LICENSE, ...), Lease an opaque holding reference.
type Decision struct {
	Admitted bool
	Reason   string
	Lease    string
}

// Admitter is what the app needs from the admission core. Both methods may be
// called concurrently, and Release for a channel never admitted must be a
// no-op (release is idempotent).
type Admitter interface {
	Admit(ctx context.Context, req AdmitRequest) (Decision, error) // error → LICBRIDGE_STATUS=ERROR
	Release(ctx context.Context, product, channel string) error
}

// StatusChecker is optional: an Admitter that implements it answers
// Stasis(licbridge,status,PRODUCT) (ADMITTED when the channel holds one).
// Without it a status request gets LICBRIDGE_STATUS=ERROR, reason UNSUPPORTED.
type StatusChecker interface {
	Status(ctx context.Context, product, channel string) (Decision, error)
}

// Channel variable names and values the dialplan branches on.
const (
	VarStatus = "LICBRIDGE_STATUS"
	VarReason = "LICBRIDGE_REASON"
	VarLease  = "LICBRIDGE_LEASE"

	StatusAdmitted = "ADMITTED"
	StatusRejected = "REJECTED"
	StatusReleased = "RELEASED"
	StatusError    = "ERROR"

	ReasonBadRequest  = "BAD_REQUEST"    // Stasis() arguments we cannot read
	ReasonInternal    = "INTERNAL_ERROR" // the admitter returned an error
	ReasonUnsupported = "UNSUPPORTED"    // status asked of an Admitter without StatusChecker
)

// DefaultApp is the Stasis application name used when Options.App is empty.
const DefaultApp = "licbridge"

// Options configures an App. A zero value means the default.
type Options struct {
	URL      string // ARI base URL; default "http://127.0.0.1:8088"
	User     string // ARI user (ari.conf); default "licbridge"
	Password string // ARI password; never logged
	App      string // Stasis application name; default DefaultApp
	Admitter Admitter

	// RejectHangupCause, when > 0, hangs a rejected channel up with this Q.850
	// cause (DELETE ?reason_code=N, e.g. 21 call rejected, 34 no circuit)
	// instead of continuing it with LICBRIDGE_STATUS=REJECTED (the default).
	RejectHangupCause int
	// RejectHangupReason does the same with an Asterisk reason name
	// ("congestion", "busy", ...); used when RejectHangupCause is 0.
	RejectHangupReason string

	// OnChannelGone, if set, is called once when a channel the app tracks
	// (in Stasis, or admitted and followed after Stasis) is gone (StasisEnd without our continue, ChannelHangupRequest,
	// ChannelDestroyed, or a 404 from Asterisk). The app releases the
	// channel's holdings itself, once no handler is in flight for it. Called
	// from the event reader: keep it short.
	OnChannelGone func(channelID string)

	Logger *slog.Logger // default: discard

	DialTimeout   time.Duration // bound on the WebSocket handshake, 401 included; default 5s
	CallTimeout   time.Duration // bound on handling one StasisStart (admit + REST); default 10s
	MinBackoff    time.Duration // first reconnect delay; default 250ms
	MaxBackoff    time.Duration // reconnect delay cap; default 30s
	MaxConcurrent int           // StasisStart handled at once; more wait (never dropped); default 256
	// NoEventFilter skips PUT /ari/applications/{app}/eventFilter after each
	// connect (the filter only saves traffic: unknown types are ignored anyway).
	NoEventFilter bool
	// NoLinkedid skips reading CHANNEL(linkedid) before admitting; Call is
	// then empty and per-call counting cannot group the legs of a call.
	NoLinkedid bool
}

func (o *Options) fill() error {
	if o.URL == "" {
		o.URL = "http://127.0.0.1:8088"
	}
	if o.User == "" {
		o.User = "licbridge"
	}
	if o.App == "" {
		o.App = DefaultApp
	}
	if o.Admitter == nil {
		return errors.New("ari: options: no admitter")
	}
	if o.RejectHangupCause < 0 || o.RejectHangupCause > 127 {
		return fmt.Errorf("ari: options: reject hangup cause %d is not a Q.850 cause (1-127)", o.RejectHangupCause)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.DialTimeout, 5*time.Second)
	def(&o.CallTimeout, 10*time.Second)
	def(&o.MinBackoff, 250*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 256
	}
	return nil
}

// Health is the app's state for /readyz.
type Health struct {
	Connected  bool      // the event WebSocket is up
	Since      time.Time // when Connected last changed
	Reconnects int       // successful connects after the first
	LastError  string    // the last connection error, "" if none
}

// App is the Stasis application. Build it with New, run it with Run.
type App struct {
	opts   Options
	client *Client
	log    *slog.Logger
	ready  chan struct{}
	once   sync.Once
	sem    chan struct{}
	wg     sync.WaitGroup // StasisStart handlers and releases

	mu      sync.Mutex
	calls   map[string]*call
	health  Health
	running bool
}

// call is what we know of one channel.
type call struct {
	inflight   int                 // StasisStart handlers running
	held       map[string]struct{} // products admitted and not released
	continuing bool                // we asked Asterisk to continue it
	left       bool                // it left Stasis into the dialplan
	gone       bool                // hung up
}

// New checks the options and builds the app; nothing is dialled until Run.
func New(opts Options) (*App, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	c, err := NewClient(opts.URL, opts.User, opts.Password, nil)
	if err != nil {
		return nil, err
	}
	return &App{
		opts:   opts,
		client: c,
		log:    opts.Logger.With("component", "ari", "app", opts.App),
		ready:  make(chan struct{}),
		sem:    make(chan struct{}, opts.MaxConcurrent),
		calls:  make(map[string]*call),
	}, nil
}

// Client is the app's REST client (same URL and credentials).
func (a *App) Client() *Client { return a.client }

// Ready is closed once the event WebSocket has connected for the first time.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Health reports the connection state; safe for concurrent use.
func (a *App) Health() Health {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.health
}

// healthySpell is how long a connection must last for the backoff to reset.
const healthySpell = 30 * time.Second

// Run connects the event WebSocket and serves StasisStart events until ctx
// ends, reconnecting with exponential backoff and jitter whenever the
// connection is lost. It returns nil when ctx ends, and an error wrapping
// ErrUnauthorized at once when Asterisk refuses the credentials (retrying a
// wrong password would only hide it). Handlers in flight are allowed to
// finish (each bounded by CallTimeout) before Run returns.
func (a *App) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return errors.New("ari: app already running")
	}
	a.running = true
	a.mu.Unlock()
	defer a.wg.Wait()

	attempt, connects := 0, 0
	for {
		conn, r, err := dialEvents(ctx, a.client, a.opts.App, a.opts.DialTimeout)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.setHealth(false, err)
			if errors.Is(err, ErrUnauthorized) {
				a.log.Error("ari refused the credentials", "user", a.opts.User, "err", err)
				return err
			}
			a.log.Warn("ari connect failed", "attempt", attempt+1, "err", err)
			if !sleepCtx(ctx, a.backoff(attempt)) {
				return nil
			}
			attempt++
			continue
		}
		connects++
		a.mu.Lock()
		if connects > 1 {
			a.health.Reconnects++
		}
		a.mu.Unlock()
		a.setHealth(true, nil)
		a.log.Info("ari event websocket connected", "url", a.client.base.String(), "reconnect", connects > 1)
		a.once.Do(func() { close(a.ready) })
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.afterConnect(ctx, connects > 1)
		}()

		start := time.Now()
		err = a.serve(ctx, conn, r)
		if ctx.Err() != nil {
			a.setHealth(false, nil)
			return nil
		}
		a.setHealth(false, err)
		a.log.Warn("ari event websocket lost", "err", err)
		if time.Since(start) >= healthySpell {
			attempt = 0
		}
		if !sleepCtx(ctx, a.backoff(attempt)) {
			return nil
		}
		attempt++
	}
}

func (a *App) setHealth(up bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.health.Connected != up || a.health.Since.IsZero() {
		a.health.Since = time.Now()
	}
	a.health.Connected = up
	if err != nil {
		a.health.LastError = err.Error()
	}
}

// backoff is MinBackoff·2^attempt capped at MaxBackoff, with jitter in [d/2, d).
func (a *App) backoff(attempt int) time.Duration {
	d := a.opts.MinBackoff
	for i := 0; i < attempt && d < a.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, a.opts.MaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// afterConnect installs the event filter and, after a reconnect, checks the
// channels we still hold: events were lost while we were away.
func (a *App) afterConnect(ctx context.Context, reconnect bool) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.CallTimeout)
	defer cancel()
	if !a.opts.NoEventFilter {
		// Events sent before the filter takes effect still arrive; the decoder
		// ignores whatever we do not act on, so this only saves traffic.
		if err := a.client.SetEventFilter(ctx, a.opts.App, handled); err != nil {
			a.log.Info("ari event filter not set (events are filtered locally)", "err", err)
		}
	}
	if reconnect {
		a.resync(ctx)
	}
}

// resync re-subscribes to the channels we hold and treats the ones Asterisk
// no longer knows as gone.
func (a *App) resync(ctx context.Context) {
	a.mu.Lock()
	var ids []string
	for id, c := range a.calls {
		if len(c.held) > 0 && c.inflight == 0 && !c.gone {
			ids = append(ids, id)
		}
	}
	a.mu.Unlock()
	for _, id := range ids {
		_, err := a.client.Channel(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			a.log.Info("held channel vanished while disconnected", "channel", id)
			a.channelGone(id)
		case err != nil:
			a.log.Warn("resync channel", "channel", id, "err", err)
		default:
			if err := a.client.Subscribe(ctx, a.opts.App, "channel:"+id); err != nil {
				a.log.Warn("resubscribe channel", "channel", id, "err", err)
			}
		}
	}
}

// serve reads events until the connection fails or ctx ends.
func (a *App) serve(ctx context.Context, conn net.Conn, r io.Reader) error {
	w := &lockedWriter{w: conn}
	stop := context.AfterFunc(ctx, func() {
		// A polite close frame, then the socket; the reader then fails.
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = w.Write(closeFrame())
		conn.Close()
	})
	defer func() {
		stop()
		conn.Close()
	}()
	mr := newMsgReader(r, w)
	for {
		msg, err := mr.Next()
		if err != nil {
			return fmt.Errorf("ari: read event websocket: %w", err)
		}
		ev, err := DecodeEvent(msg)
		if err != nil {
			a.log.Warn("ignoring undecodable ari event", "err", err, "bytes", len(msg))
			continue
		}
		if !a.dispatch(ctx, ev) {
			return ctx.Err()
		}
	}
}

// dispatch acts on one event; false only when ctx ended while waiting for a
// handler slot. It never drops a StasisStart: with all slots busy it blocks
// the reader, which pushes back onto the socket.
func (a *App) dispatch(ctx context.Context, ev Event) bool {
	if !ev.Known {
		a.log.Debug("ignoring ari event", "type", ev.Type)
		return true
	}
	if ev.Type == TypeApplicationReplaced {
		a.log.Warn("another client took over the stasis application", "app", ev.Application)
		return true
	}
	if ev.Channel == nil || ev.Channel.ID == "" {
		a.log.Warn("ignoring ari event without channel", "type", ev.Type)
		return true
	}
	id := ev.Channel.ID
	switch ev.Type {
	case TypeStasisStart:
		select {
		case a.sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		a.mu.Lock()
		c := a.calls[id]
		if c == nil {
			c = &call{held: map[string]struct{}{}}
			a.calls[id] = c
		}
		c.inflight++
		c.left, c.continuing, c.gone = false, false, false
		a.mu.Unlock()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer func() { <-a.sem }()
			a.handleStart(ctx, ev)
		}()
	case TypeStasisEnd:
		a.mu.Lock()
		c := a.calls[id]
		if c == nil {
			a.mu.Unlock()
			return true
		}
		if c.continuing {
			// Our continue: the channel goes on in the dialplan (and we stay
			// subscribed to it when it holds a license).
			c.continuing, c.left = false, true
			a.settle(id, c)
			a.mu.Unlock()
			return true
		}
		a.mu.Unlock()
		a.channelGone(id)
	case TypeChannelHangupRequest, TypeChannelDestroyed:
		a.channelGone(id)
	}
	return true
}

// channelGone marks a channel hung up, releases its holdings once nothing is
// in flight for it, and reports it.
func (a *App) channelGone(id string) {
	a.mu.Lock()
	c := a.calls[id]
	if c == nil || c.gone {
		a.mu.Unlock()
		return
	}
	c.gone = true
	a.settle(id, c)
	a.mu.Unlock()
	if a.opts.OnChannelGone != nil {
		a.opts.OnChannelGone(id)
	}
}

// settle forgets a channel once nothing is in flight and nothing more can
// happen to it, releasing what it holds if it is gone. a.mu is held.
func (a *App) settle(id string, c *call) {
	if c.inflight > 0 {
		return
	}
	switch {
	case c.gone:
		delete(a.calls, id)
		if len(c.held) == 0 {
			return
		}
		products := make([]string, 0, len(c.held))
		for p := range c.held {
			products = append(products, p)
		}
		c.held = nil
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), a.opts.CallTimeout)
			defer cancel()
			for _, p := range products {
				if err := a.opts.Admitter.Release(ctx, p, id); err != nil {
					a.log.Error("release failed", "channel", id, "product", p, "err", err)
				}
			}
		}()
	case c.left && len(c.held) == 0:
		delete(a.calls, id)
	}
}

// request is what Stasis(licbridge,ARGS) asks.
type request struct {
	action  string // admit, release, status
	product string
}

// parseArgs reads ["admit","g729"], ["release","g729"], ["status","g729"] and
// the short form ["g729"] (admit). Extra arguments are ignored.
func parseArgs(args []string) (request, error) {
	var clean []string
	for _, s := range args {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			clean = append(clean, s)
		}
	}
	if len(clean) == 0 {
		return request{}, errors.New("no product in Stasis() arguments")
	}
	switch clean[0] {
	case "admit", "release", "status":
		if len(clean) < 2 {
			return request{}, fmt.Errorf("%s without a product", clean[0])
		}
		return request{action: clean[0], product: clean[1]}, nil
	}
	return request{action: "admit", product: clean[0]}, nil
}

// handleStart answers one StasisStart.
func (a *App) handleStart(runCtx context.Context, ev Event) {
	ch := ev.Channel
	id := ch.ID
	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), a.opts.CallTimeout)
	defer cancel()
	log := a.log.With("channel", id)

	held := false
	defer func() {
		a.mu.Lock()
		if c := a.calls[id]; c != nil {
			c.inflight--
			a.settle(id, c)
		}
		a.mu.Unlock()
	}()

	req, perr := parseArgs(ev.Args)
	var d Decision
	status := StatusError
	switch {
	case perr != nil:
		log.Warn("bad stasis request", "args", ev.Args, "err", perr)
		d.Reason = ReasonBadRequest
	case req.action == "admit":
		ar := AdmitRequest{Product: req.product, Channel: id, Caller: ch.CallerNumber, Called: ch.Exten}
		if !a.opts.NoLinkedid {
			if v, err := a.client.Variable(ctx, id, "CHANNEL(linkedid)"); err == nil {
				ar.Call = v
			} else {
				log.Debug("linkedid unknown", "err", err)
			}
		}
		var err error
		d, err = a.opts.Admitter.Admit(ctx, ar)
		switch {
		case err != nil:
			log.Error("admit failed", "product", req.product, "err", err)
			d = Decision{Reason: ReasonInternal}
		case d.Admitted:
			status, held = StatusAdmitted, true
			a.mu.Lock()
			if c := a.calls[id]; c != nil {
				c.held[req.product] = struct{}{}
			}
			a.mu.Unlock()
		default:
			status = StatusRejected
		}
	case req.action == "release":
		a.mu.Lock()
		if c := a.calls[id]; c != nil {
			delete(c.held, req.product)
		}
		a.mu.Unlock()
		if err := a.opts.Admitter.Release(ctx, req.product, id); err != nil {
			log.Error("release failed", "product", req.product, "err", err)
			d.Reason = ReasonInternal
		} else {
			status = StatusReleased
		}
	case req.action == "status":
		sc, ok := a.opts.Admitter.(StatusChecker)
		if !ok {
			d.Reason = ReasonUnsupported
			break
		}
		var err error
		d, err = sc.Status(ctx, req.product, id)
		switch {
		case err != nil:
			log.Error("status failed", "product", req.product, "err", err)
			d = Decision{Reason: ReasonInternal}
		case d.Admitted:
			status = StatusAdmitted
		default:
			status = StatusRejected
		}
	}
	log.Debug("stasis decision", "action", req.action, "product", req.product, "status", status, "reason", d.Reason)

	if held {
		// First (a later request may fail): keep hearing this channel after
		// it leaves Stasis, so that its hangup releases the holding.
		if err := a.client.Subscribe(ctx, a.opts.App, "channel:"+id); err != nil {
			log.Warn("cannot follow the channel after stasis; its holding ends by lapse or AMI", "err", err)
		}
	}

	for _, v := range [...][2]string{{VarReason, d.Reason}, {VarLease, d.Lease}, {VarStatus, status}} {
		if err := a.client.SetVariable(ctx, id, v[0], v[1]); err != nil {
			a.restFailed(log, id, err)
			return
		}
	}
	if status == StatusRejected && (a.opts.RejectHangupCause > 0 || a.opts.RejectHangupReason != "") {
		cause := HangupCause{Code: a.opts.RejectHangupCause, Reason: a.opts.RejectHangupReason}
		if err := a.client.Hangup(ctx, id, cause); err != nil {
			a.restFailed(log, id, err)
		}
		return
	}
	a.mu.Lock()
	if c := a.calls[id]; c != nil {
		c.continuing = true
	}
	a.mu.Unlock()
	if err := a.client.Continue(ctx, id, "", "", 0); err != nil {
		a.mu.Lock()
		if c := a.calls[id]; c != nil {
			c.continuing = false
		}
		a.mu.Unlock()
		a.restFailed(log, id, err)
	}
}

// restFailed logs a failed REST call; a channel Asterisk no longer has is gone.
func (a *App) restFailed(log *slog.Logger, id string, err error) {
	if errors.Is(err, ErrNotFound) {
		log.Info("channel went away while we answered it", "err", err)
		a.channelGone(id)
		return
	}
	log.Warn("ari request failed", "err", err)
}
