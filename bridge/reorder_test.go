package bridge_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/licbridge/licbridge/bridge"
)

// reorderStore is the embedded store behind a wire that reads replies out of
// order: the admission marked to be held is carried out in the store at once,
// but its reply reaches the node only after a later admission's. With cut set
// the store is unreachable.
type reorderStore struct {
	*bridge.MemStore
	holdNext atomic.Bool
	ran      chan struct{} // the held admission has run in the store
	release  chan struct{} // lets the held reply go
	cut      atomic.Bool
}

var errCut = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (s *reorderStore) Admit(ctx context.Context, op bridge.AdmitOp) (bridge.AdmitReply, error) {
	if s.cut.Load() {
		return bridge.AdmitReply{}, errCut
	}
	rep, err := s.MemStore.Admit(ctx, op)
	if s.holdNext.CompareAndSwap(true, false) {
		s.ran <- struct{}{}
		<-s.release
	}
	return rep, err
}

func (s *reorderStore) Ping(ctx context.Context) error {
	if s.cut.Load() {
		return errCut
	}
	return s.MemStore.Ping(ctx)
}

// TestFailOpenBudgetRepliesOutOfOrder: under a burst, replies of concurrent
// admissions are read in any order. An older reply (9 of 10 in use) read after
// a newer one (10 of 10) must not give the fail-open budget back a channel the
// store has already given away: with the store gone next, nothing more may be
// admitted. Before, the last reply read won and one call went over the total
// (seen as 104 and 106 of 100 in TestBurstHoldsTheTotal on a loaded machine).
func TestFailOpenBudgetRepliesOutOfOrder(t *testing.T) {
	store := &reorderStore{MemStore: bridge.NewMemStore(), ran: make(chan struct{}), release: make(chan struct{})}
	p := uniqueProduct("g729")
	b := realNode(t, store, "reorder") // fail-open, budget "share": the defaults
	publish(t, b, keys(p, "K1", 10))
	for i := range 8 {
		mustAdmit(t, b, p, "held"+string(rune('a'+i)), "")
	}
	store.holdNext.Store(true)
	older := make(chan bridge.Result, 1)
	go func() { older <- admit(t, b, p, "older", "") }() // runs as 9 of 10, reply held
	<-store.ran
	mustAdmit(t, b, p, "newer", "") // 10 of 10, read first
	close(store.release)
	if r := <-older; !r.Admitted {
		t.Fatalf("older admission: %+v, want admitted (9 of 10)", r)
	}
	store.cut.Store(true)
	for i := range 3 {
		if r := admit(t, b, p, "outage"+string(rune('a'+i)), ""); r.Admitted {
			t.Fatalf("admission %d without the store admitted over a full total of 10 (the older reply's room was given back): %+v", i, r)
		}
	}
	if n := len(b.Leases()); n != 10 {
		t.Fatalf("node holds %d leases, want 10", n)
	}
}
