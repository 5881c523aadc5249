package bypass_test

import (
	"testing"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/bridge/bypass"
)

// The daemon gives the admin server a bypass.Source: its scrapes read the
// cheap view through it.
var _ admin.MetricsSource = (*bypass.Source)(nil)

// gauge returns the product's sample of a gauge family in the metrics'
// registry; -1 when there is none.
func gauge(t *testing.T, m *admin.Metrics, name, product string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.Metric {
			for _, l := range s.Label {
				if l.GetName() == "product" && l.GetValue() == product {
					return s.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}
