package admin_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/licbridge/licbridge/admin"
)

// patience bounds every wait in these tests: far beyond the small limits the
// tests set, so a loaded machine does not flake, and short enough that the
// old, unbounded server fails in seconds.
const patience = 5 * time.Second

func dialAdmin(t *testing.T, s *admin.Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes one raw request and reads its answer, leaving the
// connection open.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req string) *http.Response {
	t.Helper()
	c.SetDeadline(time.Now().Add(patience))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// waitClosed reads c until the server closes it; it fails the test when the
// server still holds it after patience.
func waitClosed(t *testing.T, c net.Conn, r io.Reader, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(patience))
	_, err := io.Copy(io.Discard, r)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("%s: the server still holds the connection after %v", what, patience)
	}
	// nil (EOF) or a reset: closed either way.
}

// TestIdleKeepAliveClosed: a client that got one 401 and then sits on its
// keep-alive connection is closed within IdleTimeout (before, never: 600 of
// them took every descriptor of the daemon).
func TestIdleKeepAliveClosed(t *testing.T) {
	s, _ := serve(t, admin.Options{Listen: "127.0.0.1:0", Token: "tok-idle", IdleTimeout: 100 * time.Millisecond})
	c := dialAdmin(t, s)
	br := bufio.NewReader(c)
	resp := roundTrip(t, c, br, "GET /api/v1/view HTTP/1.1\r\nHost: admin\r\n\r\n")
	if resp.StatusCode != http.StatusUnauthorized || resp.Close {
		t.Fatalf("unauthenticated request: %d close=%v, want a 401 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	waitClosed(t, c, br, "idle keep-alive connection")
}

// TestTrickledRequestCutOff: a request trickled a byte at a time is cut off,
// in its headers by ReadHeaderTimeout and in its body (with the default
// options: no endpoint reads a body) at once.
func TestTrickledRequestCutOff(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opt   admin.Options
		head  string // sent at once
		drip  string // then sent byte by byte, over and over
		token bool
	}{
		{name: "chunked_body_defaults", opt: admin.Options{Token: "tok-body"},
			head: "POST /api/v1/view HTTP/1.1\r\nHost: admin\r\nTransfer-Encoding: chunked\r\n\r\n", drip: "1\r\nx\r\n"},
		{name: "chunked_body_authenticated", opt: admin.Options{Token: "tok-body"}, token: true,
			head: "POST /api/v1/view HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer tok-body\r\nTransfer-Encoding: chunked\r\n\r\n", drip: "1\r\nx\r\n"},
		{name: "headers", opt: admin.Options{ReadHeaderTimeout: 100 * time.Millisecond},
			head: "GET /healthz HTTP/1.1\r\nHost: admin\r\n", drip: "X-Slow: a\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Listen = "127.0.0.1:0"
			s, _ := serve(t, tc.opt)
			c := dialAdmin(t, s)
			if _, err := io.WriteString(c, tc.head); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			defer close(done)
			go func() {
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					case <-tick.C:
					}
					if _, err := c.Write([]byte{tc.drip[i%len(tc.drip)]}); err != nil {
						return // cut off
					}
				}
			}()
			waitClosed(t, c, c, "trickled request")
		})
	}
}

// TestConnectionCap: connections beyond MaxConns are not accepted (so take no
// descriptor of the process) until one of those in is closed.
func TestConnectionCap(t *testing.T) {
	const maxConns = 2
	s, _ := serve(t, admin.Options{Listen: "127.0.0.1:0", MaxConns: maxConns, IdleTimeout: time.Minute})
	const req = "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n"
	var in []net.Conn
	for range maxConns {
		c := dialAdmin(t, s)
		if resp := roundTrip(t, c, bufio.NewReader(c), req); resp.StatusCode != 200 {
			t.Fatalf("healthz: %d", resp.StatusCode)
		}
		in = append(in, c) // now idle, kept alive, holding its slot
	}
	before := openFDs(t)
	over := make([]net.Conn, 20)
	for i := range over {
		over[i] = dialAdmin(t, s)
		if _, err := io.WriteString(over[i], req); err != nil {
			t.Fatal(err)
		}
	}
	// The one-sided check: the server must not answer while the slots are
	// held. A slow machine can only make this pass more easily.
	over[0].SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	br := bufio.NewReader(over[0])
	if resp, err := http.ReadResponse(br, nil); err == nil {
		t.Fatalf("a connection over MaxConns=%d was served: %d", maxConns, resp.StatusCode)
	}
	if n := openFDs(t) - before; n >= 0 {
		// Each client end is one descriptor; accepted server ends would add more.
		t.Logf("descriptors after %d connections over the cap: +%d", len(over), n)
		if n > len(over)+maxConns {
			t.Errorf("descriptors grew by %d for %d connections over a cap of %d", n, len(over), maxConns)
		}
	}
	in[0].Close()
	over[0].SetReadDeadline(time.Now().Add(patience))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("once a slot freed, the waiting connection: %v %v", resp, err)
	}
}

// openFDs counts this process's open descriptors (-1 where /proc is missing).
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Logf("counting descriptors: %v", err)
		return -1
	}
	return len(ents)
}
