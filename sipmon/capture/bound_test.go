package capture_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture"
)

// openFDs counts this process's open descriptors (Linux /proc).
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// TestReadDirBoundsOpenFiles: 500 captures overlapping in time (copies of one)
// used to be opened all at once (one descriptor each, and with gzip a few MiB of
// buffers each). Now at most MaxOpen are, every message is still delivered, and
// the error says that the order could not be kept.
func TestReadDirBoundsOpenFiles(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "03a_rejected_486_busy_linux_sll.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	count := func(path string) (int, error) {
		n := 0
		_, err := capture.ReadPaths(context.Background(), []capture.Input{{Path: path}}, func(*capture.Message) error { n++; return nil })
		return n, err
	}
	one, err := count(filepath.Join("testdata", "03a_rejected_486_busy_linux_sll.pcap"))
	if err != nil || one == 0 {
		t.Fatalf("reference capture: %d messages, %v", one, err)
	}
	const files = 500
	dir := t.TempDir()
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("c%04d.pcap", i)), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := openFDs(t)
	peak, n := 0, 0
	_, err = capture.ReadPaths(context.Background(), []capture.Input{{Path: dir}}, func(*capture.Message) error {
		// Sampled: the old code had every file open from the first message on.
		if n%50 == 0 {
			peak = max(peak, openFDs(t)-base)
		}
		n++
		return nil
	}, capture.ReadOptions{MaxOpen: 16})
	if peak > 16+2 {
		t.Errorf("up to %d more descriptors open while reading, want at most MaxOpen (16) and a little", peak)
	}
	if n != files*one {
		t.Errorf("%d messages, want %d", n, files*one)
	}
	if err == nil || !strings.Contains(err.Error(), "out of time order") {
		t.Errorf("err %v, want one saying the order was not kept", err)
	}
}

// TestReadPathsRefusesPipe: a named pipe given as a capture used to block the
// read in open(2) (no writer) or read(2), where neither the context nor SIGTERM
// reached it. It is refused, named, and the other inputs are read.
func TestReadPathsRefusesPipe(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "live.pcap")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	good := filepath.Join("testdata", "03a_rejected_486_busy_linux_sll.pcap")
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n := 0
		_, err := capture.ReadPaths(context.Background(), []capture.Input{{Path: fifo}, {Path: good}, {Path: dir}},
			func(*capture.Message) error { n++; return nil })
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		if !errors.Is(r.err, capture.ErrNotRegular) || !strings.Contains(r.err.Error(), fifo+": not a regular file (named pipe)") {
			t.Errorf("err %v, want the pipe named as not a regular file", r.err)
		}
		if r.n == 0 {
			t.Error("the good capture was not read")
		}
	case <-time.After(10 * time.Second): // a failure guard only
		t.Fatal("reading a named pipe blocked")
	}
}
