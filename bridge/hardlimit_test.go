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
	"github.com/licbridge/licbridge/internal/redistest"
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
