package bypass_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/bridge/bypass"
	"github.com/licbridge/licbridge/view"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestDetector(t *testing.T) {
	type step struct {
		at                 time.Duration
		observed, admitted int
		alert              bool
		change             bypass.Change
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"raised after the set time, then cleared", []step{
			{0, 20, 5, false, bypass.Unchanged},
			{30 * time.Second, 20, 5, false, bypass.Unchanged},
			{59 * time.Second, 20, 5, false, bypass.Unchanged},
			{60 * time.Second, 20, 5, true, bypass.Raised},
			{90 * time.Second, 18, 5, true, bypass.Unchanged},
			{100 * time.Second, 5, 5, false, bypass.Cleared},
			{110 * time.Second, 5, 5, false, bypass.Unchanged},
		}},
		{"a short spell raises nothing", []step{
			{0, 7, 5, false, bypass.Unchanged},
			{50 * time.Second, 7, 5, false, bypass.Unchanged},
			{55 * time.Second, 4, 5, false, bypass.Unchanged},
			// A new spell starts the clock again.
			{70 * time.Second, 7, 5, false, bypass.Unchanged},
			{120 * time.Second, 7, 5, false, bypass.Unchanged},
			{130 * time.Second, 7, 5, true, bypass.Raised},
		}},
		{"equal is not over", []step{
			{0, 5, 5, false, bypass.Unchanged},
			{5 * time.Minute, 5, 5, false, bypass.Unchanged},
		}},
		{"clock stepped back restarts the spell", []step{
			{0, 9, 5, false, bypass.Unchanged},
			{-10 * time.Minute, 9, 5, false, bypass.Unchanged},
			{-9*time.Minute - 30*time.Second, 9, 5, false, bypass.Unchanged},
			{-9 * time.Minute, 9, 5, true, bypass.Raised},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := bypass.NewDetector(time.Minute)
			for i, s := range tc.steps {
				v := d.Observe("g729", s.observed, s.admitted, t0.Add(s.at))
				if v.Alert != s.alert || v.Change != s.change {
					t.Fatalf("step %d (%+v): alert %v change %v, want %v %v", i, s, v.Alert, v.Change, s.alert, s.change)
				}
				if want := max(0, s.observed-s.admitted); v.Excess != want {
					t.Errorf("step %d: excess %d, want %d", i, v.Excess, want)
				}
			}
		})
	}
	if d := bypass.NewDetector(0); d.After() != bypass.DefaultAfter {
		t.Errorf("default after %s, want %s", d.After(), bypass.DefaultAfter)
	}
}

// fakeSource is a cluster whose G.729 figures and clock the test sets.
type fakeSource struct {
	mu sync.Mutex
	v  view.View
}

func (f *fakeSource) set(now time.Time, wire, inUse int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.v = view.View{Node: "pbx-a", Time: now, Usage: true, Products: []view.Product{
		{Name: "g729", Total: 15, InUse: inUse, ObservedLegs: &wire},
		{Name: "fax", Total: 2, InUse: 1, Passive: 1},
	}}
}

func (f *fakeSource) Snapshot(context.Context) (view.View, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.v, nil
}

func (f *fakeSource) Stats(context.Context, string, int) (view.Report, error) {
	return view.Report{}, nil
}

