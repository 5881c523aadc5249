package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
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
