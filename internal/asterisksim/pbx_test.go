package asterisksim_test

import (
	"context"
	"github.com/licbridge/licbridge/admission"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/internal/asterisksim"
)

// admitOdd admits every other request, so both outcomes show.
type admitOdd struct {
	mu sync.Mutex
	n  int
}

func (a *admitOdd) Admit(_ context.Context, req admission.Request) (admission.Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	if a.n%2 == 1 {
		return admission.Decision{Admitted: true, Lease: req.Product + ":" + req.Channel}, nil
	}
	return admission.Decision{Reason: "OVER_LIMIT"}, nil
}
func (a *admitOdd) Release(context.Context, string, string) error { return nil }
func (a *admitOdd) Status(context.Context, string) (admission.Usage, error) {
	return admission.Usage{}, nil
}

func TestPlace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The default session cap: with a cap of 1 the server may still hold the
	// previous call's slot when the next call connects, and closes it unanswered.
	srv, err := dialplan.NewServer(&admitOdd{}, dialplan.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Run(ctx) }()
	<-srv.Ready()
	p := asterisksim.StartT(t, asterisksim.Options{AGIAddr: srv.Addr().String(), NoARI: true})

	t.Run("local pair over AGI", func(t *testing.T) {
		pl, err := p.Place(ctx, asterisksim.Call{Local: true, Product: "hpec", Via: asterisksim.ViaAGI, Codec: "g729"})
		if err != nil {
			t.Fatal(err)
		}
		if len(pl.Channels) != 2 || pl.Results[0]["LICBRIDGE_STATUS"] != "ADMITTED" || pl.Results[1]["LICBRIDGE_STATUS"] != "REJECTED" {
			t.Fatalf("%+v", pl)
		}
		byID := map[string]string{}
		for _, ch := range p.AMI.Channels() {
			byID[ch.Uniqueid] = ch.Linkedid
			if ch.Uniqueid == pl.Channels[0] && (ch.State != 6 || ch.Vars["LICBRIDGE_LEASE"] != "hpec:"+pl.Channels[0]) {
				t.Fatalf("first half: state %d vars %v", ch.State, ch.Vars)
			}
		}
		if byID[pl.Channels[0]] != pl.Linkedid || byID[pl.Channels[1]] != pl.Linkedid {
			t.Fatalf("halves do not share the Linkedid %s: %v", pl.Linkedid, byID)
		}
		if err := p.Hangup(pl); err != nil {
			t.Fatal(err)
		}
		if n := len(p.AMI.Channels()); n != 0 {
			t.Fatalf("%d channels left after the hangup", n)
		}
	})

	t.Run("refused call is not answered", func(t *testing.T) {
		_, _ = p.Place(ctx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI}) // admitted (odd)
		pl, err := p.Place(ctx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
		if err != nil {
			t.Fatal(err)
		}
		if pl.Status != "REJECTED" {
			t.Fatalf("%+v", pl)
		}
		for _, ch := range p.AMI.Channels() {
			if ch.Uniqueid == pl.Channels[0] && ch.State == 6 {
				t.Fatal("a refused call was answered")
			}
		}
	})

	t.Run("fax and vanish", func(t *testing.T) {
		pl, err := p.Place(ctx, asterisksim.Call{Fax: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Vanish(pl); err != nil {
			t.Fatal(err)
		}
		for _, ch := range p.AMI.Channels() {
			if ch.Uniqueid == pl.Channels[0] {
				t.Fatal("vanished channel still listed")
			}
		}
	})

	t.Run("FastAGI down", func(t *testing.T) {
		p.SetAGIAddr("127.0.0.1:1")
		pl, err := p.Place(ctx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
		if err != nil {
			t.Fatal(err)
		}
		if pl.AGIStatus != "FAILURE" || pl.Status != "" {
			t.Fatalf("AGISTATUS %q status %q", pl.AGIStatus, pl.Status)
		}
	})
}
