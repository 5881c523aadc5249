package ami_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/ami/proto"
)

// scripted is a raw AMI peer whose every byte the test writes: for the
// partial, hostile and never-ending input the double does not produce.
type scripted struct {
	ln    net.Listener
	conns chan *sconn
}

type sconn struct {
	t  *testing.T
	nc net.Conn
	rd *proto.Reader
}

// startScripted accepts connections, greets, accepts any Login, and hands the
// connection to the test.
func startScripted(t *testing.T) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{ln: ln, conns: make(chan *sconn, 8)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { nc.Close() })
			c := &sconn{t: t, nc: nc, rd: proto.NewReader(nc, proto.Limits{})}
			go func() {
				if _, err := io.WriteString(nc, "Asterisk Call Manager/11.0.0\r\n"); err != nil {
					return
				}
				login, err := c.rd.ReadMessage()
				if err != nil {
					return
				}
				io.WriteString(nc, "Response: Success\r\nActionID: "+login.Get("ActionID")+"\r\nMessage: Authentication accepted\r\n\r\n")
				s.conns <- c
			}()
		}
	}()
	return s
}

func (s *scripted) next(t *testing.T) *sconn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(guard):
		t.Fatal("no connection")
		return nil
	}
}

func (c *sconn) action() *proto.Message {
	c.t.Helper()
	m, err := c.rd.ReadMessage()
	if err != nil {
		c.t.Fatalf("scripted read: %v", err)
	}
	return m
}

func (c *sconn) write(s string) {
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Errorf("scripted write: %v", err)
	}
}

// goami defect: a context timeout came back as io.EOF and the partly read
// message was lost. Here the timeout is the context's error, the half message
// is completed later and delivered whole, and the late answer to the abandoned
// action does not shift the next one.
func TestTimeoutMidMessageLosesNothing(t *testing.T) {
	s := startScripted(t)
	h := run(t, ami.Options{Addr: s.ln.Addr().String(), KeepAlive: -1})
	sc := s.next(t)
	h.waitConnect(t, 1)

	sc.write("Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/1-0000")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := h.c.Ping(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) {
		t.Fatalf("Ping = %v, want the context's deadline error", err)
	}
	first := sc.action() // the abandoned Ping
	sc.write("0001\r\nUniqueid: 1795386281.7\r\n\r\n")
	ev := nextEvent(t, h.c, "Newchannel").(*ami.Newchannel)
	if ev.Channel != "PJSIP/1-00000001" || ev.Uniqueid != "1795386281.7" {
		t.Fatalf("event after the timeout: %+v", ev.ChannelFields)
	}

	res := make(chan error, 1)
	go func() { res <- h.c.Ping(ctxT(t)) }()
	second := sc.action()
	// The late answer to the first Ping comes first; it must not be taken as the second's.
	sc.write("Response: Error\r\nActionID: " + first.Get("ActionID") + "\r\nMessage: late\r\n\r\n")
	sc.write("Response: Success\r\nActionID: " + second.Get("ActionID") + "\r\nPing: Pong\r\n\r\n")
	if err := <-res; err != nil {
		t.Fatalf("second Ping = %v (took the first one's answer?)", err)
	}
}

// Hostile input from the server: garbage, oversized headers and messages that
// are neither response nor event are skipped; the connection keeps serving.
func TestHostileServerInput(t *testing.T) {
	s := startScripted(t)
	h := run(t, ami.Options{Addr: s.ln.Addr().String(), KeepAlive: -1, Limits: proto.Limits{MaxLineBytes: 1024}})
	sc := s.next(t)
	h.waitConnect(t, 1)

	res := make(chan error, 1)
	go func() { res <- h.c.Ping(ctxT(t)) }()
	ping := sc.action()
	sc.write("\x00\x01garbage without colon\r\n\r\n")
	sc.write("Event: Huge\r\nX: " + strings.Repeat("A", 100000) + "\r\n\r\n")
	sc.write("Foo: not a response or event\r\n\r\n")
	sc.write("Event: Newchannel\r\nChannel: PJSIP/2-00000002\r\nCallerIDNum: 1000\r\n\r\n")
	sc.write("Response: Success\r\nActionID: " + ping.Get("ActionID") + "\r\nPing: Pong\r\n\r\n")
	if err := <-res; err != nil {
		t.Fatalf("Ping after garbage: %v", err)
	}
	ev := nextEvent(t, h.c, "Newchannel", "Huge").(*ami.Newchannel)
	if ev.Channel != "PJSIP/2-00000002" {
		t.Fatalf("%+v", ev.ChannelFields)
	}
}

