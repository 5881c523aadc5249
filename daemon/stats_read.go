package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/config"
)

// statsReadTimeout bounds reading the statistics from the store.
const statsReadTimeout = 10 * time.Second

// ConcurrencyReports reads the last days of concurrency statistics of
// products from the shared store sc, in zone loc (licbridge stats
// concurrent). Unless explicit, a product with nothing recorded is left out.
// ErrNoStore when sc names no store.
func ConcurrencyReports(ctx context.Context, sc config.StoreConfig, loc *time.Location, products []string, explicit bool, days int) ([]stats.Report, error) {
	store, closeStore, err := OpenStatsStore(ctx, sc)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	rec := stats.New(stats.Options{Store: store, Location: loc})
	ctx, cancel := context.WithTimeout(ctx, statsReadTimeout)
	defer cancel()
	now := time.Now()
	reps := []stats.Report{}
	for _, p := range products {
		rep, err := rec.Last(ctx, p, now, days)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if explicit || rep.Peak > 0 {
			reps = append(reps, rep)
		}
	}
	return reps, nil
}
