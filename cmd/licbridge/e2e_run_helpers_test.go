package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim"
	"github.com/licbridge/licbridge/license"
)

// e2eHost is the host ID the run tests' keys are bound to (passed as --host-id).
const e2eHost = "A1B2-C3D4-E5F6"

// keyring is a fresh issuer and a license directory of keys it signed.
type keyring struct {
	dir, pub string
	priv     ed25519.PrivateKey
}

func newKeyring(t testing.TB) *keyring {
	t.Helper()
	root := t.TempDir()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &keyring{dir: filepath.Join(root, "licenses"), pub: filepath.Join(root, "issuer.pub"), priv: priv}
	if err := os.Mkdir(k.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := license.WritePublicKey(&b, pub); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.pub, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}

// add writes a signed key of product for e2eHost into the directory, in one
// rename so that a watching daemon never reads half a file.
func (k *keyring) add(t testing.TB, id, product string, channels int) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	key := license.Key{ID: id, Product: product, Channels: channels, Kind: license.KindCommercial,
		Binding: license.Binding{Type: license.BoundHost, HostID: e2eHost}, Issued: now.Add(-time.Hour), Ends: now.AddDate(1, 0, 0)}
	license.Sign(&key, k.priv)
	var b bytes.Buffer
	if _, err := key.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(k.dir), id+".tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(k.dir, strings.ToLower(id)+".lic")); err != nil {
		t.Fatal(err)
	}
}

// daemon is a running `licbridge run`.
type daemon struct {
	cmd       *exec.Cmd
	agi, http string
	readyLine map[string]any // the "licbridge ready" log line
	stateDir  string
	logs      *syncBuffer // the daemon's stderr, for failure messages
	done      chan struct{}
	exitErr   error
	lines     chan map[string]any
}

// startDaemon runs the built binary with JSON logs, FastAGI and HTTP on free
// loopback ports, a state dir of its own and the keyring's keys, and waits for
// its "licbridge ready" log line.
func startDaemon(t *testing.T, k *keyring, args ...string) *daemon {
	t.Helper()
	stateDir := t.TempDir()
	base := []string{"--log-format", "json", "--log-level", "debug", "run",
		"--agi-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--state-dir", stateDir,
		"--no-default-dirs", "--host-id", e2eHost}
	if k != nil {
		base = append(base, "--licenses-dir", k.dir, "--issuer-pub", k.pub)
	}
	d := startCommand(t, append(base, args...)...)
	d.stateDir = stateDir
	m := d.waitLog(t, "licbridge ready", 20*time.Second)
	d.readyLine = m
	d.agi, _ = m["agi"].(string)
	d.http, _ = m["http"].(string)
	return d
}

// startCommand runs the built binary with exactly args and reads its log lines
// (JSON or slog's text format) from stderr; it stops the process at cleanup.
func startCommand(t *testing.T, args ...string) *daemon {
	t.Helper()
	return startCommandIn(t, "", args...)
}

// startCommandIn is startCommand in working directory dir ("" for the test's).
func startCommandIn(t *testing.T, dir string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(licbridgeBin(t), args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{}), lines: make(chan map[string]any, 1024)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(io.TeeReader(stderr, d.logs))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if m := parseLogLine(sc.Bytes()); m != nil {
				for sent := false; !sent; {
					select {
					case d.lines <- m:
						sent = true
					default: // full: drop the oldest line, nobody waits for it
						select {
						case <-d.lines:
						default:
						}
					}
				}
			}
		}
		d.exitErr = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			if t.Failed() {
				// A goroutine dump in the logs shows where the daemon was.
				_ = cmd.Process.Signal(syscall.SIGQUIT)
				select {
				case <-d.done:
				case <-time.After(2 * time.Second):
				}
			}
			_ = cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("licbridge run logs:\n%s", tail(d.logs.String(), 400))
		}
	})
	return d
}

// parseLogLine decodes one slog line, JSON or text (key=value, values quoted
// where needed); nil for anything else.
func parseLogLine(b []byte) map[string]any {
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		return m
	}
	s := string(b)
	if !strings.HasPrefix(s, "time=") {
		return nil
	}
	m = map[string]any{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		m[k] = v
		s = strings.TrimLeft(rest, " ")
	}
	return m
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitLog waits for a log line whose msg is msg.
func (d *daemon) waitLog(t *testing.T, msg string, within time.Duration) map[string]any {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case m := <-d.lines:
			if m["msg"] == msg {
				return m
			}
		case <-d.done:
			t.Fatalf("licbridge exited (%v) before logging %q:\n%s", d.exitErr, msg, tail(d.logs.String(), 40))
		case <-timeout:
			t.Fatalf("no %q log line within %s:\n%s", msg, within, tail(d.logs.String(), 40))
		}
	}
}

