package redisstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/licbridge/licbridge/internal/testkit/redistest"

	"github.com/licbridge/licbridge/bridge/redisstore"
)

// BenchmarkTotalsScale sets the cheap read of a product's totals (Totals:
// status, passive enforcement, the bypass tick, /metrics) beside the full
// read it replaces there (Snapshot, what Bridge.Usage takes of every
// product), at 1 node × 5 keys and at 1000 nodes × 5 keys, in one run on one
// redis-server. Each reports Redis's own time per call over every command the
// call ran (redis-us/op, from INFO commandstats), the commands per call and
// the server's CPU per call; the last sub-benchmark reports the ratios of
// those redis-us/op figures:
//
//   - totals-1000/1: Totals at 1000 nodes over Totals at 1 node (flat: about 1)
//   - snapshot/totals-1000: Snapshot over Totals at 1000 nodes
//
// go test -run '^$' -bench TotalsScale -count 3 ./bridge/redisstore
func BenchmarkTotalsScale(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	s, err := redisstore.Dial(ctx, redisstore.Options{Addr: srv.Addr})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rdb := s.Client()
	us := map[string]float64{}
	for _, nodes := range []int{1, 1000} {
		const keys = 5
		product := fmt.Sprintf("totals-%d-%d", nodes, keys)
		now := populate(b, s, product, nodes, keys)
		for n := 0; n < nodes; n++ {
			if err := s.PublishObserved(ctx, fmt.Sprintf("n%d", n), product, 1); err != nil {
				b.Fatal(err)
			}
		}
		name := fmt.Sprintf("nodes=%d/keys=%d", nodes, keys)
		b.Run(name+"/totals", func(b *testing.B) {
			us[fmt.Sprint("totals", nodes)] = measureAll(b, rdb, func(int) {
				t, err := s.Totals(ctx, product, "n0", now)
				if err != nil {
					b.Fatal(err)
				}
				if t.Nodes != nodes || t.Observed != nodes {
					b.Fatalf("totals of %s: %+v, want %d nodes, %d observed", product, t, nodes, nodes)
				}
			})
		})
		b.Run(name+"/snapshot", func(b *testing.B) {
			us[fmt.Sprint("snapshot", nodes)] = measureAll(b, rdb, func(int) {
				snap, err := s.Snapshot(ctx, product, now)
				if err != nil {
					b.Fatal(err)
				}
				if len(snap.Nodes) != nodes {
					b.Fatalf("snapshot of %s has %d nodes, want %d", product, len(snap.Nodes), nodes)
				}
			})
		})
	}
	b.Run("ratio", func(b *testing.B) {
		if us["totals1"] > 0 && us["totals1000"] > 0 {
			b.ReportMetric(us["totals1000"]/us["totals1"], "totals-1000/1")
			b.ReportMetric(us["snapshot1000"]/us["totals1000"], "snapshot/totals-1000")
		}
	})
}
