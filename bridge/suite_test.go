package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
)

// suiteCase is one behaviour every Store must show.
type suiteCase struct {
	name string
	run  func(t *testing.T, e *env)
}

// TestStoreSuite runs the same behaviour against the embedded store, a real
// redis-server, a real 3-master Redis Cluster and a master behind a real
// Sentinel (each through one address, as the daemon is configured).
func TestStoreSuite(t *testing.T) {
	for _, kind := range []storeKind{memKind(), redisKind(), clusterKind(), sentinelKind()} {
		t.Run(kind.name, func(t *testing.T) {
			store := kind.new(t)
			for _, c := range suiteCases() {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, &env{t: t, store: store, clock: newClock()})
				})
			}
		})
	}
}

func suiteCases() []suiteCase {
	return []suiteCase{
		{"admit up to the total then refuse", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			a := e.node("a")
			publish(t, a, keys(p, "K1", 2))
			mustAdmit(t, a, p, "c1", "")
			mustAdmit(t, a, p, "c2", "")
			mustRefuse(t, a, p, "c3", bridge.ReasonOverLimit)
			if u := usage(t, a, p); u.InUse != 2 || u.Total != 2 {
				t.Fatalf("usage %d of %d, want 2 of 2", u.InUse, u.Total)
			}
			if n := a.Release(context.Background(), "c1"); n != 1 {
				t.Fatalf("release c1 ended %d leases, want 1", n)
			}
			mustAdmit(t, a, p, "c3", "")
		}},
		{"admit is idempotent per channel", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			a := e.node("a")
			publish(t, a, keys(p, "K1", 1))
			l1 := mustAdmit(t, a, p, "c1", "")
			l2 := mustAdmit(t, a, p, "c1", "")
			if !reflect.DeepEqual(l1, l2) {
				t.Fatalf("second admission gave another lease: %+v vs %+v", l1, l2)
			}
			// A second node process (restart without state) asking the store again.
			a2 := e.node("a")
			if r := admit(t, a2, p, "c1", ""); !r.Admitted || r.InUse != 1 {
				t.Fatalf("store-level re-admission: %+v, want admitted with 1 in use", r)
			}
			if u := usage(t, a, p); u.InUse != 1 {
				t.Fatalf("in use %d after admitting c1 three times, want 1", u.InUse)
			}
		}},
		{"release is idempotent", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			a := e.node("a")
			publish(t, a, keys(p, "K1", 1))
			mustAdmit(t, a, p, "c1", "")
			for i, want := range []int{1, 0, 0} {
				if n := a.Release(context.Background(), "c1"); n != want {
					t.Fatalf("release #%d ended %d leases, want %d", i+1, n, want)
				}
			}
			if err := e.store.Release(context.Background(), "a", p, "c1"); err != nil {
				t.Fatalf("store release of an unknown channel: %v", err)
			}
			if u := usage(t, a, p); u.InUse != 0 {
				t.Fatalf("in use %d, want 0", u.InUse)
			}
		}},
		{"no key, expired key", func(t *testing.T, e *env) {
			p := uniqueProduct("hpec")
			a := e.node("a")
			mustRefuse(t, a, p, "c1", bridge.ReasonNoLicense)
			publish(t, a, []bridge.KeyGrant{{KeyID: "K1", Product: p, Channels: 2, Until: e.clock.Now().Add(time.Hour)}})
			mustAdmit(t, a, p, "c1", "")
			e.clock.Advance(time.Hour)
			if err := a.Heartbeat(context.Background()); err != nil {
				t.Fatal(err)
			}
			mustRefuse(t, a, p, "c2", bridge.ReasonExpired)
			u := usage(t, a, p)
			if u.Total != 0 || !u.Expired || u.InUse != 1 {
				t.Fatalf("usage after expiry: total %d expired %v in use %d, want 0 true 1", u.Total, u.Expired, u.InUse)
			}
		}},
		{"per-call counting", func(t *testing.T, e *env) {
			p := uniqueProduct("fax")
			a := e.node("a", func(o *bridge.Options) { o.Counting = map[string]bridge.Counting{p: bridge.CountCall} })
			publish(t, a, keys(p, "K1", 2))
			mustAdmit(t, a, p, "c1", "call1")
			mustAdmit(t, a, p, "c2", "call1")
			mustAdmit(t, a, p, "c3", "call2")
			mustAdmit(t, a, p, "c4", "call2")
			if u := usage(t, a, p); u.InUse != 2 {
				t.Fatalf("in use %d for two calls of two channels, want 2", u.InUse)
			}
			mustRefuse(t, a, p, "c5", bridge.ReasonOverLimit)
			a.Release(context.Background(), "c1")
			if u := usage(t, a, p); u.InUse != 2 {
				t.Fatalf("in use %d with one channel of call1 left, want 2", u.InUse)
			}
			mustRefuse(t, a, p, "c5", bridge.ReasonOverLimit)
			a.Release(context.Background(), "c2")
			if u := usage(t, a, p); u.InUse != 1 {
				t.Fatalf("in use %d after call1 ended, want 1", u.InUse)
			}
			mustAdmit(t, a, p, "c5", "call3")
		}},
		{"keys stack, a key on two nodes counts once", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			var logs syncBuffer
			a := e.node("a")
			b := e.node("b", func(o *bridge.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
			publish(t, a, keys(p, "K1", 10, "K2", 5))
			publish(t, b, keys(p, "K2", 5, "K3", 2))
			if got := logs.String(); !strings.Contains(got, "key_id=K2 nodes=\"[a b]\"") {
				t.Fatalf("no conflict warning naming both nodes in the log:\n%s", got)
			}
			u := usage(t, a, p)
			if u.Total != 17 {
				t.Fatalf("total %d, want 10+5+2 = 17", u.Total)
			}
			want := []bridge.Conflict{{KeyID: "K2", Nodes: []string{"a", "b"}}}
			if !reflect.DeepEqual(u.Conflicts, want) {
				t.Fatalf("conflicts %+v, want %+v", u.Conflicts, want)
			}
			// Republishing without K2 ends the conflict.
			publish(t, b, keys(p, "K3", 2))
			if u := usage(t, a, p); len(u.Conflicts) != 0 || u.Total != 17 {
				t.Fatalf("after b drops K2: total %d conflicts %+v", u.Total, u.Conflicts)
			}
			// A node that publishes nothing for the product any more.
			publish(t, b, nil)
			if u := usage(t, a, p); u.Total != 15 {
				t.Fatalf("after b drops all keys: total %d, want 15", u.Total)
			}
		}},
		{"cluster pool spends any node's keys", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			a, b := e.node("a"), e.node("b")
			publish(t, a, keys(p, "K1", 3))
			mustAdmit(t, b, p, "b1", "")
			mustAdmit(t, b, p, "b2", "")
			mustAdmit(t, a, p, "a1", "")
			mustRefuse(t, b, p, "b3", bridge.ReasonOverLimit)
			mustRefuse(t, a, p, "a2", bridge.ReasonOverLimit)
			u := usage(t, a, p)
			if u.InUse != 3 || nodeInUse(u) != "a=1 b=2" {
				t.Fatalf("usage %d (%s), want 3 (a=1 b=2)", u.InUse, nodeInUse(u))
			}
		}},
		{"per-host pools", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			perHost := func(o *bridge.Options) { o.Pool = bridge.PoolPerHost }
			a, b, c := e.node("a", perHost), e.node("b", perHost), e.node("c", perHost)
			publish(t, a, keys(p, "K1", 1, "KX", 1))
			publish(t, b, keys(p, "K2", 1, "KX", 1)) // KX is a's: "a" sorts first
			mustRefuse(t, c, p, "c1", bridge.ReasonNoLicense)
			mustAdmit(t, b, p, "b1", "")
			mustRefuse(t, b, p, "b2", bridge.ReasonOverLimit)
			mustAdmit(t, a, p, "a1", "")
			mustAdmit(t, a, p, "a2", "")
			mustRefuse(t, a, p, "a3", bridge.ReasonOverLimit)
			u := usage(t, a, p)
			totals := map[string]int{}
			for _, n := range u.Nodes {
				totals[n.Node] = n.Total
			}
			if !reflect.DeepEqual(totals, map[string]int{"a": 2, "b": 1, "c": 0}) {
				t.Fatalf("per-node totals %v", totals)
			}
		}},
		{"a silent node lapses and comes back", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			a, b := e.node("a"), e.node("b")
			publish(t, b, keys(p, "K1", 3))
			for _, ch := range []string{"a1", "a2", "a3"} {
				mustAdmit(t, a, p, ch, "")
			}
			mustRefuse(t, b, p, "b1", bridge.ReasonOverLimit)
			// a goes silent; b keeps heartbeating.
			e.clock.Advance(10 * time.Second)
			if err := b.Heartbeat(context.Background()); err != nil {
				t.Fatal(err)
			}
			if u := usage(t, b, p); u.InUse != 3 {
				t.Fatalf("before the lapse time: in use %d, want 3", u.InUse)
			}
			e.clock.Advance(5 * time.Second)
			if u := usage(t, b, p); u.InUse != 0 {
				t.Fatalf("after the lapse time: in use %d (%s), want 0", u.InUse, nodeInUse(u))
			}
			mustAdmit(t, b, p, "b1", "")
			// a wakes up: its heartbeat finds it lapsed and writes its leases back.
			if err := a.Heartbeat(context.Background()); err != nil {
				t.Fatal(err)
			}
			u := usage(t, b, p)
			if u.InUse != 4 || nodeInUse(u) != "a=3 b=1" {
				t.Fatalf("after a came back: in use %d (%s), want 4 (a=3 b=1)", u.InUse, nodeInUse(u))
			}
		}},
		{"a lapsed node's next admission restores it first", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			a, b := e.node("a"), e.node("b")
			publish(t, a, keys(p, "K1", 3))
			mustAdmit(t, a, p, "a1", "")
			mustAdmit(t, a, p, "a2", "")
			e.clock.Advance(16 * time.Second)
			if u := usage(t, b, p); u.InUse != 0 || u.Total != 0 {
				t.Fatalf("a lapsed: %d of %d, want 0 of 0", u.InUse, u.Total)
			}
			// a's keys come back with it, and its two leases count again.
			mustAdmit(t, a, p, "a3", "")
			mustRefuse(t, a, p, "a4", bridge.ReasonOverLimit)
			if u := usage(t, b, p); u.InUse != 3 || u.Total != 3 {
				t.Fatalf("a back: %d of %d, want 3 of 3", u.InUse, u.Total)
			}
		}},
		{"reconcile releases the gone and re-asserts the live", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			a := e.node("a")
			publish(t, a, keys(p, "K1", 2))
			mustAdmit(t, a, p, "c1", "")
			mustAdmit(t, a, p, "c2", "")
			res, err := a.Reconcile(context.Background(), []bridge.Hold{
				{Channel: "c1"},             // live, keeps its lease
				{Product: p, Channel: "c3"}, // live, never admitted here
				{Product: p, Channel: "c4"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Released != 1 || res.Asserted != 2 || res.Over[p] != 1 {
				t.Fatalf("reconcile result %+v, want 1 released, 2 asserted, 1 over", res)
			}
			if u := usage(t, a, p); u.InUse != 3 {
				t.Fatalf("in use %d, want 3 (c1 c3 c4)", u.InUse)
			}
			var ids []string
			for _, l := range a.Leases() {
				ids = append(ids, l.Channel)
			}
			if !reflect.DeepEqual(ids, []string{"c1", "c3", "c4"}) {
				t.Fatalf("leases %v", ids)
			}
			mustRefuse(t, a, p, "c5", bridge.ReasonOverLimit)
		}},
		{"a restarted node reconciles its old holdings away", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			a := e.node("a")
			publish(t, a, keys(p, "K1", 5))
			mustAdmit(t, a, p, "c1", "")
			mustAdmit(t, a, p, "c2", "")
			a2 := e.node("a") // the process restarted; Asterisk reports c2 only
			publish(t, a2, keys(p, "K1", 5))
			if _, err := a2.Reconcile(context.Background(), []bridge.Hold{{Product: p, Channel: "c2"}}); err != nil {
				t.Fatal(err)
			}
			if u := usage(t, a2, p); u.InUse != 1 {
				t.Fatalf("in use %d, want 1", u.InUse)
			}
		}},
		{"enforcement modes", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			var mu sync.Mutex
			locked := false
			lock := lockFunc(func(string) bool { mu.Lock(); defer mu.Unlock(); return locked })
			mon := e.node("mon", func(o *bridge.Options) { o.Enforcement = map[string]bridge.Mode{p: bridge.ModeMonitor} })
			gr := e.node("grace", func(o *bridge.Options) {
				o.Enforcement = map[string]bridge.Mode{p: bridge.ModeGrace}
				o.Lock = lock
			})
			publish(t, mon, keys(p, "K1", 1))
			if l := mustAdmit(t, mon, p, "m1", ""); l.Over {
				t.Fatal("within the total but marked over")
			}
			if l := mustAdmit(t, mon, p, "m2", ""); !l.Over {
				t.Fatal("monitor: beyond the total but not marked over")
			}
			if l := mustAdmit(t, gr, p, "g1", ""); !l.Over {
				t.Fatal("grace: beyond the total but not marked over")
			}
			mu.Lock()
			locked = true
			mu.Unlock()
			mustRefuse(t, gr, p, "g2", bridge.ReasonLocked)
			mon.Release(context.Background(), "m1")
			mon.Release(context.Background(), "m2")
			gr.Release(context.Background(), "g1")
			if l := mustAdmit(t, gr, p, "g3", ""); l.Over {
				t.Fatal("locked grace within the total: marked over")
			}
		}},
		{"observer sees every decision and observation", func(t *testing.T, e *env) {
			p := uniqueProduct("g729")
			var mu sync.Mutex
			var kinds []string
			obs := bridge.ObserverFunc(func(ev bridge.Event) {
				mu.Lock()
				defer mu.Unlock()
				if ev.Kind != bridge.EventReconcile {
					kinds = append(kinds, string(ev.Kind)+":"+string(ev.Reason))
				}
			})
			a := e.node("a", func(o *bridge.Options) { o.Observer = obs })
			publish(t, a, keys(p, "K1", 1))
			mustAdmit(t, a, p, "c1", "")
			mustRefuse(t, a, p, "c2", bridge.ReasonOverLimit)
			a.Release(context.Background(), "c1")
			if err := a.PublishObserved(context.Background(), p, 4); err != nil {
				t.Fatal(err)
			}
			if err := a.PublishWire(context.Background(), p, 6); err != nil {
				t.Fatal(err)
			}
			mustRefuse(t, a, "", "c3", bridge.ReasonBadRequest)
			want := []string{"admit:", "reject:OVER_LIMIT", "release:", "observed:", "wire:", "reject:BAD_REQUEST"}
			mu.Lock()
			defer mu.Unlock()
			if !reflect.DeepEqual(kinds, want) {
				t.Fatalf("events %v, want %v", kinds, want)
			}
			if u := usage(t, a, p); u.Observed != 4 || u.Wire != 6 {
				t.Fatalf("observed %d wire %d, want 4 and 6", u.Observed, u.Wire)
			}
		}},
		{"wire and passive counts never overwrite each other", func(t *testing.T, e *env) {
			ctx := context.Background()
			p := uniqueProduct("g729")
			a := e.node("a")
			mon := e.node("a-sipmon") // the SIP monitor: a node of its own, no keys
			publish(t, a, keys(p, "K1", 2))
			mustAdmit(t, a, p, "c1", "")
			steps := []struct {
				name           string
				do             func() error
				observed, wire int
			}{
				{"passive count", func() error { return a.PublishObserved(ctx, p, 3) }, 3, 0},
				{"wire count beside it", func() error { return mon.PublishWire(ctx, p, 5) }, 3, 5},
				{"passive count again", func() error { return a.PublishObserved(ctx, p, 1) }, 1, 5},
				{"wire count again", func() error { return mon.PublishWire(ctx, p, 2) }, 1, 2},
				{"the daemon's own wire count adds", func() error { return a.PublishWire(ctx, p, 4) }, 1, 6},
			}
			for _, st := range steps {
				if err := st.do(); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				u := usage(t, a, p)
				if u.Observed != st.observed || u.Wire != st.wire || u.InUse != 1 || u.Total != 2 {
					t.Fatalf("after %s: observed %d wire %d in use %d of %d; want %d %d, 1 of 2",
						st.name, u.Observed, u.Wire, u.InUse, u.Total, st.observed, st.wire)
				}
			}
			got := map[string][3]int{}
			for _, n := range usage(t, a, p).Nodes {
				got[n.Node] = [3]int{n.InUse, n.Observed, n.Wire}
			}
			if want := map[string][3]int{"a": {1, 1, 4}, "a-sipmon": {0, 0, 2}}; !reflect.DeepEqual(got, want) {
				t.Fatalf("per node (in use, observed, wire) %v, want %v", got, want)
			}
			// Resyncing the daemon's holdings (a reconcile) leaves both counts.
			if _, err := a.Reconcile(ctx, []bridge.Hold{{Channel: "c1"}}); err != nil {
				t.Fatal(err)
			}
			if u := usage(t, a, p); u.Observed != 1 || u.Wire != 6 || u.InUse != 1 {
				t.Fatalf("after reconcile: observed %d wire %d in use %d, want 1 6 1", u.Observed, u.Wire, u.InUse)
			}
		}},
		{"all legs on the wire under the reserved product", func(t *testing.T, e *env) {
			ctx := context.Background()
			m1, m2 := e.node(uniqueProduct("mon")), e.node(uniqueProduct("mon"))
			before := usage(t, m1, bridge.WireLegs).Wire
			if err := m1.PublishWire(ctx, bridge.WireLegs, 7); err != nil {
				t.Fatal(err)
			}
			if err := m2.PublishWire(ctx, bridge.WireLegs, 2); err != nil {
				t.Fatal(err)
			}
			u := usage(t, m1, bridge.WireLegs)
			if u.Wire-before != 9 || u.InUse != 0 || u.Total != 0 || u.Observed != 0 {
				t.Fatalf("legs: wire %d (was %d) in use %d total %d observed %d, want 9 more and nothing else", u.Wire, before, u.InUse, u.Total, u.Observed)
			}
			for name, do := range map[string]func() error{
				"admit": func() error {
					if r := admit(t, m1, bridge.WireLegs, "c1", ""); r.Reason == bridge.ReasonBadRequest {
						return errors.New("admission of legs refused as a bad request")
					}
					return nil
				},
				"key":            func() error { return m1.PublishKeys(ctx, keys(bridge.WireLegs, "K1", 1)) },
				"passive count":  func() error { return m1.PublishObserved(ctx, bridge.WireLegs, 1) },
				"negative count": func() error { return m1.PublishWire(ctx, bridge.WireLegs, -1) },
				"bad product":    func() error { return m1.PublishWire(ctx, "G729", 1) },
			} {
				t.Run(name, func(t *testing.T) {
					if err := do(); err == nil || !strings.Contains(err.Error(), "legs") && !strings.Contains(err.Error(), "G729") {
						t.Fatalf("got %v, want a refusal naming the product", err)
					}
				})
			}
			if u := usage(t, m1, bridge.WireLegs); u.Wire-before != 9 || u.Total != 0 {
				t.Fatalf("after the refusals: wire %d total %d, want 9 more and 0", u.Wire-before, u.Total)
			}
		}},
		{"a silent monitor's wire count lapses and comes back", func(t *testing.T, e *env) {
			ctx := context.Background()
			p := uniqueProduct("fax")
			a, mon := e.node("a"), e.node("a-sipmon")
			publish(t, a, keys(p, "K1", 1))
			if err := mon.PublishWire(ctx, p, 3); err != nil {
				t.Fatal(err)
			}
			// Its heartbeat keeps it live past the lapse time.
			e.clock.Advance(10 * time.Second)
			for _, b := range []*bridge.Bridge{a, mon} {
				if err := b.Heartbeat(ctx); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(10 * time.Second)
			if u := usage(t, a, p); u.Wire != 3 {
				t.Fatalf("heartbeating: wire %d, want 3", u.Wire)
			}
			// Silent: a keeps heartbeating, the monitor does not.
			if err := a.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(5 * time.Second)
			if u := usage(t, a, p); u.Wire != 0 || nodeInUse(u) != "a=0" || u.Total != 1 {
				t.Fatalf("after the lapse time: wire %d nodes %s total %d, want 0, a only, 1", u.Wire, nodeInUse(u), u.Total)
			}
			// Back: its heartbeat finds it lapsed and writes the count back.
			if err := mon.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
			if u := usage(t, a, p); u.Wire != 3 || u.Total != 1 {
				t.Fatalf("monitor back: wire %d total %d, want 3 and 1", u.Wire, u.Total)
			}
			// A lapsed node's count does not come back with its name, whether
			// its next heartbeat finds it before any sweep or a sweep does.
			nodeWire := func(name string) int {
				snap, err := e.store.Snapshot(ctx, p, e.clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range snap.Nodes {
					if n.Node == name {
						return n.Wire
					}
				}
				return 0 // not live again until it writes its count back
			}
			for _, back := range []struct {
				name string
				do   func(now time.Time) (bool, error)
			}{
				{"heartbeat", func(now time.Time) (bool, error) {
					lapsed, err := e.store.Heartbeat(ctx, "a-sipmon", []string{p}, now, now.Add(15*time.Second))
					return len(lapsed) == 1, err
				}},
				{"swept, then keys", func(now time.Time) (bool, error) {
					return e.store.PublishKeys(ctx, bridge.KeysOp{Node: "a-sipmon", Product: p, Now: now, Expires: now.Add(15 * time.Second)})
				}},
			} {
				if err := mon.PublishWire(ctx, p, 3); err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(16 * time.Second)
				if fresh, err := back.do(e.clock.Now()); err != nil || !fresh {
					t.Fatalf("%s after the lapse: fresh %v err %v, want fresh", back.name, fresh, err)
				}
				if n := nodeWire("a-sipmon"); n != 0 {
					t.Fatalf("%s after the lapse: the old wire count %d came back", back.name, n)
				}
			}
		}},
		{"bad requests", func(t *testing.T, e *env) {
			a := e.node("a")
			for name, req := range map[string]bridge.Request{
				"no product":      {Channel: "c1"},
				"no channel":      {Product: "g729"},
				"product hashtag": {Product: "g7}29", Channel: "c1"},
				"upper case":      {Product: "G729", Channel: "c1"},
			} {
				t.Run(name, func(t *testing.T) {
					if r := a.Admit(context.Background(), req); r.Admitted || r.Reason != bridge.ReasonBadRequest {
						t.Fatalf("got %+v, want BAD_REQUEST", r)
					}
				})
			}
			err := a.PublishKeys(context.Background(), []bridge.KeyGrant{{KeyID: "K1", Product: "bad product", Channels: 1}, {KeyID: "K2", Product: uniqueProduct("ok"), Channels: 1}})
			if err == nil {
				t.Fatal("a grant with a bad product name was accepted")
			}
		}},
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type lockFunc func(string) bool

func (f lockFunc) Locked(p string) bool { return f(p) }
