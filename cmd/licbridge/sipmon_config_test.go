package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/licbridge/licbridge/internal/fixtures"
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
			if err := decodeConfig([]byte(tc.yaml), cfg); err != nil {
				t.Fatal(err)
			}
			var got sipmon.Config
			var gotErr error
			app := &cli.App{Flags: sipmonTrackingFlags(), Action: func(c *cli.Context) error {
				got, gotErr = sipmonSettings(c, cfg)
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
			if got != tc.want {
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
