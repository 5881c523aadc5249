package stats_test

import (
	"context"
	"fmt"
	"time"

	"github.com/licbridge/licbridge/bridge/stats"
)

// Two nodes report their counts; the report has the hourly and daily peaks.
func ExampleRecorder() {
	ctx := context.Background()
	rec := stats.New(stats.Options{}) // in-memory store, UTC
	t0 := time.Date(2026, 5, 1, 9, 15, 0, 0, time.UTC)
	rec.Observe(ctx, t0, "g729", "pbx-a", 4, 4)
	rec.Observe(ctx, t0.Add(time.Minute), "g729", "pbx-b", 3, 7)
	rec.Observe(ctx, t0.Add(2*time.Minute), "g729", "pbx-a", 1, 4)
	rec.Observe(ctx, t0.Add(time.Hour), "g729", "pbx-a", 2, 5)

	from := t0.Truncate(time.Hour)
	rep, _ := rec.Query(ctx, "g729", from, from.Add(2*time.Hour))
	for _, w := range rep.Windows {
		fmt.Printf("%s peak %d, pbx-a %d, pbx-b %d\n", w.Start.Format("15:04"), w.Peak, w.Nodes["pbx-a"], w.Nodes["pbx-b"])
	}
	fmt.Printf("%s peak %d\n", rep.Days[0].Date, rep.Days[0].Peak)
	// Output:
	// 09:00 peak 7, pbx-a 4, pbx-b 3
	// 10:00 peak 5, pbx-a 2, pbx-b 0
	// 2026-05-01 peak 7
}
