package chart_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/bridge/stats/chart"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// reports builds two reports from recorded observations: g729 on two nodes
// with a working-day shape, and hpec with nothing recorded.
func reports(t *testing.T) []stats.Report {
	ctx := context.Background()
	rec := stats.New(stats.Options{})
	from := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for h := 0; h < 3*24; h++ {
		at := from.Add(time.Duration(h)*time.Hour + 10*time.Minute)
		a, b := 0, 0
		if hr := at.Hour(); hr >= 8 && hr < 19 {
			a, b = (hr-7)*2, (h%5)+1
		}
		if err := rec.Observe(ctx, at, "g729", "pbx-a", a, a+b); err != nil {
			t.Fatal(err)
		}
		if err := rec.Observe(ctx, at.Add(time.Minute), "g729", "pbx-b", b, a+b); err != nil {
			t.Fatal(err)
		}
	}
	now := from.Add(3*24*time.Hour - time.Minute)
	g, err := rec.Last(ctx, "g729", now, 3)
	if err != nil {
		t.Fatal(err)
	}
	h, err := rec.Last(ctx, "hpec", now, 3)
	if err != nil {
		t.Fatal(err)
	}
	return []stats.Report{g, h}
}

func TestWriteGolden(t *testing.T) {
	for name, st := range map[string]chart.Style{"unicode": chart.Unicode, "ascii": chart.ASCII} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := chart.Write(&buf, reports(t), st); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("output differs from %s (run with -update if intended):\n%s", golden, buf.String())
			}
			if name == "ascii" {
				for _, c := range buf.Bytes() {
					if c >= 0x80 {
						t.Fatalf("ASCII style printed a non-ASCII byte %#x", c)
					}
				}
			}
		})
	}
}
