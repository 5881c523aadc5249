package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
)

// TestShowLicensesReadsTheDaemon: on a single embedded node, show licenses
// shows what is in use, the peak and the state by asking the running daemon
// (found through the address it records in its state dir), and says plainly
// when no daemon runs (issue 13). Before, it showed keys and totals only.
func TestShowLicensesReadsTheDaemon(t *testing.T) {
	k := newKeyring(t)
	k.add(t, "G729-5D000001", "g729", 5)
	// A short drain: the channel admitted below is still up at SIGTERM.
	d := startDaemon(t, k, "--no-asterisk", "--drain-timeout", "100ms")
	show := []string{"show", "licenses", "--state-dir", d.stateDir, "--no-default-dirs",
		"--licenses-dir", k.dir, "--issuer-pub", k.pub, "--host-id", e2eHost}

	rec, err := os.ReadFile(filepath.Join(d.stateDir, admin.AddrFileName))
	if err != nil || strings.TrimSpace(string(rec)) != "http://"+d.http {
		t.Fatalf("state dir records %q (%v), want http://%s", rec, err, d.http)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := agiclient.Call(ctx, d.agi, agiclient.Channel{Uniqueid: "1700000000.1", Name: "PJSIP/show-1"}, "admit,g729")
	if err != nil || r.Vars["LICBRIDGE_STATUS"] != "ADMITTED" {
		t.Fatalf("admit: %v, %v", r.Vars, err)
	}
	d.waitUsage(t, "g729", "one in use", inUseIs(1))

	out := mustRun(t, nil, show...)
	for _, want := range []string{
		"Usage from the daemon at http://" + d.http,
		"g729: 5 channels licensed (1 of 1 key valid)",
		"in use: 1 of 5 now",
		"14-day peak 1",
		"enforcement: hard, state OK",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show licenses with a daemon running lacks %q:\n%s", want, out)
		}
	}
	js := mustRun(t, nil, append(show, "--json")...)
	if !strings.Contains(js, `"in_use": 1`) || !strings.Contains(js, `"usage": true`) {
		t.Errorf("show licenses --json lacks the daemon's use:\n%s", js)
	}

	d.signal(t, syscall.SIGTERM)
	if err := d.wait(t, 20*time.Second); err != nil {
		t.Fatalf("daemon exit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.stateDir, admin.AddrFileName)); !os.IsNotExist(err) {
		t.Errorf("the address file outlives the daemon: %v", err)
	}
	out = mustRun(t, nil, show...)
	if !strings.Contains(out, "no licbridge daemon runs with state dir "+d.stateDir) || !strings.Contains(out, "keys and totals only") ||
		strings.Contains(out, "in use:") || !strings.Contains(out, "g729: 5 channels licensed") {
		t.Errorf("show licenses without a daemon:\n%s", out)
	}
}
