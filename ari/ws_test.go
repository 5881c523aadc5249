package ari

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/licbridge/licbridge/internal/asterisksim/arisrv"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// serveRecorded answers one WebSocket upgrade with a recorded rx.raw: the
// recorded bytes exactly, except the Sec-WebSocket-Accept value, which is
// recomputed for the key our dialer sent (the recording answers another key).
// When the recording ends in a close frame the server holds its last frame
// until our close frame arrives, as Asterisk did, then closes the socket.
func serveRecorded(tb testing.TB, raw []byte, endsWithClose bool) (addr string, gotClose <-chan []byte) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	closed := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		head, frames, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
		var out []byte
		for _, l := range strings.Split(string(head), "\r\n") {
			if strings.HasPrefix(l, "Sec-WebSocket-Accept: ") {
				l = "Sec-WebSocket-Accept: " + arisrv.Accept(req.Header.Get("Sec-WebSocket-Key"))
			}
			out = append(out, l+"\r\n"...)
		}
		out = append(out, "\r\n"...)
		if !endsWithClose {
			_, _ = c.Write(append(out, frames...))
			return // bare TCP EOF
		}
		_, _ = c.Write(append(out, frames[:len(frames)-4]...))
		f, err := ws.ReadFrame(br)
		if err != nil {
			return
		}
		if f.Header.Masked {
			ws.Cipher(f.Payload, f.Header.Mask, 0)
		}
		if f.Header.OpCode == ws.OpClose {
			closed <- f.Payload
			_, _ = c.Write(frames[len(frames)-4:])
		}
	}()
	return ln.Addr().String(), closed
}

// TestDialAgainstRecordedBytes runs our real dial and read path (gobwas/ws
// handshake, frame reader, decoder) over a loopback socket against the bytes
// the real Asterisk sent, including the bare EOF of a shutdown.
func TestDialAgainstRecordedBytes(t *testing.T) {
	for _, st := range recordedStreams {
		t.Run(st.name, func(t *testing.T) {
			raw := fixtures.Read(t, "asterisk", st.name+".rx.raw")
			addr, gotClose := serveRecorded(t, raw, st.end == "close")
			c, err := newClient("http://"+addr, "licbridge", "licsecret", nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, r, err := dialEvents(ctx, c, "licbridge", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			mr := newMsgReader(r, conn)
			var types []string
			for _, f := range recordedFrames(t, st.name) {
				if f.Opcode != 1 {
					continue
				}
				msg, err := mr.Next()
				if err != nil {
					t.Fatalf("after %v: %v", types, err)
				}
				ev, err := decodeEvent(msg)
				if err != nil {
					t.Fatal(err)
				}
				checkEvent(t, ev, expected(t, f.Text))
				types = append(types, ev.Type)
			}
			if st.end == "close" {
				// Close as the recording client did; Asterisk answers.
				if _, err := conn.Write(closeFrame()); err != nil {
					t.Fatal(err)
				}
				select {
				case p := <-gotClose:
					if code, _ := ws.ParseCloseFrameData(p); code != ws.StatusNormalClosure {
						t.Errorf("our close frame carries %d", code)
					}
				case <-ctx.Done():
					t.Fatal("server never saw our close frame")
				}
			}
			_, err = mr.Next()
			var ce wsutil.ClosedError
			switch {
			case st.end == "close" && !errors.As(err, &ce):
				t.Errorf("end: %v, want the server's close frame", err)
			case st.end == "eof" && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
				t.Errorf("end: %v, want EOF", err)
			}
		})
	}
}

// TestDialUnauthorized: the recorded 401 for the upgrade is an ErrUnauthorized
// carrying Asterisk's message, not an endless retry.
func TestDialUnauthorized(t *testing.T) {
	srv := startReplay(t, fixtures.Read(t, "asterisk", "ari_ws_401.rx.raw"))
	c, err := newClient(srv.url(), "licbridge", "wrong", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err = dialEvents(ctx, c, "licbridge", 5*time.Second)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "401 Authentication required") {
		t.Errorf("error %q lacks Asterisk's status and message", err)
	}
}
