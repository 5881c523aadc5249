// Package metricset gives tests the names of the metrics licbridge really
// exposes: an admin server over a view in which every gauge has a sample,
// scraped through its handler. Alert rules and dashboards are checked against
// it, so that a renamed metric cannot leave them silently empty.
package metricset

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/view"
)

type source struct{ v view.View }

func (s source) Snapshot(context.Context) (view.View, error) { return s.v, nil }

func (s source) Stats(context.Context, string, int) (view.Report, error) {
	return view.Report{}, nil
}

// Names returns every series name /metrics serves (for a histogram, its
// _bucket, _sum and _count series too), each mapped to its family's type.
func Names(t testing.TB) map[string]string {
	t.Helper()
	legs := 20
	v := view.View{Node: "pbx-a", Time: time.Now(), Usage: true, Nodes: []string{"pbx-a"},
		Store:   &view.Store{AdmittedWithoutStore: map[string]int{"g729": 1}},
		Invalid: []view.Key{{ID: "bad.lic", Status: view.StatusInvalid, Reason: "bad signature"}},
		Products: []view.Product{{Name: "g729", Enforcement: view.ModeGrace, Total: 15, InUse: 5, ObservedLegs: &legs, Passive: 6,
			Overage: view.Overage{Product: "g729", Mode: view.ModeGrace, Phase: view.PhaseLockdown, OverDays: 3, LocksIn: 2}}}}
	s, err := admin.New(admin.Options{Source: source{v},
		Health: admin.HealthFunc(func(context.Context) []admin.Component {
			return []admin.Component{{Name: "store", OK: true}, {Name: "ami", OK: true}}
		})})
	if err != nil {
		t.Fatal(err)
	}
	m := s.Metrics()
	m.ObserveAdmission("g729", "rejected", "OVER_LIMIT", time.Millisecond)
	m.StoreError("admit")
	m.SetBypass("g729", true, 15)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	out := map[string]string{}
	for name, f := range fams {
		if len(f.Metric) == 0 {
			t.Errorf("metricset: %s has no sample: give the view what it needs", name)
		}
		typ := strings.ToLower(f.GetType().String())
		out[name] = typ
		if typ == "histogram" || typ == "summary" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				out[name+suf] = typ
			}
		}
	}
	return out
}

var nameRE = regexp.MustCompile(`\blicbridge_[a-z0-9_]+`)

// Referenced returns the licbridge_* metric names a PromQL text uses.
func Referenced(expr string) []string { return nameRE.FindAllString(expr, -1) }

// Tool returns the path of a command the test needs, or skips the test when
// it is missing (fails under CI=true, where .ci/run installs it).
func Tool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI installs it: %s)", name, install)
		}
		t.Skipf("%s is not installed; to run this test: %s", name, install)
	}
	return p
}
