package admin_test

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/view"
)

// TestMetricsLint runs promlint, Prometheus's own linter, over the real
// /metrics output, and checks the suffix rule promlint cannot see from a
// gauge's values: only counters end in _total.
func TestMetricsLint(t *testing.T) {
	src := newFake(t)
	src.view.Store = &view.Store{Available: false, AdmittedWithoutStore: map[string]int{"g729": 3}}
	s, base := serve(t, admin.Options{Listen: "127.0.0.1:0", Source: src,
		Health: admin.HealthFunc(func(context.Context) []admin.Component {
			return []admin.Component{{Name: "store", OK: false}, {Name: "ami", OK: true}}
		})})
	m := s.Metrics()
	m.ObserveAdmission("g729", "rejected", "OVER_LIMIT", 1000)
	m.StoreError("admit")
	m.SetBypass("g729", true, 15)
	code, body := get(t, base+"/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "licbridge_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		} else {
			t.Logf("promlint (not ours): %s: %s", p.Metric, p.Text)
		}
	}
	fams := scrape(t, base)
	ours := 0
	for name, f := range fams {
		if !strings.HasPrefix(name, "licbridge_") {
			continue
		}
		ours++
		counter := f.GetType() == dto.MetricType_COUNTER
		if counter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s is a %s: only counters may end in _total, and every counter does", name, f.GetType())
		}
	}
	if ours < 19 {
		t.Errorf("only %d licbridge metrics exposed", ours)
	}
	if _, ok := fams["licbridge_channels_total"]; ok {
		t.Error("licbridge_channels_total (a gauge with a counter's suffix) is still exposed")
	}
}

// TestMetricsHealthAndAlerts: the connectivity, fail-open, passive,
// invalid-key and bypass gauges carry what the node knows.
func TestMetricsHealthAndAlerts(t *testing.T) {
	src := newFake(t)
	src.view.Store = &view.Store{AdmittedWithoutStore: map[string]int{"g729": 3}}
	src.view.Invalid = []view.Key{{ID: "x.lic", Status: view.StatusInvalid, Reason: "bad signature"}, {ID: "y.lic", Status: view.StatusInvalid, Reason: "unsigned"}}
	var amiUp atomic.Bool
	s, base := serve(t, admin.Options{Listen: "127.0.0.1:0", Source: src,
		Health: admin.HealthFunc(func(context.Context) []admin.Component {
			return []admin.Component{{Name: "store", OK: true}, {Name: "ami", OK: amiUp.Load(), Detail: "connection refused"}, {Name: "ari", OK: true}}
		})})
	s.Metrics().SetBypass("g729", true, 15)

	fams := scrape(t, base)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"licbridge_up", []string{"component", "store"}, 1},
		{"licbridge_up", []string{"component", "ami"}, 0},
		{"licbridge_up", []string{"component", "ari"}, 1},
		{"licbridge_fail_open", nil, 1},
		{"licbridge_fail_open_admitted_channels", []string{"product", "g729"}, 3},
		{"licbridge_license_invalid_keys", nil, 2},
		{"licbridge_channels_licensed", []string{"product", "g729"}, 30},
		{"licbridge_channels_passive", []string{"product", "g729"}, 19},
		// Wire 25 (more than passive 19) against 23 in use.
		{"licbridge_channels_unadmitted", []string{"product", "g729"}, 2},
		{"licbridge_channels_unadmitted", []string{"product", "fax"}, 0},
		{"licbridge_bypass", []string{"product", "g729"}, 1},
		{"licbridge_bypass_excess_channels", []string{"product", "g729"}, 15},
		{"licbridge_cluster_node_live", []string{"node", "pbx-b"}, 1},
	} {
		t.Run(tc.name+"/"+strings.Join(tc.labels, "="), func(t *testing.T) {
			if got := value(t, fams, tc.name, tc.labels...); got != tc.want {
				t.Errorf("%v, want %v", got, tc.want)
			}
		})
	}

	// AMI back, the fail-open channels written back: the gauges follow.
	amiUp.Store(true)
	src.mu.Lock()
	src.view.Store = &view.Store{Available: true}
	src.mu.Unlock()
	fams = scrape(t, base)
	if got := value(t, fams, "licbridge_up", "component", "ami"); got != 1 {
		t.Errorf("ami up %v after reconnecting, want 1", got)
	}
	if got := value(t, fams, "licbridge_fail_open", nil...); got != 0 {
		t.Errorf("fail_open %v after the write-back, want 0", got)
	}
	if f := fams["licbridge_fail_open_admitted_channels"]; f != nil && len(f.Metric) > 0 {
		t.Errorf("fail-open channels still reported after the write-back: %v", f.Metric)
	}
}
