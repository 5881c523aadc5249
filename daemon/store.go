package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/config"
)

// StoreDialTimeout bounds reaching the shared store, so that a wrong address
// fails with a clear error instead of hanging.
const StoreDialTimeout = 10 * time.Second

// DialStore dials the shared store that sc names. Every command that talks
// to Redis goes through it, so they reach standalone, Cluster and Sentinel
// alike and never print a password (the address in errors is redacted).
// go-redis's own messages go to log (nil: slog.Default()) at debug level,
// never to stderr: a command's error is then the only thing it prints.
// With allowDown an unreachable Redis returns the store and a
// *redisstore.DownError (the daemon starts under its outage policy).
func DialStore(ctx context.Context, sc config.StoreConfig, log *slog.Logger, allowDown bool) (*redisstore.Store, error) {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithTimeout(ctx, StoreDialTimeout)
	defer cancel()
	rs, err := redisstore.Dial(ctx, redisstore.Options{Addr: sc.Redis, Password: sc.Password, SentinelMaster: sc.SentinelMaster, Logger: log, AllowDown: allowDown})
	var down *redisstore.DownError
	if errors.As(err, &down) {
		return rs, err
	}
	if err != nil {
		return nil, fmt.Errorf("shared store %s: %w", redisstore.Redact(sc.Redis), err)
	}
	return rs, nil
}

// ErrNoStore is OpenStatsStore's answer when no shared store is named.
var ErrNoStore = errors.New("no shared store named")

// OpenStatsStore opens the statistics in the shared store that sc names
// (ErrNoStore when none: a node without Redis keeps them in its own
// process). close releases it.
func OpenStatsStore(ctx context.Context, sc config.StoreConfig) (st stats.Store, close func(), err error) {
	if sc.Redis == "" {
		return nil, nil, ErrNoStore
	}
	rs, err := DialStore(ctx, sc, nil, false)
	if err != nil {
		return nil, nil, err
	}
	return stats.NewRedisStore(rs.Client()), func() { rs.Close() }, nil
}
