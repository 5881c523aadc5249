package bridge_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/redis/go-redis/v9"
)

// fakeClock is a settable Clock shared by the nodes of a test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// clocks spaces the cases' clocks a day apart: cases share a store and reuse
// node names, and a node of an earlier case must have lapsed (a restarted
// node takes back what the store still records under its live ID).
var clocks atomic.Int64

func newClock() *fakeClock {
	// Real time or later, so that Redis's own clock (only used for GC TTLs)
	// never sees a time stamp in its past.
	at := time.Now().Add(time.Duration(clocks.Add(1)) * 24 * time.Hour)
	return &fakeClock{t: at.Truncate(time.Millisecond)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// storeKind builds one Store implementation for the shared suite.
type storeKind struct {
	name string
	new  func(t *testing.T) bridge.Store
}

func memKind() storeKind {
	return storeKind{"embedded", func(*testing.T) bridge.Store {
		return bridge.NewMemStore()
	}}
}

func redisKind() storeKind {
	return storeKind{"redis", func(t *testing.T) bridge.Store {
		srv := redistest.Start(t)
		s := dialRedis(t, srv.Addr)
		return s
	}}
}

func clusterKind() storeKind {
	return storeKind{"redis-cluster", func(t *testing.T) bridge.Store {
		c := redistest.StartCluster(t, 3)
		// One address: the store finds out that it is a Cluster node.
		s := dialRedis(t, c.Servers[0].Addr)
		if _, ok := s.Client().(*redis.ClusterClient); !ok {
			t.Fatalf("one Cluster node address gave a %T, want *redis.ClusterClient", s.Client())
		}
		return s
	}}
}

func sentinelKind() storeKind {
	return storeKind{"redis-sentinel", func(t *testing.T) bridge.Store {
		sen := redistest.StartSentinel(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := redisstore.Dial(ctx, redisstore.Options{Addr: sen.Addr, SentinelMaster: sen.Master})
		if err != nil {
			t.Fatalf("dial sentinel %s: %v", sen.Addr, err)
		}
		t.Cleanup(func() { s.Close() })
		if _, ok := s.Client().(*redis.Client); !ok {
			t.Fatalf("a Sentinel address gave a %T", s.Client())
		}
		return s
	}}
}

func dialRedis(t testing.TB, addr string) *redisstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := redisstore.Dial(ctx, redisstore.Options{Addr: addr})
	if err != nil {
		t.Fatalf("dial redis %s: %v", addr, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var seq atomic.Int64

// uniqueProduct gives each case its own product, so cases sharing a store do
// not see each other.
func uniqueProduct(base string) string {
	return fmt.Sprintf("%s-%d", base, seq.Add(1))
}

// env is one case's world: a store, a clock, and nodes on them.
type env struct {
	t     *testing.T
	store bridge.Store
	clock *fakeClock
}

func (e *env) node(name string, mod ...func(*bridge.Options)) *bridge.Bridge {
	e.t.Helper()
	opt := bridge.Options{
		Store: e.store, Node: name, Clock: e.clock, Lapse: 15 * time.Second,
		// Generous: a loaded CI machine must not turn a slow answer into an
		// outage in the behavioural suite; outage tests set their own.
		Deadline: 5 * time.Second,
	}
	for _, m := range mod {
		m(&opt)
	}
	b, err := bridge.New(opt)
	if err != nil {
		e.t.Fatalf("new bridge %s: %v", name, err)
	}
	e.t.Cleanup(func() { b.Close() })
	return b
}

func keys(product string, idChannels ...any) []bridge.KeyGrant {
	var out []bridge.KeyGrant
	for i := 0; i+1 < len(idChannels); i += 2 {
		out = append(out, bridge.KeyGrant{KeyID: idChannels[i].(string), Product: product, Channels: idChannels[i+1].(int)})
	}
	return out
}

func publish(t *testing.T, b *bridge.Bridge, grants []bridge.KeyGrant) {
	t.Helper()
	if err := b.PublishKeys(context.Background(), grants); err != nil {
		t.Fatalf("%s: publish keys: %v", b.Node(), err)
	}
}

func admit(t *testing.T, b *bridge.Bridge, product, channel, call string) bridge.Result {
	t.Helper()
	return b.Admit(context.Background(), bridge.Request{Product: product, Channel: channel, Call: call})
}

func mustAdmit(t *testing.T, b *bridge.Bridge, product, channel, call string) bridge.Lease {
	t.Helper()
	r := admit(t, b, product, channel, call)
	if !r.Admitted {
		t.Fatalf("%s: admit %s %s: refused %s (in use %d of %d)", b.Node(), product, channel, r.Reason, r.InUse, r.Total)
	}
	return r.Lease
}

func mustRefuse(t *testing.T, b *bridge.Bridge, product, channel string, want bridge.Reason) {
	t.Helper()
	r := admit(t, b, product, channel, "")
	if r.Admitted || r.Reason != want {
		t.Fatalf("%s: admit %s %s: got admitted=%v reason %q, want refusal %s", b.Node(), product, channel, r.Admitted, r.Reason, want)
	}
}

// usage returns product's usage as b sees it.
func usage(t testing.TB, b *bridge.Bridge, product string) bridge.ProductUsage {
	t.Helper()
	all, err := b.Usage(context.Background())
	if err != nil {
		t.Fatalf("usage: %v", err)
	}
	for _, u := range all {
		if u.Product == product {
			return u
		}
	}
	return bridge.ProductUsage{Product: product}
}

func nodeInUse(u bridge.ProductUsage) string {
	var parts []string
	for _, n := range u.Nodes {
		parts = append(parts, fmt.Sprintf("%s=%d", n.Node, n.InUse))
	}
	return strings.Join(parts, " ")
}

func redisstoreDial(ctx context.Context, addr string) (*redisstore.Store, error) {
	return redisstore.Dial(ctx, redisstore.Options{Addr: addr})
}
