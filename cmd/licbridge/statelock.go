package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockStateDir takes an exclusive lock on the state dir for the life of the
// process: two daemons on one state dir would share a node ID and a journal.
// The kernel drops the lock when the process dies (kill -9 included), so a
// restart never waits for a stale lock.
func lockStateDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state dir lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			other := "another process"
			if b, err := os.ReadFile(filepath.Join(dir, pidFileName)); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					other = "licbridge pid " + strconv.Itoa(pid)
				}
			}
			return nil, fmt.Errorf("state dir %s is in use by %s (already running): one daemon per state dir and node ID; stop it, or give this one its own --state-dir and --node-id", dir, other)
		}
		return nil, fmt.Errorf("state dir lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// instanceName names this process in the store's claim on the node ID: the
// host, the state dir and the boot (an earlier run of this very process shares
// all three) and the pid.
func instanceName(stateDir string) (name, self string) {
	host, _ := os.Hostname()
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		dir = stateDir
	}
	boot := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		boot = strings.TrimSpace(string(b))
	}
	self = fmt.Sprintf("host=%s dir=%s boot=%s", host, dir, boot)
	return fmt.Sprintf("%s pid=%d", self, os.Getpid()), self
}

// supersededBy reports whether holder is an earlier run of the process named
// self: same host, state dir and boot. Holding the state dir's lock proves that
// run has ended, so its claim may be taken over at once.
func supersededBy(self string) func(holder string) bool {
	return func(holder string) bool {
		rest, ok := strings.CutPrefix(holder, self+" pid=")
		return ok && rest != strconv.Itoa(os.Getpid())
	}
}
