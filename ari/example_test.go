package ari_test

import (
	"context"
	"fmt"

	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/ari"
	"github.com/licbridge/licbridge/internal/asterisksim/arisrv"
)

// grantAll admits everything; the daemon passes its admission core instead.
type grantAll struct{}

func (grantAll) Admit(_ context.Context, r admission.Request) (admission.Decision, error) {
	return admission.Decision{Admitted: true, Lease: r.Product + "-" + r.Channel}, nil
}

func (grantAll) Release(context.Context, string, string) error { return nil }

func (grantAll) Status(context.Context, string) (admission.Usage, error) {
	return admission.Usage{}, nil
}

// The dialplan's Stasis(licbridge,admit,g729) against the ARI double: the app
// sets the variables and continues the channel after Stasis().
func ExampleApp() {
	srv, err := arisrv.Start(arisrv.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	app, err := ari.New(ari.Options{URL: srv.URL(), User: "licbridge", Password: "licsecret", Admitter: grantAll{}})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	<-app.Ready()

	id, err := srv.EnterStasis(arisrv.Channel{ID: "1795386433.43"}, "admit", "g729")
	if err != nil {
		panic(err)
	}
	o, err := srv.Wait(ctx, id)
	if err != nil {
		panic(err)
	}
	fmt.Println(o.Continued, o.Vars[admission.VarStatus], o.Vars[admission.VarLease], o.Vars["STASISSTATUS"])

	cancel()
	fmt.Println(<-done)
	// Output:
	// true ADMITTED g729-1795386433.43 SUCCESS
	// <nil>
}