// TestSourceWireOverAdmitted is the case: 20 G.729 legs on the wire
// against 5 admitted and a total of 15 raise the alert on every surface (log,
// metric, view) after the set time, and clear it.
func TestSourceWireOverAdmitted(t *testing.T) {
	var logs bytes.Buffer
	m := admin.NewMetrics()
	fake := &fakeSource{}
	src := bypass.Wrap(fake, bypass.Options{After: time.Minute, Metrics: m,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	bypassMetric := func() float64 {
		t.Helper()
		return gauge(t, m, "licbridge_bypass", "g729")
	}

	fake.set(t0, 20, 5)
	v, _ := src.Snapshot(ctx)
	g := v.Products[0]
	if g.Bypass != nil || hasWarning(g.Warnings, "BYPASS") {
		t.Fatalf("at the start: bypass %+v, warnings %q, want no alert yet", g.Bypass, g.Warnings)
	}
	if vd, _ := src.Detector().Current("g729"); vd.Alert || vd.Since.IsZero() || vd.Excess != 15 {
		t.Fatalf("at the start: verdict %+v, want a spell over, no alert", vd)
	}
	if bypassMetric() != 0 || strings.Contains(logs.String(), "WARN") {
		t.Fatalf("alert before the set time: metric %v, log %s", bypassMetric(), logs.String())
	}

	fake.set(t0.Add(61*time.Second), 20, 5)
	v, _ = src.Snapshot(ctx)
	g = v.Products[0]
	if g.Bypass == nil || !g.Bypass.Alert || g.Bypass.Excess != 15 || !g.Bypass.Since.Equal(t0) ||
		g.Bypass.Observed != 20 || g.Bypass.Admitted != 5 || g.Bypass.Source != "wire" {
		t.Fatalf("after the set time: bypass %+v, want the alert, excess 15, since %s", g.Bypass, t0)
	}
	if !hasWarning(g.Warnings, "BYPASS") {
		t.Errorf("no bypass warning in %q", g.Warnings)
	}
	if bypassMetric() != 1 {
		t.Errorf("licbridge_bypass %v, want 1", bypassMetric())
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "product=g729") {
		t.Errorf("want one WARN naming g729, got %d: %s", n, logs.String())
	}
	if v.Products[1].Bypass != nil {
		t.Errorf("fax within its admitted use marked: %+v", v.Products[1].Bypass)
	}
	// Asked again (the page, a scrape): no second WARN.
	src.Snapshot(ctx)
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("WARN repeated: %s", logs.String())
	}

	fake.set(t0.Add(2*time.Minute), 5, 5)
	v, _ = src.Snapshot(ctx)
	if v.Products[0].Bypass != nil || hasWarning(v.Products[0].Warnings, "BYPASS") || bypassMetric() != 0 {
		t.Errorf("not cleared: bypass %+v, warnings %q, metric %v", v.Products[0].Bypass, v.Products[0].Warnings, bypassMetric())
	}
	if !strings.Contains(logs.String(), "bypass cleared") {
		t.Errorf("clearing not logged: %s", logs.String())
	}
}

// TestRunRaisesWithoutViewers: Run's own views raise the alert.
func TestRunRaisesWithoutViewers(t *testing.T) {
	m := admin.NewMetrics()
	fake := &fakeSource{}
	// An instant rule: the first over view after the spell starts alerts.
	src := bypass.Wrap(fake, bypass.Options{After: time.Nanosecond, Every: time.Millisecond, Metrics: m})
	fake.set(time.Now(), 20, 5)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- src.Run(ctx) }()
	for i := 0; ; i++ {
		fake.set(time.Now(), 20, 5)
		if v, ok := src.Detector().Current("g729"); ok && v.Alert {
			break
		}
		if i > 10000 {
			t.Fatal("Run raised no alert")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func hasWarning(ws []string, sub string) bool {
	for _, w := range ws {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

// TestSourceAMIPassive: without a wire monitor, AMI passive accounting is the
// observed use.
func TestSourceAMIPassive(t *testing.T) {
	v0 := view.View{Time: t0, Products: []view.Product{{Name: "fax", Total: 2, InUse: 1, Passive: 3}}}
	fake := &fakeSource{v: v0}
	src := bypass.Wrap(fake, bypass.Options{After: time.Minute})
	src.Snapshot(context.Background())
	fake.v.Time = t0.Add(time.Minute)
	v, _ := src.Snapshot(context.Background())
	if b := v.Products[0].Bypass; b == nil || b.Source != "ami" || b.Observed != 3 || b.Excess != 2 {
		t.Errorf("bypass %+v, want AMI passive 3 against 1 admitted", b)
	}
}
