package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/common.lua
	commonLua string
	//go:embed lua/state.lua
	stateLua string
	//go:embed lua/admit.lua
	admitLua string
	//go:embed lua/release.lua
	releaseLua string
	//go:embed lua/sync.lua
	syncLua string
	//go:embed lua/keys.lua
	keysLua string
	//go:embed lua/heartbeat.lua
	heartbeatLua string
	//go:embed lua/snapshot.lua
	snapshotLua string
	//go:embed lua/wire.lua
	wireLua string
	//go:embed lua/holdings.lua
	holdingsLua string
	//go:embed lua/claim.lua
	claimLua string
	//go:embed lua/totals.lua
	totalsLua string
	//go:embed lua/observe.lua
	observeLua string
)

var (
	admitScript     = redis.NewScript(commonLua + stateLua + admitLua)
	releaseScript   = redis.NewScript(releaseLua)
	syncScript      = redis.NewScript(commonLua + stateLua + syncLua)
	keysScript      = redis.NewScript(commonLua + stateLua + keysLua)
	heartbeatScript = redis.NewScript(commonLua + heartbeatLua)
	snapshotScript  = redis.NewScript(commonLua + stateLua + snapshotLua)
	wireScript      = redis.NewScript(commonLua + stateLua + wireLua)
	holdingsScript  = redis.NewScript(holdingsLua)
	claimScript     = redis.NewScript(claimLua)
	totalsScript    = redis.NewScript(commonLua + stateLua + totalsLua)
	observeScript   = redis.NewScript(commonLua + observeLua)
)

const productsKey = "lb:products"

// Store is a bridge.Store on Redis. It is safe for
// concurrent use.
type Store struct {
	rdb   redis.UniversalClient
	own   bool
	gc    time.Duration
	known sync.Map // products already added to lb:products by this process
}

var (
	_ bridge.Store = (*Store)(nil)
)

// New wraps a client the caller owns (Close leaves it open). Set
// ContextTimeoutEnabled on it, or admission deadlines will not cut a slow
// read short. gc is Options.GC (zero: 10 minutes).
func New(rdb redis.UniversalClient, gc time.Duration) *Store {
	if gc <= 0 {
		gc = 10 * time.Minute
	}
	return &Store{rdb: rdb, gc: gc}
}

// Client returns the underlying client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Close closes the client if Dial made it.
func (s *Store) Close() error {
	if s.own {
		return s.rdb.Close()
	}
	return nil
}

func prefix(product string) string { return "{lb:" + product + "}" }

func stateKey(p string) string { return p + ":s" }

// Holdings implements bridge.Store.
func (s *Store) Holdings(ctx context.Context, node, product string, now time.Time) ([]bridge.UnitHold, error) {
	p := prefix(product)
	v, err := holdingsScript.Run(ctx, s.rdb, nodeKeys(p, node)[:3], node, ms(now)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: holdings of %s for %s: %w", node, product, err)
	}
	out := make([]bridge.UnitHold, 0, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		out = append(out, bridge.UnitHold{Channel: v[i], Unit: v[i+1]})
	}
	return out, nil
}

// Claim implements bridge.Store.
func (s *Store) Claim(ctx context.Context, op bridge.ClaimOp) (bridge.Claim, error) {
	gc := max(s.gc, 2*op.Expires.Sub(op.Now))
	v, err := claimScript.Run(ctx, s.rdb, []string{"lb:owner:{" + op.Node + "}"},
		op.Instance, ms(op.Now), ms(op.Expires), gc.Milliseconds(), boolArg(op.Force)).Text()
	if err != nil {
		return bridge.Claim{}, fmt.Errorf("redisstore: claim node ID %s: %w", op.Node, err)
	}
	if v == "" {
		return bridge.Claim{}, nil
	}
	exp, who, _ := strings.Cut(v, " ")
	at, _ := strconv.ParseInt(exp, 10, 64)
	return bridge.Claim{Holder: who, Until: time.UnixMilli(at)}, nil
}

// nodeKeys are the state and the node's three holdings hashes: the KEYS of
// most scripts.
func nodeKeys(p, node string) []string {
	return []string{stateKey(p), p + ":c1:" + node, p + ":c:" + node, p + ":u:" + node}
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// remember adds product to lb:products once per process (Heartbeat repeats
// it, so a store restarted empty learns it again).
func (s *Store) remember(ctx context.Context, product string) error {
	if _, ok := s.known.Load(product); ok {
		return nil
	}
	if err := s.rdb.SAdd(ctx, productsKey, product).Err(); err != nil {
		return err
	}
	s.known.Store(product, true)
	return nil
}

// Admit implements bridge.Store: one round trip once the product is known.
func (s *Store) Admit(ctx context.Context, op bridge.AdmitOp) (bridge.AdmitReply, error) {
	if err := s.remember(ctx, op.Product); err != nil {
		return bridge.AdmitReply{}, fmt.Errorf("redisstore: admit: %w", err)
	}
	p := prefix(op.Product)
	v, err := admitScript.Run(ctx, s.rdb, nodeKeys(p, op.Node),
		p, op.Node, op.Channel, op.Unit, ms(op.Now), ms(op.Expires), string(op.Pool), boolArg(op.AllowOver), boolArg(op.NoRegister),
	).Slice()
	if err != nil {
		return bridge.AdmitReply{}, fmt.Errorf("redisstore: admit: %w", err)
	}
	if len(v) != 8 {
		return bridge.AdmitReply{}, fmt.Errorf("redisstore: admit: unexpected reply %v", v)
	}
	reason, _ := v[1].(string)
	return bridge.AdmitReply{
		Admitted: asInt(v[0]) == 1,
		Reason:   bridge.Reason(reason),
		Existing: asInt(v[2]) == 1,
		Over:     asInt(v[3]) == 1,
		Fresh:    asInt(v[4]) == 1,
		InUse:    asInt(v[5]),
		Total:    asInt(v[6]),
		Nodes:    asInt(v[7]),
	}, nil
}

func asInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case string:
		n, _ := strconv.ParseFloat(x, 64)
		return int(n)
	}
	return 0
}

