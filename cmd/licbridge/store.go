package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/licbridge/licbridge/bridge/redisstore"
)

// storeDialTimeout bounds reaching the shared store at start-up, so that a
// wrong address fails with a clear error instead of hanging.
const storeDialTimeout = 10 * time.Second

// dialStore dials the shared store that sc names. Every command that talks to
// Redis (run, show, stats, license, sipmon) goes through it, so they reach
// standalone, Cluster and Sentinel alike and never print a password: the
// address in errors is redacted. log receives go-redis's own messages (nil:
// discarded).
func dialStore(ctx context.Context, sc StoreConfig, log *slog.Logger) (*redisstore.Store, error) {
	return dialStoreOpts(ctx, sc, log, false)
}

// dialStoreOpts is dialStore; with allowDown an unreachable Redis returns
// the store and a *redisstore.DownError (the daemon starts under its outage
// policy).
func dialStoreOpts(ctx context.Context, sc StoreConfig, log *slog.Logger, allowDown bool) (*redisstore.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, storeDialTimeout)
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
