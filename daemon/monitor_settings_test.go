package daemon

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/config"
)

// TestMonitorSettings: sipmon hep|live's settings are checked in order
// (tracking, interval, lapse, node ID), a --lapse flag must be above zero
// while zero in the file means the default, and the node is named only when
// there is a store to publish to.
func TestMonitorSettings(t *testing.T) {
	d := func(v time.Duration) *time.Duration { return &v }
	cases := []struct {
		name    string
		cfg     config.Config
		f       MonitorFlags
		want    MonitorOptions
		wantErr string
	}{
		{name: "no store: no node", f: MonitorFlags{Interval: time.Second},
			want: MonitorOptions{Interval: time.Second}},
		{name: "store: named after the daemon", cfg: config.Config{NodeID: "pbx1", Store: config.StoreConfig{Redis: "r:1", Lapse: 9 * time.Second}},
			f: MonitorFlags{Interval: time.Second}, want: MonitorOptions{Interval: time.Second, NodeID: "pbx1" + MonitorNodeSuffix,
				Store: config.StoreConfig{Redis: "r:1", Lapse: 9 * time.Second}}},
		{name: "a --lapse flag wins", cfg: config.Config{Store: config.StoreConfig{Lapse: 9 * time.Second}},
			f: MonitorFlags{Interval: time.Second, Lapse: d(time.Minute)}, want: MonitorOptions{Interval: time.Second, Store: config.StoreConfig{Lapse: time.Minute}}},
		{name: "bad tracking first", cfg: config.Config{SIPMon: config.SIPMonConfig{MaxDialogs: -1}}, wantErr: "sipmon.max_dialogs"},
		{name: "zero interval", f: MonitorFlags{}, wantErr: "--interval 0s"},
		{name: "zero --lapse", f: MonitorFlags{Interval: time.Second, Lapse: d(0)}, wantErr: "--lapse 0s"},
		{name: "negative lapse in the file", cfg: config.Config{Store: config.StoreConfig{Lapse: -time.Second}},
			f: MonitorFlags{Interval: time.Second}, wantErr: "config store.lapse"},
		{name: "the daemon's own ID", cfg: config.Config{NodeID: "pbx1", Store: config.StoreConfig{Redis: "r:1"}},
			f: MonitorFlags{Interval: time.Second, NodeID: "pbx1"}, wantErr: "own ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			got, err := MonitorSettings(&cfg, tc.f, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Tracking = tc.want.Tracking
			if got.NodeID != tc.want.NodeID || got.Interval != tc.want.Interval || got.Store != tc.want.Store {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestNewLogger: the global --log-level and --log-format, and a bad value
// of each named.
func TestNewLogger(t *testing.T) {
	cases := []struct{ level, format, want, wantErr string }{
		{level: "info", format: "text", want: "level=INFO msg=hello"},
		{level: "INFO", format: "", want: "level=INFO msg=hello"},
		{level: "debug", format: "json", want: `"msg":"hello"`},
		{level: "error", format: "text", want: ""},
		{level: "loud", format: "text", wantErr: "--log-level"},
		{level: "info", format: "xml", wantErr: "--log-format"},
	}
	for _, tc := range cases {
		var b bytes.Buffer
		log, err := NewLogger(&b, tc.level, tc.format)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s/%s: err %v, want one naming %s", tc.level, tc.format, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello")
		if (tc.want == "") != (b.Len() == 0) || !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s/%s: wrote %q, want %q", tc.level, tc.format, b.String(), tc.want)
		}
	}
}
