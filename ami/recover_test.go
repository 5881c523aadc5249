package ami_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/internal/asterisksim/amisrv"
)

// An Asterisk that keeps streaming events but answers no action is declared
// dead and the connection re-established (OnConnect runs again), whether the
// silence is found by the owner's own actions timing out or by the
// keep-alive Ping (events do not count as signs of life). The owner here
// starts an action per event, as the node's codec check does, with no
// deadline of its own: ActionTimeout bounds it, and once the connection is
// recycled none of those goroutines stays parked.
// Old code: events kept the keep-alive quiet and nothing counted timeouts, so
// Connected stayed true and every per-event action parked forever.
func TestSilentToActionsIsRecycled(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        ami.Options
		actPerEvent bool
	}{
		{name: "action_timeouts", actPerEvent: true,
			opts: ami.Options{KeepAlive: -1, ActionTimeout: 100 * time.Millisecond}},
		// KeepAlive far above the event spacing (2ms): the old client, which
		// counted events as signs of life, would need a 300ms gap to ping.
		{name: "keepalive_ping_while_events_flow",
			opts: ami.Options{KeepAlive: 300 * time.Millisecond, PingTimeout: 100 * time.Millisecond, MaxActionTimeouts: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := amisrv.Start(t, amisrv.Options{})
			opts := tc.opts
			opts.Addr, opts.LoginTimeout = srv.Addr(), 200*time.Millisecond
			h := run(t, opts)
			h.waitConnect(t, 1)

			// The consumer: drains events and, if asked, runs a Getvar per event.
			var actions sync.WaitGroup
			var events atomic.Int64
			consumerDone := make(chan struct{})
			go func() {
				defer close(consumerDone)
				for range h.c.Events() {
					events.Add(1)
					if tc.actPerEvent {
						actions.Add(1)
						go func() {
							defer actions.Done()
							_, _ = h.c.Getvar(context.Background(), "PJSIP/1-00000001", "CHANNEL(audionativeformat)")
						}()
					}
				}
			}()
			t.Cleanup(func() { h.cancel(); <-consumerDone; actions.Wait() })
			base := runtime.NumGoroutine()

			srv.SetUnresponsive(true)
			ctx := ctxT(t)
			tick := time.NewTicker(2 * time.Millisecond) // event pacing, not synchronisation
			defer tick.Stop()
			emitted := 0
			for h.c.Connected() {
				srv.Emit("Event", "UserEvent", "Privilege", "user,all", "UserEvent", "tick", "N", strconv.Itoa(emitted))
				emitted++
				select {
				case <-tick.C:
				case <-ctx.Done():
					t.Fatalf("still Connected after %d events from a server that answers no action", emitted)
				}
			}
			if events.Load() == 0 {
				t.Fatal("no event reached the consumer while the server was silent to actions")
			}
			srv.SetUnresponsive(false)
			h.waitConnect(t, 2) // OnConnect ran again, on a new login
			if err := srv.WaitLogins(ctx, 2); err != nil {
				t.Fatal(err)
			}
			if err := h.c.Ping(ctxT(t)); err != nil {
				t.Fatalf("Ping after the reconnect: %v", err)
			}
			// Every per-event action ended (timed out or failed with the
			// connection): the goroutine count is back where it started.
			for runtime.NumGoroutine() > base+2 {
				if ctx.Err() != nil {
					t.Fatalf("%d goroutines, %d before %d events", runtime.NumGoroutine(), base, emitted)
				}
				time.Sleep(5 * time.Millisecond) // polling the runtime's count
			}
			t.Logf("%d events while silent, %d received; goroutines %d (base %d)", emitted, events.Load(), runtime.NumGoroutine(), base)
		})
	}
}

// ActionTimeout bounds every kind of action, list and follow-up ones
// included, when the caller's context has no deadline.
func TestActionTimeoutBoundsEveryAction(t *testing.T) {
	srv := amisrv.Start(t, amisrv.Options{})
	h := run(t, ami.Options{Addr: srv.Addr(), KeepAlive: -1, MaxActionTimeouts: -1, ActionTimeout: 50 * time.Millisecond})
	h.waitConnect(t, 1)
	srv.SetUnresponsive(true)
	for _, tc := range []struct {
		name string
		call func(context.Context) error
	}{
		{"Ping", h.c.Ping},
		{"CoreShowChannels", func(ctx context.Context) error { _, err := h.c.CoreShowChannels(ctx); return err }},
		{"FAXStats", func(ctx context.Context) error { _, err := h.c.FAXStats(ctx); return err }},
		{"Getvar", func(ctx context.Context) error { _, err := h.c.Getvar(ctx, "", "X"); return err }},
		{"Command", func(ctx context.Context) error { _, err := h.c.Command(ctx, "core show version"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := make(chan error, 1)
			go func() { res <- tc.call(context.Background()) }()
			select {
			case err := <-res:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want a deadline error", err)
				}
			case <-time.After(guard):
				t.Fatal("the action never returned")
			}
		})
	}
	if !h.c.Connected() {
		t.Fatal("MaxActionTimeouts -1 must keep the connection")
	}
}

