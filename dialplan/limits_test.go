package dialplan

import (
	"bytes"
	"errors"
	"github.com/licbridge/licbridge/admission"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
)

// patience bounds the waits below: far beyond the small limits set, short
// enough that a server that never closes fails in seconds.
const patience = 5 * time.Second

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// dialFrom connects to addr from the loopback address src (all of 127/8 is
// loopback on Linux), so that tests can play several client hosts.
func dialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: patience}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// expectServerClose reads nc until the server closes it, failing the test if
// the server still holds it after patience or answers anything.
func expectServerClose(t testing.TB, nc net.Conn, what string) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(patience))
	got, err := io.ReadAll(nc)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("%s: the server still holds the connection after %v", what, patience)
	}
	if len(got) != 0 {
		t.Errorf("%s: the server answered %q", what, got)
	}
}

// TestSilentFloodFromOneClient replays the attack with the default settings: a
// client opens more silent sockets than MaxSessions; honest requests from
// another address must all still be answered (before: 31 of 38 were not).
func TestSilentFloodFromOneClient(t *testing.T) {
	const silent, honest = DefaultMaxSessions + 88, 40
	logs := &syncBuffer{}
	adm := newAdmitter(map[string]int{"g729": honest})
	addr, _ := startServer(t, adm, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	for range silent {
		dialFrom(t, "127.0.0.2", addr) // and say nothing
	}
	// The server accepts in order: every honest session comes after the flood.
	var wg sync.WaitGroup
	results := make([]agiclient.Result, honest)
	errs := make([]error, honest)
	for i := range honest {
		wg.Go(func() { results[i], errs[i] = agiclient.Call(testCtx(t), addr, channel(i), "admit,g729") })
	}
	wg.Wait()
	unanswered := 0
	for i, r := range results {
		if errs[i] != nil || r.Vars[admission.VarStatus] != admission.StatusAdmitted {
			unanswered++
			if unanswered <= 3 {
				t.Logf("honest request %d: status %q, err %v, sets %v", i, r.Vars[admission.VarStatus], errs[i], r.Sets)
			}
		}
	}
	if unanswered > 0 {
		t.Errorf("%d of %d honest requests unanswered during a flood of %d silent sockets", unanswered, honest, silent)
	}
	// The silent sockets beyond the caps wait at most EnvTimeout, then are
	// closed: one WARN per reason names the flooding client, the rest of its
	// refusals are counted, not logged.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "client=127.0.0.2") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	warns := strings.Count(logs.String(), "client=127.0.0.2")
	if warns < 1 || warns > 3 {
		t.Errorf("%d WARN lines about the flooding client (want one per reason, naming 127.0.0.2):\n%.2000s", warns, logs.String())
	}
}

// TestPerClientCap: beyond MaxSessionsPerClient a client's connections wait
// for a slot, at most MaxSessions of them; beyond those they are closed at
// once; another client is served meanwhile.
func TestPerClientCap(t *testing.T) {
	adm := newAdmitter(map[string]int{"g729": 5})
	addr, _ := startServer(t, adm, Config{MaxSessions: 4, MaxSessionsPerClient: 2, SessionTimeout: time.Minute, EnvTimeout: time.Minute})
	for range 6 { // 2 sessions, 4 waiting (as many as MaxSessions)
		dialFrom(t, "127.0.0.2", addr)
	}
	expectServerClose(t, dialFrom(t, "127.0.0.2", addr), "a seventh connection from one client (2 in session, 4 waiting)")
	if r := call(t, addr, channel(1), "admit,g729"); r.Vars[admission.VarStatus] != admission.StatusAdmitted {
		t.Errorf("another client while the first is at its cap: %q", r.Vars[admission.VarStatus])
	}
}

// TestSilentSessionClosedEarly: a client that has not sent its whole
// environment within EnvTimeout is closed, however long SessionTimeout is.
func TestSilentSessionClosedEarly(t *testing.T) {
	adm := newAdmitter(map[string]int{"g729": 5})
	addr, _ := startServer(t, adm, Config{SessionTimeout: time.Minute, EnvTimeout: 100 * time.Millisecond})
	env := string(agiclient.Env(addr, channel(1), "admit,g729"))
	for _, tc := range []struct{ name, payload string }{
		{"says nothing", ""},
		{"half the environment", env[:len(env)/2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := dialFrom(t, "127.0.0.1", addr)
			if _, err := io.WriteString(nc, tc.payload); err != nil {
				t.Fatal(err)
			}
			expectServerClose(t, nc, tc.name)
		})
	}
	// An honest session, environment at once, is unaffected.
	if r := call(t, addr, channel(2), "admit,g729"); r.Vars[admission.VarStatus] != admission.StatusAdmitted {
		t.Errorf("honest session: %q", r.Vars[admission.VarStatus])
	}
}

// TestSessionLimitDefaults: a zero Config gets bounded limits; EnvTimeout
// never exceeds SessionTimeout.
func TestSessionLimitDefaults(t *testing.T) {
	s, err := NewServer(newAdmitter(nil), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.cfg; c.MaxSessionsPerClient != DefaultMaxSessionsPerClient || c.MaxSessionsPerClient >= c.MaxSessions ||
		c.EnvTimeout != DefaultEnvTimeout || c.EnvTimeout > c.SessionTimeout {
		t.Errorf("defaults: per client %d of %d, env %v of %v", c.MaxSessionsPerClient, c.MaxSessions, c.EnvTimeout, c.SessionTimeout)
	}
	s, err = NewServer(newAdmitter(nil), Config{SessionTimeout: 300 * time.Millisecond, EnvTimeout: time.Minute, MaxSessionsPerClient: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.EnvTimeout != 300*time.Millisecond || s.cfg.MaxSessionsPerClient != 3 {
		t.Errorf("set: env %v, per client %d", s.cfg.EnvTimeout, s.cfg.MaxSessionsPerClient)
	}
}

// TestBurstFromOneAsterisk: one Asterisk (one address) opening far more
// sessions at once than MaxSessionsPerClient gets every one answered: the
// sessions beyond the cap wait for a slot. Closing them sent those calls down
// the dialplan's failure branch, which is fail-open (uncounted) by default.
func TestBurstFromOneAsterisk(t *testing.T) {
	const burst = 3 * DefaultMaxSessionsPerClient
	adm := newAdmitter(map[string]int{"g729": burst})
	addr, _ := startServer(t, adm, Config{})
	var wg sync.WaitGroup
	results := make([]agiclient.Result, burst)
	errs := make([]error, burst)
	start := make(chan struct{})
	for i := range burst {
		wg.Go(func() {
			<-start
			results[i], errs[i] = agiclient.Call(testCtx(t), addr, channel(i), "admit,g729")
		})
	}
	close(start)
	wg.Wait()
	unanswered := 0
	for i, r := range results {
		if errs[i] != nil || r.Vars[admission.VarStatus] != admission.StatusAdmitted {
			unanswered++
		}
	}
	if unanswered > 0 {
		t.Errorf("%d of %d sessions of a burst from one Asterisk unanswered", unanswered, burst)
	}
}
