package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunMonitorReopensFailedInput checks that an input of the built-in
// monitor that fails is reported down by health, reopened with backoff, and
// reported up again; a reopen that fails keeps it down.
func TestRunMonitorReopensFailedInput(t *testing.T) {
	var opens atomic.Int32
	failNow := make(chan struct{})
	reopened := make(chan struct{})
	src := sipmonSource{name: "interface test0", open: func() (func(context.Context) error, error) {
		switch opens.Add(1) {
		case 1: // the first reopen fails
			return nil, errors.New("no such device")
		default:
			close(reopened)
			return func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, nil
		}
	}}
	m := &runMonitor{log: slog.New(slog.DiscardHandler), sources: []sipmonSource{src}, down: map[string]string{}}
	if h := m.health(); !h.OK || h.Detail != "interface test0" {
		t.Fatalf("before: %+v", h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.keep(ctx, src, func(context.Context) error { <-failNow; return errors.New("interface went down") })
	}()
	close(failNow)
	select {
	case <-reopened:
	case <-ctx.Done():
		t.Fatal("the input was never reopened")
	}
	// The open that succeeded clears the down mark right after it returns.
	for h := m.health(); !h.OK; h = m.health() {
		if !strings.Contains(h.Detail, "interface test0: ") {
			t.Fatalf("while down: %+v, want the input named with why", h)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still down after the reopen: %+v", h)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if n := opens.Load(); n != 2 {
		t.Errorf("%d opens, want 2 (one failed, one that worked)", n)
	}
	cancel()
	<-done
}

// TestRunMonitorHealthWhileDown checks the component's words while an input
// is down.
func TestRunMonitorHealthWhileDown(t *testing.T) {
	m := &runMonitor{sources: []sipmonSource{{name: "interface eth1"}, {name: "HEP udp 127.0.0.1:9060"}}, down: map[string]string{}}
	m.setDown("interface eth1", "no such device")
	h := m.health()
	if h.OK || h.Name != "sipmon" || h.Detail != "interface eth1: no such device" {
		t.Fatalf("%+v", h)
	}
	m.setDown("interface eth1", "")
	if h := m.health(); !h.OK || h.Detail != "interface eth1, HEP udp 127.0.0.1:9060" {
		t.Fatalf("after: %+v", h)
	}
}
