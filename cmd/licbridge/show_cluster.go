package main

import (
	"context"
	"fmt"
	"log/slog"

	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/view"
)

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
