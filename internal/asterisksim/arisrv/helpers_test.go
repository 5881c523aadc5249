package arisrv

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// clock is a scripted clock: Now pops queued times, then repeats the last.
type clock struct {
	mu   sync.Mutex
	q    []time.Time
	last time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.q) > 0 {
		c.last, c.q = c.q[0], c.q[1:]
	}
	return c.last
}

// set queues ts; the last one stays.
func (c *clock) set(ts ...time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.q = append([]time.Time(nil), ts...)
	if len(ts) > 0 {
		c.last = ts[0]
	}
}

func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(dateFormat, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// exchange writes raw request bytes on a new connection and reads the answer
// until the server closes.
func exchange(tb testing.TB, addr string, req []byte) []byte {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		tb.Fatalf("read answer: %v", err)
	}
	return b
}

// connectApp opens an event WebSocket for appName and drains it; the frames
// are returned on the channel.
func connectApp(tb testing.TB, s *Server, appName string) <-chan []byte {
	tb.Helper()
	h := http.Header{}
	h.Set("Authorization", "Basic bGljYnJpZGdlOmxpY3NlY3JldA==")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dialer{Header: ws.HandshakeHeaderHTTP(h)}.Dial(ctx, "ws://"+s.Addr().String()+"/ari/events?app="+appName)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	out := make(chan []byte, 1024)
	go func() {
		defer close(out)
		rw := struct {
			io.Reader
			io.Writer
		}{r, conn}
		for {
			b, _, err := wsutil.ReadServerData(rw)
			if err != nil {
				return
			}
			out <- b
		}
	}()
	if err := s.WaitConnected(ctx, appName); err != nil {
		tb.Fatal(err)
	}
	return out
}

// headerDate is the Date header of a recorded response.
func headerDate(tb testing.TB, raw []byte) time.Time {
	tb.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), nil)
	if err != nil {
		tb.Fatalf("recorded response: %v", err)
	}
	d, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		tb.Fatalf("recorded Date: %v", err)
	}
	return d
}
