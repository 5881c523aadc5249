package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licbridge/licbridge/admin"
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

// TestAddrFileGoneWhenRunReturns: the admin address file is removed before
// Run returns. Run used to leave its removal to the admin server's goroutine,
// still shutting down when the process exited, so a stopped daemon could leave
// a file that points show licenses at a daemon that is gone (seen once as a
// failure of cmd/licbridge's TestShowLicensesReadsTheDaemon under load).
func TestAddrFileGoneWhenRunReturns(t *testing.T) {
	for i := range 5 {
		dir := t.TempDir()
		s := settings(t, "no_asterisk: true\nagi: {listen: '127.0.0.1:0'}\nhttp: {listen: '127.0.0.1:0'}\nstate_dir: '"+dir+"'\n")
		d, err := New(context.Background(), Options{Settings: s, NodeID: "addr-file", Journal: "-", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		runErr := make(chan error, 1)
		go func() { runErr <- d.Run(ctx, nil) }()
		if err := d.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, admin.AddrFileName)); err != nil {
			t.Fatalf("round %d: no address file while running: %v", i, err)
		}
		cancel()
		if err := <-runErr; err != nil {
			t.Fatalf("round %d: Run: %v", i, err)
		}
		if _, err := os.Stat(filepath.Join(dir, admin.AddrFileName)); !os.IsNotExist(err) {
			t.Errorf("round %d: the address file is still there when Run has returned (%v)", i, err)
		}
		d.Close()
	}
}
