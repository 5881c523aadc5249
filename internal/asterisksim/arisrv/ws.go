package arisrv

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/gobwas/ws/wsutil"
)

// Accept is the Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455).
func Accept(key string) string {
	h := sha1.New()
	h.Write([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// upgrade answers GET /ari/events with Asterisk's 101 (or its 401) and keeps
// the connection as the application's event WebSocket; true when it did.
func (s *Server) upgrade(c net.Conn, br *bufio.Reader, r *http.Request) bool {
	if !s.authorized(r) {
		_ = s.write(c, unauthorized, r.Close)
		return false
	}
	s.mu.Lock()
	refused := s.refuseWS
	s.mu.Unlock()
	if refused {
		return false // closed unanswered, like an Asterisk that is restarting
	}
	appName := r.URL.Query().Get("app")
	key := r.Header.Get("Sec-WebSocket-Key")
	switch {
	case r.URL.Path != "/ari/events" || r.Method != http.MethodGet:
		_ = s.write(c, errResp(404, "Not Found", "Resource not found"), true)
		return false
	case appName == "":
		_ = s.write(c, errResp(400, "Bad Request", "Missing parameter app"), true)
		return false
	case key == "" || r.Header.Get("Sec-WebSocket-Version") != "13":
		_ = s.write(c, errResp(400, "Bad Request", "Bad WebSocket handshake"), true)
		return false
	}
	// The application exists before the client sees the 101, so that its
	// first REST call (an event filter, a subscription) finds it; events
	// queue until the writer starts.
	w := newWSConn(c, appName)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return true
	}
	a := s.apps[appName]
	if a == nil {
		a = &app{name: appName, subs: map[string]bool{}}
		s.apps[appName] = a
	}
	a.ws = append(a.ws, w)
	s.mu.Unlock()
	// Asterisk's 101, header for header (ari_ws_*.rx.raw).
	if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\n"+
		"Upgrade: websocket\r\n"+
		"Connection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "+Accept(key)+"\r\n\r\n"); err != nil {
		w.close()
		s.unregister(appName, w)
		close(w.gone)
		return true
	}
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		w.writeLoop()
	}()
	// Read the client's frames: answer ping and close, ignore data.
	rw := struct {
		io.Reader
		io.Writer
	}{br, w.locked}
	for {
		if _, _, err := wsutil.ReadClientData(rw); err != nil {
			break
		}
	}
	w.close()
	s.unregister(a.name, w)
	close(w.gone)
	return true
}

// unregister forgets a WebSocket; an application with none left is gone, as
// in Asterisk (its filter and subscriptions with it).
func (s *Server) unregister(appName string, w *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil {
		return
	}
	for i, x := range a.ws {
		if x == w {
			a.ws = append(a.ws[:i], a.ws[i+1:]...)
			break
		}
	}
	if len(a.ws) == 0 {
		delete(s.apps, appName)
	}
	s.notifyLocked()
}

// RefuseWebSockets makes upgrade requests fail (the connection is closed
// unanswered) while on, so a test can act while no client is connected.
func (s *Server) RefuseWebSockets(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseWS = on
}

// DropWebSockets closes every event WebSocket's TCP connection with no close
// frame, as Asterisk does on shutdown (ari_ws_asterisk_shutdown).
func (s *Server) DropWebSockets() {
	s.mu.Lock()
	var all []*wsConn
	for _, a := range s.apps {
		all = append(all, a.ws...)
	}
	s.mu.Unlock()
	for _, w := range all {
		w.close()
	}
	// The readers unregister them; wait until they have.
	for _, w := range all {
		<-w.gone
	}
}

// wsConn is one event WebSocket; events are queued so that a slow client
// never blocks the double's state changes, and sent in order.
type wsConn struct {
	conn   net.Conn
	app    string
	locked *lockedWriter
	done   chan struct{} // closed when the writer loop ends
	gone   chan struct{} // closed once unregistered

	mu     sync.Mutex
	cond   *sync.Cond
	queue  [][]byte
	closed bool
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newWSConn(c net.Conn, appName string) *wsConn {
	w := &wsConn{conn: c, app: appName, locked: &lockedWriter{w: c}, done: make(chan struct{}), gone: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *wsConn) push(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.queue = append(w.queue, b)
		w.cond.Signal()
	}
}

func (w *wsConn) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		w.conn.Close()
		w.cond.Broadcast()
	}
	w.mu.Unlock()
}

func (w *wsConn) writeLoop() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		if w.closed {
			w.mu.Unlock()
			return
		}
		b := w.queue[0]
		w.queue = w.queue[1:]
		w.mu.Unlock()
		if err := wsutil.WriteServerText(w.locked, b); err != nil {
			w.close()
			return
		}
	}
}
