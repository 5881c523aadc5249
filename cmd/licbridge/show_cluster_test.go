package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/internal/redistest"
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
