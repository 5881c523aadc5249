package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
	"github.com/licbridge/licbridge/sipmon/capture/hep"
)

// manifestFile returns one fixture's whole manifest entry.
func manifestFile(t *testing.T, set []string, file string) map[string]any {
	t.Helper()
	var m struct {
		Files []map[string]any `json:"files"`
	}
	if err := json.Unmarshal(fixtures.Read(t, append(set, "manifest.json")...), &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if f["file"] == file {
			return f
		}
	}
	t.Fatalf("%s not in the manifest", file)
	return nil
}

// setClock is a bridge.Clock the test sets.
type setClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *setClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

func (c *setClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestSipmonHEPPublishesWireLegs runs the built `licbridge sipmon hep --redis`
// against a real redis-server (password protected), sends it the HEPv3
// datagrams Asterisk's res_hep sent for a G.729 call (fixture B) up to the
// first BYE, so that both B2BUA legs are up, and reads the store through a
// bridge of its own: the monitor's node (named after the daemon's node ID)
// shows the legs on the wire and the G.729 legs, apart from any admitted or
// passive count. Killed with SIGKILL, its counts stop counting when its last
// heartbeat expires, and not before.
func TestSipmonHEPPublishesWireLegs(t *testing.T) {
	const (
		file     = "B_g729_passthrough_via_asterisk_hep.pcap"
		password = "s3cret-h10"
		daemonID = "pbx1"
		lapse    = time.Minute
	)
	entry := manifestFile(t, []string{"sip", "asterisk"}, file)
	expected := entry["expected"].(map[string]any)
	wantLegs := int(expected["peak_concurrent_legs"].(float64))
	wantG729 := 0
	for _, c := range expected["codec"].(map[string]any) {
		if c == "G729" {
			wantG729++
		}
	}
	wantFax := 0
	if expected["fax"] == true {
		wantFax = wantLegs
	}

	// The datagrams before the first BYE: the legs are answered and not ended.
	var dgrams [][]byte
	for _, d := range hepDatagrams(t, fixtures.Path(t, "sip", "asterisk", file)) {
		var p hep.Packet
		if err := hep.Decode(d, &p); err != nil {
			t.Fatalf("fixture datagram: %v", err)
		}
		if bytes.HasPrefix(p.Payload, []byte("BYE ")) {
			break
		}
		dgrams = append(dgrams, d)
	}
	if len(dgrams) == 0 {
		t.Fatal("no datagram before the first BYE")
	}

	srv := redistest.Start(t)
	srv.Do(t, "CONFIG", "SET", "requirepass", password)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs, err := redisstore.Dial(ctx, redisstore.Options{Addr: srv.Addr, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	clock := &setClock{}
	viewer, err := bridge.New(bridge.Options{Store: rs, Node: "viewer", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()

	// The recording is older than the default dialog timeout by now, and a
	// live monitor closes dialogs on the wall clock: the config allows for it.
	origin := time.Unix(int64(entry["time_origin_epoch"].(float64)), 0)
	cfg := filepath.Join(t.TempDir(), "licbridge.yaml")
	yaml := "node_id: " + daemonID + "\nsipmon:\n  dialog_timeout: " + (time.Since(origin) + time.Hour).Round(time.Second).String() + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cmd := exec.Command(licbridgeBin(t), "--config", cfg, "--log-level", "debug", "sipmon", "hep",
		"--listen", addr, "--network", "udp", "--interval", "20ms", "--lapse", lapse.String(),
		"--redis", "redis://:"+password+"@"+srv.Addr)
	cmd.Env = cleanEnv()
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	kill := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	defer func() {
		kill()
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", tail(stdout.String(), 40), tail(stderr.String(), 80))
		}
	}()

	// The periodic line shows that the listener is up and the store dialed.
	waitFor(t, ctx, exited, &exitErr, "the first periodic line", func() bool { return strings.Contains(stdout.String(), "legs up") })
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, d := range dgrams {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}

	monNode := daemonID + sipmonNodeSuffix
	wire := func(product string) (bridge.ProductUsage, bridge.NodeUsage) {
		us, err := viewer.Usage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if u.Product == product {
				for _, n := range u.Nodes {
					if n.Node == monNode {
						return u, n
					}
				}
				return u, bridge.NodeUsage{}
			}
		}
		return bridge.ProductUsage{Product: product}, bridge.NodeUsage{}
	}
	waitFor(t, ctx, exited, &exitErr, "the wire counts in the store", func() bool {
		u, _ := wire(bridge.WireLegs)
		g, _ := wire("g729")
		return u.Wire == wantLegs && g.Wire == wantG729
	})
	for _, c := range []struct {
		product string
		want    int
	}{{bridge.WireLegs, wantLegs}, {"g729", wantG729}, {"fax", wantFax}} {
		u, n := wire(c.product)
		if n.Node != monNode || n.Wire != c.want || u.Wire != c.want || u.InUse != 0 || u.Total != 0 || u.Observed != 0 || len(n.Keys) != 0 {
			t.Errorf("%s: usage %+v, node %+v; want %d wire legs from %s alone, nothing held or licensed", c.product, u, n, c.want, monNode)
		}
	}

	kill()
	// Each product's expiry is stamped by its own last write, and its own
	// snapshot (what Usage sums) sweeps it: Usage would sweep all products at
	// once.
	nodeAt := func(product string, at time.Time) bridge.NodeSnapshot {
		snap, err := rs.Snapshot(ctx, product, at)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range snap.Nodes {
			if n.Node == monNode {
				return n
			}
		}
		return bridge.NodeSnapshot{}
	}
	for _, c := range []struct {
		product string
		want    int
	}{{bridge.WireLegs, wantLegs}, {"g729", wantG729}, {"fax", wantFax}} {
		expires := nodeAt(c.product, time.Now()).Expires
		// Killed within its lapse: still live, and kept so by --lapse, not
		// the default 15 s (its last heartbeat or publication was at most a
		// third of the lapse ago).
		if until := time.Until(expires); until <= bridge.DefaultLapse || until > lapse {
			t.Fatalf("%s: the killed monitor is live for %v more, want within (%v, %v]", c.product, until, bridge.DefaultLapse, lapse)
		}
		if n := nodeAt(c.product, expires.Add(-time.Millisecond)); n.Node != monNode || n.Wire != c.want {
			t.Errorf("%s just before its expiry: %+v, want %d wire legs", c.product, n, c.want)
		}
		if n := nodeAt(c.product, expires); n.Node != "" {
			t.Errorf("%s at its expiry: %+v, want no node", c.product, n)
		}
	}
	// And Usage, past the last expiry, has no wire leg left.
	clock.Set(time.Now().Add(lapse))
	for _, p := range []string{bridge.WireLegs, "g729", "fax"} {
		if u, _ := wire(p); u.Wire != 0 {
			t.Errorf("%s after the lapse: %d wire legs, want 0", p, u.Wire)
		}
	}
	for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		if strings.Contains(out, password) {
			t.Errorf("the Redis password is in %s", name)
		}
	}
	if !strings.Contains(stderr.String(), "redis://:xxxxx@"+srv.Addr) {
		t.Errorf("the store address is not logged (redacted):\n%s", tail(stderr.String(), 20))
	}
}

// waitFor polls cond until it holds, failing if the command exits (then
// *exitErr says how) or ctx ends.
func waitFor(t *testing.T, ctx context.Context, exited <-chan struct{}, exitErr *error, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-exited:
			t.Fatalf("waiting for %s: the monitor exited: %v", what, *exitErr)
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling a condition, not synchronising
		}
	}
}
