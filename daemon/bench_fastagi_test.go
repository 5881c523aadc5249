package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkFastAGIAdmission measures a whole FastAGI admission as Asterisk's
// AGI() runs it from the printed dialplan (connect, environment with the
// linkedid argument, the answer in one EXEC MSet, the server's half-close
// right after it) against two daemons built by New exactly as
// licbridge run builds them (bridge, node, router, metrics): one on a real
// redis-server, one on the embedded store. Beside them, in the same run and
// interleaved with them so that a busy machine slows all three alike, it
// times the Redis daemon's bridge admission in process (the store with no
// protocol around it) and a bare PING to the same redis-server. It reports p50 and p99 of each,
// and the ratios that show the Redis part: the Redis daemon's p99 over the
// embedded one's, and the extra p50 the Redis store adds in PING round trips.
// ns/op is one round of all three and means little on its own.
//
//	go test -run '^$' -bench FastAGIAdmission -benchtime 3000x -count 3 ./daemon
func BenchmarkFastAGIAdmission(b *testing.B) {
	srv := redistest.Start(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const common = "no_asterisk: true\nagi: {listen: '127.0.0.1:0'}\nhttp: {listen: '127.0.0.1:0'}\n"
	targets := []target{
		{d: benchDaemon(b, ctx, "bench-redis", common+"store: {redis: '"+srv.Addr+"'}\n")},
		{d: benchDaemon(b, ctx, "bench-mem", common)},
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	ops := []benchOp{
		{"redis", targets[0].admit, targets[0].release},
		{"mem", targets[1].admit, targets[1].release},
		{"redis-inproc", targets[0].admitInProcess, targets[0].release},
		{"ping", func(ctx context.Context, _ string) error { return rdb.Ping(ctx).Err() }, func(context.Context, string) {}},
	}
	// A first round each: dial, script load, first key read.
	for _, op := range ops {
		if err := op.do(ctx, "1795390000.0"); err != nil {
			b.Fatal(err)
		}
		op.release(ctx, "1795390000.0")
	}
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			lat := make([][]time.Duration, len(ops))
			for k := range lat {
				lat[k] = make([]time.Duration, b.N)
			}
			var next, seq atomic.Int64
			var wg sync.WaitGroup
			var once sync.Once
			var firstErr error
			b.ResetTimer()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						// The order rotates so that none of the three always
						// runs first after the previous round.
						for j := range ops {
							k := (i + j) % len(ops)
							ch := fmt.Sprintf("1795390000.%d", seq.Add(1))
							t0 := time.Now()
							err := ops[k].do(ctx, ch)
							lat[k][i] = time.Since(t0)
							if err != nil {
								once.Do(func() { firstErr = fmt.Errorf("%s: %w", ops[k].name, err) })
								return
							}
							// Untimed: keeps the holdings (and the node's lease
							// list) from growing with b.N.
							ops[k].release(ctx, ch)
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if firstErr != nil {
				b.Fatal(firstErr)
			}
			names := make([]string, len(ops))
			for k, op := range ops {
				names[k] = op.name
			}
			p := reportPercentiles(b, names, lat)
			redisP, memP, pingP := p[0], p[1], p[3]
			b.ReportMetric(redisP[1]/memP[1], "redis÷mem-p99")
			b.ReportMetric((redisP[0]-memP[0])/pingP[0], "redis-extra-p50-in-pings")
		})
	}
}

// reportPercentiles reports p50 and p99 of each named series of round trips
// (sorting them) and returns them in µs, in the order of names.
func reportPercentiles(b *testing.B, names []string, lat [][]time.Duration) [][2]float64 {
	p := make([][2]float64, len(lat))
	for k, l := range lat {
		slices.Sort(l)
		at := func(q float64) float64 {
			return float64(l[min(len(l)-1, int(q*float64(len(l))))].Nanoseconds()) / 1e3
		}
		p[k] = [2]float64{at(0.50), at(0.99)}
		b.ReportMetric(p[k][0], names[k]+"-p50-µs")
		b.ReportMetric(p[k][1], names[k]+"-p99-µs")
	}
	return p
}

// benchOp is one timed round trip and what undoes it, untimed.
type benchOp struct {
	name    string
	do      func(ctx context.Context, ch string) error
	release func(ctx context.Context, ch string)
}

type target struct{ d *Daemon }

// release ends ch's holding, as the hangup would.
func (t target) release(ctx context.Context, ch string) { t.d.Bridge().Release(ctx, ch) }

// admitInProcess runs the same admission on the bridge, without FastAGI:
// what the store costs with no protocol around it.
func (t target) admitInProcess(ctx context.Context, ch string) error {
	r := t.d.Bridge().Admit(ctx, bridge.Request{Product: "g729", Channel: ch, Call: ch})
	if !r.Admitted {
		return fmt.Errorf("channel %s: refused in process: %+v", ch, r)
	}
	return nil
}

// admit runs one FastAGI admission of ch as the printed dialplan's
// AGI(agi://.../admit,g729,linkedid=${CHANNEL(linkedid)}) does: the linkedid
// comes as an argument, so the session is one exchange (issue 14).
func (t target) admit(ctx context.Context, ch string) error {
	r, err := agiclient.Call(ctx, t.d.Node().AGIAddr(), agiclient.Channel{Uniqueid: ch, Name: "PJSIP/bench-" + ch}, "admit,g729,linkedid=${CHANNEL(linkedid)}")
	if err != nil {
		return err
	}
	if st := r.Vars[admission.VarStatus]; st != admission.StatusAdmitted {
		return fmt.Errorf("channel %s: %s %q (AGISTATUS %s)", ch, st, r.Vars[admission.VarReason], r.AGIStatus)
	}
	return nil
}

// benchDaemon builds and runs a node from yaml with a million g729 channels
// published, until the benchmark ends.
func benchDaemon(b *testing.B, ctx context.Context, id, yaml string) *Daemon {
	b.Helper()
	cfg := config.Default()
	// Its own state dir: the admin server records its address there. A
	// short drain: after a failed round a holding may be left, and the
	// default drain waits for it to end.
	yaml += "state_dir: '" + b.TempDir() + "'\ndrain_timeout: 1s\n"
	if err := config.Decode([]byte(yaml), cfg); err != nil {
		b.Fatal(err)
	}
	s, err := cfg.Validate()
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(ctx, Options{Settings: s, NodeID: id, Journal: "-", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx, nil) }()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	ready := make(chan error, 1)
	go func() { ready <- d.Ready(rctx) }()
	select {
	case err := <-ready:
		if err != nil {
			b.Fatalf("node %s not ready: %v", id, err)
		}
	case err := <-done:
		// Run stopped before Ready (a listener, the state dir): Ready would
		// only time out.
		rcancel()
		b.Fatalf("node %s stopped while starting: %v", id, err)
	}
	b.Cleanup(func() { stop(); <-done; d.Close() })
	if err := d.Bridge().PublishKeys(rctx, []bridge.KeyGrant{{KeyID: "G729-BENCH-" + id, Product: "g729", Channels: 1_000_000}}); err != nil {
		b.Fatal(err)
	}
	return d
}
