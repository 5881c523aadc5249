package bridge_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
)

// eventLog records events; with b set, it reads the Bridge from inside Record,
// as the daemon's event router does (it would deadlock if the Bridge called it
// with its state lock held).
type eventLog struct {
	mu     sync.Mutex
	b      *bridge.Bridge
	events []bridge.Event
}

func (l *eventLog) Record(ev bridge.Event) {
	if l.b != nil {
		_ = l.b.Leases()
	}
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) last(t *testing.T, kind bridge.EventKind) bridge.Event {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.events) - 1; i >= 0; i-- {
		if l.events[i].Kind == kind {
			return l.events[i]
		}
	}
	t.Fatalf("no %s event in %+v", kind, l.events)
	return bridge.Event{}
}

// failingStore answers no admission.
type failingStore struct{ bridge.Store }

func (failingStore) Admit(context.Context, bridge.AdmitOp) (bridge.AdmitReply, error) {
	return bridge.AdmitReply{}, errors.New("store unreachable")
}

// Each event carries the figure its name promises: a release the pool's use
// after it (before, none: the daemon's statistics took a release's 0 for the
// cluster's use), a refusal that says nothing of the count no count at all
// (before, STORE_UNAVAILABLE and BAD_REQUEST carried 0 of 0, which the
// over-limit tracker read as over the limit).
func TestEventFigures(t *testing.T) {
	ctx := context.Background()
	log := &eventLog{}
	b, err := bridge.New(bridge.Options{Node: "pbx1", Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	publish(t, b, keys("g729", "G-1", 3))
	mustAdmit(t, b, "g729", "1.1", "")
	mustAdmit(t, b, "g729", "1.2", "")
	if got := log.last(t, bridge.EventAdmit); !got.Counted || got.InUse != 2 || got.Total != 3 {
		t.Errorf("admit event: counted %v, %d of %d; want 2 of 3", got.Counted, got.InUse, got.Total)
	}
	b.Release(ctx, "1.1")
	if got := log.last(t, bridge.EventRelease); !got.Counted || got.InUse != 1 || got.Total != 3 {
		t.Errorf("release event: counted %v, %d of %d; want 1 of 3", got.Counted, got.InUse, got.Total)
	}
	mustAdmit(t, b, "g729", "1.3", "")
	mustAdmit(t, b, "g729", "1.4", "")
	mustRefuse(t, b, "g729", "1.5", bridge.ReasonOverLimit)
	if got := log.last(t, bridge.EventReject); !got.Counted || got.InUse != 3 || got.Total != 3 {
		t.Errorf("OVER_LIMIT event: counted %v, %d of %d; want 3 of 3", got.Counted, got.InUse, got.Total)
	}
	mustRefuse(t, b, "g7.29", "1.6", bridge.ReasonBadRequest)
	if got := log.last(t, bridge.EventReject); got.Counted || got.InUse != 0 || got.Total != 0 {
		t.Errorf("BAD_REQUEST event: counted %v, %d of %d; want no count", got.Counted, got.InUse, got.Total)
	}

	closed, err := bridge.New(bridge.Options{Node: "pbx2", Observer: log, Outage: bridge.FailClosed,
		Store: failingStore{bridge.NewMemStore()}})
	if err != nil {
		t.Fatal(err)
	}
	defer closed.Close()
	mustRefuse(t, closed, "g729", "2.1", bridge.ReasonStoreUnavailable)
	if got := log.last(t, bridge.EventReject); got.Counted || got.Reason != bridge.ReasonStoreUnavailable {
		t.Errorf("STORE_UNAVAILABLE event: %+v; want no count", got)
	}
}

// Reconcile reports the releases it makes without its state lock held: an
// Observer may read the Bridge (before, this deadlocked).
func TestReconcileEventsAfterUnlock(t *testing.T) {
	log := &eventLog{}
	b, err := bridge.New(bridge.Options{Node: "pbx1", Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	log.b = b // no deferred Close: after a deadlock it would hang the test binary
	publish(t, b, keys("g729", "G-1", 3))
	mustAdmit(t, b, "g729", "1.1", "")
	mustAdmit(t, b, "g729", "1.2", "")
	done := make(chan error, 1)
	go func() {
		_, err := b.Reconcile(context.Background(), []bridge.Hold{{Channel: "1.2"}})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
	case <-time.After(10 * time.Second): // a deadlock, not a slow machine
		t.Fatal("Reconcile never returned: the Observer was called with the state lock held")
	}
	if got := log.last(t, bridge.EventRelease); got.Channel != "1.1" || !got.Counted || got.InUse != 1 {
		t.Errorf("release event %+v; want 1.1 with 1 in use", got)
	}
}

// TestEventNodeInUse: admissions, releases and reconciliations carry this
// node's count of leases of the product just after them, taken with the event
// (issue 14: the daemon's statistics batch events, and a count read at the
// batch's end would miss a channel admitted and released within it). Also for
// an admission decided without the store, and a release of a lease the store
// never had.
func TestEventNodeInUse(t *testing.T) {
	ctx := context.Background()
	log := &eventLog{}
	b, err := bridge.New(bridge.Options{Node: "pbx1", Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	publish(t, b, keys("g729", "G-1", 3))
	open, err := bridge.New(bridge.Options{Node: "pbx2", Observer: log, Store: failingStore{bridge.NewMemStore()}, FailOpenBudget: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	for _, tc := range []struct {
		name string
		do   func()
		kind bridge.EventKind
		want int
	}{
		{"first admission", func() { mustAdmit(t, b, "g729", "1.1", "") }, bridge.EventAdmit, 1},
		{"second admission", func() { mustAdmit(t, b, "g729", "1.2", "") }, bridge.EventAdmit, 2},
		{"release", func() { b.Release(ctx, "1.1") }, bridge.EventRelease, 1},
		{"reconcile", func() {
			if _, err := b.Reconcile(ctx, []bridge.Hold{{Product: "g729", Channel: "1.2"}, {Product: "g729", Channel: "1.3"}}); err != nil {
				t.Fatal(err)
			}
		}, bridge.EventReconcile, 2},
		{"admission without the store", func() { mustAdmit(t, open, "g729", "2.1", "") }, bridge.EventAdmit, 1},
		{"release of a lease the store never had", func() { open.Release(ctx, "2.1") }, bridge.EventRelease, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.do()
			if got := log.last(t, tc.kind); !got.NodeCounted || got.NodeInUse != tc.want {
				t.Errorf("%s event: node counted %v, %d; want %d", tc.kind, got.NodeCounted, got.NodeInUse, tc.want)
			}
		})
	}
}
