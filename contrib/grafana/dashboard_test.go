package grafana_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/licbridge/licbridge/internal/testkit/metricset"
)

// queries collects every PromQL text of a dashboard: panel targets' expr and
// the template variables' definition and query.
func queries(v any, key string, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && (k == "expr" || (k == "definition" || k == "query") && key == "templating") {
				*out = append(*out, s)
				continue
			}
			next := key
			if k == "templating" {
				next = k
			}
			queries(e, next, out)
		}
	case []any:
		for _, e := range x {
			queries(e, key, out)
		}
	}
}

// TestDashboardUsesRealMetrics: every licbridge metric the dashboard queries
// is one /metrics really serves, and every panel queries something.
func TestDashboardUsesRealMetrics(t *testing.T) {
	b, err := os.ReadFile("licbridge.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("licbridge.json: %v", err)
	}
	var qs []string
	queries(dash, "", &qs)
	names := metricset.Names(t)
	used := map[string]bool{}
	for _, q := range qs {
		for _, m := range metricset.Referenced(q) {
			used[m] = true
			if _, ok := names[m]; !ok {
				t.Errorf("the dashboard queries %s, which /metrics does not serve: %s", m, q)
			}
		}
	}
	if len(used) < 15 {
		t.Errorf("the dashboard uses only %d licbridge metrics: %v", len(used), used)
	}
	panels, _ := dash["panels"].([]any)
	if len(panels) == 0 {
		t.Fatal("no panels")
	}
	for _, p := range panels {
		var pq []string
		queries(p, "", &pq)
		if len(pq) == 0 {
			t.Errorf("panel %v queries nothing", p.(map[string]any)["title"])
		}
	}
}
