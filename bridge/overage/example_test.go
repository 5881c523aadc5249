package overage_test

import (
	"context"
	"fmt"
	"time"

	"github.com/licbridge/licbridge/bridge/overage"
)

// A grace-mode product over its 10 channels every day: three days of grace,
// then lockdown counting down, then locked on day 14.
func Example() {
	ctx := context.Background()
	day := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	m := overage.New(overage.Options{
		Modes: map[string]overage.Mode{"g729": overage.ModeGrace},
		Now:   func() time.Time { return day },
	})
	for d := 1; d <= 14; d++ {
		dec, _ := m.Decide(ctx, "g729", 11, 10)
		if d <= 4 || d >= 13 {
			fmt.Printf("day %2d: allow=%-5v %-8s locks in %d\n", d, dec.Allow, dec.State.Phase, dec.State.LocksIn)
		}
		day = day.AddDate(0, 0, 1)
	}
	// Output:
	// day  1: allow=true  GRACE    locks in 13
	// day  2: allow=true  GRACE    locks in 12
	// day  3: allow=true  GRACE    locks in 11
	// day  4: allow=true  LOCKDOWN locks in 10
	// day 13: allow=true  LOCKDOWN locks in 1
	// day 14: allow=false LOCKED   locks in 0
}
