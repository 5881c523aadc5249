package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDaemonPIDAnyName: the daemon may be installed under any name (issue 13);
// what proves the pid file fresh is the state dir's lock, not the name.
func TestDaemonPIDAnyName(t *testing.T) {
	// A process not named licbridge stands in for the daemon.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	for _, tc := range []struct {
		name   string
		locked bool
		want   string // error substring; "" for success
	}{
		{"lock held", true, ""},
		{"stale file", false, "no licbridge holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, PIDFileName), []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.locked {
				release, err := LockStateDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer release()
			}
			pid, err := DaemonPID(dir)
			if tc.want == "" {
				if err != nil || pid != other.Process.Pid {
					t.Fatalf("DaemonPID = %d, %v; want %d", pid, err, other.Process.Pid)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DaemonPID = %d, %v; want an error with %q", pid, err, tc.want)
			}
		})
	}
}
