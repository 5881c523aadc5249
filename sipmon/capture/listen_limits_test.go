package capture_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture"
)

// TestHEPTCPIdleSendersClosed: peers that hold TCP connections without
// sending (or stall inside a message) are closed after IdleTimeout, so they
// cannot keep an honest sender out (before: MaxConns idle peers locked it out
// for good).
func TestHEPTCPIdleSendersClosed(t *testing.T) {
	want, raw := want12a(t)
	const maxConns = 4
	ch := make(chan got, 1024)
	s, err := capture.NewHEPServer("tcp", "127.0.0.1:0", "hep1", func(m *capture.Message) error { ch <- copyMsg(m); return nil },
		capture.HEPOptions{MaxConns: maxConns, IdleTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	addr := s.Addr().String()

	// Take every slot: silent peers, and one that stalls inside a message.
	idle := make([]net.Conn, maxConns)
	for i := range idle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle[i] = c
	}
	if _, err := idle[0].Write(raw[0][:len(raw[0])/2]); err != nil {
		t.Fatal(err)
	}
	for i, c := range idle {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Fatalf("idle peer %d: still connected after 5s", i)
		}
	}

	// The slots are free again: an honest sender gets through.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(bytes.Join(raw, nil)); err != nil {
		t.Fatal(err)
	}
	compareGot(t, collect(t, ch, len(want)), want)
	if st := s.Stats(); st.HEPErrors != 1 {
		t.Errorf("stats %+v: want 1 HEP error (the message cut short)", st)
	}
}

// TestHEPReadBufferAccessor: a TCP server has no UDP buffer to report.
func TestHEPReadBufferAccessor(t *testing.T) {
	s, err := capture.NewHEPServer("tcp", "127.0.0.1:0", "", nil, capture.HEPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Run(canceled())
	if n := s.ReadBuffer(); n != 0 {
		t.Errorf("TCP server reports a UDP receive buffer of %d", n)
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
