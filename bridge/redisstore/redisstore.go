// Package redisstore is the shared bridge.Store on Redis, through go-redis's
// universal client, so one address serves a standalone server, Sentinel or
// Redis Cluster. Every decision runs server-side in a Lua script (loaded once,
// run by EVALSHA, falling back to EVAL after a server restart); all keys of
// one product share the hash tag {lb:<product>}, so each script touches a
// single Cluster slot.
//
// Keys, for product P and node N:
//
//	{lb:P}:s       HASH  the product's state, per node: live-until (ms, from
//	                     the node's clock), units held, passive count, legs
//	                     its SIP monitor sees on the wire, keys (see
//	                     lua/common.lua)
//	{lb:P}:c1:N    HASH  channels that count alone -> 1
//	{lb:P}:c:N     HASH  channels of calls -> unit (the call)
//	{lb:P}:u:N     HASH  unit -> channels holding it
//	lb:products    SET   products in use
//	lb:act:{KEY}   HASH  host ID -> activated at (ms)
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
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
	//go:embed lua/activate.lua
	activateLua string
	//go:embed lua/wire.lua
	wireLua string
	//go:embed lua/holdings.lua
	holdingsLua string
	//go:embed lua/claim.lua
	claimLua string
)

var (
	admitScript     = redis.NewScript(commonLua + stateLua + admitLua)
	releaseScript   = redis.NewScript(releaseLua)
	syncScript      = redis.NewScript(commonLua + stateLua + syncLua)
	keysScript      = redis.NewScript(commonLua + stateLua + keysLua)
	heartbeatScript = redis.NewScript(commonLua + heartbeatLua)
	snapshotScript  = redis.NewScript(commonLua + stateLua + snapshotLua)
	activateScript  = redis.NewScript(activateLua)
	wireScript      = redis.NewScript(commonLua + stateLua + wireLua)
	holdingsScript  = redis.NewScript(holdingsLua)
	claimScript     = redis.NewScript(claimLua)
)

const productsKey = "lb:products"

// Store is a bridge.Store and bridge.ActivationStore on Redis. It is safe for
// concurrent use.
type Store struct {
	rdb   redis.UniversalClient
	own   bool
	gc    time.Duration
	known sync.Map // products already added to lb:products by this process
}

var (
	_ bridge.Store           = (*Store)(nil)
	_ bridge.ActivationStore = (*Store)(nil)
)

// Options configure Dial. A zero field means its default.
type Options struct {
	// Addr is host:port, a redis:// URL, or a comma-separated list (Cluster
	// seeds, or Sentinels when SentinelMaster is set). A single address that
	// turns out to be a Cluster node is used as a Cluster seed.
	Addr string
	// Username and Password authenticate; never logged.
	Username, Password string
	// SentinelMaster names the master when Addr lists Sentinels.
	SentinelMaster string
	// GC is the real TTL after which an abandoned node's keys disappear even if
	// no live node ever sweeps them. Default 10 minutes. Liveness itself never
	// depends on it.
	GC time.Duration
	// DialTimeout bounds one connection attempt. Default 2 s.
	DialTimeout time.Duration
	// PoolSize is go-redis's pool size per server. Default go-redis's (10 per CPU).
	PoolSize int
	// AllowDown returns a Store even when Redis does not answer at dial time
	// (with a *DownError): a daemon starts under its outage policy instead of
	// exiting. A single address that cannot be asked whether it is a Cluster
	// node is then taken as one server.
	AllowDown bool
	// Logger, when set, receives go-redis's own messages (failed dials while
	// the store is away, say) at debug level instead of the standard log.
	// go-redis has one logger per process, so this sets it for every client.
	Logger *slog.Logger
}

// slogLogging adapts slog to go-redis's process-wide logger.
type slogLogging struct{ l *slog.Logger }

func (s slogLogging) Printf(ctx context.Context, format string, v ...any) {
	s.l.DebugContext(ctx, fmt.Sprintf(format, v...))
}

