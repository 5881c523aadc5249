package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReadyReturnsWhenRunStops: a daemon whose Run stops at start (its state
// dir cannot be written, so the admin server cannot record its address) makes
// Ready return that error, instead of waiting for a readiness that never comes
// (it hung until its context ended).
func TestReadyReturnsWhenRunStops(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := settings(t, "no_asterisk: true\nagi: {listen: '127.0.0.1:0'}\nhttp: {listen: '127.0.0.1:0'}\nstate_dir: '"+filepath.Join(file, "state")+"'\n")
	d, err := New(context.Background(), Options{Settings: s, NodeID: "ready", Journal: "-", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v (the state dir is only written by Run)", err)
	}
	t.Cleanup(d.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx, nil) }()
	if err := d.Ready(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("Ready = %v (context: %v), want the start-up error before the context ends", err, ctx.Err())
	} else {
		t.Logf("Ready: %v", err)
	}
	cancel()
	<-runErr
}
