package chart_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/bridge/stats/chart"
)

// TestWriteReports: JSON, the charts, and a line when nothing was recorded.
func TestWriteReports(t *testing.T) {
	reps := reports(t)
	cases := []struct {
		name   string
		reps   []stats.Report
		asJSON bool
		check  func(string) bool
	}{
		{"none", nil, false, func(s string) bool { return s == "no channels recorded in the last 3 days\n" }},
		{"charts", reps, false, func(s string) bool { return strings.HasPrefix(s, "g729: peak") }},
		{"json", reps, true, func(s string) bool {
			var back []stats.Report
			return json.Unmarshal([]byte(s), &back) == nil && len(back) == len(reps) && strings.Contains(s, "\n  ")
		}},
	}
	for _, tc := range cases {
		var b bytes.Buffer
		if err := chart.WriteReports(&b, tc.reps, tc.asJSON, chart.ASCII, 3); err != nil || !tc.check(b.String()) {
			t.Errorf("%s: %v\n%s", tc.name, err, b.String())
		}
	}
}

// TestStyleFor: ASCII for anything but a terminal, and when asked.
func TestStyleFor(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b bytes.Buffer
	for _, w := range []io.Writer{&b, f} {
		for _, ascii := range []bool{false, true} {
			var out bytes.Buffer
			if err := chart.Write(&out, reports(t)[:1], chart.StyleFor(w, ascii)); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), "█") {
				t.Errorf("%T ascii=%v: Unicode style for a non-terminal", w, ascii)
			}
		}
	}
}
