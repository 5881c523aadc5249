package ari

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// maxMessage bounds one WebSocket message; ARI events are a few KiB.
const maxMessage = 1 << 20

// eventsURL is the WebSocket URL of /ari/events for app.
func eventsURL(base *url.URL, app string) string {
	u := *base
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path += "/events"
	u.RawQuery = encodeQuery([]param{{"app", app}, {"subscribeAll", "false"}})
	return u.String()
}

// dialEvents opens the event WebSocket. The whole handshake, including a 401
// answer, is bounded by timeout: ari/v5's Connect never returns on a wrong
// password. A non-101 answer is an *restError with Asterisk's message.
func dialEvents(ctx context.Context, c *Client, app string, timeout time.Duration) (net.Conn, io.Reader, error) {
	op := fmt.Sprintf("connect event websocket for application %q", app)
	var statusErr *restError
	h := http.Header{}
	h.Set("Authorization", "Basic "+basicAuth(c.user, c.pass))
	d := ws.Dialer{
		Timeout: timeout,
		Header:  ws.HandshakeHeaderHTTP(h),
		OnStatusError: func(status int, reason []byte, resp io.Reader) {
			statusErr = &restError{Op: op, StatusCode: status, Message: string(reason)}
			// The body holds Asterisk's message; read it within the handshake
			// deadline the dialer set on the connection.
			r, err := http.ReadResponse(bufio.NewReader(io.LimitReader(resp, maxBody)), nil)
			if err != nil {
				return
			}
			defer r.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
			var m struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(body, &m) == nil && m.Message != "" {
				statusErr.Message = m.Message
			}
		},
	}
	// gobwas/ws v1.3.2 applies Dialer.Timeout to the handshake only when ctx
	// is context.Background(); bound the whole dial with ctx ourselves.
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, br, _, err := d.Dial(dctx, eventsURL(c.base, app))
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		if statusErr != nil {
			return nil, nil, statusErr
		}
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)) {
			return nil, nil, fmt.Errorf("ari: %s: no answer within %s: %w", op, timeout, err)
		}
		return nil, nil, fmt.Errorf("ari: %s: %w", op, err)
	}
	var r io.Reader = conn
	if br != nil {
		// Frames that arrived with the 101 are buffered in br.
		r = io.MultiReader(br, conn)
	}
	return conn, r, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// lockedWriter serialises the control replies of the reader with our own
// close frame.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// msgReader reads the data messages of the client side of a WebSocket,
// answering pings and close frames on w.
type msgReader struct {
	rd  wsutil.Reader
	ctl wsutil.FrameHandlerFunc
}

// newMsgReader reads frames from r (positioned after the 101 response) and
// writes control answers to w.
func newMsgReader(r io.Reader, w io.Writer) *msgReader {
	m := &msgReader{ctl: wsutil.ControlFrameHandler(w, ws.StateClientSide)}
	m.rd = wsutil.Reader{
		Source:         r,
		State:          ws.StateClientSide,
		CheckUTF8:      true,
		MaxFrameSize:   maxMessage,
		OnIntermediate: m.ctl,
	}
	return m
}

// Next returns the next text or binary message. A close frame from the server
// is a wsutil.ClosedError (after we answered it); a connection that ends with
// no close frame (Asterisk's shutdown) is io.EOF or io.ErrUnexpectedEOF.
func (m *msgReader) Next() ([]byte, error) {
	for {
		hdr, err := m.rd.NextFrame()
		if err != nil {
			return nil, err
		}
		if hdr.OpCode.IsControl() {
			if err := m.ctl(hdr, &m.rd); err != nil {
				return nil, err
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(&m.rd, maxMessage+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxMessage {
			return nil, fmt.Errorf("ari: websocket message over %d bytes", maxMessage)
		}
		return b, nil
	}
}

// closeFrame is a client close frame with status 1000 (masked, as a client must).
func closeFrame() []byte {
	var b bytes.Buffer
	_ = wsutil.WriteClientMessage(&b, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	return b.Bytes()
}
