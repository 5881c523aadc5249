package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge/redisstore/bench"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/redis/go-redis/v9"
)

// Run against a real redis-server, a real 3-master Cluster and a Sentinel,
// in both modes: the figures are there, the limit held, and nothing is left
// behind (a key of another user stays).
func TestRun(t *testing.T) {
	srv := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3)
	sentinel := redistest.StartSentinel(t)
	tests := []struct {
		name  string
		addrs []string // where the keys are looked for
		cfg   bench.Config
	}{
		{"burst on a server", []string{srv.Addr}, bench.Config{Nodes: 20, Keys: 5, Admissions: 300, Concurrency: 4, Products: 2}},
		{"steady on a server", []string{srv.Addr}, bench.Config{Nodes: 5, Keys: 2, Concurrency: 4, Hold: 200, Churn: 200, Duration: 500 * time.Millisecond}},
		{"burst on a cluster", cluster.Addrs(), bench.Config{Nodes: 10, Keys: 2, Admissions: 200, Concurrency: 4, Products: 3}},
		{"steady on a cluster", cluster.Addrs(), bench.Config{Nodes: 5, Keys: 1, Concurrency: 4, Hold: 100, Churn: 100, Duration: 300 * time.Millisecond, Products: 2}},
		{"burst through a sentinel", []string{sentinel.Server.Addr},
			bench.Config{Redis: sentinel.Addr, SentinelMaster: sentinel.Master, Nodes: 5, Keys: 2, Admissions: 200, Concurrency: 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: tc.addrs, IsClusterMode: len(tc.addrs) > 1})
			defer rdb.Close()
			if err := rdb.Set(ctx, "someone-else", "x", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if tc.cfg.Redis == "" {
				tc.cfg.Redis = tc.addrs[0]
			}
			var progress bytes.Buffer
			tc.cfg.Progress = &progress
			res, err := bench.Run(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"bench: registering", "bench: floor:", "bench: removing what the run wrote"} {
				if !strings.Contains(progress.String(), want) {
					t.Errorf("progress lacks %q:\n%s", want, progress.String())
				}
			}
			checkResult(t, tc.cfg, res)
			if left := allKeys(ctx, t, rdb); len(left) != 1 || left[0] != "someone-else" {
				t.Errorf("keys left after the run: %q, want only someone-else", left)
			}
			var text, js bytes.Buffer
			if err := bench.Write(&text, res, false); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"admissions/s", "p99", "us per script call", "cleaned up"} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text output lacks %q:\n%s", want, text.String())
				}
			}
			if err := bench.Write(&js, res, true); err != nil {
				t.Fatal(err)
			}
			var back bench.Result
			if err := json.Unmarshal(js.Bytes(), &back); err != nil || back != res {
				t.Errorf("JSON output %s does not read back (%v)", js.String(), err)
			}
		})
	}
}

func checkResult(t *testing.T, cfg bench.Config, res bench.Result) {
	t.Helper()
	if res.Errors != 0 || res.Refused != 0 || !res.Cleaned || res.LimitExceeded {
		t.Errorf("result %+v: want no errors or refusals, the limit held and cleaned up", res)
	}
	if cfg.Hold == 0 && (res.Admissions != cfg.Admissions || res.Releases != cfg.Admissions) {
		t.Errorf("%d admissions and %d releases, want %d of each", res.Admissions, res.Releases, cfg.Admissions)
	}
	if cfg.Hold > 0 && (res.Admissions == 0 || res.MaxInUse != cfg.Hold || res.Capacity != cfg.Hold) {
		t.Errorf("steady state: %+v, want churn and %d in use of %d", res, cfg.Hold, cfg.Hold)
	}
	if res.AdmitP50 <= 0 || res.AdmitP99 < res.AdmitP50 || res.ReleaseP99 <= 0 || res.RedisUsPerCall <= 0 || res.PerSecond <= 0 {
		t.Errorf("figures missing: %+v", res)
	}
	// The floor's CPU can round to nothing in a run this short; its round
	// trips cannot.
	if res.FloorP50 <= 0 || res.FloorP99 < res.FloorP50 || res.FloorCPUUsPerPair < 0 {
		t.Errorf("floor figures missing: %+v", res)
	}
}

// allKeys lists every key on every master.
func allKeys(ctx context.Context, t *testing.T, rdb redis.UniversalClient) []string {
	t.Helper()
	var mu sync.Mutex
	var out []string
	scan := func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, "*").Result()
		mu.Lock()
		out = append(out, keys...)
		mu.Unlock()
		return err
	}
	var err error
	if c, ok := rdb.(*redis.ClusterClient); ok {
		err = c.ForEachMaster(ctx, scan) // concurrently
	} else {
		err = scan(ctx, rdb.(*redis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}
