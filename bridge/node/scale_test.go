package node_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/bypass"
	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/internal/asterisksim"
	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/licbridge/licbridge/view"
)

// monitor records the commands a real redis-server runs (MONITOR: those of
// scripts too) between two marks.
type monitor struct {
	t    *testing.T
	mark *redis.Client
	mu   sync.Mutex
	cmds []string
	seen chan string
}

func startMonitor(t *testing.T, addr string) *monitor {
	t.Helper()
	m := &monitor{t: t, mark: redis.NewClient(&redis.Options{Addr: addr}), seen: make(chan string, 16)}
	t.Cleanup(func() { m.mark.Close() })
	// MONITOR on a plain connection: each command a "+" line.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 1<<16), 1<<24)
		for sc.Scan() {
			l := sc.Text()
			if i := strings.Index(strings.ToUpper(l), `"ECHO" "MARK-`); i >= 0 {
				m.seen <- strings.TrimSuffix(l[i+len(`"ECHO" "mark-`):], `"`)
				continue
			}
			m.mu.Lock()
			m.cmds = append(m.cmds, l)
			m.mu.Unlock()
		}
	}()
	m.between("start", func() {}) // MONITOR is on once its first mark shows
	return m
}

// between runs fn and returns the commands Redis ran meanwhile: a mark
// written after fn shows in the stream after everything fn made Redis run.
func (m *monitor) between(name string, fn func()) []string {
	m.t.Helper()
	m.mu.Lock()
	m.cmds = nil
	m.mu.Unlock()
	fn()
	deadline := time.After(20 * time.Second)
	for {
		// ECHO until one shows: the first ones may precede MONITOR.
		if err := m.mark.Echo(context.Background(), "mark-"+name).Err(); err != nil {
			m.t.Fatal(err)
		}
		select {
		case got := <-m.seen:
			if got == name {
				m.mu.Lock()
				defer m.mu.Unlock()
				return m.cmds
			}
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			m.t.Fatalf("MONITOR never showed the mark after %s", name)
		}
	}
}

