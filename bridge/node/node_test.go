package node_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/ari"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/internal/asterisksim"
	"github.com/licbridge/licbridge/internal/asterisksim/amisrv"
)

// events collects the bridge's events so tests wait on them, not on time.
type events struct {
	mu   sync.Mutex
	all  []bridge.Event
	wake chan struct{}
}

func newEvents() *events { return &events{wake: make(chan struct{})} }

func (e *events) Record(ev bridge.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	close(e.wake)
	e.wake = make(chan struct{})
	e.mu.Unlock()
}

// wait blocks until an event matching fn has been recorded.
func (e *events) wait(t *testing.T, what string, fn func(bridge.Event) bool) bridge.Event {
	t.Helper()
	return e.waitFrom(t, 0, what, fn)
}

// mark is the number of events recorded so far, for waitFrom.
func (e *events) mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.all)
}

// waitFrom is wait over the events recorded after mark from.
func (e *events) waitFrom(t *testing.T, from int, what string, fn func(bridge.Event) bool) bridge.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		e.mu.Lock()
		i := slices.IndexFunc(e.all[from:], fn)
		var ev bridge.Event
		if i >= 0 {
			ev = e.all[from+i]
		}
		wake := e.wake
		e.mu.Unlock()
		if i >= 0 {
			return ev
		}
		select {
		case <-wake:
		case <-timeout:
			t.Fatalf("no %s event", what)
		}
	}
}

func released(ch string) func(bridge.Event) bool {
	return func(e bridge.Event) bool { return e.Kind == bridge.EventRelease && e.Channel == ch }
}

// world is a node on the embedded store beside the PBX double.
type world struct {
	pbx    *asterisksim.PBX
	store  *bridge.MemStore
	b      *bridge.Bridge
	n      *node.Node
	ev     *events
	cancel context.CancelFunc
	done   chan error
}

type setup struct {
	name     string
	keys     []bridge.KeyGrant
	counting map[string]bridge.Counting
	passive  node.Passive
	store    *bridge.MemStore
	pbx      *asterisksim.PBX
	every    time.Duration // ReconcileEvery
	sync     time.Duration // the bridge's SyncTimeout
	log      *slog.Logger
}

