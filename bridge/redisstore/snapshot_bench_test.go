package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkSnapshotScale measures the whole-state reads, in one run on one
// redis-server: Snapshot (every /metrics scrape, status, show) and
// PublishWire (every SIP monitor interval), at 1 node × 1 key and at 1000
// nodes × 5 keys. Besides the wall time per call (which includes parsing
// the state here), each reports Redis's own time per call summed over every
// command the call ran (redis-us/op, from INFO commandstats) and the server's
// CPU per call (redis-cpu-us/op). The 1×1 figures are the baseline for the
// ratio.
//
//	go test -run '^$' -bench SnapshotScale -count 3 ./bridge/redisstore
func BenchmarkSnapshotScale(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	s, err := redisstore.Dial(ctx, redisstore.Options{Addr: srv.Addr})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rdb := s.Client()
	for _, size := range []struct{ nodes, keys int }{{1, 1}, {1000, 5}} {
		product := fmt.Sprintf("snap-%d-%d", size.nodes, size.keys)
		now := populate(b, s, product, size.nodes, size.keys)
		name := fmt.Sprintf("nodes=%d/keys=%d", size.nodes, size.keys)
		b.Run(name+"/snapshot", func(b *testing.B) {
			measureAll(b, rdb, func(int) {
				snap, err := s.Snapshot(ctx, product, now)
				if err != nil {
					b.Fatal(err)
				}
				if len(snap.Nodes) != size.nodes {
					b.Fatalf("snapshot of %s has %d nodes, want %d", product, len(snap.Nodes), size.nodes)
				}
			})
		})
		b.Run(name+"/publishwire", func(b *testing.B) {
			measureAll(b, rdb, func(i int) {
				// Nodes take turns, as each node's monitor publishes its own count.
				node := "n" + strconv.Itoa(i%size.nodes)
				if _, err := s.PublishWire(ctx, bridge.WireOp{Node: node, Product: product, Legs: i % 7, Now: now, Expires: now.Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// measureAll runs op b.N times and reports Redis's own microseconds per op
// over every command op ran (not only scripts: Snapshot ends with an
// HGETALL), the commands per op, and the server's CPU per op; it returns the
// microseconds per op, for ratios.
func measureAll(b *testing.B, rdb redis.UniversalClient, op func(i int)) float64 {
	b.Helper()
	ctx := context.Background()
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	cpu0 := redisCPU(b, rdb)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op(i)
	}
	b.StopTimer()
	cpu := redisCPU(b, rdb) - cpu0
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	usec, calls := allUsec(info)
	b.ReportMetric(cpu*1e6/float64(b.N), "redis-cpu-us/op")
	b.ReportMetric(usec/float64(b.N), "redis-us/op")
	b.ReportMetric(float64(calls)/float64(b.N), "cmds/op")
	return usec / float64(b.N)
}

// allUsec sums the time and calls in INFO commandstats, leaving out the
// measuring's own INFO and CONFIG RESETSTAT.
func allUsec(info string) (usec float64, calls int64) {
	for _, line := range strings.Split(info, "\n") {
		name, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" || strings.HasPrefix(name, "cmdstat_config") {
			continue
		}
		for _, f := range strings.Split(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "calls":
				c, _ := strconv.ParseInt(v, 10, 64)
				calls += c
			case "usec":
				u, _ := strconv.ParseFloat(v, 64)
				usec += u
			}
		}
	}
	return usec, calls
}
