package ami

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/licbridge/licbridge/backoff"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licbridge/licbridge/ami/proto"
)

// Errors callers branch on.
var (
	// ErrAuthFailed: Asterisk refused the username or secret. Run returns it
	// (wrapped) and does not retry: retrying a wrong secret cannot succeed.
	ErrAuthFailed = errors.New("ami: authentication failed")
	// ErrNotConnected: an action was called while no connection is up.
	ErrNotConnected = errors.New("ami: not connected")
	// ErrConnectionLost: the connection ended while an action waited.
	ErrConnectionLost = errors.New("ami: connection lost")
	// ErrNotAMI: the peer's greeting is not an Asterisk Call Manager banner.
	ErrNotAMI = errors.New("ami: peer is not an Asterisk manager interface")
)

// Client is an AMI client. Build it with New and start it with Run; its
// methods are safe for concurrent use from any goroutine.
type Client struct {
	opts Options

	mu  sync.Mutex
	cur *conn

	ready     chan struct{}
	readyOnce sync.Once
	running   atomic.Bool

	idPrefix string
	idSeq    atomic.Uint64

	queue   *eventQueue
	dropped atomic.Uint64
	// resyncReq asks the current session to run OnResync (events were dropped);
	// it holds the episode's drop count, and coalesces.
	resyncMu  sync.Mutex
	resyncN   uint64
	resyncReq chan struct{}
}

// New returns a Client for opts. Nothing happens on the network until Run.
func New(opts Options) *Client {
	opts = opts.withDefaults()
	var b [4]byte
	_, _ = crand.Read(b[:])
	c := &Client{
		opts:      opts,
		ready:     make(chan struct{}),
		idPrefix:  "lb-" + hex.EncodeToString(b[:]) + "-",
		resyncReq: make(chan struct{}, 1),
	}
	c.queue = newEventQueue(opts.EventQueue, func() { c.dropped.Add(1) }, c.overflowEnded)
	return c
}

// overflowEnded runs when the consumer caught up after the queue dropped
// events: what those events said is lost, so the current session resyncs.
func (c *Client) overflowEnded(dropped int) {
	c.opts.Logger.Warn("ami: event consumer fell behind; oldest events were dropped, resynchronising",
		"component", "ami", "dropped", dropped, "dropped_total", c.dropped.Load(), "queue_limit", c.opts.EventQueue)
	c.resyncMu.Lock()
	c.resyncN += uint64(dropped)
	c.resyncMu.Unlock()
	select {
	case c.resyncReq <- struct{}{}:
	default: // one is pending already; it will report both episodes' drops
	}
}

// takeResync clears a pending resync request and returns its drop count.
func (c *Client) takeResync() uint64 {
	select {
	case <-c.resyncReq:
	default:
	}
	c.resyncMu.Lock()
	defer c.resyncMu.Unlock()
	n := c.resyncN
	c.resyncN = 0
	return n
}

// Ready is closed once the first login (and its OnConnect) succeeded.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// Connected reports whether a logged-in connection is up now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil && c.cur.cause() == nil
}

// Events returns the event stream, for one consumer. It is closed when Run
// returns. Events are delivered in arrival order across reconnects; list items
// of our own actions are not in it (they come with the action's Response).
func (c *Client) Events() <-chan Event { return c.queue.out }

// DroppedEvents counts events dropped because the consumer fell more than
// Options.EventQueue behind.
func (c *Client) DroppedEvents() uint64 { return c.dropped.Load() }

// Run connects, logs in and keeps the connection up, reconnecting with
// exponential backoff and jitter, until ctx ends (then it returns nil) or the
// credentials are refused (an error wrapping ErrAuthFailed). Call it once.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("ami: Run called twice")
	}
	log := c.opts.Logger.With("component", "ami", "addr", c.opts.Addr)
	// Credentials that cannot be sent are a configuration error, not a reason to retry.
	if err := checkValues("Login", "Username", c.opts.Username, "Secret", c.opts.Secret, "Events", c.opts.Events); err != nil {
		return err
	}
	qctx, qcancel := context.WithCancel(context.Background())
	qdone := make(chan struct{})
	go func() { c.queue.pump(qctx); close(qdone) }()
	defer func() { qcancel(); <-qdone }()

	connects, attempt := 0, 0
	for {
		start := time.Now()
		err := c.session(ctx, &connects)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrAuthFailed) {
			log.Error("ami: login refused", "user", c.opts.Username, "err", err)
			return fmt.Errorf("ami: login to %s as %q: %w", c.opts.Addr, c.opts.Username, err)
		}
		if time.Since(start) >= c.opts.HealthyAfter {
			attempt = 0
		}
		delay := backoff.Delay(attempt, c.opts.MinBackoff, c.opts.MaxBackoff)
		attempt++
		log.Warn("ami: connection down, reconnecting", "err", err, "retry_in", delay, "attempt", attempt)
		if !backoff.Sleep(ctx, delay) {
			return nil
		}
	}
}