// A server that starts a message and never ends it: answers cannot come
// through, so the keep-alive ping goes unanswered and the client reconnects.
func TestNeverEndingMessageTriggersReconnect(t *testing.T) {
	s := startScripted(t)
	h := run(t, ami.Options{Addr: s.ln.Addr().String(), KeepAlive: 30 * time.Millisecond, PingTimeout: 30 * time.Millisecond})
	sc := s.next(t)
	h.waitConnect(t, 1)
	sc.write("Event: Endless\r\nX: 1\r\n")
	go func() { // answer pings, but inside the unfinished message they are just more headers
		for {
			m, err := sc.rd.ReadMessage()
			if err != nil {
				return
			}
			io.WriteString(sc.nc, "Response: Success\r\nActionID: "+m.Get("ActionID")+"\r\n")
		}
	}()
	s.next(t) // the client came back on a new connection
	h.waitConnect(t, 2)
}

// A value with CR or LF never reaches the wire, whatever the action.
func TestInjectionRefused(t *testing.T) {
	s := startScripted(t)
	h := run(t, ami.Options{Addr: s.ln.Addr().String(), KeepAlive: -1})
	sc := s.next(t)
	h.waitConnect(t, 1)
	ctx := ctxT(t)
	bad := []struct {
		name string
		call func() error
	}{
		{"setvar_value_lf", func() error { return h.c.Setvar(ctx, "PJSIP/1", "X", "a\nAction: Hangup") }},
		{"setvar_value_crlf", func() error { return h.c.Setvar(ctx, "PJSIP/1", "X", "a\r\n\r\nAction: Originate") }},
		{"setvar_channel_cr", func() error { return h.c.Setvar(ctx, "PJSIP/1\rX", "X", "a") }},
		{"getvar_variable_lf", func() error { _, err := h.c.Getvar(ctx, "", "A\nB"); return err }},
		{"hangup_channel_lf", func() error { return h.c.Hangup(ctx, "PJSIP/1\nAction: Logoff", 16) }},
		{"command_lf", func() error { _, err := h.c.Command(ctx, "core show channels\nAction: Logoff"); return err }},
		{"generic_action", func() error {
			_, err := h.c.Action(ctx, "Setvar", proto.Field{Key: "Value", Value: "x\ny"})
			return err
		}},
		{"originate_callerid", func() error {
			_, err := h.c.Originate(ctx, ami.OriginateData{Channel: "Local/1@x", Application: "Wait", Data: "1", CallerID: "\"Evil\" <1>\r\nAction: Hangup"})
			return err
		}},
		{"originate_variable", func() error {
			_, err := h.c.Originate(ctx, ami.OriginateData{Channel: "Local/1@x", Application: "Wait", Variable: []string{"A=1\nAction: Hangup"}})
			return err
		}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, proto.ErrUnsafeValue) {
				t.Fatalf("err = %v, want ErrUnsafeValue", err)
			}
		})
	}
	// Nothing was sent: the next thing the server reads is this Originate,
	// encoded by goami's naming, with every field intact.
	res := make(chan error, 1)
	go func() {
		_, err := h.c.Originate(ctx, ami.OriginateData{Channel: "Local/100@lic-dial", Application: "Wait", Data: "15", CallerID: "\"LicBridge Test\" <1000>", Async: "true", Variable: []string{"A=50% used", "B=2"}})
		res <- err
	}()
	m := sc.action()
	if m.Get("Action") != "Originate" || m.Get("CallerID") != "\"LicBridge Test\" <1000>" || strings.Join(m.Values("Variable"), "|") != "A=50% used|B=2" || m.Get("Async") != "true" {
		t.Fatalf("server read %q", m.String())
	}
	if m.Fields[1].Key != "ActionID" {
		t.Fatalf("ActionID not second: %q", m.String())
	}
	sc.write("Response: Success\r\nActionID: " + m.Get("ActionID") + "\r\nMessage: Originate successfully queued\r\n\r\n")
	if err := <-res; err != nil {
		t.Fatal(err)
	}
}
