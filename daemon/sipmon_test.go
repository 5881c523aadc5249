package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/sipmon"
)

// TestRunMonitorHealth checks the wiring of the built-in monitor's /readyz
// component to sipmon's supervisor: OK with the inputs named while they
// run, not OK naming the input and why once one fails (the backoff itself
// is tested in sipmon).
func TestRunMonitorHealth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fail := make(chan struct{})
	opens := 0
	in := sipmon.Input{Name: "interface test0", Open: func() (func(context.Context) error, error) {
		if opens++; opens > 1 {
			return nil, errors.New("no such device")
		}
		return func(ctx context.Context) error {
			select {
			case <-fail:
				return errors.New("interface went down")
			case <-ctx.Done():
				return ctx.Err()
			}
		}, nil
	}}
	sup, err := sipmon.Supervise([]sipmon.Input{in}, sipmon.SuperviseOptions{MinBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m := &sideMonitor{sup: sup}
	if h := m.Health(); !h.OK || h.Name != "sipmon" || h.Detail != "interface test0" {
		t.Fatalf("before: %+v", h)
	}
	done := make(chan struct{})
	go func() { defer close(done); sup.Run(ctx) }()
	close(fail)
	for h := m.Health(); h.OK; h = m.Health() {
		select {
		case <-ctx.Done():
			t.Fatal("the failed input was never reported down")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if h := m.Health(); h.OK || !strings.HasPrefix(h.Detail, "interface test0: interface went down") {
		t.Errorf("while down: %+v", h)
	}
	cancel()
	<-done
}