// signal sends sig to the daemon.
func (d *daemon) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit.
func (d *daemon) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-d.done:
		return d.exitErr
	case <-time.After(within):
		t.Fatalf("licbridge still running after %s", within)
		return nil
	}
}

// exited reports whether the process has ended.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// productUse is one product of /api/v1/view.
type productUse struct {
	Name         string         `json:"name"`
	Total        int            `json:"total"`
	InUse        int            `json:"in_use"`
	InUseByNode  map[string]int `json:"in_use_by_node"`
	ObservedLegs *int           `json:"observed_legs"`
	Passive      int            `json:"passive"`
	Warnings     []string       `json:"warnings"`
	Peak14d      int            `json:"peak_14d"`
}

// warns reports whether one of the product's warnings contains s.
func (u productUse) warns(s string) bool {
	for _, w := range u.Warnings {
		if strings.Contains(w, s) {
			return true
		}
	}
	return false
}

var apiClient = &http.Client{Timeout: 5 * time.Second}

// usage reads a product's counts through the admin API.
func (d *daemon) usage(t *testing.T, product string) productUse {
	t.Helper()
	resp, err := apiClient.Get("http://" + d.http + "/api/v1/view")
	if err != nil {
		t.Fatalf("admin API: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Products []productUse `json:"products"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin API: status %d, %v", resp.StatusCode, err)
	}
	for _, p := range body.Products {
		if p.Name == product {
			return p
		}
	}
	return productUse{Name: product}
}

// waitUsage polls the admin API until cond holds for product: the daemon's
// reaction to Asterisk events is asynchronous and this is its outward view.
func (d *daemon) waitUsage(t *testing.T, product, what string, cond func(productUse) bool) productUse {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		u := d.usage(t, product)
		if cond(u) {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never came true; last %+v\n/api/v1/view: %s", product, what, u, d.view(t))
		}
		select {
		case <-d.done:
			t.Fatalf("licbridge exited: %v", d.exitErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// view is the raw /api/v1/view body, for failure messages.
func (d *daemon) view(t *testing.T) string {
	resp, err := apiClient.Get("http://" + d.http + "/api/v1/view")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func inUseIs(n int) func(productUse) bool { return func(u productUse) bool { return u.InUse == n } }

// place places calls and fails the test on a double's error.
func place(t *testing.T, pbx *asterisksim.PBX, c asterisksim.Call) *asterisksim.Placed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pl, err := pbx.Place(ctx, c)
	if err != nil {
		t.Fatalf("place %+v: %v", c, err)
	}
	return pl
}

func hangup(t *testing.T, pbx *asterisksim.PBX, pls ...*asterisksim.Placed) {
	t.Helper()
	for _, pl := range pls {
		if err := pbx.Hangup(pl); err != nil {
			t.Fatalf("hangup %v: %v", pl.Channels, err)
		}
	}
}

// asteriskFlags are the flags that point a daemon at a PBX double.
func asteriskFlags(pbx *asterisksim.PBX) []string {
	var out []string
	if pbx.AMI != nil {
		out = append(out, "--ami-addr", pbx.AMIAddr(), "--ami-user", "licbridge", "--ami-secret", "licsecret")
	}
	if pbx.ARI != nil {
		out = append(out, "--ari-url", pbx.ARIURL(), "--ari-user", "licbridge", "--ari-password", "licsecret")
	}
	return out
}

// connected waits until the daemon is logged in to AMI and its Stasis app is up.
func connected(t *testing.T, pbx *asterisksim.PBX, logins int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if pbx.AMI != nil {
		if err := pbx.AMI.WaitLogins(ctx, logins); err != nil {
			t.Fatalf("AMI login %d: %v", logins, err)
		}
	}
	if pbx.ARI != nil {
		if err := pbx.ARI.WaitConnected(ctx, "licbridge"); err != nil {
			t.Fatalf("ARI app: %v", err)
		}
	}
}

func statuses(pls []*asterisksim.Placed) string {
	var b strings.Builder
	for _, pl := range pls {
		fmt.Fprintf(&b, "%s/%s ", pl.Status, pl.Reason)
	}
	return b.String()
}
