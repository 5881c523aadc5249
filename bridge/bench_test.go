package bridge_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/redis/go-redis/v9"
)

// The benchmarks run on loopback against a real redis-server. BenchmarkFloor is
// the baseline: one EVALSHA of a trivial script over the same kind of client.
// Compare BenchmarkAdmitRelease (two round trips) against it at the same
// concurrency.

var concurrencies = []int{1, 16, 128}

// parallel runs b.N calls of op over c goroutines and reports operations per
// second.
func parallel(b *testing.B, c int, op func(i int64)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < c; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				op(i)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// benchBridge is a node on store with a key of a fresh product large enough
// never to refuse, closed when the benchmark ends.
func benchBridge(b *testing.B, store bridge.Store) (*bridge.Bridge, string) {
	b.Helper()
	p := uniqueProduct("bench")
	br, err := bridge.New(bridge.Options{Store: store, Node: "a", Deadline: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	if err := br.PublishKeys(context.Background(), []bridge.KeyGrant{{KeyID: "K", Product: p, Channels: 1 << 30}}); err != nil {
		b.Fatal(err)
	}
	return br, p
}

func BenchmarkFloor(b *testing.B) {
	srv := redistest.Start(b)
	store := dialRedis(b, srv.Addr)
	script := redis.NewScript("return 1")
	ctx := context.Background()
	if err := script.Run(ctx, store.Client(), []string{"{lb:floor}:x"}).Err(); err != nil {
		b.Fatal(err)
	}
	for _, c := range concurrencies {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			parallel(b, c, func(int64) {
				if err := script.EvalSha(ctx, store.Client(), []string{"{lb:floor}:x"}).Err(); err != nil {
					b.Error(err)
				}
			})
		})
	}
}

func BenchmarkAdmitRelease(b *testing.B) {
	srv := redistest.Start(b)
	store := dialRedis(b, srv.Addr)
	ctx := context.Background()
	for _, c := range concurrencies {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			br, p := benchBridge(b, store)
			parallel(b, c, func(i int64) {
				ch := fmt.Sprint("c", i)
				if r := br.Admit(ctx, bridge.Request{Product: p, Channel: ch}); !r.Admitted || r.Lease.Degraded {
					b.Errorf("admit %s: %+v", ch, r)
				}
				br.Release(ctx, ch)
			})
			if !br.StoreAvailable() {
				b.Fatal("the store was marked unavailable during the run")
			}
		})
	}
}

// BenchmarkAdmit is admissions alone (each holds its channel until the end),
// for admissions per second.
func BenchmarkAdmit(b *testing.B) {
	srv := redistest.Start(b)
	store := dialRedis(b, srv.Addr)
	ctx := context.Background()
	for _, c := range concurrencies {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			br, p := benchBridge(b, store)
			parallel(b, c, func(i int64) {
				if r := br.Admit(ctx, bridge.Request{Product: p, Channel: fmt.Sprint("c", i)}); !r.Admitted || r.Lease.Degraded {
					b.Errorf("admit: %+v", r)
				}
			})
		})
	}
}

// BenchmarkHeartbeat compares a node holding 10 and 10,000 channels: the
// heartbeat's cost must not depend on it. Each case has a server of its own,
// so both heartbeat exactly one product.
func BenchmarkHeartbeat(b *testing.B) {
	ctx := context.Background()
	for _, held := range []int{10, 10000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			store := dialRedis(b, redistest.Start(b).Addr)
			br, p := benchBridge(b, store)
			holds := make([]bridge.Hold, held)
			for i := range holds {
				holds[i] = bridge.Hold{Product: p, Channel: fmt.Sprint("c", i)}
			}
			if _, err := br.Reconcile(ctx, holds); err != nil {
				b.Fatal(err)
			}
			if u := usage(b, br, p); u.InUse != held {
				b.Fatalf("in use %d, want %d", u.InUse, held)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := br.Heartbeat(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWireCount: a SIP monitor's PublishWire (a script that also keeps
// the node live) against PublishObserved (one HSET), the baseline, on a
// product with 10 live nodes presenting keys; and the heartbeat of a node
// that publishes wire counts only.
func BenchmarkWireCount(b *testing.B) {
	ctx := context.Background()
	store := dialRedis(b, redistest.Start(b).Addr)
	p := uniqueProduct("bench")
	for i := range 10 {
		n, err := bridge.New(bridge.Options{Store: store, Node: fmt.Sprint("pbx", i), Lapse: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		defer n.Close()
		if err := n.PublishKeys(ctx, []bridge.KeyGrant{{KeyID: fmt.Sprint("K", i), Product: p, Channels: 10}}); err != nil {
			b.Fatal(err)
		}
	}
	mon, err := bridge.New(bridge.Options{Store: store, Node: "pbx0-sipmon", Lapse: time.Hour, Deadline: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer mon.Close()
	b.Run("observed-baseline", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := mon.PublishObserved(ctx, p, i%50); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := mon.PublishWire(ctx, p, i%50); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("heartbeat-wire-only", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := mon.Heartbeat(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
