package prometheus_test

import (
	"os"
	"os/exec"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/licbridge/licbridge/internal/testkit/metricset"
)

const (
	rulesFile = "licbridge.rules.yml"
	testFile  = "licbridge.rules.test.yml"
	install   = "apt-get install prometheus (it ships promtool)"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestRulesUseRealMetrics: the alerts are there, and every licbridge
// metric a rule reads is one /metrics really serves.
func TestRulesUseRealMetrics(t *testing.T) {
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	names := metricset.Names(t)
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			for _, m := range metricset.Referenced(r.Expr) {
				if _, ok := names[m]; !ok {
					t.Errorf("alert %s reads %s, which /metrics does not serve", r.Alert, m)
				}
			}
		}
	}
	for _, want := range []string{"LicbridgeOverTotal", "LicbridgeBypass", "LicbridgeLockdown", "LicbridgeNodeLapsed", "LicbridgeStoreDown"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s in %s", want, rulesFile)
		}
	}
}

// TestPromtool checks the rules with Prometheus's own tool and runs their
// unit tests (the cases, in licbridge.rules.test.yml).
func TestPromtool(t *testing.T) {
	promtool := metricset.Tool(t, "promtool", install)
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", testFile}} {
		out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
