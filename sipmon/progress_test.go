package sipmon

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
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

// TestProgressFollowsTheRead draws the progress of a real read of two
// captures, once before it starts and once after it ends: the bytes come from
// the capture reader (all of both files, as stored on disk) and the messages
// from the monitor.
func TestProgressFollowsTheRead(t *testing.T) {
	paths := []string{
		fixtures.Path(t, "sip", "asterisk", "C_concurrency_60calls_max12_via_asterisk.pcap"),
		fixtures.Path(t, "sip", "07_g729_call.pcap"),
	}
	var size int64
	inputs := make([]capture.Input, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
		inputs[i] = capture.Input{Path: p}
	}
	read := &capture.Progress{}
	mon := New(Config{})
	drawn := make(chan struct{})
	line := func() string {
		s := readProgress(read, mon, time.Now(), false)()
		drawn <- struct{}{}
		return s
	}
	var out syncBuffer
	p := &progress{done: make(chan struct{})}
	ticks := make(chan time.Time)
	ended := make(chan struct{})
	go func() {
		p.draw(&out, false, ticks, line)
		close(ended)
	}()
	ticks <- time.Now()
	<-drawn // before the read
	if _, err := capture.ReadPaths(context.Background(), inputs, mon.Handle, capture.ReadOptions{Progress: read}); err != nil {
		t.Fatal(err)
	}
	ticks <- time.Now()
	<-drawn // after it
	close(p.done)
	<-ended

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), out.String())
	}
	if strings.Contains(lines[0], " / ") || !strings.Contains(lines[0], " 0 SIP messages") {
		t.Errorf("before the read: %q, want no bytes and no messages", lines[0])
	}
	msgs := mon.Stats().SIPMessages
	wantBytes := humanBytes(size) + " / " + humanBytes(size)
	if msgs == 0 || !strings.Contains(lines[1], wantBytes) || !strings.Contains(lines[1], " "+humanCount(msgs)+" SIP messages") {
		t.Errorf("after the read: %q, want %q and %d SIP messages", lines[1], wantBytes, msgs)
	}
}

// syncBuffer is a bytes.Buffer safe for the drawing goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
