package main

import (
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

// TestRunStartsWithRedisDown: a node whose Redis is down when it starts runs
// under its outage policy instead of exiting (a crash loop under systemd,
// before): fail-open has proven no free channel yet, so it refuses
// STORE_UNAVAILABLE, and it admits as soon as Redis answers.
func TestRunStartsWithRedisDown(t *testing.T) {
	k := newKeyring(t)
	k.add(t, "G729-DOWN", "g729", 2)
	srv := redistest.Start(t)
	srv.Stop()
	pbx := asterisksim.StartT(t, asterisksim.Options{})
	d := startDaemon(t, k, append(asteriskFlags(pbx), "--redis", srv.Addr)...)
	pbx.SetAGIAddr(d.agi)
	if !strings.Contains(d.logs.String(), "shared store does not answer; starting under the outage policy") {
		t.Fatal("no warning that the store does not answer")
	}
	if pl := place(t, pbx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI}); pl.Admitted() || pl.Reason != "STORE_UNAVAILABLE" {
		t.Fatalf("Redis down since start: %s/%s, want REJECTED/STORE_UNAVAILABLE", pl.Status, pl.Reason)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		pl := place(t, pbx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
		if pl.Admitted() {
			hangup(t, pbx, pl)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis back for 30 s and still %s/%s", pl.Status, pl.Reason)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.waitUsage(t, "g729", "0 of 2 in the store after the call hung up", func(u productUse) bool { return u.Total == 2 && u.InUse == 0 })
}
