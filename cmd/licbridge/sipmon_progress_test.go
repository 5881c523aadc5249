package main

import (
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	cases := []struct {
		name        string
		msgs        int64
		elapsed     time.Duration
		read, total int64
		tty         bool
		want        string
	}{
		{"terminal with bytes", 52500, 5 * time.Second, 25 << 20, 50 << 20, true,
			"[###############...............]  50% 25.0 MiB / 50.0 MiB  52.5k SIP messages, 10.5k msg/s, 5s"},
		{"log line, no bar", 52500, 5 * time.Second, 25 << 20, 50 << 20, false,
			"25.0 MiB / 50.0 MiB  52.5k SIP messages, 10.5k msg/s, 5s"},
		{"bytes unknown", 900, 10 * time.Second, 0, 50 << 20, true,
			"900 SIP messages, 90 msg/s, 10s"},
		{"read beyond the inputs is capped", 1, time.Second, 80 << 20, 50 << 20, true,
			"[##############################] 100% 50.0 MiB / 50.0 MiB  1 SIP messages, 1 msg/s, 1s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := progressLine(tc.msgs, tc.elapsed, tc.read, tc.total, tc.tty); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