// TestPerCallPathsReadTotalsOnly: with 200 nodes of 5 keys each in the
// cluster, the FastAGI status verb, the over-limit check of an unadmitted
// channel (passive enforcement), a tick of the bypass detector and the view
// behind /metrics never read a product's whole state hash (HGETALL of
// {lb:P}:s, what Snapshot does); each runs a handful of commands whatever the
// size of the cluster. The old code took a full Snapshot of every product
// for each of them.
func TestPerCallPathsReadTotalsOnly(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := redisstore.Dial(dctx, redisstore.Options{Addr: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now()
	// 200 other nodes, 5 keys each of no channels (so that node-1's one
	// channel is the total), passive and wire counts.
	for n := 0; n < 200; n++ {
		name := fmt.Sprintf("peer-%03d", n)
		var keys []bridge.KeyGrant
		for k := 0; k < 5; k++ {
			keys = append(keys, bridge.KeyGrant{KeyID: fmt.Sprintf("%s-K%d", name, k), Product: "g729"})
		}
		if _, err := store.PublishKeys(ctx, bridge.KeysOp{Node: name, Product: "g729", Keys: keys, Now: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := store.PublishObserved(ctx, name, "g729", n%2); err != nil {
			t.Fatal(err)
		}
		if _, err := store.PublishWire(ctx, bridge.WireOp{Node: name, Product: "g729", Legs: n % 3, Now: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	pbx := asterisksim.StartT(t, asterisksim.Options{})
	b, err := bridge.New(bridge.Options{Store: store, Node: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.PublishKeys(ctx, g729(1)); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Options{
		Bridge:  b,
		AMI:     &ami.Options{Addr: pbx.AMIAddr(), Username: "licbridge", Secret: "licsecret", MinBackoff: 10 * time.Millisecond},
		AGI:     &dialplan.Config{Addr: "127.0.0.1:0"},
		Passive: node.Passive{HangupOverLimit: true}, DrainTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatalf("node stopped: %v", err)
	}
	pbx.SetAGIAddr(n.AGIAddr())
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	select {
	case <-n.AMI().Ready():
	case <-wctx.Done():
		t.Fatal("AMI not ready")
	}
	placed, err := pbx.Place(wctx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI, Codec: "g729"})
	if err != nil || !placed.Admitted() {
		t.Fatalf("admission of the one channel: %+v %v", placed, err)
	}

	mon := startMonitor(t, srv.Addr)
	check := func(what string, cmds []string) {
		t.Helper()
		own := 0
		for _, c := range cmds {
			if strings.Contains(c, "{lb:") {
				own++
			}
			if strings.Contains(strings.ToUpper(c), `"HGETALL" "{LB:`) && strings.Contains(c, `}:s"`) {
				t.Errorf("%s read a whole state hash: %s", what, c)
			}
		}
		t.Logf("%s: %d commands on product keys", what, own)
		// A bound that does not depend on the 200 nodes and 1000 keys (a
		// whole read would be one HGETALL, so count them too).
		if own > 40 {
			t.Errorf("%s ran %d commands on product keys, want at most 40:\n%s", what, own, strings.Join(cmds, "\n"))
		}
	}

	var res agiclient.Result
	check("status", mon.between("status", func() {
		res, err = agiclient.Call(wctx, n.AGIAddr(), agiclient.Channel{Uniqueid: "1795386360.77"}, "status,g729")
	}))
	if err != nil || res.Vars["LICBRIDGE_INUSE"] != "1" || res.Vars["LICBRIDGE_TOTAL"] != "1" {
		t.Errorf("status,g729: %v %v, want 1 of 1", res.Vars, err)
	}

	var sneaky *asterisksim.Placed
	check("enforce", mon.between("enforce", func() {
		sneaky, err = pbx.Place(wctx, asterisksim.Call{Codec: "g729"})
		if err != nil {
			t.Fatal(err)
		}
		waitHangup(t, pbx, sneaky.Names[0])
	}))

	met := &verdicts{seen: make(chan string, 4)}
	src := bypass.Wrap(&node.Source{Node: n}, bypass.Options{Every: time.Hour, Metrics: met})
	check("bypass tick", mon.between("bypass", func() {
		bctx, bstop := context.WithCancel(ctx)
		bdone := make(chan error, 1)
		go func() { bdone <- src.Run(bctx) }()
		for p := range met.seen {
			if p == "g729" {
				break
			}
		}
		bstop()
		<-bdone
	}))
	// Passive: 100 of the peers count one channel each (and node-1 the
	// hung-up one until its next count); 1 admitted.
	if met.excess < 99 || met.excess > 100 {
		t.Errorf("bypass excess %d, want 99 or 100", met.excess)
	}

	var v struct{ inUse, total, nodes int }
	check("metrics view", mon.between("metrics", func() {
		mv, err := src.MetricsView(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range mv.Products {
			if p.Name == "g729" {
				v.inUse, v.total = p.InUse, p.Total
			}
		}
		v.nodes = len(mv.Nodes)
	}))
	if v.inUse != 1 || v.total != 1 || v.nodes != 201 {
		t.Errorf("metrics view: g729 %d of %d, %d nodes; want 1 of 1, 201 nodes", v.inUse, v.total, v.nodes)
	}
}

// verdicts is a bypass.Metrics that tells which products were judged.
type verdicts struct {
	seen   chan string
	mu     sync.Mutex
	excess int
}

func (m *verdicts) SetBypass(product string, _ bool, excess int) {
	m.mu.Lock()
	if product == "g729" {
		m.excess = excess
	}
	m.mu.Unlock()
	select {
	case m.seen <- product:
	default:
	}
}

func waitHangup(t *testing.T, pbx *asterisksim.PBX, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, a := range pbx.AMI.Actions() {
			if a.Get("Action") == "Hangup" && a.Get("Channel") == name {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was never hung up", name)
		}
		time.Sleep(10 * time.Millisecond) // the double has no change signal for its actions
	}
}

// TestCountsMatchSnapshot: the cheap views (Counts for the bypass rule,
// MetricsView for /metrics) give every product the figures the full
// Snapshot gives: in use, total, passive, wire legs once a monitor is live,
// the live nodes, and the warnings that need no per-node detail.
func TestCountsMatchSnapshot(t *testing.T) {
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			var store bridge.Store = bridge.NewMemStore()
			if kind == "redis" {
				srv := redistest.Start(t)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				rs, err := redisstore.Dial(ctx, redisstore.Options{Addr: srv.Addr})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { rs.Close() })
				store = rs
			}
			ctx := context.Background()
			var first *bridge.Bridge
			for i, keys := range [][]bridge.KeyGrant{
				{{KeyID: "G1", Product: "g729", Channels: 2}, {KeyID: "F1", Product: "fax", Channels: 1}},
				{{KeyID: "G1", Product: "g729", Channels: 2}, {KeyID: "G2", Product: "g729", Channels: 3}},
				nil, // a SIP monitor
			} {
				b, err := bridge.New(bridge.Options{Store: store, Node: fmt.Sprintf("n%d", i)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				if first == nil {
					first = b
				}
				if keys != nil {
					if err := b.PublishKeys(ctx, keys); err != nil {
						t.Fatal(err)
					}
					for c := 0; c < 2+i; c++ {
						if r := b.Admit(ctx, bridge.Request{Product: "g729", Channel: fmt.Sprintf("n%d-%d", i, c)}); !r.Admitted {
							t.Fatalf("admit: %+v", r)
						}
					}
					if err := b.PublishObserved(ctx, "g729", 3+i); err != nil {
						t.Fatal(err)
					}
					continue
				}
				for p, legs := range map[string]int{"g729": 9, "fax": 2, bridge.WireLegs: 20} {
					if err := b.PublishWire(ctx, p, legs); err != nil {
						t.Fatal(err)
					}
				}
			}
			src := &node.Source{Bridge: first}
			full, err := src.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			counts, err := src.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			met, err := src.MetricsView(ctx)
			if err != nil {
				t.Fatal(err)
			}
			figures := func(v view.View) string {
				var b strings.Builder
				for _, p := range v.Products {
					legs := "-"
					if p.ObservedLegs != nil {
						legs = fmt.Sprint(*p.ObservedLegs)
					}
					var warn []string
					for _, w := range p.Warnings {
						if strings.HasPrefix(w, "in use") || strings.Contains(w, "ended") {
							warn = append(warn, w)
						}
					}
					fmt.Fprintf(&b, "%s: %d of %d, passive %d, legs %s %v\n", p.Name, p.InUse, p.Total, p.Passive, legs, warn)
				}
				return b.String()
			}
			want := figures(full)
			if !strings.Contains(want, "g729: 5 of 5, passive 7, legs 9 [") || !strings.Contains(want, "fax: 0 of 1, passive 0, legs 2") {
				t.Fatalf("the full view is not the cluster set up:\n%s", want)
			}
			if got := figures(counts); got != want {
				t.Errorf("Counts:\n%s\nSnapshot:\n%s", got, want)
			}
			if got := figures(met); got != want {
				t.Errorf("MetricsView:\n%s\nSnapshot:\n%s", got, want)
			}
			if fmt.Sprint(met.Nodes) != fmt.Sprint(full.Nodes) || len(full.Nodes) != 3 {
				t.Errorf("MetricsView nodes %v, Snapshot's %v (want n0 n1 n2: the monitor publishes g729 legs)", met.Nodes, full.Nodes)
			}
		})
	}
}