// session runs one connection from dial to its end.
func (c *Client) session(ctx context.Context, connects *int) error {
	nc, rd, banner, err := c.dialLogin(ctx)
	if err != nil {
		return err
	}
	cn := newConn(nc, rd, c.opts.Logger.With("component", "ami"), c.opts.MaxActionTimeouts, c.queue.push)
	go cn.readLoop()
	c.mu.Lock()
	c.cur = cn
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.cur == cn {
			c.cur = nil
		}
		c.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() {
		c.logoff(cn)
		cn.close(ctx.Err())
	})
	defer stop()

	if c.opts.KeepAlive > 0 {
		go cn.keepAlive(ctx, c.opts.KeepAlive, c.opts.PingTimeout, func(pctx context.Context) error {
			_, err := c.do(pctx, cn, proto.NewMessage("Action", "Ping"), 0)
			return err
		})
	}

	*connects++
	c.opts.Logger.Info("ami: connected", "component", "ami", "addr", c.opts.Addr, "connects", *connects)
	// OnConnect resynchronises from scratch: drops reported before it need no
	// resync of their own.
	c.takeResync()
	if c.opts.OnConnect != nil {
		if err := c.opts.OnConnect(ctx, ConnectInfo{Client: c, Connects: *connects, Banner: banner}); err != nil {
			err = fmt.Errorf("ami: on-connect: %w", err)
			cn.close(err)
			return err
		}
	}
	c.readyOnce.Do(func() { close(c.ready) })
	for {
		select {
		case <-cn.done:
			return cn.cause()
		case <-c.resyncReq:
			if err := c.resync(ctx, ConnectInfo{Client: c, Connects: *connects, Banner: banner, Resync: true}); err != nil {
				cn.close(err)
				return err
			}
		}
	}
}

// resync runs OnResync (or OnConnect) after an event-queue overflow.
func (c *Client) resync(ctx context.Context, info ConnectInfo) error {
	c.resyncMu.Lock()
	info.Dropped, c.resyncN = c.resyncN, 0
	c.resyncMu.Unlock()
	f := c.opts.OnResync
	if f == nil {
		f = c.opts.OnConnect
	}
	if f == nil {
		return nil
	}
	if err := f(ctx, info); err != nil {
		return fmt.Errorf("ami: resync after %d dropped events: %w", info.Dropped, err)
	}
	return nil
}

// logoff says goodbye politely when we are the ones closing.
func (c *Client) logoff(cn *conn) {
	lctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _ = c.do(lctx, cn, proto.NewMessage("Action", "Logoff"), 0)
}

// dialLogin connects, checks the banner and logs in, all within
// DialTimeout+LoginTimeout and ctx.
func (c *Client) dialLogin(ctx context.Context) (net.Conn, *proto.Reader, string, error) {
	d := net.Dialer{Timeout: c.opts.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", c.opts.Addr)
	if err != nil {
		return nil, nil, "", fmt.Errorf("ami: dial %s: %w", c.opts.Addr, err)
	}
	_ = nc.SetDeadline(time.Now().Add(c.opts.LoginTimeout))
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (net.Conn, *proto.Reader, string, error) {
		_ = nc.Close()
		return nil, nil, "", err
	}

	rd := proto.NewReader(nc, c.opts.Limits)
	banner, err := rd.ReadBanner()
	if err != nil {
		return fail(fmt.Errorf("ami: read banner from %s: %w", c.opts.Addr, err))
	}
	if !strings.HasPrefix(banner, "Asterisk Call Manager/") {
		return fail(fmt.Errorf("%w: banner %q", ErrNotAMI, shorten(banner)))
	}
	id := c.nextID()
	login, err := encodeLogin(c.opts.Username, c.opts.Secret, c.opts.Events, id)
	if err != nil {
		return fail(err)
	}
	if err := proto.NewWriter(nc).WriteMessage(login); err != nil {
		return fail(fmt.Errorf("ami: send login: %w", err))
	}
	for {
		m, err := rd.ReadMessage()
		if err != nil {
			var fe *proto.FrameError
			if errors.As(err, &fe) {
				continue
			}
			return fail(fmt.Errorf("ami: read login answer: %w", err))
		}
		if m.Kind() != proto.KindResponse || m.Get("ActionID") != id {
			continue
		}
		if strings.EqualFold(m.Name(), "Success") {
			_ = nc.SetDeadline(time.Time{})
			return nc, rd, banner, nil
		}
		msg := m.Get("Message")
		if strings.Contains(strings.ToLower(msg), "authentication failed") {
			return fail(ErrAuthFailed)
		}
		return fail(fmt.Errorf("ami: login refused: %q", msg))
	}
}

func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func (c *Client) nextID() string {
	return c.idPrefix + strconv.FormatUint(c.idSeq.Add(1), 10)
}

func (c *Client) current() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || c.cur.cause() != nil {
		return nil, ErrNotConnected
	}
	return c.cur, nil
}

// do gives m a fresh ActionID (replacing any) and runs it on cn, within
// ActionTimeout.
func (c *Client) do(ctx context.Context, cn *conn, m *proto.Message, follow int) (*Response, error) {
	if c.opts.ActionTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.ActionTimeout)
		defer cancel()
	}
	m = m.Clone()
	m.Set("ActionID", c.nextID())
	// ActionID right after Action, as Asterisk's own clients write it.
	if len(m.Fields) > 2 {
		for i, f := range m.Fields {
			if i > 1 && strings.EqualFold(f.Key, "ActionID") {
				copy(m.Fields[2:i+1], m.Fields[1:i])
				m.Fields[1] = f
				break
			}
		}
	}
	return cn.roundTrip(ctx, m, follow)
}
