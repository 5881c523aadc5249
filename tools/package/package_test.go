package main

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the licbridge repository this module sits in.
const repoRoot = "../.."

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (it comes with dpkg)", name)
		}
		t.Skipf("%s is missing: this test needs a Debian system", name)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildDeb packages binary into a temporary dir.
func buildDeb(t *testing.T, binary string) string {
	t.Helper()
	deb, err := build(repoRoot, binary, "v1.2.3-4-gabcdef-dirty", "amd64", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return deb
}

func TestDebVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3": "1.2.3", "1.2.3-4-gabc-dirty": "1.2.3-4-gabc-dirty", "abc123": "0.0.0~abc123", "": "0.0.0", "dev": "0.0.0~dev",
	} {
		if got := debVersion(in); got != want {
			t.Errorf("debVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPackageContents builds the .deb (over a stand-in binary) and reads it
// back with dpkg-deb: the files, their modes, the conffile and the script.
func TestPackageContents(t *testing.T) {
	dpkgDeb := tool(t, "dpkg-deb")
	dir := t.TempDir()
	bin := filepath.Join(dir, "licbridge")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho licbridge\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	deb := buildDeb(t, bin)

	list := run(t, dpkgDeb, "-c", deb)
	for path, mode := range map[string]string{
		"." + binPath: "-rwxr-xr-x", "." + unitPath: "-rw-r--r--", "." + configPath: "-rw-r-----",
		"./etc/licbridge/": "drwxr-x---", "." + stateDir + "/": "drwxr-x---",
	} {
		line := ""
		for _, l := range strings.Split(list, "\n") {
			if strings.HasSuffix(l, " "+path) {
				line = l
			}
		}
		if !strings.HasPrefix(line, mode) {
			t.Errorf("%s: %q, want mode %s\n%s", path, line, mode, list)
		}
	}
	info := run(t, dpkgDeb, "-I", deb)
	for _, want := range []string{"Package: licbridge", "Version: 1.2.3", "Architecture: amd64", "postinst", "conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	ctl := t.TempDir()
	run(t, dpkgDeb, "-e", deb, ctl)
	conf, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if strings.TrimSpace(string(conf)) != configPath {
		t.Errorf("conffiles %q, want %s", conf, configPath)
	}
	post, _ := os.ReadFile(filepath.Join(ctl, "postinst"))
	if !strings.Contains(string(post), "licbridge") || !strings.Contains(string(post), "--system") {
		t.Errorf("postinst makes no system user:\n%s", post)
	}
	// The unit starts the binary the package installs.
	unit, _ := os.ReadFile(filepath.Join(repoRoot, "contrib/licbridge.service"))
	if !strings.Contains(string(unit), "ExecStart="+binPath+" ") {
		t.Errorf("the unit's ExecStart does not name %s", binPath)
	}
}

// TestPackageInstallsAndStarts (CI, as root): the real binary's package
// installs with dpkg -i, makes the licbridge user, and the unit's ExecStart,
// run as that user, starts a daemon that answers /healthz.
func TestPackageInstallsAndStarts(t *testing.T) {
	if os.Getenv("CI") != "true" || os.Geteuid() != 0 {
		t.Skip("installs a package on the machine: runs under CI=true as root only")
	}
	dpkg := tool(t, "dpkg")
	binDir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(binDir, "licbridge"), "./cmd/licbridge")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	deb := buildDeb(t, filepath.Join(binDir, "licbridge"))
	t.Log("built", deb)
	// --force-confnew: a config left by an earlier install must not stop dpkg at a prompt.
	run(t, dpkg, "-i", "--force-confnew", deb)
	t.Cleanup(func() {
		exec.Command(dpkg, "--purge", "licbridge").Run()
		// What the test and the daemon left there (dpkg keeps unknown files).
		os.RemoveAll("/etc/licbridge")
		os.RemoveAll(stateDir)
	})
	run(t, "id", "licbridge")
	if owner := run(t, "stat", "-c", "%U", stateDir); strings.TrimSpace(owner) != "licbridge" {
		t.Errorf("%s owned by %s, want licbridge", stateDir, owner)
	}
	// The one thing the admin must add: a trusted issuer's public key.
	keys := t.TempDir()
	run(t, binPath, "license", "keygen", "--out", keys)
	run(t, "install", "-m", "0644", filepath.Join(keys, "issuer.pub"), "/etc/licbridge/issuer.pub")

	os.Remove(filepath.Join(stateDir, "admin-addr"))
	execStart := unitExecStart(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	args := append([]string{"-u", "licbridge", "--"}, strings.Fields(execStart)...)
	d := exec.CommandContext(ctx, "runuser", args...)
	// Free ports instead of the config's fixed ones, as systemd's Environment= would.
	d.Env = append(os.Environ(), "LICBRIDGE_HTTP_LISTEN=127.0.0.1:0", "LICBRIDGE_AGI_LISTEN=127.0.0.1:0")
	var logs lockedBuffer
	d.Stdout, d.Stderr = &logs, &logs
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	// runuser ignores SIGINT while it waits for its child; SIGTERM it passes
	// on, and the daemon drains (nothing held) and exits.
	defer func() {
		d.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			d.Process.Kill()
			t.Errorf("the daemon did not stop on SIGTERM:\n%s", logs.String())
		}
	}()
	addrFile := filepath.Join(stateDir, "admin-addr")
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			base := strings.TrimSpace(string(b))
			if !strings.Contains(base, "://") {
				base = "http://" + base
			}
			resp, err := http.Get(base + "/healthz")
			if err == nil && resp.StatusCode == 200 {
				resp.Body.Close()
				return
			}
		}
		if ctx.Err() != nil || d.ProcessState != nil {
			t.Fatalf("the daemon did not answer /healthz:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unitExecStart is the ExecStart line of the installed unit.
func unitExecStart(t *testing.T) string {
	f, err := os.Open(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ExecStart="); ok {
			return v
		}
	}
	t.Fatal("no ExecStart in the installed unit")
	return ""
}

// lockedBuffer collects the daemon's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
