package bridge_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

// busyCores keeps every core busy until the test ends: the hard limit is a
// promise on busy machines, not only on quiet ones.
func busyCores(t testing.TB) {
	t.Helper()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for !stop.Load() {
				for i := range 10000 {
					x += i
				}
				runtime.Gosched()
			}
			_ = x
		}()
	}
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
}

// burst runs n admissions of product on b, at most conc at once, and returns
// how many were admitted and the refusals by reason.
func burst(b *bridge.Bridge, product string, n, conc int, tag string) (admitted int, refused map[bridge.Reason]int) {
	var mu sync.Mutex
	refused = map[bridge.Reason]int{}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sem <- struct{}{}
			defer func() { <-sem }()
			r := b.Admit(context.Background(), bridge.Request{Product: product, Channel: fmt.Sprintf("%s-%d", tag, i)})
			mu.Lock()
			defer mu.Unlock()
			if r.Admitted {
				admitted++
			} else {
				refused[r.Reason]++
			}
		}()
	}
	close(start)
	wg.Wait()
	return admitted, refused
}

// TestBurstHoldsTheTotal: with the default settings (deadline, outage policy),
// a busy loop on each core and a burst of 2,000 admissions with 450 at once on
// one real redis-server, exactly the total is admitted and the rest are
// refused OVER_LIMIT, ten times in a row. Before per-call deadlines, one
// admission that missed its deadline marked the store down and fail-open
// admitted everything unchecked (145 to 1,266 admitted of 100).
func TestBurstHoldsTheTotal(t *testing.T) {
	srv := redistest.Start(t)
	store := dialRedis(t, srv.Addr)
	busyCores(t)
	const total = 100
	for run := range 10 {
		p := uniqueProduct("g729")
		b, err := bridge.New(bridge.Options{Store: store, Node: fmt.Sprintf("burst-%d", run)})
		if err != nil {
			t.Fatal(err)
		}
		publish(t, b, keys(p, "K-"+p, total))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = b.Run(ctx); close(done) }()
		admitted, refused := burst(b, p, 2000, 450, p)
		waitFor(t, 10*time.Second, "the store to hold what the node holds", b.InSync)
		u := usage(t, b, p)
		cancel()
		<-done
		b.Close()
		t.Logf("run %d: admitted %d of %d, refused %v, store in use %d", run, admitted, total, refused, u.InUse)
		if admitted != total || u.InUse != total {
			t.Errorf("run %d: admitted %d, store in use %d; want exactly %d (refused %v)", run, admitted, u.InUse, total, refused)
		}
		// A call whose store answer came too late on this busy machine may be
		// refused STORE_UNAVAILABLE (REJECTED, as OVER_LIMIT is) while others
		// in flight take the room; but the room is never lost: exactly the
		// total is admitted, and nothing is refused for any other reason.
		if refused[bridge.ReasonOverLimit]+refused[bridge.ReasonStoreUnavailable] != 2000-total {
			t.Errorf("run %d: refused %v; want %d OVER_LIMIT or STORE_UNAVAILABLE", run, refused, 2000-total)
		}
	}
}

// TestBurstTwoNodes: two nodes on one store bursting together on a total of
// 15 never admit more than 15 between them.
func TestBurstTwoNodes(t *testing.T) {
	srv := redistest.Start(t)
	busyCores(t)
	p := uniqueProduct("g729")
	var nodes []*bridge.Bridge
	for i := range 2 {
		b, err := bridge.New(bridge.Options{Store: dialRedis(t, srv.Addr), Node: fmt.Sprintf("two-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		running(t, b)
		nodes = append(nodes, b)
	}
	publish(t, nodes[0], keys(p, "K10", 10))
	publish(t, nodes[1], keys(p, "K5", 5))
	var wg sync.WaitGroup
	got := make([]int, 2)
	for i, b := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], _ = burst(b, p, 500, 200, b.Node()) }()
	}
	wg.Wait()
	if got[0]+got[1] != 15 {
		t.Fatalf("two nodes admitted %d + %d on a total of 15", got[0], got[1])
	}
}

// TestCallerDeadlineIsNoOutage: a caller whose own deadline ends while the
// store decides gets TIMEOUT and nothing; it was taken for a store outage and
// admitted fail-open over the limit (101 of 100) before.
func TestCallerDeadlineIsNoOutage(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr, 0)
	store := dialRedis(t, proxy.Addr)
	p := uniqueProduct("g729")
	b := realNode(t, store, "caller", func(o *bridge.Options) { o.Deadline = 0 })
	publish(t, b, keys(p, "K1", 3))
	running(t, b)
	for i := range 3 {
		mustAdmit(t, b, p, fmt.Sprintf("c%d", i), "")
	}
	proxy.SetDelay(300 * time.Millisecond)
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		r := b.Admit(ctx, bridge.Request{Product: p, Channel: fmt.Sprintf("late%d", i)})
		cancel()
		if r.Admitted || r.Reason != bridge.ReasonTimeout {
			t.Fatalf("caller gone before the store answered: %+v, want TIMEOUT and no admission", r)
		}
	}
	if !b.StoreAvailable() {
		t.Fatal("callers that stopped waiting declared the store down")
	}
	proxy.SetDelay(0)
	waitFor(t, 10*time.Second, "the store to hold what the node holds", b.InSync)
	if u := usage(t, b, p); u.InUse != 3 {
		t.Fatalf("in use %d after abandoned admissions, want 3", u.InUse)
	}
}

