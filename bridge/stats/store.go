package stats

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MemoryStore is the in-process Store, for a single node. Safe for concurrent
// use. Buckets untouched for Retention are dropped on the next write.
type MemoryStore struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*memBucket
}

type memBucket struct {
	fields  map[string]int
	expires time.Time
}

// NewMemoryStore returns an empty MemoryStore that expires buckets on the wall clock.
func NewMemoryStore() *MemoryStore { return NewMemoryStoreClock(time.Now) }

// NewMemoryStoreClock returns an empty MemoryStore that expires buckets on now.
func NewMemoryStoreClock(now func() time.Time) *MemoryStore {
	return &MemoryStore{now: now, m: map[string]*memBucket{}}
}

var _ Store = (*MemoryStore)(nil)

// Raise implements Store.
func (s *MemoryStore) Raise(_ context.Context, product string, buckets []string, fields map[string]int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, b := range s.m {
		if !now.Before(b.expires) {
			delete(s.m, k)
		}
	}
	for _, name := range buckets {
		k := product + "\x00" + name
		b := s.m[k]
		if b == nil {
			b = &memBucket{fields: map[string]int{}}
			s.m[k] = b
		}
		b.expires = now.Add(Retention)
		for f, v := range fields {
			if cur, ok := b.fields[f]; !ok || v > cur {
				b.fields[f] = v
			}
		}
	}
	return nil
}

// Read implements Store.
func (s *MemoryStore) Read(_ context.Context, product string, buckets []string) ([]map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]map[string]int, len(buckets))
	for i, name := range buckets {
		b := s.m[product+"\x00"+name]
		if b == nil || !now.Before(b.expires) {
			continue
		}
		out[i] = make(map[string]int, len(b.fields))
		for f, v := range b.fields {
			out[i][f] = v
		}
	}
	return out, nil
}

// RedisStore keeps buckets in Redis (standalone, Sentinel or Cluster) as one
// hash per bucket, {lb:<product>}:stats:<bucket>, expiring after Retention.
// The hash tag keeps a product's buckets in one slot, so that one script can
// raise an hour and its day together, and one pipeline reads a whole report.
type RedisStore struct {
	rdb redis.UniversalClient
}

// NewRedisStore returns a Store over rdb. The caller owns rdb.
func NewRedisStore(rdb redis.UniversalClient) *RedisStore { return &RedisStore{rdb: rdb} }

var _ Store = (*RedisStore)(nil)

// Key returns the Redis key of a product's bucket.
func Key(product, bucket string) string { return "{lb:" + product + "}:stats:" + bucket }

// raiseScript: for every key, HSET each field ARGV[2k] to ARGV[2k+1] when it
// is higher than the current value, then PEXPIRE the key to ARGV[1] ms.
var raiseScript = redis.NewScript(`
for _, key in ipairs(KEYS) do
  for i = 2, #ARGV, 2 do
    local v = tonumber(ARGV[i+1])
    local cur = tonumber(redis.call('HGET', key, ARGV[i]))
    if cur == nil or v > cur then
      redis.call('HSET', key, ARGV[i], v)
    end
  end
  redis.call('PEXPIRE', key, ARGV[1])
end
return 0
`)

// Raise implements Store with one script call.
func (s *RedisStore) Raise(ctx context.Context, product string, buckets []string, fields map[string]int) error {
	keys := make([]string, len(buckets))
	for i, b := range buckets {
		keys[i] = Key(product, b)
	}
	args := make([]any, 0, 1+2*len(fields))
	args = append(args, Retention.Milliseconds())
	for f, v := range fields {
		args = append(args, f, v)
	}
	if err := raiseScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil && err != redis.Nil {
		return fmt.Errorf("redis raise %s: %w", keys[0], err)
	}
	return nil
}

// Read implements Store with one pipeline of HGETALL.
func (s *RedisStore) Read(ctx context.Context, product string, buckets []string) ([]map[string]int, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(buckets))
	for i, b := range buckets {
		cmds[i] = pipe.HGetAll(ctx, Key(product, b))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis read %s stats: %w", product, err)
	}
	out := make([]map[string]int, len(buckets))
	for i, c := range cmds {
		m := c.Val()
		if len(m) == 0 {
			continue
		}
		out[i] = make(map[string]int, len(m))
		for f, v := range m {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("redis read %s field %s: %q is not a count", Key(product, buckets[i]), f, v)
			}
			out[i][f] = n
		}
	}
	return out, nil
}
