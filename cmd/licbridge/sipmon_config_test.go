package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/licbridge/licbridge/config"
	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon"
)

// TestSipmonSettings: the sipmon: keys of the config file, the flags over
// them, zero as the default, and bad values named by where they came from.
func TestSipmonSettings(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		args    []string
		want    sipmon.Config
		wantErr string
	}{
		{name: "nothing set: sipmon's defaults (zero)"},
		{name: "from the file",
			yaml: "sipmon:\n  correlation_header: X-CID\n  dialog_timeout: 90m\n  max_dialogs: 500\n  sensor_tolerance: 3s\n",
			want: sipmon.Config{CorrelationHeader: "X-CID", DialogTimeout: 90 * time.Minute, MaxDialogs: 500, SensorTolerance: 3 * time.Second}},
		{name: "flags win over the file",
			yaml: "sipmon:\n  dialog_timeout: 90m\n  max_dialogs: 500\n  sensor_tolerance: 3s\n",
			args: []string{"--dialog-timeout", "5m", "--max-dialogs", "7", "--sensor-tolerance", "1s", "--correlation-header", "X-Other"},
			want: sipmon.Config{CorrelationHeader: "X-Other", DialogTimeout: 5 * time.Minute, MaxDialogs: 7, SensorTolerance: time.Second}},
		{name: "a flag for one setting leaves the others from the file",
			yaml: "sipmon:\n  dialog_timeout: 90m\n  max_dialogs: 500\n",
			args: []string{"--max-dialogs", "7"},
			want: sipmon.Config{DialogTimeout: 90 * time.Minute, MaxDialogs: 7}},
		{name: "negative timeout in the file", yaml: "sipmon:\n  dialog_timeout: -1s\n", wantErr: "config sipmon.dialog_timeout"},
		{name: "negative cap in the file", yaml: "sipmon:\n  max_dialogs: -3\n", wantErr: "config sipmon.max_dialogs"},
		{name: "negative tolerance in the file", yaml: "sipmon:\n  sensor_tolerance: -1s\n", wantErr: "config sipmon.sensor_tolerance"},
		{name: "zero timeout flag", args: []string{"--dialog-timeout", "0s"}, wantErr: "--dialog-timeout"},
		{name: "zero cap flag", args: []string{"--max-dialogs", "0"}, wantErr: "--max-dialogs"},
		{name: "zero tolerance flag", args: []string{"--sensor-tolerance", "0s"}, wantErr: "--sensor-tolerance"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{}
			if err := config.Decode([]byte(tc.yaml), cfg); err != nil {
				t.Fatal(err)
			}
			var got sipmon.Config
			var gotErr error
			app := &cli.App{Flags: configFlags(sipmonTrackingFlags...), Action: func(c *cli.Context) error {
				if gotErr = cfg.Merge(c, sipmonTrackingFlags...); gotErr == nil {
					got, gotErr = licd.Tracking(cfg.SIPMon, nil)
				}
				return nil
			}}
			if err := app.Run(append([]string{"t"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" {
				if gotErr == nil || !strings.Contains(gotErr.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %q", gotErr, tc.wantErr)
				}
				return
			}
			if gotErr != nil {
				t.Fatal(gotErr)
			}
			got.Logger = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestSipmonConfigHonoured reads the Asterisk concurrency capture (24 legs up
// at once) with tight limits from the config file, then with a flag lifting
// them: the report shows each limit acting only when it is in force.
func TestSipmonConfigHonoured(t *testing.T) {
	capture := fixtures.Path(t, "sip", "asterisk", "C_concurrency_60calls_max12_via_asterisk.pcap")
	cases := []struct {
		name    string
		yaml    string
		args    []string
		counter string
		acts    bool
	}{
		{"max_dialogs from the file evicts", "sipmon:\n  max_dialogs: 1\n", nil, "evicted", true},
		{"--max-dialogs overrides the file", "sipmon:\n  max_dialogs: 1\n", []string{"--max-dialogs", "1000"}, "evicted", false},
		{"dialog_timeout from the file times out", "sipmon:\n  dialog_timeout: 1ms\n", nil, "timed_out", true},
		{"--dialog-timeout overrides the file", "sipmon:\n  dialog_timeout: 1ms\n", []string{"--dialog-timeout", "1h"}, "timed_out", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "licbridge.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			app := newApp()
			app.Writer, app.ErrWriter = &out, &errOut
			args := append([]string{"licbridge", "--config", path, "sipmon", "read", "--json"}, tc.args...)
			if err := app.RunContext(context.Background(), append(args, capture)); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			var r map[string]any
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if n := num(r, tc.counter); (n > 0) != tc.acts {
				t.Fatalf("%s = %d; want the limit acting: %v", tc.counter, n, tc.acts)
			}
		})
	}
}

// TestSipmonNodeID: the monitor publishes as a node of its own, named after
// the daemon's node by default, and never as the daemon itself.
func TestSipmonNodeID(t *testing.T) {
	withID := t.TempDir()
	if err := os.WriteFile(filepath.Join(withID, "node-id"), []byte("pbx7-a1b2c3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	host = strings.Trim(config.NodeIDChars.ReplaceAllString(strings.ToLower(strings.Split(host, ".")[0]), "-"), "-")
	if host == "" {
		host = "node"
	}
	long := strings.Repeat("n", 64)
	cases := []struct {
		name    string
		yaml    string
		args    []string
		want    string
		wantErr string
	}{
		{name: "after the daemon's configured ID", yaml: "node_id: pbx1\n", want: "pbx1-sipmon"},
		{name: "after the ID the daemon kept in its state dir", args: []string{"--state-dir", withID}, want: "pbx7-a1b2c3-sipmon"},
		{name: "state dir from the config", yaml: "state_dir: " + withID + "\n", want: "pbx7-a1b2c3-sipmon"},
		{name: "after the host name without a daemon", args: []string{"--state-dir", t.TempDir()}, want: host + "-sipmon"},
		{name: "a long daemon ID is cut to fit", yaml: "node_id: " + long + "\n", want: long[:64-len(sipmonNodeSuffix)] + "-sipmon"},
		{name: "given", yaml: "node_id: pbx1\n", args: []string{"--node-id", "tap-1"}, want: "tap-1"},
		{name: "the daemon's own ID is refused", yaml: "node_id: pbx1\n", args: []string{"--node-id", "pbx1"}, wantErr: "licbridge node's own ID"},
		{name: "the kept daemon ID is refused", args: []string{"--state-dir", withID, "--node-id", "pbx7-a1b2c3"}, wantErr: "own ID"},
		{name: "a bad name", args: []string{"--node-id", "tap 1"}, wantErr: "--node-id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{}
			if err := config.Decode([]byte(tc.yaml), cfg); err != nil {
				t.Fatal(err)
			}
			var got string
			var gotErr error
			app := &cli.App{Flags: sipmonLiveFlags(), Action: func(c *cli.Context) error {
				// startLive's merge, and the node a monitor with a store publishes as.
				cfg.Store.Redis = "127.0.0.1:1"
				if gotErr = cfg.Merge(c, "state-dir"); gotErr == nil {
					var opts licd.MonitorOptions
					opts, gotErr = licd.MonitorSettings(cfg, licd.MonitorFlags{Interval: time.Second, NodeID: c.String("node-id")}, nil)
					got = opts.NodeID
				}
				return nil
			}}
			if err := app.Run(append([]string{"t"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" {
				if gotErr == nil || !strings.Contains(gotErr.Error(), tc.wantErr) {
					t.Fatalf("got %q, err %v; want an error naming %q", got, gotErr, tc.wantErr)
				}
				return
			}
			if gotErr != nil || got != tc.want || !config.NodeIDPattern.MatchString(got) {
				t.Fatalf("got %q (%v), want %q", got, gotErr, tc.want)
			}
		})
	}
}

// TestSipmonLiveRejects: bad store settings stop a live monitor before it
// starts, with exit status 2 and the setting named; a store that does not
// answer is an error too, without the password.
func TestSipmonLiveRejects(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		code     int
		mentions string
	}{
		{"the daemon's node ID", []string{"--redis", "127.0.0.1:1", "--node-id", "pbx1"}, 2, "own ID"},
		{"zero lapse", []string{"--redis", "127.0.0.1:1", "--lapse", "0s"}, 2, "--lapse"},
		{"zero interval", []string{"--interval", "0s"}, 2, "--interval"},
		{"no store there", []string{"--redis", "redis://:s3cret@127.0.0.1:1", "--node-id", "tap-1"}, 1, "127.0.0.1:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "licbridge.yaml")
			if err := os.WriteFile(path, []byte("node_id: pbx1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			app := newApp()
			app.Writer, app.ErrWriter = &out, &errOut
			args := append([]string{"licbridge", "--config", path, "sipmon", "hep", "--listen", "127.0.0.1:0"}, tc.args...)
			err := app.RunContext(context.Background(), args)
			if err == nil {
				t.Fatal("no error")
			}
			if exitCode(err) != tc.code || !strings.Contains(err.Error(), tc.mentions) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q (exit %d), want exit %d naming %q, no password", err, exitCode(err), tc.code, tc.mentions)
			}
		})
	}
}
