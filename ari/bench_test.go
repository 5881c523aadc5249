package ari

import (
	"context"
	"github.com/licbridge/licbridge/admission"
	"slices"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim/arisrv"
)

// BenchmarkAdmitRoundTrip measures one ARI admission as Asterisk sees it:
// StasisStart sent by the double → the app reads CHANNEL(linkedid), asks the
// admitter, sets the three variables, subscribes and continues → the double
// sees the continue. Everything runs over loopback sockets. The baseline,
// measured in the same run, is a direct call of the same admitter; the
// metrics are the ratio, p50/p99 of the round trip, and the ratio to one
// plain REST request to the double (the app makes 5-6 per admission).
func BenchmarkAdmitRoundTrip(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"no-linkedid", Options{NoLinkedid: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := startRig(b, arisrv.Options{}, bc.opts)
			ctx := context.Background()

			const baseN = 10000
			t0 := time.Now()
			for i := 0; i < baseN; i++ {
				if _, err := r.fake.Admit(ctx, admission.Request{Product: "g729", Channel: "bench"}); err != nil {
					b.Fatal(err)
				}
			}
			direct := time.Since(t0) / baseN

			// A second reference: one REST request to the double (the app
			// makes five or six per admission).
			probe, err := r.srv.EnterStasis(arisrv.Channel{}, "status", "g729")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.srv.Wait(r.ctx, probe); err != nil {
				b.Fatal(err)
			}
			const restN = 500
			t1 := time.Now()
			for i := 0; i < restN; i++ {
				if _, err := r.app.Client().Variable(ctx, probe, "CHANNEL(linkedid)"); err != nil {
					b.Fatal(err)
				}
			}
			rest := time.Since(t1) / restN

			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				id, err := r.srv.EnterStasis(arisrv.Channel{}, "admit", "g729")
				if err != nil {
					b.Fatal(err)
				}
				o, err := r.srv.Wait(r.ctx, id)
				if err != nil || !o.Continued {
					b.Fatalf("outcome %+v, %v", o, err)
				}
				lat = append(lat, time.Since(start))
				b.StopTimer()
				if err := r.srv.Hangup(id); err != nil {
					b.Fatal(err)
				}
				<-r.fake.released
				<-r.gone
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(lat)
			p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
			var sum time.Duration
			for _, d := range lat {
				sum += d
			}
			mean := sum / time.Duration(len(lat))
			b.ReportMetric(float64(direct.Nanoseconds()), "direct-ns/op")
			b.ReportMetric(float64(p(0.50).Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(p(0.99).Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(mean)/float64(max(direct, 1)), "x-direct")
			b.ReportMetric(float64(rest.Nanoseconds()), "rest-ns/req")
			b.ReportMetric(float64(mean)/float64(max(rest, 1)), "x-rest")
		})
	}
}
