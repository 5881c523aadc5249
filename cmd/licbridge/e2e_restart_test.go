package main

import (
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

// TestRestartWithCallersAtTheDoor: kill -9 of a node that holds 3 of 3 and an
// immediate restart, while callers keep asking on its FastAGI port: no call
// is admitted over the total at any moment (6 of 3 were, in the ~58 ms before
// the keys were loaded and the holdings re-established), and none is told
// NO_LICENSE while the keys exist. On the embedded store (the default) the
// holdings come back from Asterisk (LICBRIDGE_LEASE); on Redis from the
// store's record of the node.
func TestRestartWithCallersAtTheDoor(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		t.Run(map[bool]string{false: "embedded store", true: "redis"}[withRedis], func(t *testing.T) {
			restartAtTheDoor(t, withRedis)
		})
	}
}

func restartAtTheDoor(t *testing.T, withRedis bool) {
	k := newKeyring(t)
	k.add(t, "G729-THREE", "g729", 3)
	var srv *redistest.Server
	if withRedis {
		srv = redistest.Start(t)
	}
	pbx := asterisksim.StartT(t, asterisksim.Options{})
	agi, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	pbx.SetAGIAddr(agi)
	stateDir := t.TempDir()
	args := append(asteriskFlags(pbx), "--agi-listen", agi, "--state-dir", stateDir, "--node-id", "door")
	if withRedis {
		args = append(args, "--redis", srv.Addr)
	}
	d := startDaemon(t, k, args...)
	connected(t, pbx, 1)
	var held []*asterisksim.Placed
	for range 3 {
		pl := place(t, pbx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
		if !pl.Admitted() {
			t.Fatalf("call %d of 3: %s/%s", len(held)+1, pl.Status, pl.Reason)
		}
		held = append(held, pl)
	}

	// Callers at the door from before the kill until well after the restart.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var admitted, noLicense atomic.Int64
	var mu sync.Mutex
	var extra []*asterisksim.Placed
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				pl, err := pbx.Place(t.Context(), asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
				switch {
				case err == nil && pl.Admitted():
					admitted.Add(1)
					mu.Lock()
					extra = append(extra, pl)
					mu.Unlock()
					continue // keep it up: it counts against the total
				case err == nil && pl.Reason == "NO_LICENSE":
					noLicense.Add(1)
				}
				if pl != nil {
					_ = pbx.Hangup(pl)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	d.signal(t, syscall.SIGKILL)
	_ = d.wait(t, 10*time.Second)
	d2 := startDaemon(t, k, args...)
	d2.waitUsage(t, "g729", "3 of 3 after the restart", func(u productUse) bool { return u.Total == 3 && u.InUse == 3 })
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := admitted.Load(); n > 0 {
		t.Errorf("%d calls admitted over 3 of 3 across the restart", n)
	}
	if n := noLicense.Load(); n > 0 {
		t.Errorf("%d calls told NO_LICENSE while a valid key was installed", n)
	}
	// The held calls still count, and end cleanly.
	hangup(t, pbx, held...)
	hangup(t, pbx, extra...)
	d2.waitUsage(t, "g729", "0 in use after the calls ended", inUseIs(0))
}
