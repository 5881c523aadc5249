package node_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbridge/licbridge/ari"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
	"github.com/licbridge/licbridge/internal/asterisksim/arisrv"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

// The admission benchmarks run one node (FastAGI server and Stasis app) on the
// embedded store and on a real redis-server, and compare a whole FastAGI
// session in the older dialplan form, without the linkedid argument (connect,
// environment, GET VARIABLE CHANNEL(linkedid), the answer in one EXEC MSet,
// close; daemon.BenchmarkFastAGIAdmission times the printed form) and a whole
// ARI admission (StasisStart, linkedid read, variables set,
// continue) with the in-process Admit on the same store, the baseline. p50 and
// p99 are reported per admission; run with -benchtime=2000x or so.

type benchNode struct {
	n   *node.Node
	b   *bridge.Bridge
	ari *arisrv.Server
	seq atomic.Int64
}

func newBenchNode(b *testing.B, store bridge.Store) *benchNode {
	b.Helper()
	as, err := arisrv.Start(arisrv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = as.Close() })
	br, err := bridge.New(bridge.Options{Store: store, Node: fmt.Sprintf("bench-%d", time.Now().UnixNano())})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := br.PublishKeys(ctx, []bridge.KeyGrant{{KeyID: "G729-BENCH", Product: "g729", Channels: 1_000_000}}); err != nil {
		b.Fatal(err)
	}
	n, err := node.New(node.Options{
		Bridge: br,
		ARI:    &ari.Options{URL: as.URL(), User: "licbridge", Password: "licsecret"},
		AGI:    &dialplan.Config{Addr: "127.0.0.1:0", MaxSessions: 1024},
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = n.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	<-n.Ready()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := as.WaitConnected(wctx, "licbridge"); err != nil {
		b.Fatal(err)
	}
	return &benchNode{n: n, b: br, ari: as}
}

func (bn *benchNode) channel() string {
	return fmt.Sprintf("1795390000.%d", bn.seq.Add(1))
}

// percentiles reports p50 and p99 of d in microseconds.
func percentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[min(len(d)-1, int(q*float64(len(d))))].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

func stores(b *testing.B) map[string]func() bridge.Store {
	return map[string]func() bridge.Store{
		"embedded": func() bridge.Store { return bridge.NewMemStore() },
		"redis": func() bridge.Store {
			srv := redistest.Start(b)
			rs, err := redisstore.Dial(context.Background(), redisstore.Options{Addr: srv.Addr})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = rs.Close() })
			return rs
		},
	}
}

func BenchmarkAdmit(b *testing.B) {
	for _, st := range []string{"embedded", "redis"} {
		b.Run(st, func(b *testing.B) {
			bn := newBenchNode(b, stores(b)[st]())
			ctx := context.Background()
			b.Run("inprocess", func(b *testing.B) {
				d := make([]time.Duration, 0, b.N)
				for b.Loop() {
					ch := bn.channel()
					t0 := time.Now()
					r := bn.b.Admit(ctx, bridge.Request{Product: "g729", Channel: ch, Call: ch})
					d = append(d, time.Since(t0))
					if !r.Admitted {
						b.Fatalf("%+v", r)
					}
					bn.b.Release(ctx, ch)
				}
				percentiles(b, d)
			})
			b.Run("fastagi", func(b *testing.B) {
				addr := bn.n.AGIAddr()
				d := make([]time.Duration, 0, b.N)
				for b.Loop() {
					ch := bn.channel()
					t0 := time.Now()
					r, err := agiclient.Call(ctx, addr, agiclient.Channel{Uniqueid: ch, Name: "PJSIP/bench-" + ch}, "admit,g729")
					d = append(d, time.Since(t0))
					if err != nil || r.Vars["LICBRIDGE_STATUS"] != "ADMITTED" {
						b.Fatalf("%v %v", err, r.Vars)
					}
					bn.b.Release(ctx, ch)
				}
				percentiles(b, d)
			})
			b.Run("ari", func(b *testing.B) {
				d := make([]time.Duration, 0, b.N)
				for b.Loop() {
					ch := bn.channel()
					t0 := time.Now()
					id, err := bn.ari.EnterStasis(arisrv.Channel{ID: ch}, "admit", "g729")
					if err != nil {
						b.Fatal(err)
					}
					out, err := bn.ari.Wait(ctx, id)
					d = append(d, time.Since(t0))
					if err != nil || out.Vars["LICBRIDGE_STATUS"] != "ADMITTED" {
						b.Fatalf("%v %v", err, out.Vars)
					}
					bn.b.Release(ctx, ch)
					_ = bn.ari.Hangup(id)
				}
				percentiles(b, d)
			})
		})
	}
}

// BenchmarkFastAGIConcurrent measures admissions per second through FastAGI
// with 16 sessions at once, each a whole session as Asterisk runs it.
func BenchmarkFastAGIConcurrent(b *testing.B) {
	for _, st := range []string{"embedded", "redis"} {
		b.Run(st, func(b *testing.B) {
			bn := newBenchNode(b, stores(b)[st]())
			addr, ctx := bn.n.AGIAddr(), context.Background()
			const sessions = 16
			var next atomic.Int64
			var wg sync.WaitGroup
			var mu sync.Mutex
			var all []time.Duration
			b.ResetTimer()
			start := time.Now()
			for range sessions {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var d []time.Duration
					for next.Add(1) <= int64(b.N) {
						ch := bn.channel()
						t0 := time.Now()
						r, err := agiclient.Call(ctx, addr, agiclient.Channel{Uniqueid: ch, Name: "PJSIP/bench-" + ch}, "admit,g729")
						d = append(d, time.Since(t0))
						if err != nil || r.Vars["LICBRIDGE_STATUS"] != "ADMITTED" {
							b.Errorf("%v %v", err, r.Vars)
							return
						}
						bn.b.Release(ctx, ch)
					}
					mu.Lock()
					all = append(all, d...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "admits/s")
			percentiles(b, all)
		})
	}
}
