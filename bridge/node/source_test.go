package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/node"
)

// downStore is a store whose reads fail, as Redis does when it is down.
type downStore struct{ bridge.Store }

var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (downStore) Products(context.Context) ([]string, error) { return nil, errDown }

// TestSnapshotStoreDown: a running node whose store does not answer still
// gives a view (its own channels, the store's error), so the page shows a
// banner instead of a blank page with an error chain (issue 13); a read-only
// view of the cluster (show licenses --redis) fails.
func TestSnapshotStoreDown(t *testing.T) {
	b, err := bridge.New(bridge.Options{Store: downStore{bridge.NewMemStore()}, Node: "pbx-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n, err := node.New(node.Options{Bridge: b})
	if err != nil {
		t.Fatal(err)
	}
	v, err := (&node.Source{Node: n}).Snapshot(context.Background())
	if err != nil {
		t.Fatalf("a running node's view with the store down: %v", err)
	}
	if v.Store == nil || v.Store.Available || !strings.Contains(v.Store.Error, "connection refused") || v.Node != "pbx-a" {
		t.Errorf("store state %+v, node %q", v.Store, v.Node)
	}
	if _, err := (&node.Source{Bridge: b}).Snapshot(context.Background()); err == nil {
		t.Error("a read-only view with the store down: no error")
	}
}
