package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/view"
)

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, b)
	}
	return v
}

// TestAPI checks that each endpoint carries the Source's numbers.
func TestAPI(t *testing.T) {
	src := newFake(t)
	_, base := serve(t, admin.Options{Listen: "127.0.0.1:0", Source: src})
	g729 := src.view.Products[0]

	t.Run("licenses", func(t *testing.T) {
		code, b := get(t, base+"/api/v1/licenses", "")
		l := decode[admin.Licenses](t, b)
		if code != 200 || len(l.Products) != 2 || l.Products[0].Total != g729.Total || len(l.Products[0].Keys) != 3 ||
			l.Products[0].Keys[2].Reason != "bad signature" || *l.Products[0].Keys[0].EndsInDays != 6 {
			t.Errorf("%d %+v", code, l)
		}
	})
	t.Run("channels", func(t *testing.T) {
		code, b := get(t, base+"/api/v1/channels", "")
		c := decode[admin.Channels](t, b)
		p := c.Products[0]
		if code != 200 || p.InUse != g729.InUse || p.InUseByNode["pbx-b"] != 6 || *p.ObservedLegs != *g729.ObservedLegs || p.Peak14d != g729.Peak14d {
			t.Errorf("%d %+v", code, c)
		}
		if c.Products[1].ObservedLegs != nil {
			t.Error("fax has no monitor but reports observed legs")
		}
	})
	t.Run("state", func(t *testing.T) {
		code, b := get(t, base+"/api/v1/state", "")
		s := decode[admin.States](t, b)
		if code != 200 || s.Products[0] != g729.Overage || s.Products[1].Phase != view.PhaseOK {
			t.Errorf("%d %+v", code, s)
		}
	})
	t.Run("view", func(t *testing.T) {
		code, b := get(t, base+"/api/v1/view", "")
		v := decode[admin.View](t, b)
		if code != 200 || v.Node != "pbx-a" || len(v.Products) != 2 || v.Products[0].Warnings[0] != g729.Warnings[0] {
			t.Errorf("%d %+v", code, v)
		}
	})
	for _, tc := range []struct {
		name, query string
		code        int
		days        int
	}{
		{"default_14_days", "product=g729", 200, 14},
		{"three_days", "product=g729&days=3", 200, 3},
		{"missing_product", "days=3", 400, 0},
		{"days_zero", "product=g729&days=0", 400, 0},
		{"days_15", "product=g729&days=15", 400, 0},
		{"days_not_a_number", "product=g729&days=x", 400, 0},
		{"unknown_product", "product=opus", 404, 0},
	} {
		t.Run("stats/"+tc.name, func(t *testing.T) {
			code, b := get(t, base+"/api/v1/stats?"+tc.query, "")
			if code != tc.code {
				t.Fatalf("%d, want %d: %s", code, tc.code, b)
			}
			if code != 200 {
				if e := decode[map[string]string](t, b); e["error"] == "" {
					t.Errorf("no error message: %s", b)
				}
				return
			}
			rep := decode[view.Report](t, b)
			if len(rep.Days) != tc.days || len(rep.Windows) != 24*tc.days {
				t.Errorf("%d days, %d windows; want %d days", len(rep.Days), len(rep.Windows), tc.days)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	var down atomic.Bool
	h := admin.HealthFunc(func(context.Context) []admin.Component {
		return []admin.Component{{Name: "ami", OK: true}, {Name: "ari", OK: true}, {Name: "store", OK: !down.Load(), Detail: "redis 127.0.0.1:6379"}}
	})
	_, base := serve(t, admin.Options{Listen: "127.0.0.1:0", Health: h})
	if code, _ := get(t, base+"/healthz", ""); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, b := get(t, base+"/readyz", ""); code != 200 || !decode[admin.Readiness](t, b).Ready {
		t.Errorf("readyz %d %s", code, b)
	}
	down.Store(true)
	code, b := get(t, base+"/readyz", "")
	r := decode[admin.Readiness](t, b)
	if code != 503 || r.Ready || len(r.Components) != 3 || r.Components[2].OK {
		t.Errorf("readyz with the store down: %d %s", code, b)
	}
}

// scrape fetches /metrics and parses it as Prometheus text.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, b := get(t, base+"/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v\n%s", err, b)
	}
	return fams
}

// value returns the value of the family's sample with the given labels.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no sample of %s with %v", name, labels)
	return 0
}

func TestMetrics(t *testing.T) {
	src := newFake(t)
	s, base := serve(t, admin.Options{Listen: "127.0.0.1:0", Source: src})
	m := s.Metrics()
	m.ObserveAdmission("g729", "admitted", "", 1200000)
	m.ObserveAdmission("g729", "rejected", "OVER_LIMIT", 800000)
	m.ObserveAdmission("g729", "rejected", "OVER_LIMIT", 900000)
	m.ObserveAdmission("fax", "rejected", "LOCKED", 300000)
	m.StoreError("admit")

	fams := scrape(t, base)
	g729, fax := src.view.Products[0], src.view.Products[1]
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"licbridge_channels_in_use", []string{"product", "g729"}, float64(g729.InUse)},
		{"licbridge_channels_licensed", []string{"product", "g729"}, float64(g729.Total)},
		{"licbridge_channels_in_use", []string{"product", "fax"}, float64(fax.InUse)},
		{"licbridge_legs_observed", []string{"product", "g729"}, float64(*g729.ObservedLegs)},
		{"licbridge_channels_peak_14d", []string{"product", "g729"}, float64(g729.Peak14d)},
		{"licbridge_rejections_total", []string{"product", "g729", "reason", "OVER_LIMIT"}, 2},
		{"licbridge_rejections_total", []string{"product", "fax", "reason", "LOCKED"}, 1},
		{"licbridge_admissions_total", []string{"product", "g729", "outcome", "admitted"}, 1},
		{"licbridge_admission_duration_seconds", []string{"product", "g729", "outcome", "rejected"}, 2},
		{"licbridge_store_errors_total", []string{"op", "admit"}, 1},
		{"licbridge_overage_day_streak", []string{"product", "g729"}, float64(g729.Overage.OverDays)},
		{"licbridge_overage_lock_countdown", []string{"product", "g729"}, float64(g729.Overage.LocksIn)},
		{"licbridge_overage_phase", []string{"product", "g729", "phase", "LOCKDOWN"}, 1},
		{"licbridge_overage_phase", []string{"product", "g729", "phase", "OK"}, 0},
		{"licbridge_overage_phase", []string{"product", "fax", "phase", "OK"}, 1},
	} {
		t.Run(tc.name+"/"+strings.Join(tc.labels, "="), func(t *testing.T) {
			if got := value(t, fams, tc.name, tc.labels...); got != tc.want {
				t.Errorf("%v, want %v", got, tc.want)
			}
		})
	}
	if _, ok := fams["licbridge_legs_observed"]; ok {
		for _, mm := range fams["licbridge_legs_observed"].Metric {
			if mm.Label[0].GetValue() == "fax" {
				t.Error("observed legs reported for fax, which has no monitor")
			}
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	// A failing source: the API says 503 and the failure is counted.
	src.fail(errStore)
	if code, _ := get(t, base+"/api/v1/view", ""); code != 503 {
		t.Errorf("view with the store down: %d, want 503", code)
	}
	fams = scrape(t, base)
	if got := value(t, fams, "licbridge_store_errors_total", "op", "snapshot"); got != 2 {
		t.Errorf("snapshot store errors %v, want 2 (the API call and the scrape)", got)
	}
}

// TestNilMetrics: a daemon without an admin server may call a nil *Metrics.
func TestNilMetrics(t *testing.T) {
	var m *admin.Metrics
	m.ObserveAdmission("g729", "admitted", "", 0)
	m.StoreError("admit")
	m.SetUsage("g729", 1, 2, nil)
	m.Update(admin.View{})
}

// TestAdminImportsOnlyView: admin speaks HTTP over the view; it imports no
// bridge package (it imported bridge/overage and bridge/stats, and
// bridge/node imported admin: a folder-level cycle).
func TestAdminImportsOnlyView(t *testing.T) {
	for _, pkg := range []string{".", "../view"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/licbridge/licbridge/bridge") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "../bridge/node").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "github.com/licbridge/licbridge/admin") {
		t.Error("bridge/node imports admin")
	}
}
