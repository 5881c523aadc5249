package bridge_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
)

var seedFlag = flag.Uint64("seed", 0, "seed for TestRandomized (0: from the clock)")

// TestRandomized drives several nodes through random admissions, releases,
// crashes (power loss: the node's calls die with it), restarts, key changes
// and clock ticks, and after every step checks the store against a model:
// every decision is the one the model predicts (so nothing is admitted beyond
// the total in hard mode, and nothing is refused within it), the counts match,
// per-call units count once, and in the end nothing is left held.
func TestRandomized(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed)", seed)
	for _, tc := range []struct {
		kind  storeKind
		pool  bridge.Pool
		steps int
	}{
		{memKind(), bridge.PoolCluster, 5000},
		{memKind(), bridge.PoolPerHost, 3000},
		{redisKind(), bridge.PoolCluster, 3000},
		{redisKind(), bridge.PoolPerHost, 1500},
		{clusterKind(), bridge.PoolCluster, 1000},
		{sentinelKind(), bridge.PoolPerHost, 600},
	} {
		t.Run(tc.kind.name+"/"+string(tc.pool), func(t *testing.T) {
			store := tc.kind.new(t)
			runRandom(t, store, tc.pool, rand.New(rand.NewPCG(seed, 1)), tc.steps)
		})
	}
}

const lapse = 15 * time.Second

type modelNode struct {
	name    string
	b       *bridge.Bridge // nil while crashed
	expires time.Time
	keys    map[string][]bridge.KeyGrant
	held    map[string]map[string]string // product -> channel -> unit
	// observed and wire are the last passive and wire counts published per
	// product: the store keeps them while the node is live, across restarts.
	observed, wire map[string]int
}

type model struct {
	t        *testing.T
	rng      *rand.Rand
	store    bridge.Store
	pool     bridge.Pool
	clock    *fakeClock
	nodes    []*modelNode
	products []string
	perCall  map[string]bool
	next     int
}

