package admission_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/ari"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
	"github.com/licbridge/licbridge/internal/asterisksim/arisrv"
)

// scripted answers by product, so that one table drives both paths.
type scripted struct{}

type reasoned string

func (r reasoned) Error() string  { return "refused: " + string(r) }
func (r reasoned) Reason() string { return string(r) }

func (scripted) outcome(ctx context.Context, product string) error {
	switch product {
	case "broken":
		return errors.New("store said no")
	case "stopping":
		return reasoned(admission.ReasonDraining)
	case "slow":
		<-ctx.Done() // answers only when the caller stops waiting
		return ctx.Err()
	}
	return nil
}

func (s scripted) Admit(ctx context.Context, r admission.Request) (admission.Decision, error) {
	if err := s.outcome(ctx, r.Product); err != nil {
		return admission.Decision{}, err
	}
	if r.Product == "full" {
		return admission.Decision{Reason: admission.ReasonOverLimit}, nil
	}
	return admission.Decision{Admitted: true, Lease: "L-" + r.Product}, nil
}

func (s scripted) Release(ctx context.Context, product, _ string) error {
	return s.outcome(ctx, product)
}

func (s scripted) Status(ctx context.Context, product string) (admission.Usage, error) {
	if err := s.outcome(ctx, product); err != nil {
		return admission.Usage{}, err
	}
	return admission.Usage{InUse: 2, Total: 3}, nil
}

// callTimeout bounds one request on both paths; the Admitter gets half.
const callTimeout = time.Second

// The same request over FastAGI and over ARI gets the same LICBRIDGE_*
// answer, the one the contract states. Before the one contract, a timeout
// was TIMEOUT over FastAGI and INTERNAL over ARI (whose answer was then not
// even set: its deadline had passed), status over ARI was UNSUPPORTED unless
// the Admitter chose to implement it, and each path had its own product-name
// grammar.
func TestSameRequestSameAnswerOnBothPaths(t *testing.T) {
	agiAddr := startAGI(t)
	srv := startARI(t)
	ans := func(status, reason, lease string) map[string]string {
		return map[string]string{admission.VarStatus: status, admission.VarReason: reason, admission.VarLease: lease}
	}
	cases := []struct {
		verb, product string
		want          map[string]string
	}{
		{"admit", "g729", ans("ADMITTED", "", "L-g729")},
		{"admit", "full", ans("REJECTED", "OVER_LIMIT", "")},
		{"admit", "broken", ans("ERROR", "INTERNAL", "")},
		{"admit", "stopping", ans("ERROR", "DRAINING", "")},
		{"admit", "slow", ans("ERROR", "TIMEOUT", "")},
		{"release", "g729", ans("OK", "", "")},
		{"release", "broken", ans("ERROR", "INTERNAL", "")},
		{"release", "slow", ans("ERROR", "TIMEOUT", "")},
		// status is the cluster's use, and leaves the channel's lease alone.
		{"status", "g729", map[string]string{admission.VarStatus: "OK", admission.VarReason: "",
			admission.VarInUse: "2", admission.VarTotal: "3", admission.VarLease: "before"}},
		{"status", "stopping", ans("ERROR", "DRAINING", "")},
		{"status", "slow", ans("ERROR", "TIMEOUT", "")},
		{"admit", "g7.29", ans("ERROR", "BAD_REQUEST", "")}, // one product grammar: no dots
		{"admit", "-g729", ans("ERROR", "BAD_REQUEST", "")}, // nor a leading '-'
		{"tone", "g729", ans("ERROR", "BAD_REQUEST", "")},
	}
	for _, c := range cases {
		t.Run(c.verb+"/"+c.product, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			before := map[string]string{admission.VarLease: "before"}

			res, err := agiclient.Call(ctx, agiAddr, agiclient.Channel{Vars: maps.Clone(before)}, c.verb+","+c.product)
			if err != nil {
				t.Fatalf("FastAGI: %v", err)
			}
			id, err := srv.EnterStasis(arisrv.Channel{Vars: maps.Clone(before)}, c.verb, c.product)
			if err != nil {
				t.Fatal(err)
			}
			o, err := srv.Wait(ctx, id)
			if err != nil {
				t.Fatalf("ARI: %v", err)
			}
			overAGI, overARI := licbridgeVars(res.Vars), licbridgeVars(o.Vars)
			if !maps.Equal(overAGI, c.want) {
				t.Errorf("FastAGI answered %v, want %v", overAGI, c.want)
			}
			if !maps.Equal(overARI, c.want) {
				t.Errorf("ARI answered %v, want %v", overARI, c.want)
			}
		})
	}
}

// licbridgeVars keeps the LICBRIDGE_* variables the contract names.
func licbridgeVars(all map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{admission.VarStatus, admission.VarReason, admission.VarLease, admission.VarInUse, admission.VarTotal} {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startAGI(t *testing.T) string {
	t.Helper()
	srv, err := dialplan.NewServer(scripted{}, dialplan.Config{Addr: "127.0.0.1:0", SessionTimeout: callTimeout, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("FastAGI Run: %v", err)
		}
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("FastAGI Run: %v", err)
	}
	return srv.Addr().String()
}

func startARI(t *testing.T) *arisrv.Server {
	t.Helper()
	srv, err := arisrv.Start(arisrv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	app, err := ari.New(ari.Options{URL: srv.URL(), User: "licbridge", Password: "licsecret",
		Admitter: scripted{}, CallTimeout: callTimeout, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ARI Run: %v", err)
		}
		srv.Close()
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	select {
	case <-app.Ready():
	case err := <-done:
		t.Fatalf("ARI Run: %v", err)
	case <-wctx.Done():
		t.Fatal("ARI app never connected")
	}
	if err := srv.WaitConnected(wctx, "licbridge"); err != nil {
		t.Fatal(err)
	}
	return srv
}