// Release implements bridge.Store.
func (s *Store) Release(ctx context.Context, node, product, channel string) error {
	p := prefix(product)
	if err := releaseScript.Run(ctx, s.rdb, nodeKeys(p, node), p, node, channel).Err(); err != nil {
		return fmt.Errorf("redisstore: release: %w", err)
	}
	return nil
}

// Sync implements bridge.Store.
func (s *Store) Sync(ctx context.Context, op bridge.SyncOp) (bridge.SyncReply, error) {
	if err := s.remember(ctx, op.Product); err != nil {
		return bridge.SyncReply{}, fmt.Errorf("redisstore: sync: %w", err)
	}
	p := prefix(op.Product)
	args := make([]any, 0, 5+2*len(op.Holds))
	args = append(args, p, op.Node, ms(op.Now), ms(op.Expires), string(op.Pool))
	for _, h := range op.Holds {
		args = append(args, h.Channel, h.Unit)
	}
	v, err := syncScript.Run(ctx, s.rdb, nodeKeys(p, op.Node), args...).Slice()
	if err != nil {
		return bridge.SyncReply{}, fmt.Errorf("redisstore: sync: %w", err)
	}
	if len(v) != 3 {
		return bridge.SyncReply{}, fmt.Errorf("redisstore: sync: unexpected reply %v", v)
	}
	return bridge.SyncReply{InUse: asInt(v[0]), Total: asInt(v[1]), Nodes: asInt(v[2])}, nil
}

// PublishKeys implements bridge.Store.
func (s *Store) PublishKeys(ctx context.Context, op bridge.KeysOp) (bool, error) {
	if err := s.remember(ctx, op.Product); err != nil {
		return false, fmt.Errorf("redisstore: publish keys: %w", err)
	}
	p := prefix(op.Product)
	args := make([]any, 0, 4+2*len(op.Keys))
	args = append(args, p, op.Node, ms(op.Now), ms(op.Expires))
	for _, k := range op.Keys {
		args = append(args, k.KeyID, strconv.Itoa(k.Channels)+":"+strconv.FormatInt(ms(k.Until), 10))
	}
	fresh, err := keysScript.Run(ctx, s.rdb, nodeKeys(p, op.Node), args...).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: publish keys: %w", err)
	}
	return fresh == 1, nil
}

// PublishObserved implements bridge.Store: a short script, so that the
// passive total (#o) moves with the node's count.
func (s *Store) PublishObserved(ctx context.Context, node, product string, n int) error {
	p := prefix(product)
	if err := observeScript.Run(ctx, s.rdb, []string{stateKey(p)}, p, node, n).Err(); err != nil {
		return fmt.Errorf("redisstore: publish observed: %w", err)
	}
	return nil
}

// PublishWire implements bridge.Store.
func (s *Store) PublishWire(ctx context.Context, op bridge.WireOp) (bool, error) {
	if err := s.remember(ctx, op.Product); err != nil {
		return false, fmt.Errorf("redisstore: publish wire: %w", err)
	}
	p := prefix(op.Product)
	fresh, err := wireScript.Run(ctx, s.rdb, nodeKeys(p, op.Node), p, op.Node, ms(op.Now), ms(op.Expires), op.Legs).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: publish wire: %w", err)
	}
	return fresh == 1, nil
}

// Heartbeat implements bridge.Store: one short script per product, touching a
// fixed number of keys whatever the node holds.
func (s *Store) Heartbeat(ctx context.Context, node string, products []string, now, expires time.Time) ([]string, error) {
	if len(products) == 0 {
		return nil, s.Ping(ctx)
	}
	members := make([]any, len(products))
	for i, p := range products {
		members[i] = p
	}
	if err := s.rdb.SAdd(ctx, productsKey, members...).Err(); err != nil {
		return nil, fmt.Errorf("redisstore: heartbeat: %w", err)
	}
	var lapsed []string
	for _, product := range products {
		p := prefix(product)
		n, err := heartbeatScript.Run(ctx, s.rdb, nodeKeys(p, node), p, node, ms(now), ms(expires), s.gc.Milliseconds()).Int()
		if err != nil {
			return nil, fmt.Errorf("redisstore: heartbeat %s: %w", product, err)
		}
		if n == 1 {
			lapsed = append(lapsed, product)
		}
	}
	return lapsed, nil
}

// Products implements bridge.Store.
func (s *Store) Products(ctx context.Context) ([]string, error) {
	out, err := s.rdb.SMembers(ctx, productsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: products: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

// Ping implements bridge.Store.
func (s *Store) Ping(ctx context.Context) error {
	if c, ok := s.rdb.(*redis.ClusterClient); ok {
		// Every shard must answer: a product lives on any of them.
		return c.ForEachShard(ctx, func(ctx context.Context, sh *redis.Client) error {
			return sh.Ping(ctx).Err()
		})
	}
	return s.rdb.Ping(ctx).Err()
}

// ProductKeys lists every key that product's state occupies for the given
// nodes (lb:products aside): what a tool that wrote a product of its own
// deletes to leave nothing behind.
func ProductKeys(product string, nodes []string) []string {
	p := prefix(product)
	keys := []string{stateKey(p), p + ":ex", p + ":kx", p + ":ko"}
	for _, n := range nodes {
		keys = append(keys, nodeKeys(p, n)[1:]...)
	}
	return keys
}

// ProductsKey is the set of products in use.
const ProductsKey = productsKey
