package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licbridge/licbridge/ami/proto"
)

// conn is one logged-in AMI connection: a single reader goroutine owns the
// read side and routes every message, so events and answers never tear each
// other apart; writes are whole messages under a mutex.
type conn struct {
	nc  net.Conn
	rd  *proto.Reader
	log *slog.Logger

	wmu sync.Mutex
	w   *proto.Writer

	mu      sync.Mutex
	pending map[string]*pending
	err     error // why the connection ended, set once
	done    chan struct{}

	lastRx atomic.Int64 // unix nanoseconds of the last message received

	onEvent func(*proto.Message)
}

// pending is one action waiting for its answer (and list items, if any).
type pending struct {
	action   string
	follow   int // events expected after a Success answer (FAXStats: 1)
	list     bool
	resp     *proto.Message
	items    []*proto.Message
	complete *proto.Message
	done     chan struct{}
}

func newConn(nc net.Conn, rd *proto.Reader, log *slog.Logger, onEvent func(*proto.Message)) *conn {
	c := &conn{
		nc:      nc,
		rd:      rd,
		w:       proto.NewWriter(nc),
		log:     log,
		pending: map[string]*pending{},
		done:    make(chan struct{}),
		onEvent: onEvent,
	}
	c.lastRx.Store(time.Now().UnixNano())
	return c
}

// close ends the connection once, recording why; waiters are released.
func (c *conn) close(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	c.pending = map[string]*pending{}
	close(c.done)
	_ = c.nc.Close()
}

// cause returns why the connection ended (nil while it is up).
func (c *conn) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *conn) readLoop() {
	for {
		m, err := c.rd.ReadMessage()
		if err != nil {
			var fe *proto.FrameError
			if errors.As(err, &fe) {
				// One bad message is skipped; the stream goes on.
				c.lastRx.Store(time.Now().UnixNano())
				c.log.Warn("ami: skipped a malformed message", "err", err)
				continue
			}
			c.close(fmt.Errorf("%w: %w", ErrConnectionLost, err))
			return
		}
		c.lastRx.Store(time.Now().UnixNano())
		switch m.Kind() {
		case proto.KindResponse:
			c.onResponse(m)
		case proto.KindEvent:
			if !c.onListEvent(m) {
				c.onEvent(m)
			}
		default:
			c.log.Warn("ami: dropped a message that is neither response nor event", "first_header", m.Fields[0].Key)
		}
	}
}

func (c *conn) onResponse(m *proto.Message) {
	id := m.Get("ActionID")
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[id]
	if p == nil || p.resp != nil {
		c.log.Debug("ami: answer to no pending action dropped", "action_id", id)
		return
	}
	p.resp = m
	switch {
	case strings.EqualFold(m.Get("EventList"), "start"):
		p.list = true
	case p.follow > 0 && strings.EqualFold(m.Name(), "Success"):
	default:
		c.finishLocked(id, p)
	}
}

// onListEvent takes the event if it belongs to an answered list (or
// follow-up) action, and reports whether it did.
func (c *conn) onListEvent(m *proto.Message) bool {
	id, ok := m.Lookup("ActionID")
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[id]
	if p == nil || p.resp == nil {
		return false
	}
	switch {
	case p.list:
		if strings.EqualFold(m.Get("EventList"), "Complete") {
			p.complete = m
			c.finishLocked(id, p)
		} else {
			p.items = append(p.items, m)
		}
		return true
	case p.follow > 0:
		p.items = append(p.items, m)
		if p.follow--; p.follow == 0 {
			c.finishLocked(id, p)
		}
		return true
	}
	return false
}

func (c *conn) finishLocked(id string, p *pending) {
	delete(c.pending, id)
	close(p.done)
}

// roundTrip sends m (which must carry a unique ActionID) and waits for its
// answer. follow is the number of events expected after a Success answer.
// A caller that gives up (ctx) leaves the entry registered so that late list
// items are still recognised as this action's and never leak into the event
// stream; the reader drops them when the list completes.
func (c *conn) roundTrip(ctx context.Context, m *proto.Message, follow int) (*Response, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("ami: %s: %w", m.Name(), err)
	}
	id := m.Get("ActionID")
	p := &pending{action: m.Name(), follow: follow, done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("ami: %s: %w", m.Name(), err)
	}
	c.pending[id] = p
	c.mu.Unlock()

	c.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetWriteDeadline(dl)
	} else {
		_ = c.nc.SetWriteDeadline(time.Time{})
	}
	err := c.w.WriteMessage(m)
	c.wmu.Unlock()
	if err != nil {
		// A half-written message leaves the stream unusable.
		c.close(fmt.Errorf("%w: %w", ErrConnectionLost, err))
		return nil, fmt.Errorf("ami: %s: %w", m.Name(), err)
	}

	select {
	case <-p.done:
		return &Response{Msg: p.resp, Items: p.items, Complete: p.complete}, nil
	case <-c.done:
		return nil, fmt.Errorf("ami: %s: %w", m.Name(), c.cause())
	case <-ctx.Done():
		return nil, fmt.Errorf("ami: %s: %w", m.Name(), ctx.Err())
	}
}

// keepAlive pings after KeepAlive of silence and closes the connection when
// the ping gets no answer within PingTimeout.
func (c *conn) keepAlive(ctx context.Context, every, timeout time.Duration, ping func(context.Context) error) {
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idle := time.Since(time.Unix(0, c.lastRx.Load()))
		if idle < every {
			t.Reset(every - idle)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.close(fmt.Errorf("%w: no answer to keep-alive ping after %s of silence: %w", ErrConnectionLost, every, err))
			return
		}
		t.Reset(every)
	}
}