// Dial connects to Redis and checks that it answers within ctx. The Store owns
// the client: Close closes it.
func Dial(ctx context.Context, opt Options) (*Store, error) {
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = 2 * time.Second
	}
	if opt.Logger != nil {
		redis.SetLogger(slogLogging{opt.Logger.With("component", "go-redis")})
	}
	uo := &redis.UniversalOptions{
		Username:    opt.Username,
		Password:    opt.Password,
		MasterName:  opt.SentinelMaster,
		DialTimeout: opt.DialTimeout,
		PoolSize:    opt.PoolSize,
		// The admission deadline is a context deadline: without this go-redis
		// would wait for its own ReadTimeout instead.
		ContextTimeoutEnabled: true,
	}
	addr := strings.TrimSpace(opt.Addr)
	if addr == "" {
		return nil, errors.New("redisstore: no address")
	}
	if err := parseAddrs(addr, uo); err != nil {
		return nil, err
	}
	var down error
	if len(uo.Addrs) == 1 && uo.MasterName == "" {
		cluster, err := isCluster(ctx, uo)
		if err != nil {
			if !opt.AllowDown {
				return nil, err
			}
			down = err // taken as one server; a Cluster needs its seeds listed
		}
		uo.IsClusterMode = cluster
	}
	rdb := redis.NewUniversalClient(uo)
	if down == nil {
		if err := rdb.Ping(ctx).Err(); err != nil {
			if !opt.AllowDown {
				rdb.Close()
				return nil, &addrError{op: "ping", addr: addr, err: err}
			}
			down = err
		}
	}
	s := New(rdb, opt.GC)
	s.own = true
	if down != nil {
		return s, &DownError{Addr: Redact(addr), Err: &addrError{op: "ping", addr: addr, err: down}}
	}
	return s, nil
}

// DownError is what Dial returns with Options.AllowDown when Redis did not
// answer: the Store is usable (its client connects when Redis comes up) and
// the caller follows its outage policy meanwhile.
type DownError struct {
	Addr string // redacted
	Err  error
}

func (e *DownError) Error() string {
	return fmt.Sprintf("redisstore: %s does not answer yet: %v", e.Addr, e.Err)
}

func (e *DownError) Unwrap() error { return e.Err }

// parseAddrs fills uo's addresses from addr: host:port, a redis:// (or
// rediss://) URL, or a comma list of either. In a list, the user, password,
// database and TLS of the first URL that has them are used (uo's own user
// and password, from the options, come first).
func parseAddrs(addr string, uo *redis.UniversalOptions) error {
	if isURL(addr) {
		// One URL, even if its password holds a comma.
		if u, err := redis.ParseURL(addr); err == nil {
			useURL(uo, u)
			return nil
		}
	}
	for _, a := range strings.Split(addr, ",") {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
		case isURL(a):
			u, err := redis.ParseURL(a)
			if err != nil {
				return &addrError{op: "address", addr: a, err: err}
			}
			useURL(uo, u)
		default:
			uo.Addrs = append(uo.Addrs, a)
		}
	}
	if len(uo.Addrs) == 0 {
		return &addrError{op: "address", addr: addr, err: errors.New("no host")}
	}
	return nil
}

func isURL(a string) bool {
	return strings.HasPrefix(a, "redis://") || strings.HasPrefix(a, "rediss://")
}

// useURL adds the address of u to uo, and its settings if uo has none yet.
func useURL(uo *redis.UniversalOptions, u *redis.Options) {
	uo.Addrs = append(uo.Addrs, u.Addr)
	if uo.Username == "" {
		uo.Username = u.Username
	}
	if uo.Password == "" {
		uo.Password = u.Password
	}
	if uo.DB == 0 {
		uo.DB = u.DB
	}
	if uo.TLSConfig == nil {
		uo.TLSConfig = u.TLSConfig
	}
}

// addrError is a Dial failure that names the address with the passwords of
// its URLs redacted: the message goes to logs, and a password must not (a URL
// parse error quotes the whole URL).
type addrError struct {
	op, addr string
	err      error
}

func (e *addrError) Error() string {
	return fmt.Sprintf("redisstore: %s %s: %s", e.op, Redact(e.addr), redactIn(e.err.Error(), e.addr))
}

func (e *addrError) Unwrap() error { return e.err }

// Redacted stands for a password in logs and errors.
const Redacted = "xxxxx"

