package stats_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/licbridge/licbridge/bridge/stats"
)

// BenchmarkObserve compares the common observation (not a new peak: answered
// from the local cache) with the baseline of a store round trip (every value
// a new peak) on a real redis-server, and the non-blocking queue of Async
// (nothing drains it here: only the caller's cost). Report ratios of ns/op.
func BenchmarkObserve(b *testing.B) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: startRedis(b)})
	defer rdb.Close()
	now := time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC)
	b.Run("baseline_new_peak_each_time", func(b *testing.B) {
		rec := stats.New(stats.Options{Store: stats.NewRedisStore(rdb)})
		n := 0
		for b.Loop() {
			n++
			if err := rec.Observe(ctx, now, "g729", "n1", n, n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("below_peak", func(b *testing.B) {
		rec := stats.New(stats.Options{Store: stats.NewRedisStore(rdb)})
		rec.Observe(ctx, now, "hpec", "n1", 50, 50)
		n := 0
		for b.Loop() {
			n = (n + 1) % 50
			if err := rec.Observe(ctx, now, "hpec", "n1", n, n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("async_queue_new_peak_each_time", func(b *testing.B) {
		a := stats.NewAsync(stats.New(stats.Options{Store: stats.NewRedisStore(rdb)}))
		n := 0
		for b.Loop() {
			n++
			a.Observe(now, "fax", "n1", n, n)
		}
	})
}