func runRandom(t *testing.T, store bridge.Store, pool bridge.Pool, rng *rand.Rand, steps int) {
	m := &model{t: t, rng: rng, store: store, pool: pool, clock: newClock(), perCall: map[string]bool{}}
	pc, pk := uniqueProduct("chan"), uniqueProduct("call")
	m.products = []string{pc, pk}
	m.perCall[pk] = true
	for i := 0; i < 4; i++ {
		n := &modelNode{name: fmt.Sprintf("n%d", i), observed: map[string]int{}, wire: map[string]int{}}
		m.nodes = append(m.nodes, n)
		m.start(n)
	}
	stats := map[string]int{}
	defer func() { t.Logf("steps: %v", stats) }()
	for step := 0; step < steps; step++ {
		var what string
		switch r := rng.IntN(100); {
		case r < 45:
			what = m.admit()
		case r < 80:
			what = m.release()
		case r < 84:
			what = m.crash()
		case r < 90:
			what = m.restart()
		case r < 93:
			what = m.rekey()
		case r < 96:
			what = m.count()
		default:
			what = m.tick()
		}
		stats[strings.Fields(what)[0]+" "+strings.Fields(what)[1]]++
		m.check(fmt.Sprintf("step %d (%s)", step, what))
	}
	// Every call ends; crashed nodes stay down until they lapse.
	for _, n := range m.nodes {
		if n.b == nil {
			continue
		}
		for _, p := range m.products {
			for ch := range n.held[p] {
				n.b.Release(context.Background(), ch)
			}
			n.held[p] = map[string]string{}
		}
	}
	for i := 0; i < 4; i++ {
		m.clock.Advance(lapse / 3)
		m.beatAll()
	}
	m.check("end")
	for _, p := range m.products {
		snap, err := store.Snapshot(context.Background(), p, m.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range snap.Nodes {
			if n.Units != 0 {
				t.Fatalf("end: %s still holds %d units of %s", n.Node, n.Units, p)
			}
		}
	}
}

func (m *model) newBridge(n *modelNode) *bridge.Bridge {
	b, err := bridge.New(bridge.Options{
		Store: m.store, Node: n.name, Clock: m.clock, Lapse: lapse, Deadline: 5 * time.Second, Pool: m.pool,
		Counting: map[string]bridge.Counting{m.products[1]: bridge.CountCall},
	})
	if err != nil {
		m.t.Fatal(err)
	}
	return b
}

func (m *model) randomKeys(n *modelNode) {
	n.keys = map[string][]bridge.KeyGrant{}
	for _, p := range m.products {
		for k := 0; k < 6; k++ {
			if m.rng.IntN(4) == 0 { // a key ID means the same key on every node
				n.keys[p] = append(n.keys[p], bridge.KeyGrant{KeyID: fmt.Sprintf("K%d", k), Product: p, Channels: k + 1})
			}
		}
	}
}

func (m *model) publish(n *modelNode) {
	var all []bridge.KeyGrant
	for _, p := range m.products {
		all = append(all, n.keys[p]...)
	}
	if err := n.b.PublishKeys(context.Background(), all); err != nil {
		m.t.Fatalf("%s: publish: %v", n.name, err)
	}
	n.expires = m.clock.Now().Add(lapse)
}

// start boots a node with no calls (a new or restarted Asterisk).
func (m *model) start(n *modelNode) {
	n.b = m.newBridge(n)
	n.held = map[string]map[string]string{}
	for _, p := range m.products {
		n.held[p] = map[string]string{}
	}
	m.randomKeys(n)
	m.publish(n)
	if _, err := n.b.Reconcile(context.Background(), nil); err != nil {
		m.t.Fatalf("%s: reconcile: %v", n.name, err)
	}
	n.expires = m.clock.Now().Add(lapse)
}

func (m *model) live(n *modelNode) bool { return n.expires.After(m.clock.Now()) }

// expected is the model's in-use and total for product.
func (m *model) expected(p string) (inUse, total int) {
	keys := map[string]int{}
	for _, n := range m.nodes {
		if !m.live(n) {
			continue
		}
		units := map[string]bool{}
		for _, u := range n.held[p] {
			units[u] = true
		}
		inUse += len(units)
		for _, k := range n.keys[p] {
			keys[k.KeyID] = k.Channels
		}
	}
	for _, c := range keys {
		total += c
	}
	return inUse, total
}

// expectedFor is the in-use and total of n's pool: the cluster's, or under
// PoolPerHost n's own units and the keys it owns (a key on several live nodes
// belongs to the first by name).
func (m *model) expectedFor(n *modelNode, p string) (inUse, total int) {
	if m.pool != bridge.PoolPerHost {
		return m.expected(p)
	}
	return m.own(n, p)
}

// own is n's units and the channels of the keys it owns, whatever the pool.
func (m *model) own(n *modelNode, p string) (inUse, total int) {
	owner := map[string]string{}
	channels := map[string]int{}
	for _, o := range m.nodes {
		if !m.live(o) {
			continue
		}
		for _, k := range o.keys[p] {
			if cur, ok := owner[k.KeyID]; !ok || o.name < cur {
				owner[k.KeyID] = o.name
			}
			channels[k.KeyID] = k.Channels
		}
	}
	for id, o := range owner {
		if o == n.name {
			total += channels[id]
		}
	}
	units := map[string]bool{}
	for _, u := range n.held[p] {
		units[u] = true
	}
	return len(units), total
}

func (m *model) pickUp() *modelNode {
	var up []*modelNode
	for _, n := range m.nodes {
		if n.b != nil {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[m.rng.IntN(len(up))]
}

func (m *model) admit() string {
	n := m.pickUp()
	if n == nil {
		return "admit: no node up"
	}
	p := m.products[m.rng.IntN(2)]
	m.next++
	ch := fmt.Sprintf("ch%d", m.next)
	call := ch
	if m.perCall[p] && len(n.held[p]) > 0 && m.rng.IntN(2) == 0 {
		// join an existing call on this node
		var units []string
		for _, u := range n.held[p] {
			units = append(units, u)
		}
		sort.Strings(units)
		call = units[m.rng.IntN(len(units))]
	}
	inUse, total := m.expectedFor(n, p)
	joins := false
	for _, u := range n.held[p] {
		joins = joins || u == call
	}
	want := joins || inUse < total
	r := n.b.Admit(context.Background(), bridge.Request{Product: p, Channel: ch, Call: call})
	if r.Admitted != want {
		m.t.Fatalf("%s: admit %s %s (call %s): admitted=%v reason %s, model says %v (in use %d of %d)",
			n.name, p, ch, call, r.Admitted, r.Reason, want, inUse, total)
	}
	if !r.Admitted {
		wantReason := bridge.ReasonOverLimit
		if total == 0 {
			wantReason = bridge.ReasonNoLicense
		}
		if r.Reason != wantReason {
			m.t.Fatalf("%s: refusal reason %s, want %s", n.name, r.Reason, wantReason)
		}
		return "admit refused"
	}
	n.held[p][ch] = call
	if !joins && r.InUse > r.Total {
		m.t.Fatalf("%s: admitted %s beyond the total: %d of %d", n.name, ch, r.InUse, r.Total)
	}
	return "admit " + p
}

func (m *model) release() string {
	n := m.pickUp()
	if n == nil {
		return "release: no node up"
	}
	p := m.products[m.rng.IntN(2)]
	if len(n.held[p]) == 0 || m.rng.IntN(10) == 0 {
		n.b.Release(context.Background(), "never-admitted") // idempotent no-op
		return "release unknown"
	}
	var chans []string
	for ch := range n.held[p] {
		chans = append(chans, ch)
	}
	sort.Strings(chans)
	ch := chans[m.rng.IntN(len(chans))]
	if got := n.b.Release(context.Background(), ch); got != 1 {
		m.t.Fatalf("%s: release %s ended %d leases, want 1", n.name, ch, got)
	}
	delete(n.held[p], ch)
	return "release " + p
}

func (m *model) crash() string {
	n := m.pickUp()
	if n == nil {
		return "crash: none up"
	}
	n.b.Close()
	n.b = nil // no release, no more heartbeats: its holdings count until it lapses
	return "crash " + n.name
}

func (m *model) restart() string {
	for _, n := range m.nodes {
		if n.b == nil {
			m.start(n)
			return "restart " + n.name
		}
	}
	return "restart: all up"
}

func (m *model) rekey() string {
	n := m.pickUp()
	if n == nil {
		return "rekey: none up"
	}
	m.randomKeys(n)
	m.publish(n)
	return "rekey " + n.name
}

// count publishes a random passive count and a random wire count of one
// product from a node that is up.
func (m *model) count() string {
	n := m.pickUp()
	if n == nil {
		return "count: none up"
	}
	p := m.products[m.rng.IntN(2)]
	o, w := m.rng.IntN(5), m.rng.IntN(7)
	if err := n.b.PublishObserved(context.Background(), p, o); err != nil {
		m.t.Fatalf("%s: publish observed: %v", n.name, err)
	}
	if err := n.b.PublishWire(context.Background(), p, w); err != nil {
		m.t.Fatalf("%s: publish wire: %v", n.name, err)
	}
	n.observed[p], n.wire[p] = o, w
	n.expires = m.clock.Now().Add(lapse)
	return "count " + p
}

func (m *model) tick() string {
	m.clock.Advance(time.Duration(m.rng.IntN(int(lapse/2/time.Millisecond))) * time.Millisecond)
	m.beatAll()
	// A crashed node that lapsed has lost everything it held.
	for _, n := range m.nodes {
		if n.b == nil && !m.live(n) {
			for _, p := range m.products {
				n.held[p] = map[string]string{}
			}
			n.keys = nil
			n.observed, n.wire = map[string]int{}, map[string]int{}
		}
	}
	return "tick ."
}

func (m *model) beatAll() {
	for _, n := range m.nodes {
		if n.b != nil {
			if err := n.b.Heartbeat(context.Background()); err != nil {
				m.t.Fatalf("%s: heartbeat: %v", n.name, err)
			}
			n.expires = m.clock.Now().Add(lapse)
		}
	}
}

func (m *model) check(at string) {
	n := m.pickUp()
	if n == nil {
		return
	}
	for _, p := range m.products {
		inUse, total := m.expected(p)
		u := usage(m.t, n.b, p)
		if u.InUse != inUse || u.Total != total {
			m.t.Fatalf("%s: %s: store %d of %d (%s), model %d of %d", at, p, u.InUse, u.Total, nodeInUse(u), inUse, total)
		}
		m.checkTotals(at, n, p, u)
		for _, nu := range u.Nodes {
			for _, mn := range m.nodes {
				if mn.name != nu.Node {
					continue
				}
				wantUse, wantTotal := m.expectedFor(mn, p)
				if m.pool != bridge.PoolPerHost {
					wantUse = len(unitsOf(mn.held[p]))
				}
				if nu.InUse != wantUse || nu.Total != wantTotal {
					m.t.Fatalf("%s: %s on %s: store %d of %d, model %d of %d", at, p, nu.Node, nu.InUse, nu.Total, wantUse, wantTotal)
				}
			}
		}
	}
}

// checkTotals checks the cheap read of the totals (Bridge.Totals, over
// Store.Totals) against the model and the full usage u: units, cluster total,
// the nodes live for the product (u's, as a node registers per product),
// passive and wire counts summed over them, and n's own units and keys.
func (m *model) checkTotals(at string, n *modelNode, p string, u bridge.ProductUsage) {
	inUse, total := m.expected(p)
	want := bridge.Totals{Product: p, Known: true, InUse: inUse, Total: total, Node: n.name, Nodes: len(u.Nodes)}
	live := map[string]bool{}
	for _, nu := range u.Nodes {
		live[nu.Node] = true
	}
	for _, o := range m.nodes {
		if !live[o.name] {
			// Not live for p: whatever it published is dropped before it
			// counts again (a running node that published keeps p live).
			delete(o.observed, p)
			delete(o.wire, p)
			continue
		}
		want.Observed += o.observed[p]
		want.Wire += o.wire[p]
	}
	want.Live = live[n.name]
	want.NodeInUse, want.NodeTotal = m.own(n, p)
	got, err := n.b.Totals(context.Background(), p)
	if err != nil {
		m.t.Fatalf("%s: %s: totals: %v", at, p, err)
	}
	if got != want {
		m.t.Fatalf("%s: %s: totals read by %s\n got %+v\nwant %+v (model)", at, p, n.name, got, want)
	}
}

func unitsOf(held map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, u := range held {
		out[u] = true
	}
	return out
}
