package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// writeRunConfig writes a minimal config for a node without Asterisk (the
// config form of --no-asterisk): FastAGI and HTTP on free loopback ports, a
// state dir of its own, the keyring's keys and issuer, the embedded store.
func writeRunConfig(t *testing.T, k *keyring, stateDir string) string {
	t.Helper()
	cfg := fmt.Sprintf(`state_dir: %q
licenses_dirs: [%q]
issuer_pub: [%q]
host_id: %s
no_asterisk: true
agi:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
`, stateDir, k.dir, k.pub, e2eHost)
	path := filepath.Join(t.TempDir(), "licbridge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkReadyFromConfig waits for the ready line, checks that the config was
// what the daemon ran with (its key, its loopback HTTP port, its state dir)
// and that SIGTERM stops it cleanly, as systemd does.
func checkReadyFromConfig(t *testing.T, d *daemon, stateDir string) {
	t.Helper()
	loaded := d.waitLog(t, "licenses loaded", 20*time.Second)
	if got := fmt.Sprint(loaded["files"]); got != "1" {
		t.Errorf("licenses loaded files=%s, want 1 (the config's licenses_dirs): %v", got, loaded)
	}
	ready := d.waitLog(t, "licbridge ready", 20*time.Second)
	d.http, _ = ready["http"].(string)
	if !strings.HasPrefix(d.http, "127.0.0.1:") || d.http == "127.0.0.1:8089" {
		t.Errorf("ready line http=%q: want the config's 127.0.0.1:0 (a free port)", d.http)
	}
	if u := d.usage(t, "g729"); u.Total != 5 {
		t.Errorf("g729 total %d through the admin API, want 5", u.Total)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "node-id")); err != nil {
		t.Errorf("state dir of the config not used: %v", err)
	}
	d.signal(t, syscall.SIGTERM)
	if err := d.wait(t, 20*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, tail(d.logs.String(), 20))
	}
}

// TestRunConfigAfterCommand: `licbridge run --config FILE` (the demo's and the
// README's form) runs, with global flags after the subcommand too. Before the
// argument reordering it failed with "flag provided but not defined: -config".
func TestRunConfigAfterCommand(t *testing.T) {
	k := newKeyring(t)
	k.add(t, "G729-0A0B0C0D", "g729", 5)
	stateDir := t.TempDir()
	cfg := writeRunConfig(t, k, stateDir)
	d := startCommand(t, "run", "--config", cfg, "--log-format", "json")
	checkReadyFromConfig(t, d, stateDir)
	if !strings.HasPrefix(strings.TrimSpace(d.logs.String()), "{") {
		t.Errorf("--log-format json after run was not applied:\n%s", tail(d.logs.String(), 5))
	}
}

// TestSystemdExecStart runs the shipped unit's ExecStart line as written,
// substituting only the binary (for its install path) and the config file.
func TestSystemdExecStart(t *testing.T) {
	unit, err := os.ReadFile("../../contrib/licbridge.service")
	if err != nil {
		t.Fatal(err)
	}
	var execStart []string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			if execStart != nil {
				t.Fatal("more than one ExecStart= line")
			}
			execStart = strings.Fields(v)
		}
	}
	if len(execStart) < 2 || filepath.Base(execStart[0]) != "licbridge" {
		t.Fatalf("ExecStart %q: want /path/to/licbridge ARGS", execStart)
	}
	if strings.ContainsAny(strings.Join(execStart, " "), `$%"'\`) {
		t.Fatalf("ExecStart %q uses systemd expansion or quoting this test does not model", execStart)
	}

	k := newKeyring(t)
	k.add(t, "G729-0A0B0C0D", "g729", 5)
	stateDir := t.TempDir()
	cfg := writeRunConfig(t, k, stateDir)
	args := append([]string(nil), execStart[1:]...)
	substituted := false
	for i, a := range args {
		switch {
		case (a == "--config" || a == "-config") && i+1 < len(args):
			args[i+1], substituted = cfg, true
		case strings.HasPrefix(a, "--config="):
			args[i], substituted = "--config="+cfg, true
		}
	}
	if !substituted {
		t.Fatalf("ExecStart %q has no --config", execStart)
	}
	d := startCommand(t, args...)
	checkReadyFromConfig(t, d, stateDir)
}

// TestFlagsAfterPositionals runs the README's forms with flags after a
// positional argument through the built binary. Before the reordering,
// `sipmon read F --json` took --json for a file and `license deactivate ...
// ID --host-id H` said the required --host-id was not set.
func TestFlagsAfterPositionals(t *testing.T) {
	t.Run("sipmon read FILE --json", func(t *testing.T) {
		capture := filepath.Join(t.TempDir(), "capture.pcap")
		f, err := os.Create(capture)
		if err != nil {
			t.Fatal(err)
		}
		if err := pcapgo.NewWriter(f).WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		r := licbridge(t, nil, "sipmon", "read", capture, "--json")
		var report map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &report) != nil {
			t.Fatalf("exit %d, stdout not a JSON report:\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("license request ID --out F --host-id H", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "req.json")
		mustRun(t, nil, "license", "request", "G729-ACT1", "--out", out, "--host-id", "0000-0000-0002")
		if data, err := os.ReadFile(out); err != nil || !strings.Contains(string(data), "0000-0000-0002") {
			t.Fatalf("request file for host 0000-0000-0002: %v\n%s", err, data)
		}
	})
}

// TestDemoHintRuns runs the `licbridge run ...` command the demo's closing
// hint prints, exactly as printed, in a directory holding the licbridge.yaml it
// names (the hint tells the admin to write one).
func TestDemoHintRuns(t *testing.T) {
	out := mustRun(t, nil, "demo", "--calls", "1")
	m := regexp.MustCompile(`\((licbridge run [^)]*)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo output has no (licbridge run ...) hint:\n%s", out)
	}
	argv := strings.Fields(m[1])
	cfgName := ""
	for i, a := range argv {
		if a == "--config" && i+1 < len(argv) {
			cfgName = argv[i+1]
		}
	}
	if cfgName == "" || filepath.IsAbs(cfgName) || strings.Contains(cfgName, "/") {
		t.Fatalf("hint %q: want --config NAME of a file in the current directory", m[1])
	}
	k := newKeyring(t)
	k.add(t, "G729-0A0B0C0D", "g729", 5)
	stateDir := t.TempDir()
	dir := t.TempDir()
	cfg, err := os.ReadFile(writeRunConfig(t, k, stateDir))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, cfgName), cfg, 0o640); err != nil {
		t.Fatal(err)
	}
	d := startCommandIn(t, dir, argv[1:]...)
	checkReadyFromConfig(t, d, stateDir)
}
