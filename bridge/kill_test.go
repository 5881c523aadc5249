package bridge_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

// The kill test re-executes the test binary as a node process; these
// variables tell it what to do.
const (
	helperEnv   = "LICBRIDGE_BRIDGE_TEST_NODE"
	helperRedis = "LICBRIDGE_BRIDGE_TEST_REDIS"
	helperProd  = "LICBRIDGE_BRIDGE_TEST_PRODUCT"
	helperN     = "LICBRIDGE_BRIDGE_TEST_CHANNELS"
	helperLapse = "LICBRIDGE_BRIDGE_TEST_LAPSE"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		if err := nodeProcess(); err != nil {
			fmt.Fprintln(os.Stderr, "node process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// nodeProcess admits N channels against Redis, says READY, and heartbeats
// until it is killed.
func nodeProcess() error {
	n, _ := strconv.Atoi(os.Getenv(helperN))
	lapse, err := time.ParseDuration(os.Getenv(helperLapse))
	if err != nil {
		return err
	}
	ctx := context.Background()
	store, err := redisstore.Dial(ctx, redisstore.Options{Addr: os.Getenv(helperRedis)})
	if err != nil {
		return err
	}
	b, err := bridge.New(bridge.Options{Store: store, Node: "victim", Lapse: lapse, HeartbeatEvery: lapse / 4, Deadline: 5 * time.Second})
	if err != nil {
		return err
	}
	p := os.Getenv(helperProd)
	for i := 0; i < n; i++ {
		if r := b.Admit(ctx, bridge.Request{Product: p, Channel: fmt.Sprint("v", i)}); !r.Admitted {
			return fmt.Errorf("admit v%d: %s", i, r.Reason)
		}
	}
	fmt.Println("READY")
	return b.Run(ctx)
}

// TestKilledNodeLapses kill -9s a real node process holding channels: its
// holdings stop counting within the lapse time, with nobody acting for it.
func TestKilledNodeLapses(t *testing.T) {
	const n, lapse = 5, time.Second
	srv := redistest.Start(t)
	store := dialRedis(t, srv.Addr)
	p := uniqueProduct("g729")
	survivor := realNode(t, store, "survivor", func(o *bridge.Options) { o.Lapse = lapse })
	publish(t, survivor, keys(p, "K1", n))
	running(t, survivor)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperRedis+"="+srv.Addr, helperProd+"="+p,
		helperN+"="+strconv.Itoa(n), helperLapse+"="+lapse.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "READY" {
		t.Fatalf("node process: %q %v", line, err)
	}
	if u := usage(t, survivor, p); u.InUse != n {
		t.Fatalf("victim running: in use %d, want %d", u.InUse, n)
	}
	mustRefuse(t, survivor, p, "s0", bridge.ReasonOverLimit)

	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed := time.Now()

	// The victim's holdings count only until its last heartbeat's expiry,
	// which can be no later than the lapse time after the kill.
	snap, err := store.Snapshot(context.Background(), p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range snap.Nodes {
		if node.Node == "victim" && node.Expires.After(killed.Add(lapse)) {
			t.Fatalf("victim counts until %v, more than %v after the kill", node.Expires, lapse)
		}
	}
	// And then they really are gone: the survivor gets the capacity back.
	waitFor(t, 10*lapse, "the victim's channels to lapse", func() bool {
		return survivor.Admit(context.Background(), bridge.Request{Product: p, Channel: "s0"}).Admitted
	})
	u := usage(t, survivor, p)
	if u.InUse != 1 || nodeInUse(u) != "survivor=1" {
		t.Fatalf("after the lapse: in use %d (%s), want survivor=1 only", u.InUse, nodeInUse(u))
	}
}
