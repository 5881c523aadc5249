package dialplan

import (
	"context"
	"fmt"
	"github.com/licbridge/licbridge/admission"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
)

// benchConcurrency is the number of concurrent sessions the benchmarks run.
const benchConcurrency = 16

// yesAdmitter admits everything at once: the benchmarks measure the FastAGI path,
// not an admission core.
type yesAdmitter struct{ n atomic.Int64 }

func (a *yesAdmitter) Admit(_ context.Context, req admission.Request) (admission.Decision, error) {
	a.n.Add(1)
	return admission.Decision{Admitted: true, Lease: req.Channel}, nil
}
func (a *yesAdmitter) Release(context.Context, string, string) error { return nil }
func (a *yesAdmitter) Status(context.Context, string) (admission.Usage, error) {
	return admission.Usage{}, nil
}

type latencies struct {
	p50, p99 time.Duration
	perSec   float64
}

// measure runs op n times over conc goroutines and returns the latency
// percentiles and the throughput.
func measure(n, conc int, op func(i int) error) (latencies, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return latencies{
		p50:    lat[n/2],
		p99:    lat[min(n-1, n*99/100)],
		perSec: float64(n) / elapsed.Seconds(),
	}, firstErr
}

func report(b *testing.B, l latencies) {
	b.ReportMetric(float64(l.p50.Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(l.p99.Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(l.perSec, "admits/s")
}

// BenchmarkAdmit compares a full FastAGI admission over loopback, done the way
// Asterisk runs the printed dialplan (connect, environment with the linkedid
// argument, one EXEC MSet, the server's close), with the baseline of calling the same
// Admitter in-process, both at 16 concurrent sessions. The fastagi run also
// measures the baseline in the same run and reports the ratios.
func BenchmarkAdmit(b *testing.B) {
	ctx := context.Background()
	inProcess := func(adm admission.Admitter) func(int) error {
		return func(i int) error {
			d, err := adm.Admit(ctx, admission.Request{Product: "g729", Channel: fmt.Sprint(i), Call: fmt.Sprint(i)})
			if err == nil && !d.Admitted {
				err = fmt.Errorf("not admitted")
			}
			return err
		}
	}
	b.Run("inprocess", func(b *testing.B) {
		l, err := measure(b.N, benchConcurrency, inProcess(&yesAdmitter{}))
		if err != nil {
			b.Fatal(err)
		}
		report(b, l)
	})
	b.Run("fastagi", func(b *testing.B) {
		adm := &yesAdmitter{}
		addr, _ := startServer(b, adm, Config{})
		script := printedScript(b, "admit", "g729")
		chans := make([]agiclient.Channel, b.N)
		for i := range chans {
			chans[i] = channel(i)
		}
		b.ResetTimer()
		l, err := measure(b.N, benchConcurrency, func(i int) error {
			res, err := agiclient.Call(ctx, addr, chans[i], script)
			if err == nil && res.Vars[admission.VarStatus] != admission.StatusAdmitted {
				err = fmt.Errorf("session %d: %q (AGISTATUS %s)", i, res.Vars[admission.VarStatus], res.AGIStatus)
			}
			return err
		})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		report(b, l)
		base, err := measure(b.N, benchConcurrency, inProcess(&yesAdmitter{}))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(l.p50)/float64(max(base.p50, 1)), "p50-x-inprocess")
		b.ReportMetric(base.perSec/l.perSec, "throughput-÷-inprocess")
	})
}
