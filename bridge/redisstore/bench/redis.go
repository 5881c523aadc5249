package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/redis/go-redis/v9"
)

// redisStats is what the Redis servers (every master) report having spent:
// script time and calls from INFO commandstats, CPU seconds from INFO cpu.
type redisStats struct {
	usec  float64
	calls int64
	cpu   float64
}

func (r *run) redisStats(ctx context.Context) (redisStats, error) {
	var mu sync.Mutex
	var sum redisStats
	add := func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "commandstats", "cpu").Result()
		if err != nil {
			return fmt.Errorf("bench: INFO from %s: %w", c.Options().Addr, err)
		}
		st := parseInfo(info)
		mu.Lock()
		sum.usec += st.usec
		sum.calls += st.calls
		sum.cpu += st.cpu
		mu.Unlock()
		return nil
	}
	switch c := r.store.Client().(type) {
	case *redis.ClusterClient:
		return sum, c.ForEachMaster(ctx, add)
	case *redis.Client:
		return sum, add(ctx, c)
	default:
		return sum, fmt.Errorf("bench: unexpected client %T", c)
	}
}

// parseInfo reads the script lines of commandstats and the CPU lines.
func parseInfo(info string) redisStats {
	var st redisStats
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch name {
		case "cmdstat_evalsha", "cmdstat_eval":
			for _, f := range strings.Split(rest, ",") {
				k, v, _ := strings.Cut(f, "=")
				switch k {
				case "calls":
					n, _ := strconv.ParseInt(v, 10, 64)
					st.calls += n
				case "usec":
					u, _ := strconv.ParseFloat(v, 64)
					st.usec += u
				}
			}
		case "used_cpu_sys", "used_cpu_user":
			f, _ := strconv.ParseFloat(rest, 64)
			st.cpu += f
		}
	}
	return st
}

// cleanup deletes every key of the run's products and takes them off the
// list of products in use.
func (r *run) cleanup(ctx context.Context) error {
	rdb := r.store.Client()
	for _, p := range r.products {
		keys := redisstore.ProductKeys(p, r.nodes)
		for len(keys) > 0 {
			batch := keys[:min(len(keys), 500)]
			keys = keys[len(batch):]
			// One product's keys share a slot: one DEL serves a Cluster too.
			if err := rdb.Del(ctx, batch...).Err(); err != nil {
				return fmt.Errorf("delete the keys of %s: %w", p, err)
			}
		}
		if err := rdb.SRem(ctx, redisstore.ProductsKey, p).Err(); err != nil {
			return fmt.Errorf("forget product %s: %w", p, err)
		}
	}
	return nil
}
