package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/licbridge/licbridge/bridge"
)

// modesKey is a hash: node → its NodeModes as JSON. The enforcement modes and
// the pool are each node's own configuration; published here, any reader of
// the store (show licenses --redis) shows the state the nodes enforce rather
// than its own defaults.
const modesKey = "lb:modes"

// NodeModes is what a node publishes of its configuration.
type NodeModes struct {
	Node string      `json:"node"`
	Pool bridge.Pool `json:"pool"`
	// Enforcement per product; a product left out is hard.
	Enforcement map[string]bridge.Mode `json:"enforcement,omitempty"`
	// Expires is when the entry stops counting unless published again (the
	// node's lapse, as for its channels).
	Expires time.Time `json:"expires"`
}

// PublishModes records m for m.Node, and drops entries that have expired.
func (s *Store) PublishModes(ctx context.Context, m NodeModes, now time.Time) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("redisstore: publish modes: %w", err)
	}
	if err := s.rdb.HSet(ctx, modesKey, m.Node, b).Err(); err != nil {
		return fmt.Errorf("redisstore: publish modes: %w", err)
	}
	if _, err := s.liveModes(ctx, now, true); err != nil {
		return err
	}
	return nil
}

// Modes returns the live nodes' entries, by node name.
func (s *Store) Modes(ctx context.Context, now time.Time) ([]NodeModes, error) {
	return s.liveModes(ctx, now, false)
}

func (s *Store) liveModes(ctx context.Context, now time.Time, prune bool) ([]NodeModes, error) {
	all, err := s.rdb.HGetAll(ctx, modesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read modes: %w", err)
	}
	var live []NodeModes
	var stale []string
	for node, v := range all {
		var m NodeModes
		if json.Unmarshal([]byte(v), &m) != nil || !m.Expires.After(now) {
			stale = append(stale, node)
			continue
		}
		live = append(live, m)
	}
	if prune && len(stale) > 0 {
		// Best effort: a reader skips them anyway.
		_ = s.rdb.HDel(ctx, modesKey, stale...).Err()
	}
	sort.Slice(live, func(i, j int) bool { return live[i].Node < live[j].Node })
	return live, nil
}
