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

// BenchmarkScale measures, in one run on one redis-server, what an admission
// and an admit+release pair cost as the product's cluster grows (nodes, keys
// per node), beside the floor: a trivial script run by EVALSHA. Besides the
// wall time per round trip, each reports Redis's own time per call
// (redis-us/call, from INFO commandstats), which is what bounds the
// admissions one product can get from its one Redis core.
//
//	go test -run '^$' -bench Scale ./bridge/redisstore
func BenchmarkScale(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	s, err := redisstore.Dial(ctx, redisstore.Options{Addr: srv.Addr})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rdb := s.Client()
	b.Run("floor", func(b *testing.B) {
		floor := redis.NewScript("return 1")
		if err := floor.Run(ctx, rdb, []string{"{lb:floor}:x"}).Err(); err != nil {
			b.Fatal(err)
		}
		measure(b, rdb, func(int) {
			if err := floor.Run(ctx, rdb, []string{"{lb:floor}:x"}).Err(); err != nil {
				b.Fatal(err)
			}
		})
	})
	for _, nodes := range []int{1, 10, 50, 200, 1000} {
		for _, keys := range []int{1, 5} {
			product := fmt.Sprintf("scale-%d-%d", nodes, keys)
			now := populate(b, s, product, nodes, keys)
			name := fmt.Sprintf("nodes=%d/keys=%d", nodes, keys)
			b.Run(name+"/admit", func(b *testing.B) {
				measure(b, rdb, func(i int) { benchAdmit(b, s, product, "a"+strconv.Itoa(i), now) })
			})
			b.Run(name+"/admit+release", func(b *testing.B) {
				measure(b, rdb, func(i int) {
					ch := "p" + strconv.Itoa(i)
					benchAdmit(b, s, product, ch, now)
					if err := s.Release(ctx, "n0", product, ch); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// populate registers nodes live for an hour, each with keys distinct key IDs
// of plenty of channels, as their heartbeats would keep them.
func populate(b *testing.B, s *redisstore.Store, product string, nodes, keys int) time.Time {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	for n := 0; n < nodes; n++ {
		node := "n" + strconv.Itoa(n)
		var grants []bridge.KeyGrant
		for k := 0; k < keys; k++ {
			grants = append(grants, bridge.KeyGrant{KeyID: fmt.Sprintf("K-%d-%d", n, k), Product: product, Channels: 1 << 20})
		}
		if _, err := s.PublishKeys(ctx, bridge.KeysOp{Node: node, Product: product, Keys: grants, Now: now, Expires: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	benchAdmit(b, s, product, "warm", now) // loads the script
	return now
}

func benchAdmit(b *testing.B, s *redisstore.Store, product, channel string, now time.Time) {
	r, err := s.Admit(context.Background(), bridge.AdmitOp{
		Node: "n0", Product: product, Channel: channel, Now: now, Expires: now.Add(time.Hour), Pool: bridge.PoolCluster,
	})
	if err != nil {
		b.Fatal(err)
	}
	if !r.Admitted {
		b.Fatalf("admission of %s refused: %+v", channel, r)
	}
}

// measure runs op b.N times and reports Redis's own microseconds per script
// call and per op from INFO commandstats.
func measure(b *testing.B, rdb redis.UniversalClient, op func(i int)) {
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
	// CPU time, unlike the time in commandstats, does not count the
	// moments the server waited for a core on a busy machine.
	b.ReportMetric((redisCPU(b, rdb)-cpu0)*1e6/float64(b.N), "redis-cpu-us/op")
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	usec, n := scriptUsec(info)
	if n > 0 {
		b.ReportMetric(usec/float64(n), "redis-us/call")
		b.ReportMetric(usec/float64(b.N), "redis-us/op")
	}
}

// scriptUsec sums the time and calls of EVALSHA and EVAL in INFO commandstats.
func scriptUsec(info string) (usec float64, calls int64) {
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		_, fields, _ := strings.Cut(line, ":")
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

// redisCPU is the server's CPU seconds so far (user and system).
func redisCPU(b *testing.B, rdb redis.UniversalClient) float64 {
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return sum
}
