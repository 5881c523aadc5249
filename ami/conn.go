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

	start time.Time
	// lastAnswer is when Asterisk last answered anything (a response or a list
	// item of ours), as time since start: events prove nothing, a hung Asterisk
	// can stream them while answering no action.
	lastAnswer atomic.Int64
	// strikes counts actions in a row that timed out with no answer to
	// anything since they were sent; maxStrikes of them end the connection
	// (0: never). Under mu.
	strikes    int
	maxStrikes int

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

func newConn(nc net.Conn, rd *proto.Reader, log *slog.Logger, maxStrikes int, onEvent func(*proto.Message)) *conn {
	if maxStrikes < 0 {
		maxStrikes = 0
	}
	return &conn{
		nc:         nc,
		rd:         rd,
		w:          proto.NewWriter(nc),
		log:        log,
		pending:    map[string]*pending{},
		done:       make(chan struct{}),
		start:      time.Now(), // the Login was just answered
		maxStrikes: maxStrikes,
		onEvent:    onEvent,
	}
}

// now is the time since the connection started (monotonic).
func (c *conn) now() int64 { return int64(time.Since(c.start)) }

// answeredLocked records that Asterisk answered something. c.mu held.
func (c *conn) answeredLocked() {
	c.lastAnswer.Store(c.now())
	c.strikes = 0
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
				c.log.Warn("ami: skipped a malformed message", "err", err)
				continue
			}
			c.close(fmt.Errorf("%w: %w", ErrConnectionLost, err))
			return
		}
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
	// Even a late answer (to an action whose caller gave up) shows Asterisk is alive.
	c.answeredLocked()
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
	c.answeredLocked()
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
	sent := c.now()

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
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.timedOut(p, sent)
		}
		return nil, fmt.Errorf("ami: %s: %w", m.Name(), ctx.Err())
	}
}

// timedOut counts an action that got no answer in time against the
// connection, and ends the connection after maxStrikes in a row. An action
// sent before some other answer arrived is no strike: Asterisk is alive, only
// slow with that one.
func (c *conn) timedOut(p *pending, sent int64) {
	c.mu.Lock()
	if c.maxStrikes == 0 || c.err != nil || p.resp != nil || c.lastAnswer.Load() >= sent {
		c.mu.Unlock()
		return
	}
	c.strikes++
	n := c.strikes
	c.mu.Unlock()
	if n >= c.maxStrikes {
		c.close(fmt.Errorf("%w: %d actions in a row got no answer in time (the last: %s); Asterisk answers nothing",
			ErrConnectionLost, n, p.action))
	}
}

// keepAlive pings once Asterisk has answered nothing for every (events do
// not count) and closes the connection when the ping gets no answer within
// timeout.
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
		idle := time.Duration(c.now() - c.lastAnswer.Load())
		if idle < every {
			t.Reset(every - idle)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.close(fmt.Errorf("%w: no answer to keep-alive ping after %s without answers: %w", ErrConnectionLost, idle, err))
			return
		}
		t.Reset(every)
	}
}