// Redact returns s (a URL, a comma list of URLs and host:port addresses, or a
// message quoting them) with the password of every URL in it replaced by
// "xxxxx"; the user name and host stay visible. It serves Redis addresses and
// the ARI URL alike. A URL's user info is taken to run from its "://" to the
// last "@" before the next "://", so that a password holding "/", "," or "@"
// is still hidden (at worst more than the user info is hidden). Without a
// ':' the user info is taken as a password (go-redis reads "redis://pw@host"
// so).
func Redact(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		seg := s
		if next := strings.Index(s, "://"); next >= 0 {
			seg = s[:next]
		}
		if at := strings.LastIndex(seg, "@"); at >= 0 {
			if user, _, ok := strings.Cut(seg[:at], ":"); ok {
				b.WriteString(user + ":" + Redacted)
			} else {
				b.WriteString(Redacted)
			}
			s = s[at:]
		}
	}
}

// redactIn redacts msg, an error message about addr: the URLs in it, and any
// password of addr's URLs that the message quotes on its own.
func redactIn(msg, addr string) string {
	msg = Redact(msg)
	for _, pw := range passwords(addr) {
		msg = strings.ReplaceAll(msg, pw, Redacted)
	}
	return msg
}

// passwords returns the passwords (user info after the ':', or all of it
// without one) of the URLs in addr, as Redact finds them.
func passwords(addr string) []string {
	var pws []string
	for {
		i := strings.Index(addr, "://")
		if i < 0 {
			return pws
		}
		addr = addr[i+3:]
		seg := addr
		if next := strings.Index(addr, "://"); next >= 0 {
			seg = addr[:next]
		}
		if at := strings.LastIndex(seg, "@"); at >= 0 {
			info := seg[:at]
			if _, pw, ok := strings.Cut(info, ":"); ok {
				info = pw
			}
			if info != "" {
				pws = append(pws, info)
			}
		}
	}
}

// isCluster asks a single server whether it is a Cluster node.
func isCluster(ctx context.Context, uo *redis.UniversalOptions) (bool, error) {
	c := redis.NewClient(uo.Simple())
	defer c.Close()
	info, err := c.Info(ctx, "cluster").Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: connect to %s: %w", uo.Addrs[0], err)
	}
	return strings.Contains(info, "cluster_enabled:1"), nil
}

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

// nodeKeys are the state and the node's three holdings hashes: the KEYS of
// most scripts.
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

// PublishObserved implements bridge.Store.
func (s *Store) PublishObserved(ctx context.Context, node, product string, n int) error {
	if err := s.rdb.HSet(ctx, stateKey(prefix(product)), "o\x00"+node, n).Err(); err != nil {
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

func activationsKey(keyID string) string { return "lb:act:{" + keyID + "}" }

// Activate implements bridge.ActivationStore.
func (s *Store) Activate(ctx context.Context, keyID, hostID string, maxHosts int, at time.Time) (bool, []bridge.Activation, error) {
	v, err := activateScript.Run(ctx, s.rdb, []string{activationsKey(keyID)}, hostID, maxHosts, ms(at)).Slice()
	if err != nil {
		return false, nil, fmt.Errorf("redisstore: activate: %w", err)
	}
	if len(v) != 2 {
		return false, nil, fmt.Errorf("redisstore: activate: unexpected reply %v", v)
	}
	kv, _ := v[1].([]any)
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		val, _ := kv[i+1].(string)
		m[k] = val
	}
	return asInt(v[0]) == 1, activations(m), nil
}

// Deactivate implements bridge.ActivationStore.
func (s *Store) Deactivate(ctx context.Context, keyID, hostID string) (bool, error) {
	n, err := s.rdb.HDel(ctx, activationsKey(keyID), hostID).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: deactivate: %w", err)
	}
	return n == 1, nil
}

// Activations implements bridge.ActivationStore.
func (s *Store) Activations(ctx context.Context, keyID string) ([]bridge.Activation, error) {
	m, err := s.rdb.HGetAll(ctx, activationsKey(keyID)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: activations: %w", err)
	}
	return activations(m), nil
}

func activations(m map[string]string) []bridge.Activation {
	out := make([]bridge.Activation, 0, len(m))
	for host, at := range m {
		n, _ := strconv.ParseInt(at, 10, 64)
		out = append(out, bridge.Activation{HostID: host, At: time.UnixMilli(n)})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].HostID < out[j].HostID
	})
	return out
}
