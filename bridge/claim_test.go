package bridge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

func claimant(t *testing.T, store bridge.Store, instance string, mod ...func(*bridge.Options)) *bridge.Bridge {
	t.Helper()
	return realNode(t, store, "twin", append([]func(*bridge.Options){func(o *bridge.Options) {
		o.Instance = instance
		o.Lapse = time.Second
		o.HeartbeatEvery = 100 * time.Millisecond
	}}, mod...)...)
}

// runUntil runs b.Run and returns its result channel; the run stops at cleanup.
func runUntil(t *testing.T, b *bridge.Bridge) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		for range done { // the test may have taken the result already
		}
	})
	return done
}

// TestOneNodeIDOneProcess: a second process with a live process's node ID
// (a cloned VM that kept its state dir, two daemons on one --node-id) refuses
// to start and names the other; a dead holder's claim is waited out; an
// earlier run of the same process is taken over at once.
func TestOneNodeIDOneProcess(t *testing.T) {
	srv := redistest.Start(t)
	store := dialRedis(t, srv.Addr)
	ctx := context.Background()

	first := claimant(t, store, "host-a pid=1")
	if err := first.Claim(ctx); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	firstRun := runUntil(t, first)

	t.Run("live holder: refused, named", func(t *testing.T) {
		second := claimant(t, store, "host-b pid=2")
		err := second.Claim(ctx)
		var taken *bridge.NodeIDTakenError
		if !errors.As(err, &taken) || !strings.Contains(err.Error(), "host-a pid=1") {
			t.Fatalf("second process on a live node ID: %v, want NodeIDTakenError naming host-a pid=1", err)
		}
	})

	t.Run("earlier run of this process: taken over, the old one stops", func(t *testing.T) {
		restarted := claimant(t, store, "host-a pid=3", func(o *bridge.Options) {
			o.Superseded = func(holder string) bool { return strings.HasPrefix(holder, "host-a ") }
		})
		if err := restarted.Claim(ctx); err != nil {
			t.Fatalf("restart on the same host: %v", err)
		}
		runUntil(t, restarted)
		select {
		case err := <-firstRun:
			var taken *bridge.NodeIDTakenError
			if !errors.As(err, &taken) {
				t.Fatalf("the superseded process stopped with %v, want NodeIDTakenError", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the superseded process kept running under the same node ID")
		}
	})
}

// TestNodeIDOfADeadProcess: a claim nobody renews ends with the lapse, and
// the next process takes the ID.
func TestNodeIDOfADeadProcess(t *testing.T) {
	srv := redistest.Start(t)
	store := dialRedis(t, srv.Addr)
	dead := claimant(t, store, "host-a pid=1")
	if err := dead.Claim(context.Background()); err != nil {
		t.Fatal(err)
	}
	next := claimant(t, store, "host-b pid=2")
	start := time.Now()
	if err := next.Claim(context.Background()); err != nil {
		t.Fatalf("claim after the holder died: %v", err)
	}
	t.Logf("took the ID of a dead process after %v (lapse 1s)", time.Since(start).Round(time.Millisecond))
}

// TestTwinsAfterStoreRestart: two live processes under one ID that both ran
// through a Redis restart (the claim lost): the first heartbeat claims it
// back, the other stops instead of overwriting its holdings.
func TestTwinsAfterStoreRestart(t *testing.T) {
	srv := redistest.Start(t)
	store := dialRedis(t, srv.Addr)
	a := claimant(t, store, "host-a pid=1")
	if err := a.Claim(context.Background()); err != nil {
		t.Fatal(err)
	}
	aRun := runUntil(t, a)
	srv.Do(t, "FLUSHALL") // as a restart with no persistence leaves it
	b := claimant(t, store, "host-b pid=2")
	err := b.Claim(context.Background())
	var taken *bridge.NodeIDTakenError
	if err == nil {
		// b won the race after the flush: a must stop.
		select {
		case err = <-aRun:
		case <-time.After(10 * time.Second):
			t.Fatal("both processes run under one node ID")
		}
	}
	if !errors.As(err, &taken) {
		t.Fatalf("twins after a store restart: %v, want NodeIDTakenError", err)
	}
}
