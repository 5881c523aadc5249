package daemon

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkAdmissionPath splits a FastAGI admission on the Redis daemon into
// layers, each timed in the same rounds (interleaved, so that a busy machine
// slows all alike): a PING and a trivial EVALSHA on the daemon's own Redis
// client, the store's admission alone (for a node of its own, so that the
// daemon's holdings are untouched), a bridge of its own on that store with no
// Observer (bridge-bare), the daemon's bridge (its events go to the router,
// the statistics and the over-limit tracker), and the whole FastAGI session.
// The differences between neighbours say where the time of an admission goes
// (issue 14). It reports p50 and p99 of each.
//
//	go test -run '^$' -bench AdmissionPath -benchtime 3000x ./daemon
func BenchmarkAdmissionPath(b *testing.B) {
	srv := redistest.Start(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const common = "no_asterisk: true\nagi: {listen: '127.0.0.1:0'}\nhttp: {listen: '127.0.0.1:0'}\n"
	d := benchDaemon(b, ctx, "path-redis", common+"store: {redis: '"+srv.Addr+"'}\n")
	t := target{d: d}
	rdb := d.rs.Client()
	floor := redis.NewScript("return 1")
	now := time.Now()
	storeOp := func(ch string) bridge.AdmitOp {
		return bridge.AdmitOp{Node: "path-probe", Product: "g729", Channel: ch, Now: now, Expires: now.Add(time.Hour), Pool: bridge.PoolCluster}
	}
	bare, err := bridge.New(bridge.Options{Store: d.rs, Node: "path-bare", Deadline: 500 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	ops := []benchOp{
		{"bridge-bare", func(ctx context.Context, ch string) error {
			r := bare.Admit(ctx, bridge.Request{Product: "g729", Channel: ch, Call: ch})
			if !r.Admitted {
				return fmt.Errorf("channel %s: refused in process: %+v", ch, r)
			}
			return nil
		}, func(ctx context.Context, ch string) { bare.Release(ctx, ch) }},
		{"ping", func(ctx context.Context, _ string) error { return rdb.Ping(ctx).Err() }, func(context.Context, string) {}},
		{"evalsha", func(ctx context.Context, _ string) error {
			return floor.Run(ctx, rdb, []string{"{lb:g729}:floor"}).Err()
		}, func(context.Context, string) {}},
		{"store", func(ctx context.Context, ch string) error {
			// The bridge gives the store a deadline of its own: so here.
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			r, err := d.rs.Admit(ctx, storeOp(ch))
			if err == nil && !r.Admitted {
				err = fmt.Errorf("store refused %s: %+v", ch, r)
			}
			return err
		}, func(ctx context.Context, ch string) { _ = d.rs.Release(ctx, "path-probe", "g729", ch) }},
		{"bridge", t.admitInProcess, t.release},
		{"fastagi", t.admit, t.release},
	}
	for _, op := range ops {
		if err := op.do(ctx, "1795390000.0"); err != nil {
			b.Fatal(err)
		}
		op.release(ctx, "1795390000.0")
	}
	lat := make([][]time.Duration, len(ops))
	for k := range lat {
		lat[k] = make([]time.Duration, b.N)
	}
	b.ResetTimer()
	for i := range b.N {
		for j := range ops {
			k := (i + j) % len(ops)
			ch := fmt.Sprintf("1795390001.%d", i*len(ops)+k)
			t0 := time.Now()
			err := ops[k].do(ctx, ch)
			lat[k][i] = time.Since(t0)
			if err != nil {
				b.Fatalf("%s: %v", ops[k].name, err)
			}
			ops[k].release(ctx, ch)
		}
	}
	b.StopTimer()
	for k, l := range lat {
		slices.Sort(l)
		at := func(q float64) float64 {
			return float64(l[min(len(l)-1, int(q*float64(len(l))))].Nanoseconds()) / 1e3
		}
		b.ReportMetric(at(0.50), ops[k].name+"-p50-µs")
		b.ReportMetric(at(0.99), ops[k].name+"-p99-µs")
	}
}