// lateStore is the embedded store behind a wire that delivers admissions
// late: Admit returns when its caller gives up, and the admission lands in
// the store only when the test lets it (as a script that reached a stalled
// Redis does, after the node stopped waiting and even after it resynced).
type lateStore struct {
	*bridge.MemStore
	hold    chan struct{}
	pending chan bridge.AdmitOp
}

func (s *lateStore) Admit(ctx context.Context, op bridge.AdmitOp) (bridge.AdmitReply, error) {
	go func() {
		<-s.hold
		_, _ = s.MemStore.Admit(context.Background(), op)
		s.pending <- op
	}()
	<-ctx.Done()
	return bridge.AdmitReply{}, ctx.Err()
}

// TestAbandonedAdmissionUndone: an admission the node gave up on that the
// store carries out later, even after the node resynced, is undone by the
// next heartbeat: the store never keeps a unit that no caller holds (62
// callers were told ADMITTED while the store showed 100 when a timeout was
// simply turned into a refusal).
func TestAbandonedAdmissionUndone(t *testing.T) {
	store := &lateStore{MemStore: bridge.NewMemStore(), hold: make(chan struct{}), pending: make(chan bridge.AdmitOp, 1)}
	p := uniqueProduct("g729")
	b, err := bridge.New(bridge.Options{Store: store, Node: "n", Deadline: 20 * time.Millisecond, Outage: bridge.FailClosed})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, keys(p, "K1", 10))
	if r := admit(t, b, p, "c1", ""); r.Admitted || r.Reason != bridge.ReasonStoreUnavailable {
		t.Fatalf("fail-closed, store too late: %+v, want STORE_UNAVAILABLE", r)
	}
	ctx := context.Background()
	if err := b.Heartbeat(ctx); err != nil { // resyncs: the store holds nothing
		t.Fatal(err)
	}
	close(store.hold) // the abandoned admission lands now
	<-store.pending
	if u := usage(t, b, p); u.InUse != 1 {
		t.Fatalf("the late admission did not land (in use %d): the test proves nothing", u.InUse)
	}
	if err := b.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if u := usage(t, b, p); u.InUse != 0 {
		t.Fatalf("in use %d after the next heartbeat: a unit nobody holds stayed in the store", u.InUse)
	}
}

// TestSlowStoreKeepsTheNodeLive: one node behind a 750 ms store keeps
// heartbeating (a slow store answers its probe) so its channels never lapse,
// and what it admits without the store stays within its share of the free
// channels. Before, it stopped heartbeating, lapsed, and the other node
// admitted the freed channels too (190 live of 100).
func TestSlowStoreKeepsTheNodeLive(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr, 0)
	p := uniqueProduct("g729")
	slow := realNode(t, dialRedis(t, proxy.Addr), "slow", func(o *bridge.Options) {
		o.Deadline = 0
		o.Lapse = 3 * time.Second
	})
	fast := realNode(t, dialRedis(t, srv.Addr), "fast", func(o *bridge.Options) { o.Deadline = 0; o.Lapse = 3 * time.Second })
	publish(t, slow, keys(p, "K1", 100))
	running(t, slow)
	running(t, fast)
	mustAdmit(t, fast, p, "f-first", "")
	for i := range 50 { // its last answer: 51 of 100, two nodes live: its share is (100-51)/2
		mustAdmit(t, slow, p, fmt.Sprintf("s%d", i), "")
	}
	proxy.SetDelay(750 * time.Millisecond)
	var wg sync.WaitGroup
	var slowAdmitted atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 40 {
			if r := slow.Admit(context.Background(), bridge.Request{Product: p, Channel: fmt.Sprintf("s-late%d", i)}); r.Admitted {
				slowAdmitted.Add(1)
			}
		}
	}()
	fastAdmitted := 1
	for i := range 100 {
		if admit(t, fast, p, fmt.Sprintf("f%d", i), "").Admitted {
			fastAdmitted++
		}
	}
	wg.Wait()
	// Longer than the lapse at 750 ms a call: the slow node must still count.
	if u := usage(t, fast, p); u.InUse < 50+fastAdmitted {
		t.Fatalf("the slow node's channels lapsed: in use %d, want at least %d", u.InUse, 50+fastAdmitted)
	}
	live := 50 + int(slowAdmitted.Load()) + fastAdmitted
	share := (100 - 51) / 2
	t.Logf("slow node: 50 + %d admitted without a timely store; fast node: %d; live %d of 100 (share bound %d)",
		slowAdmitted.Load(), fastAdmitted, live, share)
	if fastAdmitted != 50 {
		t.Errorf("fast node admitted %d, want the 50 free channels", fastAdmitted)
	}
	if int(slowAdmitted.Load()) > share {
		t.Errorf("slow node admitted %d without the store, beyond its share %d", slowAdmitted.Load(), share)
	}
}

