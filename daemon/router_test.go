package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/bridge/stats"
)

// machineSink feeds a real over-limit machine at once (the Tracker would do
// it on its own goroutine).
type machineSink struct {
	t *testing.T
	m *overage.Machine
}

func (s machineSink) Observe(product string, inUse, total int) {
	if _, err := s.m.Observe(context.Background(), product, inUse, total); err != nil {
		s.t.Fatal(err)
	}
}

// recorderSink feeds a real statistics recorder at once (stats.Async would
// batch it).
type recorderSink struct {
	t *testing.T
	r *stats.Recorder
}

func (s recorderSink) Observe(now time.Time, product, node string, inUseNode, inUseCluster int) {
	if err := s.r.Observe(context.Background(), now, product, node, inUseNode, inUseCluster); err != nil {
		s.t.Fatal(err)
	}
}

type refusalLog map[string]int

func (r refusalLog) Record(_ time.Time, _ string, reason string) { r[reason]++ }

// TestRouterRefusals: only a refusal for want of a channel is demand beyond
// the total. A fail-closed outage (STORE_UNAVAILABLE, InUse = Total = 0), a
// bad request, a timeout or a product with no licence is no over-limit day;
// the old routing fed every refusal as InUse+1 against Total, so such a day
// was recorded as over the limit (and counted towards LOCKED). Every refusal
// still reaches the view's recent refusals.
func TestRouterRefusals(t *testing.T) {
	for _, tc := range []struct {
		reason       bridge.Reason
		inUse, total int
		overDay      bool
	}{
		{bridge.ReasonStoreUnavailable, 0, 0, false},
		{bridge.ReasonBadRequest, 0, 0, false},
		{bridge.ReasonTimeout, 0, 0, false},
		{bridge.ReasonNoLicense, 0, 0, false},
		{bridge.ReasonOverLimit, 5, 5, true},
		{bridge.ReasonLocked, 5, 5, true},
	} {
		t.Run(string(tc.reason), func(t *testing.T) {
			m := overage.New(overage.Options{Store: overage.NewMemoryStore(), Modes: map[string]overage.Mode{"g729": overage.ModeGrace}})
			refused := refusalLog{}
			r := NewRouter(machineSink{t, m}, nil, func(string) int { return 0 })
			r.refusals = refused
			r.Record(bridge.Event{Kind: bridge.EventReject, Time: time.Now(), Product: "g729", Reason: tc.reason, InUse: tc.inUse, Total: tc.total})
			r.Flush()
			st, err := m.Status(context.Background(), "g729")
			if err != nil {
				t.Fatal(err)
			}
			if got := st.OverDays > 0; got != tc.overDay {
				t.Errorf("%s refusal: over-limit day recorded %v (state %+v), want %v", tc.reason, got, st, tc.overDay)
			}
			if refused[string(tc.reason)] != 1 {
				t.Errorf("recent refusals %v, want one %s", refused, tc.reason)
			}
		})
	}
}

// TestRouterAdmittedUse: admissions and reconciliations feed the tracker
// with the store's figures; decisions made without the store, observed
// (passive) and wire counts do not.
func TestRouterAdmittedUse(t *testing.T) {
	m := overage.New(overage.Options{Store: overage.NewMemoryStore(), Modes: map[string]overage.Mode{"g729": overage.ModeGrace, "fax": overage.ModeGrace}})
	r := NewRouter(machineSink{t, m}, nil, func(string) int { return 0 })
	now := time.Now()
	for _, e := range []bridge.Event{
		{Kind: bridge.EventObserved, Product: "fax", InUse: 9, Total: 2},
		{Kind: bridge.EventWire, Product: "fax", InUse: 9, Total: 2},
		{Kind: bridge.EventAdmit, Product: "fax", InUse: 3, Total: 2, Degraded: true},
		{Kind: bridge.EventAdmit, Product: "g729", InUse: 6, Total: 5, Over: true},
	} {
		e.Time = now
		r.Record(e)
	}
	r.Flush()
	for p, want := range map[string]bool{"fax": false, "g729": true} {
		st, err := m.Status(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.OverDays > 0; got != want {
			t.Errorf("%s: over-limit day %v, want %v (%+v)", p, got, want, st)
		}
	}
}

// TestRouterReleasePeak: a release carries no cluster count (InUse 0). The
// old routing passed it to the statistics as the cluster's count, so an hour
// whose only event was a release showed a cluster peak of 0 while this
// node's calls were up. The cluster holds at least what this node holds.
func TestRouterReleasePeak(t *testing.T) {
	rec := stats.New(stats.Options{Store: stats.NewMemoryStore()})
	held := 3
	r := NewRouter(nil, recorderSink{t, rec}, func(string) int { return held })
	// A fixed mid-day hour: both hours and the report's end fall on one day
	// whatever the clock says (from now, it failed when run just after midnight).
	hour := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	// Admissions in one hour; the next hour sees only a release (3 left up).
	r.Record(bridge.Event{Kind: bridge.EventAdmit, Time: hour.Add(10 * time.Minute), Node: "pbx1", Product: "g729", InUse: 4, Total: 10})
	r.Flush()
	r.Record(bridge.Event{Kind: bridge.EventRelease, Time: hour.Add(70 * time.Minute), Node: "pbx1", Product: "g729"})
	r.Flush()
	rep, err := rec.Last(context.Background(), "g729", hour.Add(2*time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	var got *stats.Window
	for i := range rep.Windows {
		if rep.Windows[i].Start.Equal(hour.Add(time.Hour)) {
			got = &rep.Windows[i]
		}
	}
	if got == nil {
		t.Fatalf("no window at %s in %+v", hour.Add(time.Hour), rep.Windows)
	}
	if got.Peak < held {
		t.Errorf("the hour after the release: cluster peak %d, want at least the %d channels this node held", got.Peak, held)
	}
}

// TestRouterNeverBlocks: Record queues the statistics; nothing reaches them
// before Flush (Record runs under the bridge's lock and must not call back
// into it: nodeInUse is called by Flush only).
func TestRouterNeverBlocks(t *testing.T) {
	calls := 0
	r := NewRouter(nil, recorderSink{t, stats.New(stats.Options{})}, func(string) int { calls++; return 0 })
	for range 1000 {
		r.Record(bridge.Event{Kind: bridge.EventAdmit, Time: time.Now(), Product: "g729", InUse: 1, Total: 2})
	}
	if calls != 0 {
		t.Fatalf("Record counted leases %d times", calls)
	}
	r.Flush()
	if calls != 1 {
		t.Fatalf("Flush counted leases %d times for one product, want once per batch", calls)
	}
}
