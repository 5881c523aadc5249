package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/licbridge/licbridge/license"
)

// The package's end-to-end tests run the built binary. TestMain builds it once;
// other e2e tests of this package should call licbridgeBin(t) rather than add a
// second TestMain.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// licbridgeBin returns the path of the licbridge binary built from this tree.
func licbridgeBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "licbridge-e2e-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "licbridge")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// cleanEnv is this process's environment without LICBRIDGE_* variables, so
// that a developer's settings do not leak into the binary under test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LICBRIDGE_") {
			env = append(env, kv)
		}
	}
	if raceEnabled {
		// A race in the daemon stops it at once, so the test that met it fails.
		env = append(env, "GORACE=halt_on_error=1")
	}
	return env
}

type result struct {
	stdout, stderr string
	code           int
}

// licbridge runs the binary with args and a clean LICBRIDGE_* environment plus env.
func licbridge(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(licbridgeBin(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run licbridge %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func mustRun(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := licbridge(t, env, args...)
	if r.code != 0 {
		t.Fatalf("licbridge %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// showJSON is the --json shape of show licenses that the tests read.
type showJSON struct {
	HostID   string `json:"host_id"`
	Products []struct {
		Product       string `json:"name"`
		TotalChannels int    `json:"total"`
		Keys          []struct {
			KeyID    string `json:"id"`
			File     string `json:"file"`
			Channels int    `json:"channels"`
			Status   string `json:"status"`
			Reason   string `json:"reason"`
		} `json:"keys"`
	} `json:"products"`
	Problems []string `json:"problems"`
}

func (s showJSON) total(product string) int {
	for _, p := range s.Products {
		if p.Product == product {
			return p.TotalChannels
		}
	}
	return 0
}

func (s showJSON) key(file string) (status, reason string) {
	for _, p := range s.Products {
		for _, k := range p.Keys {
			if filepath.Base(k.File) == file {
				// The view's statuses (VALID, EXPIRING, GRACE, IGNORED, ...)
				// as license's: the first three count, so are valid.
				switch k.Status {
				case "VALID", "EXPIRING", "GRACE":
					return "valid", k.Reason
				}
				return strings.ToLower(k.Status), k.Reason
			}
		}
	}
	return "", ""
}

func TestE2ELicenses(t *testing.T) {
	const host = "A1B2-C3D4-E5F6"
	const otherHost = "0000-1111-2222"
	dir := t.TempDir()
	iss, lic := filepath.Join(dir, "issuer"), filepath.Join(dir, "licenses")
	if err := os.Mkdir(lic, 0o755); err != nil {
		t.Fatal(err)
	}

	mustRun(t, nil, "license", "keygen", "--out", iss)
	st, err := os.Stat(filepath.Join(iss, "issuer.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("issuer.key: %v, mode %v; want 0600", err, st.Mode())
	}
	if r := licbridge(t, nil, "license", "keygen", "--out", iss); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("keygen over an existing key: exit %d %s", r.code, r.stderr)
	}
	key, pub := filepath.Join(iss, "issuer.key"), filepath.Join(iss, "issuer.pub")
	issue := func(out string, args ...string) {
		t.Helper()
		mustRun(t, nil, append([]string{"license", "issue", "--issuer-key", key, "--out", filepath.Join(lic, out)}, args...)...)
	}
	show := func(t *testing.T, env []string, args ...string) showJSON {
		t.Helper()
		out := mustRun(t, env, append([]string{"show", "licenses", "--no-default-dirs", "--licenses-dir", lic, "--host-id", host, "--json"}, args...)...)
		var v showJSON
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("show --json: %v\n%s", err, out)
		}
		return v
	}

	issue("g729-10.lic", "--product", "g729", "--channels", "10", "--host-id", host)
	issue("g729-5.lic", "--product", "g729", "--channels", "5", "--host-id", strings.ToLower(host))
	v := show(t, nil, "--issuer-pub", pub)
	if v.total("g729") != 15 || v.HostID != host {
		t.Fatalf("g729 total %d (host %s), want 15: %+v", v.total("g729"), v.HostID, v)
	}

	t.Run("text table", func(t *testing.T) {
		out := mustRun(t, nil, "show", "licenses", "--no-default-dirs", "--licenses-dir", lic, "--host-id", host, "--issuer-pub", pub)
		if !strings.Contains(out, "g729: 15 channels licensed (2 of 2 keys valid)") || !strings.Contains(out, "g729-10.lic") {
			t.Fatalf("table:\n%s", out)
		}
	})

	t.Run("tampered key", func(t *testing.T) {
		issue("g729-t.lic", "--product", "g729", "--channels", "5", "--host-id", host)
		p := filepath.Join(lic, "g729-t.lic")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, []byte("Channels: 5"))
		b[i+len("Channels: ")] = '6' // one byte
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		v := show(t, nil, "--issuer-pub", pub)
		if st, reason := v.key("g729-t.lic"); st != "invalid" || reason != "bad signature" {
			t.Fatalf("tampered key: %s %q", st, reason)
		}
		if v.total("g729") != 15 {
			t.Fatalf("total %d after a tampered key, want 15", v.total("g729"))
		}
		out := mustRun(t, nil, "show", "licenses", "--no-default-dirs", "--licenses-dir", lic, "--host-id", host, "--issuer-pub", pub)
		if !strings.Contains(out, "INVALID: bad signature") {
			t.Fatalf("table does not show INVALID: bad signature:\n%s", out)
		}
		r := licbridge(t, nil, "license", "verify", "--issuer-pub", pub, "--host-id", host, p, filepath.Join(lic, "g729-10.lic"))
		if r.code != 1 || !strings.Contains(r.stdout, "g729-t.lic: INVALID: bad signature") || !strings.Contains(r.stdout, "g729-10.lic: valid") {
			t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("another host", func(t *testing.T) {
		issue("other.lic", "--product", "g729", "--channels", "7", "--host-id", otherHost)
		v := show(t, nil, "--issuer-pub", pub)
		st, reason := v.key("other.lic")
		if st != "invalid" || reason != fmt.Sprintf("is for another host ID (file: %s, this host: %s)", otherHost, host) {
			t.Fatalf("other host's key: %s %q", st, reason)
		}
		if v.total("g729") != 15 {
			t.Fatalf("total %d", v.total("g729"))
		}
		r := licbridge(t, nil, "license", "verify", "--issuer-pub", pub, "--host-id", host, filepath.Join(lic, "other.lic"))
		if r.code != 1 || !strings.Contains(r.stdout, otherHost) {
			t.Fatalf("verify with --host-id: exit %d %s", r.code, r.stdout)
		}
	})

	t.Run("ffa keys do not stack", func(t *testing.T) {
		issue("ffa-1.lic", "--product", "ffa", "--channels", "1", "--host-id", host, "--key-id", "FFA-1")
		issue("ffa-2.lic", "--product", "ffa", "--channels", "1", "--host-id", host, "--key-id", "FFA-2")
		v := show(t, nil, "--issuer-pub", pub)
		if v.total("ffa") != 1 {
			t.Fatalf("ffa total %d, want 1", v.total("ffa"))
		}
		if st, reason := v.key("ffa-2.lic"); st != "ignored" || !strings.Contains(reason, "FFA-1") {
			t.Fatalf("second ffa key: %s %q", st, reason)
		}
	})

	t.Run("issuer key from the environment", func(t *testing.T) {
		v := show(t, []string{"LICBRIDGE_ISSUER_PUB=" + pub})
		if v.total("g729") != 15 {
			t.Fatalf("total %d", v.total("g729"))
		}
	})

	t.Run("issuer key from the config file", func(t *testing.T) {
		cfg := filepath.Join(dir, "licbridge.yaml")
		body := fmt.Sprintf("issuer_pub: [%q]\nlicenses_dirs: [%q]\nhost_id: %q\n", pub, lic, host)
		if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		out := mustRun(t, nil, "--config", cfg, "show", "licenses", "--no-default-dirs", "--json")
		var v showJSON
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.total("g729") != 15 {
			t.Fatalf("config: %v, %s", err, out)
		}
	})

	t.Run("no issuer key", func(t *testing.T) {
		r := licbridge(t, nil, "show", "licenses", "--no-default-dirs", "--licenses-dir", lic, "--host-id", host)
		if r.code == 0 || !strings.Contains(r.stderr, "--issuer-pub") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})

	t.Run("missing licenses dir is reported", func(t *testing.T) {
		v := show(t, nil, "--issuer-pub", pub, "--licenses-dir", filepath.Join(dir, "nope"))
		if len(v.Problems) != 1 || !strings.Contains(v.Problems[0], "nope") || v.total("g729") != 15 {
			t.Fatalf("problems %q, total %d", v.Problems, v.total("g729"))
		}
	})
}

func TestE2EHostID(t *testing.T) {
	sys := t.TempDir()
	eth := filepath.Join(sys, "class", "net", "eth0")
	if err := os.MkdirAll(filepath.Join(sys, "devices", "eth0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(eth, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, val := range map[string]string{"type": "1\n", "address": "52:54:00:12:34:56\n"} {
		if err := os.WriteFile(filepath.Join(eth, name), []byte(val), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(sys, "devices", "eth0"), filepath.Join(eth, "device")); err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	want, err := license.HostIDFromMACs([]net.HardwareAddr{mac})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(mustRun(t, []string{"LICBRIDGE_SYSFS=" + sys}, "license", "hostid")); got != string(want) {
		t.Fatalf("hostid %q, want %q", got, want)
	}
	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "class", "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := licbridge(t, []string{"LICBRIDGE_SYSFS=" + empty}, "license", "hostid")
	if r.code != 1 || !strings.Contains(r.stderr, "--host-id") {
		t.Fatalf("no NIC: exit %d, %q", r.code, r.stderr)
	}
}
