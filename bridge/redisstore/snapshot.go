package redisstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/redis/go-redis/v9"
)

// Snapshot implements bridge.Store: a short script brings the state up to now
// (at the cost of an admission), then one HGETALL reads it and the parsing is
// done here rather than in Redis's single thread.
func (s *Store) Snapshot(ctx context.Context, product string, now time.Time) (bridge.Snapshot, error) {
	p := prefix(product)
	if err := snapshotScript.Run(ctx, s.rdb, []string{stateKey(p)}, p, ms(now)).Err(); err != nil {
		return bridge.Snapshot{}, fmt.Errorf("redisstore: snapshot %s: %w", product, err)
	}
	kv, err := s.rdb.HGetAll(ctx, stateKey(p)).Result()
	if err != nil {
		return bridge.Snapshot{}, fmt.Errorf("redisstore: snapshot %s: %w", product, err)
	}
	snap, err := parseState(product, kv, now)
	if err != nil {
		return bridge.Snapshot{}, fmt.Errorf("redisstore: snapshot %s: %w", product, err)
	}
	return snap, nil
}

// Totals implements bridge.Store: one short script reads the totals the
// state hash keeps (lua/totals.lua), at the cost of an admission.
func (s *Store) Totals(ctx context.Context, product, node string, now time.Time) (bridge.Totals, error) {
	p := prefix(product)
	v, err := totalsScript.Run(ctx, s.rdb, []string{stateKey(p)}, p, node, ms(now)).Int64Slice()
	if err != nil {
		return bridge.Totals{}, fmt.Errorf("redisstore: totals of %s: %w", product, err)
	}
	if len(v) != 10 {
		return bridge.Totals{}, fmt.Errorf("redisstore: totals of %s: unexpected reply %v", product, v)
	}
	return bridge.Totals{
		Product: product, Known: v[0] == 1, InUse: int(v[1]), Total: int(v[2]), Expired: v[3] > 0,
		Node: node, Live: v[4] == 1, NodeInUse: int(v[5]), NodeTotal: int(v[6]),
		Nodes: int(v[7]), Observed: int(v[8]), Wire: int(v[9]),
	}, nil
}

// LiveNodes implements bridge.Store: one read of the expiry index, the
// nodes whose live-until is after now (a lapsed node not yet swept is left
// out, as the sweep would).
func (s *Store) LiveNodes(ctx context.Context, product string, now time.Time) ([]string, error) {
	out, err := s.rdb.ZRangeByScore(ctx, prefix(product)+":ex", &redis.ZRangeBy{Min: "(" + strconv.FormatInt(ms(now), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: live nodes of %s: %w", product, err)
	}
	sort.Strings(out)
	return out, nil
}

// parseState turns the state hash (see lua/common.lua) into the nodes live as
// of now, sorted by name, their keys by ID.
func parseState(product string, kv map[string]string, now time.Time) (bridge.Snapshot, error) {
	nodes := map[string]*bridge.NodeSnapshot{}
	node := func(name string) *bridge.NodeSnapshot {
		n := nodes[name]
		if n == nil {
			n = &bridge.NodeSnapshot{Node: name}
			nodes[name] = n
		}
		return n
	}
	for f, v := range kv {
		if len(f) < 2 || f[1] != 0 {
			continue // a total, or the version
		}
		n := node(f[2:])
		switch f[0] {
		case 'e':
			ms, _ := strconv.ParseInt(v, 10, 64)
			n.Expires = time.UnixMilli(ms)
		case 'n':
			n.Units, _ = strconv.Atoi(v)
		case 'o':
			n.Observed, _ = strconv.Atoi(v)
		case 'w':
			n.Wire, _ = strconv.Atoi(v)
		case 'K':
			keys, err := parseKeys(product, v)
			if err != nil {
				return bridge.Snapshot{}, fmt.Errorf("keys of node %s: %w", f[2:], err)
			}
			n.Keys = keys
		}
	}
	snap := bridge.Snapshot{Product: product}
	for _, n := range nodes {
		if n.Expires.After(now) {
			snap.Nodes = append(snap.Nodes, *n)
		}
	}
	sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].Node < snap.Nodes[j].Node })
	return snap, nil
}

// parseKeys reads a node's key list: "ID\0channels\0until_ms\0" repeated.
func parseKeys(product, v string) ([]bridge.KeyGrant, error) {
	parts := strings.Split(v, "\x00")
	if len(parts)%3 != 1 || parts[len(parts)-1] != "" {
		return nil, fmt.Errorf("malformed key list %q", v)
	}
	var out []bridge.KeyGrant
	for i := 0; i+2 < len(parts); i += 3 {
		ch, err1 := strconv.Atoi(parts[i+1])
		until, err2 := strconv.ParseInt(parts[i+2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("malformed key %q in %q", parts[i], v)
		}
		g := bridge.KeyGrant{KeyID: parts[i], Product: product, Channels: ch}
		if until > 0 {
			g.Until = time.UnixMilli(until)
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KeyID < out[j].KeyID })
	return out, nil
}
