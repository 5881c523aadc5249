package ari

import (
	"context"
	"errors"
	"fmt"
	"github.com/licbridge/licbridge/admission"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim/arisrv"
)

// fakeAdmitter is a tiny in-test admission.Admitter.
type fakeAdmitter struct {
	mu       sync.Mutex
	decide   func(admission.Request) (admission.Decision, error)
	gate     chan struct{} // when set, Admit waits for it
	admits   []admission.Request
	released chan string // "product/channel"
	n        atomic.Int64
}

func newFake(decide func(admission.Request) (admission.Decision, error)) *fakeAdmitter {
	return &fakeAdmitter{decide: decide, released: make(chan string, 64)}
}

func admitAll(r admission.Request) (admission.Decision, error) {
	return admission.Decision{Admitted: true, Lease: "lease-" + r.Channel}, nil
}

func (f *fakeAdmitter) Admit(ctx context.Context, r admission.Request) (admission.Decision, error) {
	f.n.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return admission.Decision{}, ctx.Err()
		}
	}
	f.mu.Lock()
	f.admits = append(f.admits, r)
	f.mu.Unlock()
	return f.decide(r)
}

func (f *fakeAdmitter) Release(_ context.Context, product, channel string) error {
	f.released <- product + "/" + channel
	return nil
}

func (f *fakeAdmitter) lastAdmit(tb testing.TB) admission.Request {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.admits) == 0 {
		tb.Fatal("admitter never asked")
	}
	return f.admits[len(f.admits)-1]
}

// Status answers status requests: the cluster's use of g729, a refusal else.
func (f *fakeAdmitter) Status(_ context.Context, product string) (admission.Usage, error) {
	if product == "g729" {
		return admission.Usage{InUse: 2, Total: 3}, nil
	}
	return admission.Usage{}, fmt.Errorf("status: %w", reasonedErr("STORE_UNAVAILABLE"))
}

// warnCounter is a slog handler counting warnings and errors.
type warnCounter struct {
	n    atomic.Int64
	msgs sync.Map
	all  chan string // every message at any level, when set (dropped when full)
}

func (w *warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.n.Add(1)
		w.msgs.Store(r.Message, true)
	}
	if w.all != nil {
		select {
		case w.all <- r.Message:
		default:
		}
	}
	return nil
}
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

type rig struct {
	srv    *arisrv.Server
	app    *App
	fake   *fakeAdmitter
	ctx    context.Context
	done   chan error
	gone   chan string
	warns  *warnCounter
	cancel context.CancelFunc
}

