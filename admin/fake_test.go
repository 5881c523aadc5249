package admin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/view"
)

// fakeSource is a fixed cluster: two nodes, g729 in LOCKDOWN, fax fine.
type fakeSource struct {
	view    view.View
	reports map[string]view.Report

	mu  sync.Mutex
	err error // set with fail
}

func (f *fakeSource) fail(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

func (f *fakeSource) failure() error { f.mu.Lock(); defer f.mu.Unlock(); return f.err }

func (f *fakeSource) Snapshot(context.Context) (view.View, error) { return f.view, f.failure() }

func (f *fakeSource) Stats(_ context.Context, product string, days int) (view.Report, error) {
	if err := f.failure(); err != nil {
		return view.Report{}, err
	}
	rep, ok := f.reports[product]
	if !ok {
		return rep, fmt.Errorf("stats of %s: %w", product, admin.ErrUnknownProduct)
	}
	// Keep the last days days, as a real source would.
	if n := len(rep.Days); n > days {
		cut := rep.Days[n-days].Date
		rep.Days = rep.Days[n-days:]
		for i, w := range rep.Windows {
			if w.Start.Format("2006-01-02") >= cut {
				rep.Windows = rep.Windows[i:]
				break
			}
		}
	}
	return rep, nil
}

func intp(v int) *int { return &v }

// newFake builds the fake cluster. Its numbers are all different from each
// other, so that a page showing the wrong one is caught.
func newFake(t testing.TB) *fakeSource {
	now := time.Date(2026, 11, 22, 15, 4, 0, 0, time.UTC)
	end := now.AddDate(0, 0, 6)
	g729 := view.Product{
		Name: "g729", Enforcement: view.ModeGrace, Total: 30, InUse: 23,
		InUseByNode: map[string]int{"pbx-a": 17, "pbx-b": 6}, ObservedLegs: intp(25), Passive: 19, Peak14d: 41,
		Overage: view.Overage{Product: "g729", Mode: view.ModeGrace, Phase: view.PhaseLockdown, OverDays: 5, LocksIn: 9,
			Since: time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC), Peak: 41},
		Keys: []view.Key{
			{ID: "G729-7F3A-0001", Kind: "commercial", AutoRenew: true, Channels: 20, Nodes: []string{"pbx-a"}, Binding: "host 00:16:3e:aa:bb:cc", EndDate: end, Status: "EXPIRING", EndsInDays: intp(6)},
			{ID: "G729-7F3A-0002", Channels: 10, Nodes: []string{"pbx-b", "pbx-c"}, Binding: "domain voice.example", Status: "VALID", Conflicts: []string{"pbx-b", "pbx-c"}},
			{ID: "G729-BAD-0003", Channels: 5, Binding: "host 00:16:3e:00:00:01", Status: "INVALID", Reason: "bad signature"},
		},
	}
	g729.Warnings = []string{"over the limit 5 days: locks in 9 days", "key G729-7F3A-0001 ends in 6 days"}
	fax := view.Product{Name: "fax", Enforcement: view.ModeHard, Total: 8, InUse: 2,
		InUseByNode: map[string]int{"pbx-a": 2}, Peak14d: 7,
		Overage: view.Overage{Product: "fax", Mode: view.ModeHard, Phase: view.PhaseOK},
		Keys:    []view.Key{{ID: "FAX-0001", Kind: "trial", Channels: 8, Nodes: []string{"pbx-a"}, Binding: "none", Status: "VALID"}}}
	f := &fakeSource{
		view:    view.View{Node: "pbx-a", Time: now, Nodes: []string{"pbx-a", "pbx-b"}, Products: []view.Product{g729, fax}},
		reports: map[string]view.Report{},
	}
	// 14 days of hourly peaks with a daily shape; g729 goes over its total.
	for _, p := range f.view.Products {
		rec := stats.New(stats.Options{})
		ctx := context.Background()
		from := time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)
		for h := 0; h < 14*24; h++ {
			at := from.Add(time.Duration(h) * time.Hour)
			v := 0
			if hr := at.Hour(); hr >= 8 && hr < 20 {
				v = (p.Peak14d * (1 + (h*7)%10)) / 10
			}
			if err := rec.Observe(ctx, at.Add(time.Minute), p.Name, "pbx-a", v, v); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := rec.Last(ctx, p.Name, now, 14)
		if err != nil {
			t.Fatal(err)
		}
		f.reports[p.Name] = reportOf(rep)
	}
	return f
}

// get fetches url with an optional token and returns the status and body.
func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	h := ""
	if token != "" {
		h = "Bearer " + token
	}
	return getHeader(t, url, h)
}

// getHeader fetches url with an optional Authorization header.
func getHeader(t *testing.T, url, auth string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// serve runs a server until the test ends and returns its base URL.
func serve(t *testing.T, o admin.Options) (*admin.Server, string) {
	t.Helper()
	s, err := admin.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	return s, "http://" + s.Addr().String()
}

var errStore = errors.New("redis: connection refused")

// reportOf is the view of a statistics report (as bridge/node builds it).
func reportOf(r stats.Report) view.Report {
	out := view.Report{Product: r.Product, Zone: r.Zone, Peak: r.Peak, Windows: []view.Window{}, Days: []view.Day{}}
	for _, w := range r.Windows {
		out.Windows = append(out.Windows, view.Window{Start: w.Start, Peak: w.Peak, Nodes: w.Nodes})
	}
	for _, d := range r.Days {
		out.Days = append(out.Days, view.Day{Date: d.Date, Peak: d.Peak, Nodes: d.Nodes})
	}
	return out
}