// TestInventedProductsCreateNothing: a client that asks for products the
// catalog does not have (admit,x1 ... x5000) gets NO_LICENSE, and nothing is
// created: no product in the store, no heartbeat, no event. Each name used to
// become a permanent product everywhere (RSS 44 to 108 MB, /metrics 9.5 MB).
func TestInventedProductsCreateNothing(t *testing.T) {
	srv := redistest.Start(t)
	store := dialRedis(t, srv.Addr)
	ev := &eventCount{}
	catalog := map[string]bool{"g729": true, "fax": true}
	b := realNode(t, store, "catalog", func(o *bridge.Options) {
		o.Known = func(p string) bool { return catalog[p] }
		o.Observer = ev
	})
	ctx := context.Background()
	before, err := store.Products(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		r := b.Admit(ctx, bridge.Request{Product: fmt.Sprintf("x%d", i), Channel: fmt.Sprintf("c%d", i)})
		if r.Admitted || r.Reason != bridge.ReasonNoLicense {
			t.Fatalf("invented product x%d: %+v, want NO_LICENSE", i, r)
		}
	}
	if err := b.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := store.Products(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("products in the store: %d before, %d after 5,000 invented names", len(before), len(after))
	}
	if n := ev.n.Load(); n != 0 {
		t.Fatalf("%d events for invented products", n)
	}
	if r := admit(t, b, "g729", "real", ""); r.Reason != bridge.ReasonNoLicense {
		t.Fatalf("a catalog product without keys: %+v, want NO_LICENSE from the store", r)
	}
}

type eventCount struct{ n atomic.Int64 }

func (e *eventCount) Record(bridge.Event) { e.n.Add(1) }

// TestFailOpenBudget: during an outage fail-open admits within its budget and
// refuses beyond it (before, it admitted 8 on a total of 5: no bound at all).
// share: the free channels at the last contact (one node: all of them), plus
// its own releases; N: N channels; unlimited: everything.
func TestFailOpenBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget int
		want   int // admitted without the store, out of 10 tries, before the release
	}{
		{"share", bridge.BudgetShare, 6},
		{"fixed 2", 2, 2},
		{"unlimited", bridge.BudgetUnlimited, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			store := dialRedis(t, srv.Addr)
			p := uniqueProduct("g729")
			b := realNode(t, store, "budget", func(o *bridge.Options) { o.FailOpenBudget = tc.budget })
			publish(t, b, keys(p, "K1", 10))
			for i := range 4 {
				mustAdmit(t, b, p, fmt.Sprintf("held%d", i), "")
			}
			srv.Stop()
			got := 0
			for i := range 10 {
				r := admit(t, b, p, fmt.Sprintf("out%d", i), "")
				switch {
				case r.Admitted:
					got++
				case r.Reason != bridge.ReasonStoreUnavailable:
					t.Fatalf("refused %s during the outage, want STORE_UNAVAILABLE", r.Reason)
				}
			}
			if got != tc.want {
				t.Fatalf("admitted %d without the store, want %d", got, tc.want)
			}
			if tc.budget == bridge.BudgetShare {
				b.Release(context.Background(), "held0") // its own channel: provably free
				if r := admit(t, b, p, "after-release", ""); !r.Admitted {
					t.Fatalf("after releasing one of its own: %+v, want admitted", r)
				}
			}
		})
	}
}

// TestStoreRestartedEmptyNoFalseNoLicense: Redis restarted empty (FLUSHALL)
// under concurrent admissions: the node writes its keys back before anyone
// decides, so no call is told NO_LICENSE while the node holds a valid key.
// Before, the first admission registered the node bare and the concurrent
// ones were decided on that bare registration (94 NO_LICENSE in a chaos run).
func TestStoreRestartedEmptyNoFalseNoLicense(t *testing.T) {
	srv := redistest.Start(t)
	store := dialRedis(t, srv.Addr)
	p := uniqueProduct("g729")
	b := realNode(t, store, "flushed")
	publish(t, b, keys(p, "K1", 1000))
	running(t, b)
	for round := range 5 {
		srv.Do(t, "FLUSHALL")
		admitted, refused := burst(b, p, 100, 50, fmt.Sprintf("r%d", round))
		if refused[bridge.ReasonNoLicense] > 0 {
			t.Fatalf("round %d after FLUSHALL: %d told NO_LICENSE (admitted %d, refused %v)", round, refused[bridge.ReasonNoLicense], admitted, refused)
		}
	}
}
