package realasterisk

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Msg is one AMI message (response or event); keys as Asterisk spells them.
type Msg map[string]string

// amiConn is the test's own AMI session (a user with every class), small on
// purpose: send an action, get its response and the events that carry its
// ActionID. It is not the product's client: the tests must not depend on the
// code they test to drive Asterisk.
type amiConn struct {
	c    net.Conn
	seq  atomic.Int64
	mu   sync.Mutex
	wait map[string]chan Msg // ActionID -> response and events
	all  chan Msg            // events with no ActionID, newest dropped when full
	done chan struct{}
	err  error
}

func dialAMI(ctx context.Context, addr, user, secret string) (*amiConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ami: dial %s: %w", addr, err)
	}
	r := textproto.NewReader(bufio.NewReader(c))
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetReadDeadline(dl)
	}
	banner, err := r.ReadLine()
	if err != nil || !strings.HasPrefix(banner, "Asterisk Call Manager/") {
		c.Close()
		return nil, fmt.Errorf("ami: banner from %s: %q %v", addr, banner, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	a := &amiConn{c: c, wait: map[string]chan Msg{}, all: make(chan Msg, 4096), done: make(chan struct{})}
	go a.read(r)
	resp, err := a.Do(ctx, Msg{"Action": "Login", "Username": user, "Secret": secret})
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("ami: login as %s: %w", user, err)
	}
	if resp["Response"] != "Success" {
		a.Close()
		return nil, fmt.Errorf("ami: login as %s: %s", user, resp["Message"])
	}
	return a, nil
}

func (a *amiConn) read(r *textproto.Reader) {
	defer close(a.done)
	for {
		h, err := r.ReadMIMEHeader()
		if err != nil {
			a.err = err
			return
		}
		m := Msg{}
		for k, v := range h {
			// textproto canonicalises keys (Actionid); AMI's own spelling is not
			// needed, only a stable one: keep the canonical form.
			m[k] = strings.Join(v, "\n")
		}
		id := m["Actionid"]
		a.mu.Lock()
		ch := a.wait[id]
		a.mu.Unlock()
		if ch != nil {
			ch <- m // buffered generously; a test that stops listening drops nothing here
			continue
		}
		select {
		case a.all <- m:
		default:
		}
	}
}

// Close ends the session.
func (a *amiConn) Close() { a.c.Close(); <-a.done }

// send writes an action with a fresh ActionID and returns the channel on which
// its response and events arrive; call forget when done.
func (a *amiConn) send(action Msg) (string, chan Msg, error) {
	id := "t" + strconv.FormatInt(a.seq.Add(1), 10)
	ch := make(chan Msg, 1024)
	a.mu.Lock()
	a.wait[id] = ch
	a.mu.Unlock()
	var b strings.Builder
	for k, v := range action {
		if k == "Variable" {
			for _, kv := range strings.Split(v, "\n") {
				fmt.Fprintf(&b, "Variable: %s\r\n", kv)
			}
			continue
		}
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	fmt.Fprintf(&b, "ActionID: %s\r\n\r\n", id)
	if _, err := a.c.Write([]byte(b.String())); err != nil {
		a.forget(id)
		return "", nil, fmt.Errorf("ami: send %s: %w", action["Action"], err)
	}
	return id, ch, nil
}

func (a *amiConn) forget(id string) {
	a.mu.Lock()
	delete(a.wait, id)
	a.mu.Unlock()
}

func (a *amiConn) next(ctx context.Context, what string, ch chan Msg) (Msg, error) {
	select {
	case m := <-ch:
		return m, nil
	case <-a.done:
		return nil, fmt.Errorf("ami: %s: connection closed: %v", what, a.err)
	case <-ctx.Done():
		return nil, fmt.Errorf("ami: %s: %w", what, ctx.Err())
	}
}

// Do sends an action and returns its response.
func (a *amiConn) Do(ctx context.Context, action Msg) (Msg, error) {
	id, ch, err := a.send(action)
	if err != nil {
		return nil, err
	}
	defer a.forget(id)
	for {
		m, err := a.next(ctx, action["Action"], ch)
		if err != nil {
			return nil, err
		}
		if m["Response"] != "" {
			return m, nil
		}
	}
}

// List sends an action that answers with an event list and returns its events
// (without the closing *Complete event).
func (a *amiConn) List(ctx context.Context, action Msg) ([]Msg, error) {
	id, ch, err := a.send(action)
	if err != nil {
		return nil, err
	}
	defer a.forget(id)
	var out []Msg
	for {
		m, err := a.next(ctx, action["Action"], ch)
		if err != nil {
			return nil, err
		}
		switch {
		case m["Response"] == "Error":
			return nil, fmt.Errorf("ami: %s: %s", action["Action"], m["Message"])
		case m["Response"] != "":
		case m["Eventlist"] == "Complete":
			return out, nil
		default:
			out = append(out, m)
		}
	}
}

// Originate sends an async Originate and waits for its OriginateResponse event.
func (a *amiConn) Originate(ctx context.Context, action Msg) (Msg, error) {
	action["Action"] = "Originate"
	action["Async"] = "true"
	id, ch, err := a.send(action)
	if err != nil {
		return nil, err
	}
	defer a.forget(id)
	for {
		m, err := a.next(ctx, "Originate", ch)
		if err != nil {
			return nil, err
		}
		if m["Response"] == "Error" {
			return nil, fmt.Errorf("ami: Originate: %s", m["Message"])
		}
		if m["Event"] == "OriginateResponse" {
			if m["Response"] != "Success" {
				return m, fmt.Errorf("ami: Originate %s: %s (reason %s)", action["Channel"], m["Response"], m["Reason"])
			}
			return m, nil
		}
	}
}

// waitEvent waits for an event (with no ActionID) named name.
func (a *amiConn) waitEvent(ctx context.Context, name string) (Msg, error) {
	for {
		select {
		case m := <-a.all:
			if m["Event"] == name {
				return m, nil
			}
		case <-a.done:
			return nil, fmt.Errorf("ami: waiting for %s: connection closed: %v", name, a.err)
		case <-ctx.Done():
			return nil, fmt.Errorf("ami: waiting for %s: %w", name, ctx.Err())
		}
	}
}
