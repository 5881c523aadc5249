package ami_test

import (
	"context"
	"testing"

	goami "github.com/heltonmarx/goami/ami"

	"github.com/licbridge/licbridge/internal/asterisksim/amisrv"
)

// The pinned goami really has the "%" defect against the same double that
// TestPercentRoundTrips passes on: the test setup can tell the difference.
func TestGoamiPercentDefectIsReal(t *testing.T) {
	srv := amisrv.Start(t, amisrv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	sock, err := goami.NewSocket(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close(ctx)
	if err := goami.Login(ctx, sock, "licbridge", "licsecret", "off", "l1"); err != nil {
		t.Fatalf("goami login: %v", err)
	}
	if _, err := goami.Setvar(ctx, sock, "s1", "", "LIC_GLOBAL", "50% used: a=b; c"); err != nil {
		t.Fatalf("goami setvar: %v", err)
	}
	var got string
	for _, a := range srv.Actions() {
		if a.Get("Action") == "Setvar" {
			got = a.Get("Value")
		}
	}
	if got == "50% used: a=b; c" {
		t.Fatal("goami sent the value intact: the defect this package works around is gone; revisit ami/doc.go")
	}
	t.Logf("goami sent %q", got)
}
