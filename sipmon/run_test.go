package sipmon

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestRunClockFollowsMessages: in live and HEP mode dialogs time out on the
// messages' own clock. A sender whose stamps are hours behind the wall clock
// (a skewed HEP agent, a replayed capture) must not make a call that is up
// look timed out; silence past the timeout still closes it.
func TestRunClockFollowsMessages(t *testing.T) {
	mon := New(Config{DialogTimeout: time.Minute})
	var mu sync.Mutex
	wall := t0.Add(10 * time.Hour) // the stamps are 10 h behind
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return wall }
	ticks := make(chan Active, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- mon.Run(ctx, RunOptions{Interval: time.Millisecond, Now: now, OnTick: func(a Active, _ Stats) {
			select {
			case ticks <- a:
			default:
			}
		}})
	}()
	defer func() { cancel(); <-done }()
	waitTick := func(what string, ok func(Active) bool) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case a := <-ticks:
				if ok(a) {
					return
				}
			case <-timeout:
				t.Fatalf("never %s", what)
			}
		}
	}
	waitTick("ticked", func(Active) bool { return true })

	alice, bob := party{"+14155550001", "a1"}, party{"+14155550002", "b1"}
	call := basicCall("skewed-1", alice, bob, 0, time.Hour, sdp("audio 0"), sdp("audio 0"))
	feed(t, mon, "", call[:4]) // INVITE, 100, 200, ACK: up, no BYE
	waitTick("saw the answered leg up", func(a Active) bool { return a.Legs == 1 })
	for range 20 { // still up while the wall clock stands still
		waitTick("kept the leg up", func(a Active) bool { return a.Legs == 1 })
	}
	mu.Lock()
	wall = wall.Add(2 * time.Minute) // silence beyond the dialog timeout
	mu.Unlock()
	waitTick("timed the silent leg out", func(a Active) bool { return a.Legs == 0 })
	if got := mon.Stats().TimedOut; got != 1 {
		t.Errorf("timed out %d dialogs, want 1", got)
	}
}
