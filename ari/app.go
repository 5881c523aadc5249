package ari

import (
	"context"
	"errors"
	"fmt"
	"github.com/licbridge/licbridge/admission"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/licbridge/licbridge/backoff"
)

// DefaultApp is the Stasis application name used when Options.App is empty.
const DefaultApp = "licbridge"

// Options configures an App. A zero value means the default.
type Options struct {
	URL      string // ARI base URL; default "http://127.0.0.1:8088"
	User     string // ARI user (ari.conf); default "licbridge"
	Password string // ARI password; never logged
	App      string // Stasis application name; default DefaultApp
	Admitter admission.Admitter

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
	// KnownProduct, if set, lets the older short form Stasis(APP,PRODUCT)
	// admit PRODUCT when it is a known product (the catalog): dialplans
	// written for it keep being counted, where a bad request would send them
	// down their failure branch (fail-open: uncounted). Any other first
	// argument that is not a verb is a bad request (Stasis(APP,tone)).
	KnownProduct func(product string) bool
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

// New checks the options and builds the app; nothing is dialled until Run.
func New(opts Options) (*App, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	c, err := newClient(opts.URL, opts.User, opts.Password, nil)
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
			if !backoff.Sleep(ctx, backoff.Delay(attempt, a.opts.MinBackoff, a.opts.MaxBackoff)) {
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
		if !backoff.Sleep(ctx, backoff.Delay(attempt, a.opts.MinBackoff, a.opts.MaxBackoff)) {
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

// afterConnect installs the event filter and, after a reconnect, checks the
// channels we still hold: events were lost while we were away.
func (a *App) afterConnect(ctx context.Context, reconnect bool) {
	if !a.opts.NoEventFilter {
		// Events sent before the filter takes effect still arrive; the decoder
		// ignores whatever we do not act on, so this only saves traffic.
		fctx, cancel := context.WithTimeout(ctx, a.opts.CallTimeout)
		err := a.client.SetEventFilter(fctx, a.opts.App, handled)
		cancel()
		if err != nil {
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
		// A transient failure (a slow or just-restarted Asterisk) is tried
		// again: a held channel left unfollowed would never be released.
		var err error
		for attempt := range resyncAttempts {
			if attempt > 0 && !backoff.Sleep(ctx, backoff.Delay(attempt-1, 100*time.Millisecond, 2*time.Second)) {
				return
			}
			if err = a.resyncOne(ctx, id); err == nil {
				break
			}
		}
		if err != nil {
			a.log.Warn("resync channel: giving up until the next reconnect", "channel", id, "err", err)
		}
	}
}

// resyncAttempts bounds the tries to follow one held channel again.
const resyncAttempts = 4

// resyncOne checks one held channel: gone, it is released; there, it is
// followed again. Each REST call has its own CallTimeout.
func (a *App) resyncOne(ctx context.Context, id string) error {
	cctx, cancel := context.WithTimeout(ctx, a.opts.CallTimeout)
	_, err := a.client.Channel(cctx, id)
	cancel()
	switch {
	case errors.Is(err, errNotFound):
		a.log.Info("held channel vanished while disconnected", "channel", id)
		a.channelGone(id)
		return nil
	case err != nil:
		return fmt.Errorf("get channel: %w", err)
	}
	cctx, cancel = context.WithTimeout(ctx, a.opts.CallTimeout)
	defer cancel()
	if err := a.client.Subscribe(cctx, a.opts.App, "channel:"+id); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
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
		ev, err := decodeEvent(msg)
		if err != nil {
			a.log.Warn("ignoring undecodable ari event", "err", err, "bytes", len(msg))
			continue
		}
		if !a.dispatch(ctx, ev) {
			return ctx.Err()
		}
	}
}
