package overage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MemoryStore is the in-process Store, for a single node. Safe for concurrent use.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string][]byte{}} }

var _ Store = (*MemoryStore)(nil)

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, product string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.m[product]), nil
}

// CompareAndSet implements Store.
func (s *MemoryStore) CompareAndSet(_ context.Context, product string, prev, next []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[product]
	if ok != (prev != nil) || !bytes.Equal(cur, prev) {
		return false, nil
	}
	s.m[product] = bytes.Clone(next)
	return true, nil
}

// RedisStore keeps the records in Redis (standalone, Sentinel or Cluster), one
// string key per product: {lb:<product>}:overage. The hash tag puts it in the
// same slot as the product's counters.
type RedisStore struct {
	rdb redis.UniversalClient
	ttl time.Duration
}

// RecordTTL is how long an untouched record lives in Redis. A record older than
// a day describes a run that has ended anyway, so the TTL only tidies up.
const RecordTTL = 30 * 24 * time.Hour

// NewRedisStore returns a Store over rdb. The caller owns rdb.
func NewRedisStore(rdb redis.UniversalClient) *RedisStore {
	return &RedisStore{rdb: rdb, ttl: RecordTTL}
}

var _ Store = (*RedisStore)(nil)

// Key returns the Redis key of the product's record.
func Key(product string) string { return "{lb:" + product + "}:overage" }

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, product string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, Key(product)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redis get %s: %w", Key(product), err)
	}
	return b, nil
}

// casScript sets KEYS[1] to ARGV[2] (with a TTL of ARGV[3] ms) only if it
// still holds ARGV[1]; ARGV[4] = "1" means "only if absent" (a nil prev).
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[4] == '1' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// CompareAndSet implements Store with a Lua script, atomic on the key's node.
func (s *RedisStore) CompareAndSet(ctx context.Context, product string, prev, next []byte) (bool, error) {
	absent := "0"
	if prev == nil {
		absent = "1"
	}
	n, err := casScript.Run(ctx, s.rdb, []string{Key(product)}, prev, next, s.ttl.Milliseconds(), absent).Int()
	if err != nil {
		return false, fmt.Errorf("redis compare-and-set %s: %w", Key(product), err)
	}
	return n == 1, nil
}
