package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/config"
)

// TestMonitorNodeID: a standalone monitor is named after the daemon's node
// (configured, or kept in the state dir) and is never the daemon itself.
func TestMonitorNodeID(t *testing.T) {
	kept := t.TempDir()
	if err := os.WriteFile(filepath.Join(kept, "node-id"), []byte("pbx7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, nodeID, stateDir, given, want, wantErr string
	}{
		{name: "configured", nodeID: "pbx1", stateDir: t.TempDir(), want: "pbx1" + MonitorNodeSuffix},
		{name: "kept", stateDir: kept, want: "pbx7" + MonitorNodeSuffix},
		{name: "given", nodeID: "pbx1", given: "tap-1", want: "tap-1"},
		{name: "the daemon's own", stateDir: kept, given: "pbx7", wantErr: "own ID"},
		{name: "bad name", given: "tap 1", wantErr: "--node-id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MonitorNodeID(tc.given, &config.Config{NodeID: tc.nodeID, StateDir: tc.stateDir})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want an error naming %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestTrackingRejectsNegative: a negative tracking setting names its key.
func TestTrackingRejectsNegative(t *testing.T) {
	for key, sc := range map[string]config.SIPMonConfig{
		"sipmon.dialog_timeout":   {DialogTimeout: -time.Second},
		"sipmon.sensor_tolerance": {SensorTolerance: -time.Second},
		"sipmon.max_dialogs":      {MaxDialogs: -1},
	} {
		if _, err := Tracking(sc, nil); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: err %v, want one naming it", key, err)
		}
	}
}

// TestNoStoreNamed: without store.redis there are no statistics to open and
// no side monitor is built; a filter alone is an error.
func TestNoStoreNamed(t *testing.T) {
	if _, _, err := OpenStatsStore(context.Background(), config.StoreConfig{}); !errors.Is(err, ErrNoStore) {
		t.Errorf("OpenStatsStore: %v, want ErrNoStore", err)
	}
	if m, err := newSideMonitor(config.SIPMonConfig{}, nil, nil); m != nil || err != nil {
		t.Errorf("no input: %v, %v; want none", m, err)
	}
	if _, err := newSideMonitor(config.SIPMonConfig{Filter: "port 5060"}, nil, nil); err == nil || !strings.Contains(err.Error(), "without an interface") {
		t.Errorf("filter alone: %v", err)
	}
	if _, err := TrustedIssuers(nil); err == nil || !strings.Contains(err.Error(), "--issuer-pub") {
		t.Errorf("TrustedIssuers(nil): %v", err)
	}
}
