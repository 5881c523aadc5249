package main

import (
	"context"
	"fmt"
	"log/slog"

	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/view"
	"github.com/urfave/cli/v2"
)

func clusterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "redis", Usage: "shared store (redis://HOST:PORT, or host:port[,host:port...] for Cluster/Sentinel): adds the cluster's usage (config store.redis)", EnvVars: []string{"LICBRIDGE_REDIS"}},
		&cli.StringFlag{Name: "redis-password", Usage: "Redis password (never printed; config store.password)", EnvVars: []string{"LICBRIDGE_REDIS_PASSWORD"}},
	}
}

// clusterSnapshot reads the cluster's state from the shared store through
// the composition root (licd.ClusterView): the same validated settings, and
// the pool and enforcement modes the live nodes publish.
func clusterSnapshot(ctx context.Context, cfg *Config) (view.View, error) {
	s, err := cfg.Validate()
	if err != nil {
		return view.View{}, err
	}
	v, err := licd.ClusterView(ctx, s, slog.Default())
	if err != nil {
		return view.View{}, fmt.Errorf("cluster: %w", err)
	}
	return v, nil
}
