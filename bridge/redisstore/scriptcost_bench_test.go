package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkScriptCost splits Redis's own time for one admission (issue 14:
// an admission is one EVALSHA, yet costs well over one PING): each case runs
// by EVALSHA with the admission's KEYS and ARGV, and reports Redis's µs per
// call from INFO commandstats. From a trivial script, through the shared
// chunk (common.lua and state.lua define their functions on every call) and
// prepare's read, to the whole admit script; and the admission's four
// commands in a script of their own, without the chunk.
//
//	go test -run '^$' -bench ScriptCost ./bridge/redisstore
func BenchmarkScriptCost(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	s, err := Dial(ctx, Options{Addr: srv.Addr})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rdb := s.Client()
	now := time.Now()
	if _, err := s.PublishKeys(ctx, bridge.KeysOp{Node: "n", Product: "g", Now: now, Expires: now.Add(time.Hour),
		Keys: []bridge.KeyGrant{{KeyID: "K", Product: "g", Channels: 1 << 30}}}); err != nil {
		b.Fatal(err)
	}
	p := prefix("g")
	keys := nodeKeys(p, "n")
	for _, tc := range []struct {
		name   string
		script *redis.Script
	}{
		{"return1", redis.NewScript("return 1")},
		{"chunk", redis.NewScript(commonLua + stateLua + "return 1")},
		{"chunk+prepare", redis.NewScript(commonLua + stateLua + "init(ARGV[1]) prepare(tonumber(ARGV[5]), ARGV[2]) return 1")},
		{"four-commands", redis.NewScript(`local v = redis.call('HMGET', KEYS[1], '#v', '#u', '#c', '#x', 'e\0' .. ARGV[2], 'n\0' .. ARGV[2], 'h\0' .. ARGV[2], '#l', '#d')
if redis.call('HSETNX', KEYS[2], ARGV[3], 1) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'n\0' .. ARGV[2], 1)
redis.call('HINCRBY', KEYS[1], '#u', 1)
return {1, '', 0, 0, 0, 1, 2, 3}`)},
		{"admit", admitScript},
	} {
		b.Run(tc.name, func(b *testing.B) {
			args := func(i int) []any {
				return []any{p, "n", tc.name + strconv.Itoa(i), "", ms(now), ms(now.Add(time.Hour)), string(bridge.PoolCluster), "0", "0"}
			}
			if err := tc.script.Run(ctx, rdb, keys, args(-1)...).Err(); err != nil {
				b.Fatal(err)
			}
			if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				if err := tc.script.EvalSha(ctx, rdb, keys, args(i)...).Err(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			info, err := rdb.Info(ctx, "commandstats").Result()
			if err != nil {
				b.Fatal(err)
			}
			if usec, n := evalshaUsec(info); n > 0 {
				b.ReportMetric(usec/float64(n), "redis-us/call")
			}
		})
	}
}

// evalshaUsec is the time and calls of EVALSHA in INFO commandstats.
func evalshaUsec(info string) (usec float64, calls int64) {
	for _, line := range strings.Split(info, "\n") {
		_, fields, ok := strings.Cut(strings.TrimSpace(line), "cmdstat_evalsha:")
		if !ok {
			continue
		}
		for _, f := range strings.Split(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "calls":
				calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				usec, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return usec, calls
}
