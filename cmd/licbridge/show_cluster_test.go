package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

// TestShowLicensesCluster runs the built binary's show licenses against a real
// redis-server on which two nodes publish keys and hold channels and a SIP
// monitor publishes legs on the wire.
func TestShowLicensesCluster(t *testing.T) {
	rs := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodeBridge := func(name string) *bridge.Bridge {
		t.Helper()
		st, err := redisstore.Dial(ctx, redisstore.Options{Addr: rs.Addr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		b, err := bridge.New(bridge.Options{Store: st, Node: name, Lapse: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	until := time.Now().Add(24 * time.Hour)
	pbx1, pbx2, mon := nodeBridge("pbx1"), nodeBridge("pbx2"), nodeBridge("pbx1-sipmon")
	if err := pbx1.PublishKeys(ctx, []bridge.KeyGrant{{KeyID: "G729-A", Product: "g729", Channels: 10, Until: until}}); err != nil {
		t.Fatal(err)
	}
	// pbx2 presents G729-A too (a cloned VM): it counts once, with a conflict.
	if err := pbx2.PublishKeys(ctx, []bridge.KeyGrant{
		{KeyID: "G729-B", Product: "g729", Channels: 5, Until: until},
		{KeyID: "G729-A", Product: "g729", Channels: 10, Until: until},
	}); err != nil {
		t.Fatal(err)
	}
	admit := func(b *bridge.Bridge, ch string) {
		t.Helper()
		if r := b.Admit(ctx, bridge.Request{Product: "g729", Channel: ch}); !r.Admitted {
			t.Fatalf("admit %s: %s", ch, r.Reason)
		}
	}
	for _, ch := range []string{"1.1", "1.2", "1.3"} {
		admit(pbx1, ch)
	}
	for _, ch := range []string{"2.1", "2.2"} {
		admit(pbx2, ch)
	}
	for product, n := range map[string]int{bridge.WireLegs: 6, "g729": 4} {
		if err := mon.PublishWire(ctx, product, n); err != nil {
			t.Fatal(err)
		}
	}

	issuer := t.TempDir()
	mustRun(t, nil, "license", "keygen", "--out", issuer)
	base := []string{"show", "licenses", "--no-default-dirs", "--host-id", "A1B2-C3D4-E5F6", "--issuer-pub", issuer + "/issuer.pub", "--redis", rs.Addr}
	var got struct {
		ClusterNodes []string `json:"nodes"`
		Products     []struct {
			Product string `json:"name"`
			Keys    []struct {
				KeyID string   `json:"id"`
				Nodes []string `json:"nodes"`
			} `json:"keys"`
			Total       int            `json:"total"`
			InUse       int            `json:"in_use"`
			InUseByNode map[string]int `json:"in_use_by_node"`
			WireLegs    *int           `json:"observed_legs"`
			Overage     struct {
				Phase string `json:"phase"`
			} `json:"overage"`
			Warnings []string `json:"warnings"`
		} `json:"products"`
	}
	out := mustRun(t, nil, append(base, "--json")...)
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(got.Products) != 1 || got.Products[0].Product != "g729" {
		t.Fatalf("want one g729 product with cluster data, got:\n%s", out)
	}
	p := got.Products[0]
	c := p
	if c.Total != 15 || c.InUse != 5 || c.InUseByNode["pbx1"] != 3 || c.InUseByNode["pbx2"] != 2 {
		t.Errorf("cluster figures: total %d in use %d by node %v; want 15, 5, pbx1 3 pbx2 2", c.Total, c.InUse, c.InUseByNode)
	}
	if c.WireLegs == nil || *c.WireLegs != 4 {
		t.Errorf("wire legs: %v, want 4", c.WireLegs)
	}
	if c.Overage.Phase != "OK" {
		t.Errorf("overage phase %q, want OK", c.Overage.Phase)
	}
	if !slices.ContainsFunc(c.Warnings, func(w string) bool { return strings.Contains(w, "G729-A") && strings.Contains(w, "pbx1, pbx2") }) {
		t.Errorf("no conflict warning naming both nodes: %q", c.Warnings)
	}
	for _, k := range p.Keys {
		if k.KeyID == "G729-A" && !slices.Equal(k.Nodes, []string{"pbx1", "pbx2"}) {
			t.Errorf("G729-A nodes %v, want [pbx1 pbx2]", k.Nodes)
		}
	}
	for _, n := range got.ClusterNodes {
		if strings.HasPrefix(n, "show-") {
			t.Errorf("the show command registered itself as a node: %v", got.ClusterNodes)
		}
	}

	text := mustRun(t, nil, base...)
	t.Logf("show licenses:\n%s", text)
	for _, want := range []string{
		"g729: 15 channels licensed in the cluster",
		"in use: 5 of 15 now (pbx1 3, pbx1-sipmon 0, pbx2 2), 4 legs on the wire",
		"state OK",
		"G729-B", "pbx1,pbx2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
}

// TestShowLicensesClusterStoreDown: an unreachable store is a clear error that
// names it, not a hang.
func TestShowLicensesClusterStoreDown(t *testing.T) {
	issuer := t.TempDir()
	mustRun(t, nil, "license", "keygen", "--out", issuer)
	r := licbridge(t, nil, "show", "licenses", "--no-default-dirs", "--host-id", "A1B2-C3D4-E5F6", "--issuer-pub", issuer+"/issuer.pub",
		"--redis", "redis://:sekret@127.0.0.1:1")
	if r.code == 0 {
		t.Fatalf("exit 0 with no store:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "127.0.0.1:1") || strings.Contains(r.stderr, "sekret") {
		t.Errorf("error should name the store and hide the password: %s", r.stderr)
	}
}

// TestShowLicensesClusterModes: show licenses --redis shows a product as the
// live nodes enforce it (they publish their modes): grace and LOCKED after 14
// over-limit days, though the reader's own config says nothing (it printed
// "hard, state OK").
func TestShowLicensesClusterModes(t *testing.T) {
	rs := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := redisstore.Dial(ctx, redisstore.Options{Addr: rs.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := bridge.New(bridge.Options{Store: st, Node: "pbx1", Lapse: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.PublishKeys(ctx, []bridge.KeyGrant{{KeyID: "G729-A", Product: "g729", Channels: 5, Until: time.Now().Add(24 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PublishModes(ctx, redisstore.NodeModes{Node: "pbx1", Pool: bridge.PoolCluster,
		Enforcement: map[string]bridge.Mode{"g729": bridge.ModeGrace}, Expires: time.Now().Add(time.Minute)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().AddDate(0, 0, -overage.LockDay+1)
	m := overage.New(overage.Options{Store: overage.NewRedisStore(st.Client()), Modes: map[string]overage.Mode{"g729": overage.ModeGrace},
		Now: func() time.Time { return day }})
	for range overage.LockDay {
		if _, err := m.Observe(ctx, "g729", 6, 5); err != nil {
			t.Fatal(err)
		}
		day = day.AddDate(0, 0, 1)
	}
	issuer := t.TempDir()
	mustRun(t, nil, "license", "keygen", "--out", issuer)
	out := mustRun(t, nil, "show", "licenses", "--no-default-dirs", "--state-dir", t.TempDir(), "--host-id", "A1B2-C3D4-E5F6",
		"--issuer-pub", issuer+"/issuer.pub", "--redis", rs.Addr, "--json")
	var got struct {
		Products []struct {
			Name        string `json:"name"`
			Enforcement string `json:"enforcement"`
			Overage     struct {
				Phase string `json:"phase"`
			} `json:"overage"`
		} `json:"products"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	i := slices.IndexFunc(got.Products, func(p struct {
		Name        string `json:"name"`
		Enforcement string `json:"enforcement"`
		Overage     struct {
			Phase string `json:"phase"`
		} `json:"overage"`
	}) bool {
		return p.Name == "g729"
	})
	if i < 0 || got.Products[i].Enforcement != "grace" || got.Products[i].Overage.Phase != "LOCKED" {
		t.Fatalf("g729 not shown as grace, LOCKED:\n%s", out)
	}
}
