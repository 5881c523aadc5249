package main

import (
	"context"
	"log/slog"

	"github.com/licbridge/licbridge/bridge/redisstore"
	licd "github.com/licbridge/licbridge/daemon"
)

// storeDialTimeout bounds reaching the shared store.
const storeDialTimeout = licd.StoreDialTimeout

// dialStore dials the shared store that sc names (licd.DialStore: every
// command reaches Redis the same way, and go-redis's own messages go to the
// debug log, never to stderr ahead of the command's error).
func dialStore(ctx context.Context, sc StoreConfig, log *slog.Logger) (*redisstore.Store, error) {
	return licd.DialStore(ctx, sc, log, false)
}