func start(t *testing.T, s setup) *world {
	t.Helper()
	w := &world{pbx: s.pbx, store: s.store, ev: newEvents()}
	if w.pbx == nil {
		w.pbx = asterisksim.StartT(t, asterisksim.Options{})
	}
	if w.store == nil {
		w.store = bridge.NewMemStore()
	}
	if s.name == "" {
		s.name = "node-1"
	}
	b, err := bridge.New(bridge.Options{Store: w.store, Node: s.name, Counting: s.counting, Observer: w.ev, SyncTimeout: s.sync})
	if err != nil {
		t.Fatal(err)
	}
	w.b = b
	ctx := context.Background()
	if err := b.PublishKeys(ctx, s.keys); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Options{
		Bridge:  b,
		AMI:     &ami.Options{Addr: w.pbx.AMIAddr(), Username: "licbridge", Secret: "licsecret", MinBackoff: 10 * time.Millisecond},
		ARI:     &ari.Options{URL: w.pbx.ARIURL(), User: "licbridge", Password: "licsecret", MinBackoff: 10 * time.Millisecond},
		AGI:     &dialplan.Config{Addr: "127.0.0.1:0"},
		Passive: s.passive, DrainTimeout: time.Second, ReconcileEvery: s.every, Logger: s.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.n = n
	rctx, cancel := context.WithCancel(ctx)
	w.cancel, w.done = cancel, make(chan error, 1)
	go func() { w.done <- n.Run(rctx) }()
	t.Cleanup(func() { w.stop(t) })
	select {
	case <-n.Ready():
	case err := <-w.done:
		t.Fatalf("node stopped: %v", err)
	}
	w.pbx.SetAGIAddr(n.AGIAddr())
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	select {
	case <-n.AMI().Ready():
	case <-wctx.Done():
		t.Fatal("AMI not ready")
	}
	if err := w.pbx.ARI.WaitConnected(wctx, "licbridge"); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) stop(t *testing.T) {
	if w.cancel == nil {
		return
	}
	w.cancel()
	w.cancel = nil
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("node Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("node did not stop")
	}
}

func (w *world) place(t *testing.T, c asterisksim.Call) *asterisksim.Placed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pl, err := w.pbx.Place(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func (w *world) held() []string {
	var out []string
	for _, l := range w.b.Leases() {
		out = append(out, l.Product+":"+l.Channel)
	}
	return out
}

func g729(n int) []bridge.KeyGrant {
	return []bridge.KeyGrant{{KeyID: "G729-K", Product: "g729", Channels: n}}
}

func TestReleaseWhicheverPathAdmitted(t *testing.T) {
	w := start(t, setup{keys: g729(4)})
	for _, via := range []string{asterisksim.ViaAGI, asterisksim.ViaARI} {
		t.Run(via, func(t *testing.T) {
			pl := w.place(t, asterisksim.Call{Product: "g729", Via: via})
			if !pl.Admitted() {
				t.Fatalf("%s/%s", pl.Status, pl.Reason)
			}
			if pl.Lease != "g729:"+pl.Channels[0] {
				t.Fatalf("lease %q", pl.Lease)
			}
			if err := w.pbx.Hangup(pl); err != nil {
				t.Fatal(err)
			}
			w.ev.wait(t, "release", released(pl.Channels[0]))
			if h := w.held(); len(h) != 0 {
				t.Fatalf("still held: %v", h)
			}
		})
	}
}

func TestReconcileAfterReconnect(t *testing.T) {
	w := start(t, setup{keys: g729(4)})
	kept := w.place(t, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
	lost := w.place(t, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
	if err := w.pbx.Vanish(lost); err != nil {
		t.Fatal(err)
	}
	w.pbx.AMI.DropConnections()
	w.ev.wait(t, "release of the call that ended unseen", released(lost.Channels[0]))
	if got := w.held(); !slices.Equal(got, []string{"g729:" + kept.Channels[0]}) {
		t.Fatalf("held after reconcile: %v", got)
	}
	// The release came from the reconcile of the second login (the counter of
	// reconciles is bumped only after the release event, so it is not read here).
	if w.n.AMIConnects() < 2 {
		t.Fatalf("connects %d", w.n.AMIConnects())
	}
	if err := w.pbx.Hangup(kept); err != nil {
		t.Fatal(err)
	}
	w.ev.wait(t, "release after the reconnect", released(kept.Channels[0]))
}

// The periodic reconciliation catches a channel whose hangup was never
// reported, with the AMI connection up all along.
func TestPeriodicReconcile(t *testing.T) {
	w := start(t, setup{keys: g729(4), every: 20 * time.Millisecond})
	kept := w.place(t, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
	lost := w.place(t, asterisksim.Call{Product: "g729", Via: asterisksim.ViaARI})
	if err := w.pbx.Vanish(lost); err != nil {
		t.Fatal(err)
	}
	w.ev.wait(t, "release by the periodic reconcile", released(lost.Channels[0]))
	if got := w.held(); !slices.Equal(got, []string{"g729:" + kept.Channels[0]}) {
		t.Fatalf("held: %v", got)
	}
	if w.n.AMIConnects() != 1 {
		t.Fatalf("AMI connects %d: the release must not come from a reconnect", w.n.AMIConnects())
	}
}

// A restarted node re-asserts the live calls its previous run admitted, from
// the LICBRIDGE_LEASE variable admission left on each channel.
func TestRestartReasserts(t *testing.T) {
	store := bridge.NewMemStore()
	w1 := start(t, setup{keys: g729(2), store: store})
	pl := w1.place(t, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
	if !pl.Admitted() {
		t.Fatalf("%s/%s", pl.Status, pl.Reason)
	}
	other := w1.place(t, asterisksim.Call{Codec: "ulaw"}) // never asked
	w1.stop(t)                                            // drain times out with the call up

	w2 := start(t, setup{keys: g729(2), store: store, pbx: w1.pbx})
	if got := w2.held(); !slices.Equal(got, []string{"g729:" + pl.Channels[0]}) {
		t.Fatalf("after restart: %v, want the live admitted call only (not %v)", got, other.Channels)
	}
	us, err := w2.b.Usage(context.Background())
	if err != nil || len(us) == 0 || us[0].InUse != 1 {
		t.Fatalf("usage %+v %v", us, err)
	}
}

func TestPassiveAccounting(t *testing.T) {
	w := start(t, setup{keys: g729(4), counting: map[string]bridge.Counting{"g729": bridge.CountCall}})
	admitted := w.place(t, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI, Codec: "g729"})
	silent := w.place(t, asterisksim.Call{Codec: "g729", Local: true}) // one call, two channels
	w.place(t, asterisksim.Call{Codec: "alaw"})
	w.ev.wait(t, "observed g729", func(e bridge.Event) bool {
		return e.Kind == bridge.EventObserved && e.Product == "g729" && e.InUse == 2
	})
	var got node.Observed
	for _, o := range w.n.ObservedNow() {
		if o.Product == "g729" {
			got = o
		}
	}
	if got.Units != 2 || got.Unadmitted != 1 {
		t.Fatalf("observed %+v, want 2 units (one per call), 1 unadmitted", got)
	}
	if err := w.pbx.Hangup(silent); err != nil {
		t.Fatal(err)
	}
	if err := w.pbx.Hangup(admitted); err != nil {
		t.Fatal(err)
	}
	w.ev.wait(t, "observed back to zero", func(e bridge.Event) bool {
		return e.Kind == bridge.EventObserved && e.Product == "g729" && e.InUse == 0
	})
}

func TestPassiveFax(t *testing.T) {
	w := start(t, setup{keys: []bridge.KeyGrant{{KeyID: "FAX-K", Product: "fax", Channels: 2}}})
	fx := w.place(t, asterisksim.Call{Fax: true})
	w.ev.wait(t, "a fax session", func(e bridge.Event) bool { return e.Kind == bridge.EventObserved && e.Product == "fax" && e.InUse == 1 })
	if err := w.pbx.Hangup(fx); err != nil {
		t.Fatal(err)
	}
	w.ev.wait(t, "no fax session", func(e bridge.Event) bool { return e.Kind == bridge.EventObserved && e.Product == "fax" && e.InUse == 0 })
}

// TestPassiveFaxStatsLag: Asterisk may drop a fax session from FAXSessions only
// after the ReceiveFAX/SendFAX event that makes the node read it. While it
// counts sessions the node reads FAXSessions again by itself, so the count falls
// to zero with no further event.
func TestPassiveFaxStatsLag(t *testing.T) {
	w := start(t, setup{keys: []bridge.KeyGrant{{KeyID: "FAX-K", Product: "fax", Channels: 2}}})
	fx := w.place(t, asterisksim.Call{Fax: true})
	w.ev.wait(t, "a fax session", func(e bridge.Event) bool { return e.Kind == bridge.EventObserved && e.Product == "fax" && e.InUse == 1 })
	faxStatsReads := func() int {
		n := 0
		for _, a := range w.pbx.AMI.Actions() {
			if strings.EqualFold(a.Get("Action"), "FAXSessions") {
				n++
			}
		}
		return n
	}
	before := faxStatsReads()
	uid := fx.Channels[len(fx.Channels)-1]
	if err := w.pbx.AMI.EmitChannel("ReceiveFAX", uid, "LocalStationID", "", "RemoteStationID", "", "PagesTransferred", "1",
		"Resolution", "8031x3850", "TransferRate", "14400", "FileName", "/var/fax/received.tif"); err != nil {
		t.Fatal(err)
	}
	// The read that the end event causes still sees the session (the double
	// has no signal for it: poll its record of actions).
	deadline := time.Now().Add(10 * time.Second)
	for faxStatsReads() == before {
		if time.Now().After(deadline) {
			t.Fatal("the node did not read FAXSessions after ReceiveFAX")
		}
		time.Sleep(5 * time.Millisecond)
	}
	from := w.ev.mark()
	w.pbx.AMI.SetFAXStats(amisrv.FAXStats{CompletedFAXes: 1})
	w.ev.waitFrom(t, from, "no fax session", func(e bridge.Event) bool { return e.Kind == bridge.EventObserved && e.Product == "fax" && e.InUse == 0 })
}

func TestPassiveHangupOverLimit(t *testing.T) {
	w := start(t, setup{keys: g729(1), passive: node.Passive{HangupOverLimit: true}})
	ok := w.place(t, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI, Codec: "g729"})
	if !ok.Admitted() {
		t.Fatalf("%s/%s", ok.Status, ok.Reason)
	}
	sneaky := w.place(t, asterisksim.Call{Codec: "g729"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		gone := true
		for _, ch := range w.pbx.AMI.Channels() {
			if ch.Uniqueid == sneaky.Channels[0] {
				gone = false
			}
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unadmitted G.729 channel over the total was not hung up")
		}
		time.Sleep(10 * time.Millisecond) // the double has no change signal for its table
	}
	var hung bool
	for _, a := range w.pbx.AMI.Actions() {
		if a.Get("Action") == "Hangup" && a.Get("Channel") == sneaky.Names[0] && a.Get("Cause") == "34" {
			hung = true
		}
	}
	if !hung {
		t.Fatal("no Hangup action with cause 34 for the over-limit channel")
	}
	for _, ch := range w.pbx.AMI.Channels() {
		if ch.Uniqueid == ok.Channels[0] {
			return // the admitted call is untouched
		}
	}
	t.Fatal("the admitted call was hung up too")
}

func TestDrainRefusesNewAdmissions(t *testing.T) {
	w := start(t, setup{keys: g729(2)})
	held := w.place(t, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
	w.cancel()
	w.cancel = nil
	// The Stasis app keeps running while draining and answers ERROR.
	deadline := time.After(5 * time.Second)
	for !w.n.Draining() {
		select {
		case <-deadline:
			t.Fatal("not draining")
		case <-time.After(5 * time.Millisecond):
		}
	}
	late := w.place(t, asterisksim.Call{Product: "g729", Via: asterisksim.ViaARI})
	if late.Status != "ERROR" || late.Reason != node.ReasonDraining {
		t.Fatalf("ARI admission while draining: %s/%s, want ERROR/%s", late.Status, late.Reason, node.ReasonDraining)
	}
	if err := w.pbx.Hangup(held); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not stop once its last holding ended")
	}
}

// TestSyncTimeoutBoundsAMI: the node's calls to Asterisk for the bridge are
// bounded by the bridge's configured SyncTimeout. They were bounded by
// bridge.DefaultSyncTimeout (5 s) whatever was configured, so a reconcile
// with an unresponsive AMI here waited out the caller's 1.5 s instead.
func TestSyncTimeoutBoundsAMI(t *testing.T) {
	w := start(t, setup{sync: 100 * time.Millisecond, every: -1})
	w.pbx.AMI.SetUnresponsive(true)
	defer w.pbx.AMI.SetUnresponsive(false)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := w.n.Reconcile(ctx)
	if err == nil {
		t.Fatal("reconcile with an unresponsive AMI: no error")
	}
	if ctx.Err() != nil {
		t.Fatalf("reconcile waited out the caller's deadline (%v), not the bridge's 100ms SyncTimeout", err)
	}
}