// startRig runs the double and the app against it, and waits until the app
// is connected.
func startRig(tb testing.TB, srvOpts arisrv.Options, opts Options) *rig {
	tb.Helper()
	srv, err := arisrv.Start(srvOpts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	r := &rig{srv: srv, done: make(chan error, 1), gone: make(chan string, 64), warns: &warnCounter{all: make(chan string, 256)}}
	if opts.Admitter == nil {
		r.fake = newFake(admitAll)
		opts.Admitter = r.fake
	}
	opts.URL = srv.URL()
	if opts.Password == "" {
		opts.Password = "licsecret"
	}
	opts.MinBackoff = 5 * time.Millisecond
	opts.MaxBackoff = 50 * time.Millisecond
	opts.Logger = slog.New(r.warns)
	opts.OnChannelGone = func(id string) { r.gone <- id }
	r.app, err = New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	r.ctx, r.cancel = ctx, cancel
	runCtx, stop := context.WithCancel(ctx)
	go func() { r.done <- r.app.Run(runCtx) }()
	tb.Cleanup(func() {
		stop()
		select {
		case err := <-r.done:
			if err != nil {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Error("Run did not return after cancel")
		}
		cancel()
	})
	select {
	case <-r.app.Ready():
	case err := <-r.done:
		tb.Fatalf("Run returned before ready: %v", err)
	case <-ctx.Done():
		tb.Fatal("app never connected")
	}
	if err := srv.WaitConnected(ctx, r.app.opts.App); err != nil {
		tb.Fatal(err)
	}
	return r
}

// enter places a channel in Stasis and waits until the app is done with it.
func (r *rig) enter(tb testing.TB, ch arisrv.Channel, args ...string) (string, arisrv.Outcome) {
	tb.Helper()
	id, err := r.srv.EnterStasis(ch, args...)
	if err != nil {
		tb.Fatal(err)
	}
	o, err := r.srv.Wait(r.ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	return id, o
}

// waitLog waits until the app logs msg (at any level).
func (r *rig) waitLog(tb testing.TB, msg string) {
	tb.Helper()
	for {
		select {
		case got := <-r.warns.all:
			if got == msg {
				return
			}
		case <-r.ctx.Done():
			tb.Fatalf("never logged %q", msg)
		}
	}
}

func (r *rig) waitRelease(tb testing.TB, want string) {
	tb.Helper()
	select {
	case got := <-r.fake.released:
		if got != want {
			tb.Fatalf("released %q, want %q", got, want)
		}
	case <-r.ctx.Done():
		tb.Fatalf("never released %s", want)
	}
}

func (r *rig) waitGone(tb testing.TB, want string) {
	tb.Helper()
	select {
	case got := <-r.gone:
		if got != want {
			tb.Fatalf("gone %q, want %q", got, want)
		}
	case <-r.ctx.Done():
		tb.Fatalf("never reported %s gone", want)
	}
}

func vars(status, reason, lease string) map[string]string {
	return map[string]string{admission.VarStatus: status, admission.VarReason: reason, admission.VarLease: lease}
}

func checkVars(tb testing.TB, o arisrv.Outcome, want map[string]string) {
	tb.Helper()
	for k, v := range want {
		if got, ok := o.Vars[k]; !ok || got != v {
			tb.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
}

func TestAdmitSetsVariablesAndContinues(t *testing.T) {
	r := startRig(t, arisrv.Options{}, Options{})
	id, o := r.enter(t, arisrv.Channel{CallerNumber: "2000", Exten: "100", Linkedid: "1795386433.42"}, "admit", "g729")
	if !o.Continued || o.Context != "" || o.Priority != 0 || o.HungUp {
		t.Fatalf("outcome %+v, want a plain continue", o)
	}
	checkVars(t, o, vars(admission.StatusAdmitted, "", "lease-"+id))
	if o.Vars["STASISSTATUS"] != "SUCCESS" {
		t.Errorf("STASISSTATUS = %q", o.Vars["STASISSTATUS"])
	}
	want := admission.Request{Product: "g729", Channel: id, Call: "1795386433.42", Caller: "2000", Called: "100"}
	if got := r.fake.lastAdmit(t); got != want {
		t.Errorf("admit request %+v, want %+v", got, want)
	}
	if !r.srv.Subscribed("licbridge", id) {
		t.Error("app does not follow the admitted channel after Stasis")
	}
	// The channel lives on in the dialplan: no release until it hangs up.
	select {
	case rel := <-r.fake.released:
		t.Fatalf("released %s while the channel is up", rel)
	default:
	}
	if err := r.srv.Hangup(id); err != nil {
		t.Fatal(err)
	}
	r.waitGone(t, id)
	r.waitRelease(t, "g729/"+id)
	// As an AMI hangup does, the release leaves a line (issue 11).
	r.waitLog(t, "released on hangup")
}

// reasonedErr is an Admitter error that names its LICBRIDGE_REASON.
type reasonedErr string

func (e reasonedErr) Error() string  { return "refused: " + string(e) }
func (e reasonedErr) Reason() string { return string(e) }

var _ admission.Reasoned = reasonedErr("")

func TestStasisArguments(t *testing.T) {
	reject := func(admission.Request) (admission.Decision, error) {
		return admission.Decision{Reason: "OVER_LIMIT"}, nil
	}
	fail := func(admission.Request) (admission.Decision, error) {
		return admission.Decision{}, errors.New("store down")
	}
	refuse := func(admission.Request) (admission.Decision, error) {
		return admission.Decision{}, fmt.Errorf("admit: %w", reasonedErr("DRAINING"))
	}
	cases := []struct {
		name    string
		decide  func(admission.Request) (admission.Decision, error)
		args    []string
		want    map[string]string
		product string // admitted product, "" when no admit expected
	}{
		{"admit product", admitAll, []string{"admit", "g729"}, vars(admission.StatusAdmitted, "", "*"), "g729"},
		{"extra args ignored", admitAll, []string{"admit", "g729", "second arg"}, vars(admission.StatusAdmitted, "", "*"), "g729"},
		// The first argument is a verb, as in FastAGI's admit,PRODUCT: anything
		// else is a bad request, never a product to refuse as NO_LICENSE.
		{"unknown verb (issue 11)", admitAll, []string{"tone"}, vars(admission.StatusError, admission.ReasonBadRequest, ""), ""},
		{"product without a verb, no catalog", admitAll, []string{"g729"}, vars(admission.StatusError, admission.ReasonBadRequest, ""), ""},
		// With the node's catalog (KnownProduct: g729, fax), the older short
		// form of a known product still admits; anything else stays a bad
		// request.
		{"short form of a known product", admitAll, []string{"g729"}, vars(admission.StatusAdmitted, "", "*"), "g729"},
		{"recorded product-first form", admitAll, []string{"g729", "second arg"}, vars(admission.StatusAdmitted, "", "*"), "g729"},
		{"unknown verb with a catalog", admitAll, []string{"tone"}, vars(admission.StatusError, admission.ReasonBadRequest, ""), ""},
		{"bad product name", admitAll, []string{"admit", "g7 29"}, vars(admission.StatusError, admission.ReasonBadRequest, ""), ""},
		{"upper case", admitAll, []string{"ADMIT", "FAX"}, vars(admission.StatusAdmitted, "", "*"), "fax"},
		{"rejected", reject, []string{"admit", "g729"}, vars(admission.StatusRejected, "OVER_LIMIT", ""), "g729"},
		{"admitter error", fail, []string{"admit", "g729"}, vars(admission.StatusError, admission.ReasonInternal, ""), "g729"},
		{"admitter error with a reason", refuse, []string{"admit", "g729"}, vars(admission.StatusError, "DRAINING", ""), "g729"},
		{"no args", admitAll, nil, vars(admission.StatusError, admission.ReasonBadRequest, ""), ""},
		{"admit without product", admitAll, []string{"admit"}, vars(admission.StatusError, admission.ReasonBadRequest, ""), ""},
		{"blank args", admitAll, []string{" ", ""}, vars(admission.StatusError, admission.ReasonBadRequest, ""), ""},
		{"release", admitAll, []string{"release", "g729"}, vars(admission.StatusOK, "", ""), ""},
		{"release without product", admitAll, []string{"release"}, vars(admission.StatusError, admission.ReasonBadRequest, ""), ""},
		// FastAGI's meaning: the product's use, and the lease left alone ("-":
		// not set) so that a restarted node still reads what the channel holds.
		{"status", admitAll, []string{"status", "g729"}, map[string]string{admission.VarStatus: admission.StatusOK, admission.VarReason: "", admission.VarInUse: "2", admission.VarTotal: "3", admission.VarLease: "-"}, ""},
		{"status refused", admitAll, []string{"status", "fax"}, vars(admission.StatusError, "STORE_UNAVAILABLE", ""), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake(c.decide)
			opts := Options{Admitter: fake}
			if strings.Contains(c.name, "known product") || strings.Contains(c.name, "recorded") || strings.Contains(c.name, "with a catalog") {
				opts.KnownProduct = func(p string) bool { return p == "g729" || p == "fax" }
			}
			r := startRig(t, arisrv.Options{}, opts)
			r.fake = fake
			id, o := r.enter(t, arisrv.Channel{}, c.args...)
			if !o.Continued {
				t.Fatalf("not continued: %+v", o)
			}
			want := map[string]string{}
			for k, v := range c.want {
				if v == "-" {
					if got, ok := o.Vars[k]; ok {
						t.Errorf("%s set to %q, want it left alone", k, got)
					}
					continue
				}
				if v == "*" {
					v = o.Vars[k]
					if v == "" {
						t.Errorf("%s empty", k)
					}
				}
				want[k] = v
			}
			checkVars(t, o, want)
			if c.product != "" {
				if got := r.fake.lastAdmit(t); got.Product != c.product {
					t.Errorf("admitted product %q, want %q", got.Product, c.product)
				}
			} else if r.fake.n.Load() != 0 {
				t.Errorf("admitter asked %d times, want 0", r.fake.n.Load())
			}
			if c.name == "release" {
				r.waitRelease(t, "g729/"+id)
				r.waitLog(t, "released from the dialplan")
			}
		})
	}
}

func TestRejectHangsUpWhenConfigured(t *testing.T) {
	reject := func(admission.Request) (admission.Decision, error) {
		return admission.Decision{Reason: "NO_LICENSE"}, nil
	}
	cases := []struct {
		name      string
		opts      Options
		wantCause int
		reason    string
	}{
		{"reason code", Options{RejectHangupCause: 21}, 21, ""},
		{"reason name", Options{RejectHangupReason: "congestion"}, 34, "congestion"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake(reject)
			c.opts.Admitter = fake
			r := startRig(t, arisrv.Options{}, c.opts)
			id, o := r.enter(t, arisrv.Channel{}, "admit", "g729")
			if !o.HungUp || o.Continued || o.HangupCause != c.wantCause || o.HangupReason != c.reason {
				t.Fatalf("outcome %+v, want hung up with cause %d", o, c.wantCause)
			}
			checkVars(t, o, vars(admission.StatusRejected, "NO_LICENSE", ""))
			r.waitGone(t, id)
		})
	}
	if _, err := New(Options{Admitter: newFake(reject), RejectHangupCause: 300}); err == nil {
		t.Error("a cause outside Q.850 was accepted")
	}
}

// TestHangupDuringAdmit: the caller hangs up while the admitter is deciding;
// the late admission is released, not stranded.
func TestHangupDuringAdmit(t *testing.T) {
	fake := newFake(admitAll)
	fake.gate = make(chan struct{})
	r := startRig(t, arisrv.Options{NoChannelDestroyed: true}, Options{Admitter: fake})
	r.fake = fake
	id, err := r.srv.EnterStasis(arisrv.Channel{}, "admit", "g729")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.srv.Hangup(id); err != nil {
		t.Fatal(err)
	}
	r.waitGone(t, id)
	close(fake.gate)
	r.waitRelease(t, "g729/"+id)
}

// TestReleaseWithoutChannelDestroyed: as recorded, a channel hung up can
// produce no ChannelDestroyed; the hangup request alone releases.
func TestReleaseWithoutChannelDestroyed(t *testing.T) {
	r := startRig(t, arisrv.Options{NoChannelDestroyed: true}, Options{})
	id, o := r.enter(t, arisrv.Channel{}, "admit", "g729")
	checkVars(t, o, vars(admission.StatusAdmitted, "", "lease-"+id))
	if err := r.srv.Hangup(id); err != nil {
		t.Fatal(err)
	}
	r.waitRelease(t, "g729/"+id)
}

// TestToneDetectedDoesNotStopTheApp feeds the recorded ChannelToneDetected
// frame (the one that makes ari/v5 v5.3.1 panic) and the other Asterisk 22
// types v5.3.1 does not know, then shows the app still admits the next channel
// on the same connection.
func TestToneDetectedDoesNotStopTheApp(t *testing.T) {
	r := startRig(t, arisrv.Options{}, Options{NoEventFilter: true})
	r.srv.Send([]byte(recordedFrames(t, "ari_ws_tone_detected")[1].Text))
	for _, typ := range []string{"ChannelTransfer", "ApplicationRegistered", "ApplicationUnregistered", "RESTResponse", "CallBroadcast", "CallClaimed"} {
		r.srv.Send([]byte(`{"type":"` + typ + `","timestamp":"2026-11-22T22:28:56.864+0000","application":"licbridge"}`))
	}
	id, o := r.enter(t, arisrv.Channel{}, "admit", "g729")
	checkVars(t, o, vars(admission.StatusAdmitted, "", "lease-"+id))
	if h := r.app.Health(); !h.Connected || h.Reconnects != 0 {
		t.Errorf("health %+v: the unknown events cost the connection", h)
	}
}

// TestMissingFieldsAreIgnored: events with missing or wrong fields are logged
// and ignored; the app keeps serving.
func TestMissingFieldsAreIgnored(t *testing.T) {
	r := startRig(t, arisrv.Options{}, Options{NoEventFilter: true})
	bad := []string{
		`{"type":"StasisStart"}`,
		`{"type":"StasisStart","args":["g729"],"channel":{}}`,
		`{"type":"StasisEnd"}`,
		`{"type":"ChannelHangupRequest","channel":{"id":""}}`,
		`{"type":"ChannelDestroyed","channel":{"id":"never-seen"}}`,
		`{"type":"StasisStart","timestamp":"soon","channel":{"id":"x"}}`,
		`{"type":"StasisStart","channel":"x"}`,
		`{"no":"type"}`,
		`not json at all`,
		``,
	}
	for _, b := range bad {
		r.srv.Send([]byte(b))
	}
	// A StasisStart for a channel Asterisk does not have: REST answers 404,
	// which is logged; nothing is held.
	r.srv.Send([]byte(`{"type":"StasisStart","args":["admit","g729"],"channel":{"id":"ghost"}}`))
	id, o := r.enter(t, arisrv.Channel{}, "admit", "g729")
	checkVars(t, o, vars(admission.StatusAdmitted, "", "lease-"+id))
	if n := r.warns.n.Load(); n < int64(len(bad)-1) {
		t.Errorf("%d warnings logged for %d bad events", n, len(bad))
	}
	if h := r.app.Health(); !h.Connected || h.Reconnects != 0 {
		t.Errorf("health %+v", h)
	}
}

func TestWrongPasswordIsAClearError(t *testing.T) {
	srv, err := arisrv.Start(arisrv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	app, err := New(Options{URL: srv.URL(), Password: "wrong", Admitter: newFake(admitAll), DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = app.Run(ctx)
	if ctx.Err() != nil {
		t.Fatal("Run kept retrying a wrong password")
	}
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "401 Authentication required") {
		t.Fatalf("Run: %v, want a 401 ErrUnauthorized", err)
	}
	if h := app.Health(); h.Connected || !strings.Contains(h.LastError, "401") {
		t.Errorf("health %+v", h)
	}
}

// TestSilentServerIsBounded: a server that accepts TCP and never answers the
// upgrade costs one DialTimeout per attempt, and the app tries again.
func TestSilentServerIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	app, err := New(Options{URL: "http://" + ln.Addr().String(), Password: "p", Admitter: newFake(admitAll),
		DialTimeout: 100 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	for i := 0; i < 2; i++ {
		select {
		case c := <-accepted:
			defer c.Close()
		case <-ctx.Done():
			t.Fatal("no second attempt: the first handshake was not bounded")
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if h := app.Health(); h.Connected || !strings.Contains(h.LastError, "no answer within 100ms") {
		t.Errorf("health %+v", h)
	}
}

// TestReconnectsAfterDrop: Asterisk's shutdown EOF; the app reconnects by
// itself and serves the next StasisStart.
func TestReconnectsAfterDrop(t *testing.T) {
	r := startRig(t, arisrv.Options{}, Options{})
	for i := 1; i <= 2; i++ {
		r.srv.DropWebSockets()
		if err := r.srv.WaitConnected(r.ctx, "licbridge"); err != nil {
			t.Fatal(err)
		}
		id, o := r.enter(t, arisrv.Channel{}, "admit", "g729")
		checkVars(t, o, vars(admission.StatusAdmitted, "", "lease-"+id))
		if h := r.app.Health(); h.Reconnects != i {
			t.Errorf("after drop %d: reconnects = %d", i, h.Reconnects)
		}
	}
}

// TestResyncAfterReconnect: a held channel hangs up while the WebSocket is
// down; after reconnecting the app finds it gone and releases it.
func TestResyncAfterReconnect(t *testing.T) {
	r := startRig(t, arisrv.Options{}, Options{})
	id, o := r.enter(t, arisrv.Channel{}, "admit", "g729")
	checkVars(t, o, vars(admission.StatusAdmitted, "", "lease-"+id))
	kept, o2 := r.enter(t, arisrv.Channel{}, "admit", "g729")
	checkVars(t, o2, vars(admission.StatusAdmitted, "", "lease-"+kept))
	r.srv.RefuseWebSockets(true)
	r.srv.DropWebSockets()
	if err := r.srv.Hangup(id); err != nil { // no WebSocket: no event reaches the app
		t.Fatal(err)
	}
	r.srv.RefuseWebSockets(false)
	r.waitRelease(t, "g729/"+id)
	r.waitGone(t, id)
	// The channel still up is followed again (the app's subscriptions went
	// with its WebSocket), so its later hangup still releases it.
	if err := r.srv.WaitConnected(r.ctx, "licbridge"); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, r, kept)
	if err := r.srv.Hangup(kept); err != nil {
		t.Fatal(err)
	}
	r.waitRelease(t, "g729/"+kept)
}

// waitSubscribed waits until the app has re-subscribed to a channel, using
// the double's state-change signal.
func waitSubscribed(tb testing.TB, r *rig, id string) {
	tb.Helper()
	for {
		changed := r.srv.Changed()
		if r.srv.Subscribed("licbridge", id) {
			return
		}
		select {
		case <-changed:
		case <-r.ctx.Done():
			tb.Fatalf("never re-subscribed to %s", id)
		}
	}
}

// TestNoStasisStartLost: with one handler slot and a slow admitter, a burst of
// channels waits (backpressure) and every one is answered.
func TestNoStasisStartLost(t *testing.T) {
	fake := newFake(admitAll)
	fake.gate = make(chan struct{})
	r := startRig(t, arisrv.Options{}, Options{Admitter: fake, MaxConcurrent: 1})
	r.fake = fake
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		id, err := r.srv.EnterStasis(arisrv.Channel{}, "admit", "g729")
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	close(fake.gate)
	for _, id := range ids {
		o, err := r.srv.Wait(r.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		checkVars(t, o, vars(admission.StatusAdmitted, "", "lease-"+id))
	}
}

func TestEventFilterInstalled(t *testing.T) {
	r := startRig(t, arisrv.Options{}, Options{})
	got, err := r.srv.WaitEventFilter(r.ctx, "licbridge")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(handled, ",") {
		t.Errorf("allowed %v, want %v", got, handled)
	}
}

func TestNewValidates(t *testing.T) {
	cases := map[string]Options{
		"no admitter": {},
		"bad url":     {URL: "ftp://x", Admitter: newFake(admitAll)},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := New(o); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	r := startRig(t, arisrv.Options{}, Options{})
	if err := r.app.Run(r.ctx); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
}
