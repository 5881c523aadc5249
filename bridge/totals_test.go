package bridge_test

import (
	"context"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
)

// TestTotalsOfABridge: Bridge.Totals gives what Usage gives of one product
// (and the asking node's share), zeros for a product nobody used (without
// creating it), and a clear error for a name that cannot be a product.
func TestTotalsOfABridge(t *testing.T) {
	for _, kind := range []storeKind{memKind(), redisKind()} {
		t.Run(kind.name, func(t *testing.T) {
			store := kind.new(t)
			ctx := context.Background()
			p := uniqueProduct("tot")
			a := realNode(t, store, "a")
			b := realNode(t, store, "b")
			if err := a.PublishKeys(ctx, []bridge.KeyGrant{{KeyID: "K1", Product: p, Channels: 4}}); err != nil {
				t.Fatal(err)
			}
			if err := b.PublishKeys(ctx, []bridge.KeyGrant{{KeyID: "K2", Product: p, Channels: 3}}); err != nil {
				t.Fatal(err)
			}
			for _, ch := range []string{"c1", "c2"} {
				if r := b.Admit(ctx, bridge.Request{Product: p, Channel: ch}); !r.Admitted {
					t.Fatalf("admit %s: %+v", ch, r)
				}
			}
			if err := a.PublishObserved(ctx, p, 5); err != nil {
				t.Fatal(err)
			}
			got, err := a.Totals(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			want := bridge.Totals{Product: p, Known: true, InUse: 2, Total: 7, Nodes: 2, Observed: 5, Node: "a", Live: true, NodeTotal: 4}
			if got != want {
				t.Errorf("totals\n got %+v\nwant %+v", got, want)
			}
			us, err := a.Usage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range us {
				if u.Product == p && (u.InUse != got.InUse || u.Total != got.Total || u.Observed != got.Observed || len(u.Nodes) != got.Nodes) {
					t.Errorf("usage %+v, totals %+v", u, got)
				}
			}

			nobody := uniqueProduct("nobody")
			if got, err := a.Totals(ctx, nobody); err != nil || got != (bridge.Totals{Product: nobody, Node: "a"}) {
				t.Errorf("totals of a product nobody used: %+v %v", got, err)
			}
			ps, err := store.Products(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range ps {
				if name == nobody {
					t.Error("reading its totals created the product")
				}
			}
			if rs, ok := store.(*redisstore.Store); ok {
				if n, err := rs.Client().Exists(ctx, "{lb:"+nobody+"}:s").Result(); err != nil || n != 0 {
					t.Errorf("reading its totals wrote the state of a product nobody used (%d, %v)", n, err)
				}
			}
			if _, err := a.Totals(ctx, "no such/product"); err == nil || !strings.Contains(err.Error(), `"no such/product" is not a valid name`) {
				t.Errorf("totals of an invalid name: %v", err)
			}
		})
	}
}
