//go:build unix

package license_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

// A named pipe called *.lic used to block the load (and, under a Watcher, every
// later reload) in open(2) forever. It is now skipped and reported, the valid key
// beside it loads, and a reload after it is gone works.
func TestLoadSkipsNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.lic", newKey(id("A")))
	fifo := filepath.Join(dir, "fifo.lic")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// A symlink is followed: one to a pipe is a pipe.
	link := filepath.Join(dir, "link.lic")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	// Over-size files are read only up to the bound and reported.
	big := filepath.Join(dir, "big.lic")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}

	w := license.NewWatcher(loadOpts(license.Dir{Path: dir}), license.WatcherOptions{})
	// A failure guard only: the old code never returned.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		s   *license.Set
		err error
	}
	reload := func() *license.Set {
		t.Helper()
		done := make(chan result, 1)
		go func() { s, err := w.Reload(ctx); done <- result{s, err} }()
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatal(r.err)
			}
			return r.s
		case <-ctx.Done():
			t.Fatal("reload blocked on a named pipe")
			return nil
		}
	}
	s := reload()
	if s.Total("g729") != 10 {
		t.Fatalf("total %d, want 10 from a.lic", s.Total("g729"))
	}
	probs := s.Problems()
	for _, p := range []string{fifo, link} {
		if !slices.ContainsFunc(probs, func(s string) bool {
			return strings.Contains(s, p+":") && strings.Contains(s, "not a regular file") && strings.Contains(s, "named pipe")
		}) {
			t.Errorf("no problem naming %s as not a regular file in %q", p, probs)
		}
	}
	if e := entry(t, s, big); e.Status != license.StatusInvalid || !strings.Contains(e.Reason, "larger than") {
		t.Errorf("big.lic: %s %q, want invalid: larger than", e.Status, e.Reason)
	}

	if err := os.Remove(fifo); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	writeKey(t, dir, "b.lic", newKey(id("B"), channels(5)))
	s = reload()
	if s.Total("g729") != 15 || len(s.Problems()) != 0 {
		t.Fatalf("after removing the pipe: total %d problems %q, want 15 and none", s.Total("g729"), s.Problems())
	}
}

// ReadFile (used by "license show FILE") refuses a pipe instead of blocking.
func TestReadFileRefusesPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "k.lic")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := license.ReadFile(fifo); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, license.ErrNotRegular) || !strings.Contains(err.Error(), fifo) {
			t.Fatalf("ReadFile(pipe) = %v, want not a regular file naming it", err)
		}
	case <-time.After(10 * time.Second): // a failure guard only
		t.Fatal("ReadFile blocked on a named pipe")
	}
}