// A timed-out action counts against the connection only if Asterisk answered
// nothing since it was sent: one slow answer among others is no sign of a
// hung server. MaxActionTimeouts such timeouts in a row end the connection.
func TestActionTimeoutStrikes(t *testing.T) {
	s := startScripted(t)
	h := run(t, ami.Options{Addr: s.ln.Addr().String(), KeepAlive: -1, MaxActionTimeouts: 2})
	sc := s.next(t)
	h.waitConnect(t, 1)
	ping := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return h.c.Ping(ctx)
	}

	// A goes unanswered, B (sent after A) is answered: A's timeout is no strike.
	resA := make(chan error, 1)
	go func() { resA <- ping(300 * time.Millisecond) }()
	sc.action()
	resB := make(chan error, 1)
	go func() { resB <- ping(guard) }()
	b := sc.action()
	sc.write("Response: Success\r\nActionID: " + b.Get("ActionID") + "\r\nPing: Pong\r\n\r\n")
	if err := <-resB; err != nil {
		t.Fatal(err)
	}
	if err := <-resA; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("A = %v", err)
	}

	// C times out with nothing answered since: strike one of two.
	if err := ping(30 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("C = %v", err)
	}
	if !h.c.Connected() {
		t.Fatal("closed after one strike (A counted although B was answered after it was sent)")
	}
	// D: strike two, the connection is declared dead and re-established.
	if err := ping(30 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("D = %v", err)
	}
	if h.c.Connected() {
		t.Fatal("still Connected after two actions in a row got no answer")
	}
	s.next(t)
	h.waitConnect(t, 2)
}

// syncBuffer is a log sink safe for the client's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// When the event queue overflows (a slow consumer, a burst of events), the
// dropped events' news is lost: once the consumer has caught up the client
// resyncs, through OnResync or, without one, OnConnect again, with Resync set
// and the number dropped, and logs one Warn for the episode.
// Old code: the drops were only counted and logged; nothing resynced.
func TestEventOverflowResyncs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		onResync  bool
		wantCalls string // the callback that must report the resync
	}{
		{"OnResync", true, "OnResync"},
		{"OnConnect_when_no_OnResync", false, "OnConnect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := amisrv.Start(t, amisrv.Options{})
			srv.AddChannel(amisrv.Channel{Name: "PJSIP/1-00000001", State: 6})
			logs := &syncBuffer{}
			type call struct {
				via      string
				info     ami.ConnectInfo
				channels int
				err      error
			}
			calls := make(chan call, 8)
			record := func(via string) func(context.Context, ami.ConnectInfo) error {
				return func(ctx context.Context, info ami.ConnectInfo) error {
					if info.Resync {
						list, err := info.Client.CoreShowChannels(ctx) // the resync actions work in it
						calls <- call{via, info, len(list), err}
					}
					return nil
				}
			}
			opts := ami.Options{Addr: srv.Addr(), EventQueue: 4, OnConnect: record("OnConnect"),
				Logger: slog.New(slog.NewTextHandler(logs, nil))}
			if tc.onResync {
				opts.OnResync = record("OnResync")
			}
			h := run(t, opts)
			h.waitConnect(t, 1)

			// The consumer reads nothing until the burst has overflowed the queue.
			ctx := ctxT(t)
			const burst = 50
			for i := 0; i < burst; i++ {
				srv.Emit("Event", "UserEvent", "Privilege", "user,all", "UserEvent", "burst", "N", strconv.Itoa(i))
			}
			srv.Emit("Event", "UserEvent", "Privilege", "user,all", "UserEvent", "last")
			// The answer follows the burst on the wire, and the reader handles
			// messages in order: once Ping returns, the whole burst was queued
			// (and overflowed), so the drops form one episode.
			if err := h.c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			if h.c.DroppedEvents() == 0 {
				t.Fatal("no event dropped")
			}
			for {
				ev := nextEvent(t, h.c, "UserEvent").(*ami.OtherEvent)
				if ev.Get("UserEvent") == "last" {
					break
				}
			}
			var got call
			select {
			case got = <-calls:
			case <-ctx.Done():
				t.Fatalf("no resync after %d dropped events", h.c.DroppedEvents())
			}
			if got.via != tc.wantCalls || !got.info.Resync || got.info.Connects != 1 || got.info.Client != h.c {
				t.Fatalf("resync via %s, info %+v", got.via, got.info)
			}
			if got.err != nil || got.channels != 1 {
				t.Fatalf("CoreShowChannels in the resync: %d channels, %v", got.channels, got.err)
			}
			if d := h.c.DroppedEvents(); got.info.Dropped != d || d == 0 {
				t.Fatalf("resync says %d dropped, client counted %d", got.info.Dropped, d)
			}
			want := fmt.Sprintf("dropped=%d ", got.info.Dropped)
			if n := strings.Count(logs.String(), "level=WARN msg=\"ami: event consumer fell behind"); n != 1 || !strings.Contains(logs.String(), want) {
				t.Fatalf("%d overflow warnings, want one with %q:\n%s", n, want, logs.String())
			}
			if srv.Logins() != 1 {
				t.Fatalf("%d logins: the resync must not cost the connection", srv.Logins())
			}
		})
	}
}
