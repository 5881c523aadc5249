package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/licbridge/licbridge/config"
)

// PIDFileName is kept in the state dir by licbridge run so that
// `licbridge license reload` can find the daemon without systemd.
const PIDFileName = "licbridge.pid"

// ClaimStateDir makes dir this process's state dir for its life: it creates
// the dir, takes its lock (LockStateDir) and writes the pid file. release
// removes the pid file and drops the lock.
func ClaimStateDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	unlock, err := LockStateDir(dir)
	if err != nil {
		return nil, err
	}
	removePID, err := writePIDFile(dir)
	if err != nil {
		unlock()
		return nil, err
	}
	return func() { removePID(); unlock() }, nil
}

// LockStateDir takes an exclusive lock on the state dir for the life of the
// process: two daemons on one state dir would share a node ID and a journal.
// The kernel drops the lock when the process dies (kill -9 included), so a
// restart never waits for a stale lock.
func LockStateDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state dir lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			other := "another process"
			if b, err := os.ReadFile(filepath.Join(dir, PIDFileName)); err == nil {
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

// writePIDFile records this process in stateDir; the returned func removes it
// (only if it still names this process, so a newer daemon's file survives).
func writePIDFile(stateDir string) (func(), error) {
	path := filepath.Join(stateDir, PIDFileName)
	pid := os.Getpid()
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	return func() {
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(pid) {
			os.Remove(path)
		}
	}, nil
}

// SignalReload sends SIGHUP (reload the licence keys) to the daemon whose
// state dir is stateDir (empty: the default), and returns its pid.
func SignalReload(stateDir string) (int, error) {
	if stateDir == "" {
		stateDir = config.DefaultStateDir
	}
	pid, err := DaemonPID(stateDir)
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return pid, fmt.Errorf("signal process %d: %v", pid, err)
	}
	return pid, nil
}

// DaemonPID reads the pid file and checks that the process is alive and that
// a daemon holds the state dir's lock, so that a stale file (its process
// gone, the pid reused by a stranger) never makes us signal anyone. The
// binary's name does not matter: it may be installed under any name.
func DaemonPID(stateDir string) (int, error) {
	path := filepath.Join(stateDir, PIDFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("no running licbridge found: %s does not exist (is `licbridge run` running with this --state-dir?)", path)
	}
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: not a process ID: %q", path, strings.TrimSpace(string(b)))
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
		return 0, fmt.Errorf("pid file %s names process %d, which is not running (a stale file)", path, pid)
	}
	held, err := stateDirLocked(stateDir)
	if err != nil {
		return 0, err
	}
	if !held {
		return 0, fmt.Errorf("pid file %s names process %d, but no licbridge holds %s (a stale file)", path, pid, filepath.Join(stateDir, "lock"))
	}
	return pid, nil
}

// stateDirLocked reports whether a process holds the state dir's lock (see
// LockStateDir): a running daemon always does.
func stateDirLocked(stateDir string) (bool, error) {
	f, err := os.Open(filepath.Join(stateDir, "lock"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state dir lock: %w", err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("state dir lock: %w", err)
	}
	// Nobody held it; closing f releases it at once.
	return false, nil
}

// InstanceName names this process in the store's claim on the node ID: the
// host, the state dir and the boot (an earlier run of this very process
// shares all three) and the pid.
func InstanceName(stateDir string) (name, self string) {
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

// SupersededBy reports whether holder is an earlier run of the process named
// self: same host, state dir and boot. Holding the state dir's lock proves
// that run has ended, so its claim may be taken over at once.
func SupersededBy(self string) func(holder string) bool {
	return func(holder string) bool {
		rest, ok := strings.CutPrefix(holder, self+" pid=")
		return ok && rest != strconv.Itoa(os.Getpid())
	}
}
