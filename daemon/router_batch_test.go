package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/stats"
)

// TestRouterBatchKeepsEachEventsNodeCount: Run batches events (issue 14), so
// the node's count must be each event's own (bridge.Event.NodeInUse), not one
// read at the batch's end: a channel admitted and released within one batch
// still makes the node's peak. Before, the count was read at Flush, after the
// release: the node's peak was 0.
func TestRouterBatchKeepsEachEventsNodeCount(t *testing.T) {
	rec := stats.New(stats.Options{Store: stats.NewMemoryStore()})
	r := NewRouter(nil, recorderSink{t, rec}, func(string) int { return 0 })
	hour := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	r.Record(bridge.Event{Kind: bridge.EventAdmit, Time: hour.Add(10 * time.Minute), Node: "pbx1", Product: "g729",
		InUse: 1, Total: 10, Counted: true, NodeInUse: 1, NodeCounted: true})
	r.Record(bridge.Event{Kind: bridge.EventRelease, Time: hour.Add(11 * time.Minute), Node: "pbx1", Product: "g729",
		InUse: 0, Total: 10, Counted: true, NodeInUse: 0, NodeCounted: true})
	r.Flush()
	if got := nodePeak(t, rec, hour); got != 1 {
		t.Errorf("pbx1's peak in the hour: %d, want 1", got)
	}
}

// TestRouterRunFlushesAtStop: events still waiting for Run's next batch when
// its context ends are flushed before it returns: none is dropped.
func TestRouterRunFlushesAtStop(t *testing.T) {
	rec := stats.New(stats.Options{Store: stats.NewMemoryStore()})
	r := NewRouter(nil, recorderSink{t, rec}, func(string) int { return 0 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	hour := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	admit := func(at time.Time, n int) {
		r.Record(bridge.Event{Kind: bridge.EventAdmit, Time: at, Node: "pbx1", Product: "g729",
			InUse: n, Total: 10, Counted: true, NodeInUse: n, NodeCounted: true})
	}
	admit(hour.Add(10*time.Minute), 1)
	// The first event after a quiet spell goes at once.
	deadline := time.Now().Add(10 * time.Second)
	for nodePeak(t, rec, hour) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first event never reached the statistics")
		}
		time.Sleep(time.Millisecond)
	}
	// The next one waits for the batch, unless the context ends first.
	admit(hour.Add(20*time.Minute), 2)
	cancel()
	<-done
	if got := nodePeak(t, rec, hour); got != 2 {
		t.Errorf("pbx1's peak after Run stopped: %d, want 2 (the last event flushed)", got)
	}
}

// nodePeak is pbx1's peak of g729 in the hour starting at hour.
func nodePeak(t *testing.T, rec *stats.Recorder, hour time.Time) int {
	t.Helper()
	rep, err := rec.Last(context.Background(), "g729", hour.Add(time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range rep.Windows {
		if w.Start.Equal(hour) {
			return w.Nodes["pbx1"]
		}
	}
	return 0
}

// countingOver counts the tracker's observations.
type countingOver struct{ n int }

func (c *countingOver) Observe(string, int, int) { c.n++ }

// TestRouterTellsTheTrackerInBatches: Record hands admitted use and demand to
// the tracker through Run's batch, not at once (issue 14: at once woke the
// tracker's goroutine for every admission); Flush delivers them all, in order.
func TestRouterTellsTheTrackerInBatches(t *testing.T) {
	over := &countingOver{}
	r := NewRouter(over, nil, func(string) int { return 0 })
	now := time.Now()
	r.Record(bridge.Event{Kind: bridge.EventAdmit, Time: now, Product: "g729", InUse: 1, Total: 2, Counted: true})
	r.Record(bridge.Event{Kind: bridge.EventReject, Time: now, Product: "g729", Reason: bridge.ReasonOverLimit, InUse: 2, Total: 2, Counted: true})
	if over.n != 0 {
		t.Fatalf("the tracker was told %d times before Flush, want 0", over.n)
	}
	r.Flush()
	if over.n != 2 {
		t.Errorf("the tracker was told %d times after Flush, want 2", over.n)
	}
}
