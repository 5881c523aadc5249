package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// pidFileName is kept in the state dir by licbridge run so that
// `licbridge license reload` can find the daemon without systemd.
const pidFileName = "licbridge.pid"

// writePIDFile records this process in stateDir; the returned func removes it
// (only if it still names this process, so a newer daemon's file survives).
func writePIDFile(stateDir string) (func(), error) {
	path := filepath.Join(stateDir, pidFileName)
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

// daemonPID reads the pid file and checks that the process is alive and that a
// daemon holds the state dir's lock, so that a stale file (its process gone,
// the pid reused by a stranger) never makes us signal anyone. The binary's
// name does not matter: it may be installed or copied under any name.
func daemonPID(stateDir string) (int, error) {
	path := filepath.Join(stateDir, pidFileName)
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
// lockStateDir): a running daemon always does.
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

// reloadCommand asks the running daemon to reload its license keys: the same
// as SIGHUP or `systemctl reload licbridge`.
func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "reload",
		Usage: "make the running licbridge reload its license keys now (same as SIGHUP)",
		Description: "The daemon also watches its license directories, so a new key file counts within a\n" +
			"second by itself; reload is for file systems that do not report changes (NFS, say).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state-dir", Usage: "the daemon's state dir, where it keeps its pid file (default " + defaultStateDir + "; config state_dir)", EnvVars: []string{"LICBRIDGE_STATE_DIR"}},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			overrideString(c, "state-dir", &cfg.StateDir)
			if cfg.StateDir == "" {
				cfg.StateDir = defaultStateDir
			}
			pid, err := daemonPID(cfg.StateDir)
			if err != nil {
				return cli.Exit("license reload: "+err.Error(), 1)
			}
			if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
				return cli.Exit(fmt.Sprintf("license reload: signal process %d: %v", pid, err), 1)
			}
			fmt.Fprintf(c.App.Writer, "asked licbridge (pid %d) to reload its license keys; its log says what it loaded\n", pid)
			return nil
		},
	}
}
