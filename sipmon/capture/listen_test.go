package capture_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/internal/testkit/pcaptest"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// got is a copy of a delivered message (Payload is only valid during the call).
type got struct {
	src, dst string
	tr       capture.Transport
	hep      bool
	time     time.Time
	payload  string
	sensor   string
}

func copyMsg(m *capture.Message) got {
	return got{m.Src.String(), m.Dst.String(), m.Transport, m.HEP, m.Time, string(m.Payload), m.Sensor}
}

// want12a is what ReadFile delivers for 12a: the reference the listener must match.
func want12a(t *testing.T) ([]got, [][]byte) {
	t.Helper()
	path := fixtures.Path(t, "sip", "12a_hep3_kamailio_siptrace_only.pcap")
	var want []got
	if _, err := capture.ReadPaths(context.Background(), []capture.Input{{Sensor: "hep1", Path: path}}, func(m *capture.Message) error {
		want = append(want, copyMsg(m))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var raw [][]byte
	for _, dg := range pcaptest.UDPPayloads(t, path) {
		raw = append(raw, dg.Payload)
	}
	if len(want) == 0 || len(want) != len(raw) {
		t.Fatalf("12a: %d messages from %d datagrams", len(want), len(raw))
	}
	return want, raw
}

// startHEP runs a HEP server on 127.0.0.1:0 and returns it with the channel of
// delivered messages and the channel of Run's result.
func startHEP(t *testing.T, network string, h func(*capture.Message) error) (*capture.HEPServer, <-chan got, <-chan error, context.CancelFunc) {
	t.Helper()
	ch := make(chan got, 1024)
	if h == nil {
		h = func(m *capture.Message) error { ch <- copyMsg(m); return nil }
	}
	s, err := capture.NewHEPServer(network, "127.0.0.1:0", "hep1", h, capture.HEPOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return s, ch, done, cancel
}

func collect(t *testing.T, ch <-chan got, n int) []got {
	t.Helper()
	var out []got
	for len(out) < n {
		select {
		case g := <-ch:
			out = append(out, g)
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d of %d messages", len(out), n)
		}
	}
	return out
}

func compareGot(t *testing.T, got, want []got) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestHEPServerUDP(t *testing.T) {
	want, raw := want12a(t)
	s, ch, _, _ := startHEP(t, "udp", nil)
	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Garbage first: counted, not fatal.
	if _, err := c.Write([]byte("not hep at all")); err != nil {
		t.Fatal(err)
	}
	var all []got
	for _, b := range raw {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		// One at a time, so the socket buffer never has to hold them all.
		all = append(all, collect(t, ch, 1)...)
	}
	compareGot(t, all, want)
	if st := s.Stats(); st.HEPErrors != 1 || st.HEPMessages != len(raw) || st.Packets != len(raw)+1 {
		t.Errorf("stats %+v: want 1 HEP error, %d HEP messages, %d packets", st, len(raw), len(raw)+1)
	}
}

func TestHEPServerTCP(t *testing.T) {
	want, raw := want12a(t)
	s, ch, _, _ := startHEP(t, "tcp", nil)
	addr := s.Addr().String()

	// A peer speaking something else is disconnected; the server stays up.
	bad, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bad.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("non-HEP peer: read %v, want EOF (closed by the server)", err)
	}

	// The real stream, written in 7-byte pieces so that messages straddle writes.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stream := bytes.Join(raw, nil)
	for len(stream) > 0 {
		n := min(7, len(stream))
		if _, err := c.Write(stream[:n]); err != nil {
			t.Fatal(err)
		}
		stream = stream[n:]
	}
	compareGot(t, collect(t, ch, len(want)), want)
	if st := s.Stats(); st.HEPErrors != 1 || st.HEPMessages != len(raw) {
		t.Errorf("stats %+v: want 1 HEP error and %d HEP messages", st, len(raw))
	}
}

func TestHEPServerHandlerErrorStopsRun(t *testing.T) {
	_, raw := want12a(t)
	boom := errors.New("boom")
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			s, err := capture.NewHEPServer(network, "127.0.0.1:0", "", func(*capture.Message) error { return boom }, capture.HEPOptions{})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Run(context.Background()) }()
			c, err := net.Dial(network, s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(raw[0]); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, boom) {
					t.Errorf("Run returned %v, want the handler's error", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not stop on the handler's error")
			}
		})
	}
}

func TestHEPServerDefaultsToLoopback(t *testing.T) {
	if capture.DefaultHEPAddr[:10] != "127.0.0.1:" {
		t.Errorf("DefaultHEPAddr %q is not loopback", capture.DefaultHEPAddr)
	}
	if _, err := capture.NewHEPServer("sctp", "", "", nil, capture.HEPOptions{}); err == nil {
		t.Error("no error for network sctp")
	}
}
