package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/redis/go-redis/v9"
)

func dialTest(t *testing.T) (*redisstore.Store, redis.UniversalClient) {
	t.Helper()
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := redisstore.Dial(ctx, redisstore.Options{Addr: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.Client()
}

// The cost of a decision must not grow with the cluster: with 50 nodes of 5
// keys registered, admissions, releases, heartbeats, wire and passive counts
// and reads of the totals run a
// fixed handful of commands each and never read the whole state (the old
// scripts ran HGETALL on it every time).
func TestDecisionsDoNotReadTheWholeState(t *testing.T) {
	s, rdb := dialTest(t)
	ctx := context.Background()
	now := time.Now()
	const product = "flat"
	for n := 0; n < 50; n++ {
		var keys []bridge.KeyGrant
		for k := 0; k < 5; k++ {
			keys = append(keys, bridge.KeyGrant{KeyID: fmt.Sprintf("K%d-%d", n, k), Channels: 10})
		}
		if _, err := s.PublishKeys(ctx, bridge.KeysOp{Node: "n" + strconv.Itoa(n), Product: product, Keys: keys, Now: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	const ops = 20
	for i := 0; i < ops; i++ {
		ch := "c" + strconv.Itoa(i)
		r, err := s.Admit(ctx, bridge.AdmitOp{Node: "n7", Product: product, Channel: ch, Now: now, Expires: now.Add(time.Hour)})
		if err != nil || !r.Admitted || r.Total != 2500 || r.Nodes != 50 {
			t.Fatalf("admit %s: %+v %v, want admitted of 2500 with 50 nodes", ch, r, err)
		}
		if err := s.Release(ctx, "n7", product, ch); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Heartbeat(ctx, "n7", []string{product}, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PublishWire(ctx, bridge.WireOp{Node: "n7", Product: product, Legs: i, Now: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.PublishObserved(ctx, "n7", product, i); err != nil {
			t.Fatal(err)
		}
		if tot, err := s.Totals(ctx, product, "n7", now); err != nil || tot.Total != 2500 || tot.Nodes != 50 || tot.Wire != i || tot.Observed != i {
			t.Fatalf("totals: %+v %v, want 2500 channels, 50 nodes, %d legs and passive", tot, err, i)
		}
	}
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	inner := 0
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		cmd := strings.TrimPrefix(name, "cmdstat_")
		calls, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(rest, ",")[0], "calls="))
		switch cmd {
		case "hgetall", "hkeys", "hvals", "scan", "keys":
			t.Errorf("%s ran %d times: a decision read a whole collection", cmd, calls)
		case "evalsha", "eval", "sadd", "info", "config|resetstat", "script|load":
		default:
			inner += calls
		}
	}
	// admit 4, release 4, heartbeat about 11, wire 6, passive count 4, totals
	// 3 commands: a bound that does not depend on the 50 nodes and 250 keys.
	if per := inner / ops; per > 50 {
		t.Errorf("%d commands per admit+release+heartbeat+wire+passive+totals round, want at most 50:\n%s", per, info)
	}
}

// The totals kept incrementally always equal a recount of the live nodes'
// keys, holdings, passive and wire counts by the rule in bridge/store.go
// (distinct key IDs, the first presenter by name owning each, ended keys not
// counting), through random key changes, holdings, counts, lapses and key
// ends: both what each node's admission is told and what Totals reads, on a
// server, a Cluster and through Sentinel (and the embedded store's Totals).
func TestTotalsMatchARecount(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) bridge.Store
		steps int
	}{
		{"embedded", func(*testing.T) bridge.Store { return bridge.NewMemStore() }, 300},
		{"server", func(t *testing.T) bridge.Store { s, _ := dialTest(t); return s }, 300},
		{"cluster", func(t *testing.T) bridge.Store { return dialAddr(t, redistest.StartCluster(t, 3).Servers[0].Addr, "") }, 150},
		{"sentinel", func(t *testing.T) bridge.Store {
			sen := redistest.StartSentinel(t)
			return dialAddr(t, sen.Addr, sen.Master)
		}, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			recount(t, tc.store(t), rand.New(rand.NewPCG(seed, 2)), tc.steps)
		})
	}
}

func dialAddr(t *testing.T, addr, master string) *redisstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := redisstore.Dial(ctx, redisstore.Options{Addr: addr, SentinelMaster: master})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func recount(t *testing.T, s bridge.Store, rng *rand.Rand, steps int) {
	ctx := context.Background()
	const product = "recount"
	base := time.UnixMilli(1_700_000_000_000)
	now := base
	nodes := []string{"a", "ab", "b", "c", "d"}
	if tot, err := s.Totals(ctx, product, "a", now); err != nil || tot != (bridge.Totals{Product: product, Node: "a"}) {
		t.Fatalf("totals of a product nobody used: %+v %v, want zeros, not known", tot, err)
	}
	// The product becomes known (and stays so: its state is never deleted
	// here) with a passive count of a node that is not live, which counts nowhere.
	if err := s.PublishObserved(ctx, "d", product, 3); err != nil {
		t.Fatal(err)
	}
	for step := 0; step < steps; step++ {
		node := nodes[rng.IntN(len(nodes))]
		switch rng.IntN(7) {
		case 0:
			var keys []bridge.KeyGrant
			for k := 0; k < 4; k++ {
				if rng.IntN(2) == 0 {
					g := bridge.KeyGrant{KeyID: "K" + strconv.Itoa(k), Channels: 1 + rng.IntN(5)}
					if rng.IntN(3) == 0 {
						g.Until = now.Add(time.Duration(rng.IntN(20)) * time.Second)
					}
					keys = append(keys, g)
				}
			}
			if _, err := s.PublishKeys(ctx, bridge.KeysOp{Node: node, Product: product, Keys: keys, Now: now, Expires: now.Add(15 * time.Second)}); err != nil {
				t.Fatal(err)
			}
		case 1:
			if _, err := s.Heartbeat(ctx, node, []string{product}, now, now.Add(15*time.Second)); err != nil {
				t.Fatal(err)
			}
		case 2:
			now = now.Add(time.Duration(rng.IntN(8)) * time.Second)
		case 3:
			if _, err := s.Admit(ctx, bridge.AdmitOp{Node: node, Product: product, Channel: "c" + strconv.Itoa(rng.IntN(30)), Now: now, Expires: now.Add(15 * time.Second), AllowOver: true}); err != nil {
				t.Fatal(err)
			}
		case 4:
			if err := s.Release(ctx, node, product, "c"+strconv.Itoa(rng.IntN(30))); err != nil {
				t.Fatal(err)
			}
		case 5:
			// Also on a node that is not live: kept aside, not counted.
			if err := s.PublishObserved(ctx, node, product, rng.IntN(6)); err != nil {
				t.Fatal(err)
			}
		case 6:
			if _, err := s.PublishWire(ctx, bridge.WireOp{Node: node, Product: product, Legs: rng.IntN(9), Now: now, Expires: now.Add(15 * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		checkTotals(t, s, product, nodes, now, step)
	}
}

// checkTotals compares what each node's admission is told (a refused probe,
// NoRegister so that nothing changes) and what Totals reads with a recount
// from the snapshot.
func checkTotals(t *testing.T, s bridge.Store, product string, nodes []string, now time.Time, step int) {
	t.Helper()
	ctx := context.Background()
	snap, err := s.Snapshot(ctx, product, now)
	if err != nil {
		t.Fatal(err)
	}
	owner, chans, units, observed, wire, ended := map[string]string{}, map[string]int{}, 0, 0, 0, false
	for _, n := range snap.Nodes {
		units += n.Units
		observed += n.Observed
		wire += n.Wire
		for _, k := range n.Keys {
			if !k.Until.IsZero() && !k.Until.After(now) {
				ended = true
				continue
			}
			if o, ok := owner[k.KeyID]; !ok || n.Node < o {
				owner[k.KeyID], chans[k.KeyID] = n.Node, k.Channels
			}
		}
	}
	ownTotal := func(node string) (total, cluster int) {
		for id, o := range owner {
			cluster += chans[id]
			if o == node {
				total += chans[id]
			}
		}
		return total, cluster
	}
	names, err := s.LiveNodes(ctx, product, now)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range snap.Nodes {
		want = append(want, n.Node)
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("step %d: live nodes %v, snapshot's %v", step, names, want)
	}
	for _, name := range nodes {
		tot, err := s.Totals(ctx, product, name, now)
		if err != nil {
			t.Fatal(err)
		}
		want := bridge.Totals{Product: product, Known: true, InUse: units, Expired: ended, Nodes: len(snap.Nodes), Observed: observed, Wire: wire, Node: name}
		want.NodeTotal, want.Total = ownTotal(name)
		for _, n := range snap.Nodes {
			if n.Node == name {
				want.Live, want.NodeInUse = true, n.Units
			}
		}
		if !want.Live {
			want.NodeTotal = 0
		}
		if tot != want {
			t.Fatalf("step %d: totals for %s\n got %+v\nwant %+v (recount); snapshot %+v", step, name, tot, want, snap.Nodes)
		}
	}
	for _, pool := range []bridge.Pool{bridge.PoolCluster, bridge.PoolPerHost} {
		for _, n := range snap.Nodes {
			wantTotal, _ := ownTotal(n.Node)
			wantUse := units
			if pool == bridge.PoolCluster {
				_, wantTotal = ownTotal(n.Node)
			} else {
				wantUse = n.Units
			}
			r, err := s.Admit(ctx, bridge.AdmitOp{Node: n.Node, Product: product, Channel: "c0", Now: now, Pool: pool, NoRegister: true})
			if err != nil {
				t.Fatal(err)
			}
			if r.Admitted && !r.Existing {
				wantUse++
			}
			if r.Total != wantTotal || r.Nodes != len(snap.Nodes) || r.InUse != wantUse {
				t.Fatalf("step %d, %s pool, node %s: told %d of %d with %d nodes, recount %d of %d with %d; snapshot %+v",
					step, pool, n.Node, r.InUse, r.Total, r.Nodes, wantUse, wantTotal, len(snap.Nodes), snap.Nodes)
			}
			if !r.Existing && r.Admitted {
				// The probe was admitted: take it back so the state is as it was.
				if err := s.Release(ctx, n.Node, product, "c0"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// A state hash written by the earlier layout (a field per key, no totals, no
// indexes) is rebuilt at the first decision: the live nodes' keys and
// holdings count, a lapsed node's do not and its holdings are dropped.
func TestEarlierLayoutIsRebuilt(t *testing.T) {
	s, rdb := dialTest(t)
	ctx := context.Background()
	now := time.Now()
	live, gone := strconv.FormatInt(now.Add(time.Minute).UnixMilli(), 10), strconv.FormatInt(now.Add(-time.Second).UnixMilli(), 10)
	const p = "{lb:old}"
	if err := rdb.HSet(ctx, p+":s",
		"e\x00a", live, "n\x00a", 2, "k\x00a\x00K1", "5:0", "o\x00a", 4,
		"e\x00b", live, "n\x00b", 1, "k\x00b\x00K1", "5:0", "k\x00b\x00K2", "3:0", "w\x00b", 7,
		"e\x00c", gone, "n\x00c", 1, "k\x00c\x00K3", "100:0",
	).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, p+":c1:a", "a1", 1, "a2", 1)
	rdb.HSet(ctx, p+":c1:b", "b1", 1)
	rdb.HSet(ctx, p+":c1:c", "c1", 1)
	r, err := s.Admit(ctx, bridge.AdmitOp{Node: "a", Product: "old", Channel: "a3", Now: now, Expires: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Admitted || r.Fresh || r.InUse != 4 || r.Total != 8 || r.Nodes != 2 {
		t.Fatalf("first admission on the earlier layout: %+v, want admitted, 4 of 8, 2 nodes", r)
	}
	snap, err := s.Snapshot(ctx, "old", now)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%+v", snap.Nodes)
	for _, want := range []string{"Node:a", "Units:3", "Observed:4", "KeyID:K1", "Node:b", "Wire:7", "KeyID:K2"} {
		if !strings.Contains(got, want) {
			t.Errorf("snapshot %s lacks %s", got, want)
		}
	}
	if len(snap.Nodes) != 2 {
		t.Errorf("snapshot has %d nodes, want a and b: %s", len(snap.Nodes), got)
	}
	if n, _ := rdb.Exists(ctx, p+":c1:c").Result(); n != 0 {
		t.Error("the lapsed node's holdings are still there")
	}
	tot, err := s.Totals(ctx, "old", "a", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := (bridge.Totals{Product: "old", Known: true, InUse: 4, Total: 8, Nodes: 2, Observed: 4, Wire: 7, Node: "a", Live: true, NodeInUse: 3, NodeTotal: 5}); tot != want {
		t.Errorf("totals after the rebuild:\n got %+v\nwant %+v", tot, want)
	}
}

// A state hash of layout 2 (totals of units and channels, none of passive
// counts and wire legs) is rebuilt once: the passive and wire totals then
// count what the live nodes had published before.
func TestLayout2IsRebuiltWithPassiveAndWireTotals(t *testing.T) {
	s, rdb := dialTest(t)
	ctx := context.Background()
	now := time.Now()
	exp := now.Add(time.Minute)
	for _, n := range []string{"a", "b"} {
		if _, err := s.PublishKeys(ctx, bridge.KeysOp{Node: n, Product: "two", Keys: []bridge.KeyGrant{{KeyID: "K" + n, Channels: 5}}, Now: now, Expires: exp}); err != nil {
			t.Fatal(err)
		}
		if err := s.PublishObserved(ctx, n, "two", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PublishWire(ctx, bridge.WireOp{Node: n, Product: "two", Legs: 3, Now: now, Expires: exp}); err != nil {
			t.Fatal(err)
		}
	}
	// What the layout-2 scripts left: no #o, no #w.
	if err := rdb.HDel(ctx, "{lb:two}:s", "#o", "#w").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, "{lb:two}:s", "#v", 2).Err(); err != nil {
		t.Fatal(err)
	}
	tot, err := s.Totals(ctx, "two", "b", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := (bridge.Totals{Product: "two", Known: true, Total: 10, Nodes: 2, Observed: 4, Wire: 6, Node: "b", Live: true, NodeTotal: 5}); tot != want {
		t.Errorf("totals of a layout-2 state:\n got %+v\nwant %+v", tot, want)
	}
}
