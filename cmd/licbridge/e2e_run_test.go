package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim"
	"github.com/licbridge/licbridge/internal/asterisksim/arisrv"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

// TestE2ERun runs the built daemon against the Asterisk double (AMI, ARI and
// FastAGI over loopback) with two stacked G.729 keys.
func TestE2ERun(t *testing.T) {
	k := newKeyring(t)
	k.add(t, "G729-TEN", "g729", 10)
	k.add(t, "G729-FIVE", "g729", 5)
	k.add(t, "HPEC-TWO", "hpec", 2)
	pbx := asterisksim.StartT(t, asterisksim.Options{})
	d := startDaemon(t, k, append(asteriskFlags(pbx), "--counting", "hpec=call")...)
	pbx.SetAGIAddr(d.agi)
	connected(t, pbx, 1)
	if u := d.usage(t, "g729"); u.Total != 15 || u.InUse != 0 {
		t.Fatalf("g729 at start: %+v, want 0 of 15", u)
	}

	for _, via := range []string{asterisksim.ViaAGI, asterisksim.ViaARI} {
		t.Run("admit to the stacked total via "+via, func(t *testing.T) {
			var calls []*asterisksim.Placed
			for range 15 {
				pl := place(t, pbx, asterisksim.Call{Product: "g729", Via: via, Codec: "g729"})
				if !pl.Admitted() {
					t.Fatalf("call %d: %s %s, want ADMITTED (so far: %s)", len(calls)+1, pl.Status, pl.Reason, statuses(calls))
				}
				calls = append(calls, pl)
			}
			over := place(t, pbx, asterisksim.Call{Product: "g729", Via: via, Codec: "g729"})
			if over.Status != "REJECTED" || over.Reason != "OVER_LIMIT" {
				t.Fatalf("16th call: %s/%s, want REJECTED/OVER_LIMIT", over.Status, over.Reason)
			}
			if u := d.usage(t, "g729"); u.InUse != 15 || u.Total != 15 {
				t.Fatalf("usage %+v, want 15 of 15", u)
			}
			// The hangups come from Asterisk only: no release from the dialplan.
			hangup(t, pbx, append(calls, over)...)
			d.waitUsage(t, "g729", "all released", inUseIs(0))
			again := place(t, pbx, asterisksim.Call{Product: "g729", Via: via})
			if !again.Admitted() {
				t.Fatalf("after the hangups: %s/%s", again.Status, again.Reason)
			}
			hangup(t, pbx, again)
			d.waitUsage(t, "g729", "released", inUseIs(0))
		})
	}

	t.Run("a Local call counts once per call", func(t *testing.T) {
		a := place(t, pbx, asterisksim.Call{Product: "hpec", Via: asterisksim.ViaAGI, Local: true})
		b := place(t, pbx, asterisksim.Call{Product: "hpec", Via: asterisksim.ViaAGI, Local: true})
		for _, pl := range []*asterisksim.Placed{a, b} {
			for i, r := range pl.Results {
				if r["LICBRIDGE_STATUS"] != "ADMITTED" {
					t.Fatalf("Local half %d of %v: %v", i+1, pl.Channels, r)
				}
			}
		}
		if u := d.usage(t, "hpec"); u.InUse != 2 {
			t.Fatalf("two Local calls (four channels) hold %d units, want 2", u.InUse)
		}
		c := place(t, pbx, asterisksim.Call{Product: "hpec", Via: asterisksim.ViaAGI, Local: true})
		if c.Status != "REJECTED" || c.Reason != "OVER_LIMIT" {
			t.Fatalf("third Local call: %s/%s", c.Status, c.Reason)
		}
		hangup(t, pbx, a, b, c)
		d.waitUsage(t, "hpec", "released", inUseIs(0))
	})

	t.Run("a key added mid-run raises the total without a restart", func(t *testing.T) {
		k.add(t, "G729-MORE", "g729", 4)
		d.waitUsage(t, "g729", "total 19", func(u productUse) bool { return u.Total == 19 })
	})

	t.Run("AMI dropped mid-call and back", func(t *testing.T) {
		var calls []*asterisksim.Placed
		for range 3 {
			calls = append(calls, place(t, pbx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI}))
		}
		d.waitUsage(t, "g729", "3 in use", inUseIs(3))
		// One call ends while the connection is down: its events are lost.
		if err := pbx.Vanish(calls[0]); err != nil {
			t.Fatal(err)
		}
		logins := pbx.AMI.Logins()
		pbx.AMI.DropConnections()
		connected(t, pbx, logins+1)
		// Reconciled: the vanished call is released, the others are kept.
		d.waitUsage(t, "g729", "released after reconcile", inUseIs(2))
		// Events flow again after the reconnect: nothing leaks.
		hangup(t, pbx, calls[1:]...)
		d.waitUsage(t, "g729", "released", inUseIs(0))
	})

	t.Run("passive accounting", func(t *testing.T) {
		// Channels that use G.729 or fax without asking show as such in the
		// admin view (the legs-on-the-wire count is the SIP monitor's).
		silent := place(t, pbx, asterisksim.Call{Codec: "g729"})
		plain := place(t, pbx, asterisksim.Call{Codec: "ulaw"})
		fax := place(t, pbx, asterisksim.Call{Fax: true})
		d.waitUsage(t, "g729", "one channel without admission", func(u productUse) bool {
			return u.warns("1 channel(s) use g729 without admission") && u.InUse == 0 && u.Passive == 1
		})
		d.waitUsage(t, "fax", "one fax session without admission", func(u productUse) bool { return u.warns("1 channel(s) use fax without admission") })
		hangup(t, pbx, silent, plain, fax)
		d.waitUsage(t, "g729", "warning gone", func(u productUse) bool { return !u.warns("without admission") && u.Passive == 0 })
		d.waitUsage(t, "fax", "warning gone", func(u productUse) bool { return !u.warns("without admission") })
	})

	t.Run("SIGHUP reloads the keys", func(t *testing.T) {
		d.signal(t, syscall.SIGHUP)
		d.waitLog(t, "SIGHUP: reloading license keys", 5*time.Second)
		if u := d.usage(t, "g729"); u.Total != 19 {
			t.Fatalf("after SIGHUP: %+v", u)
		}
	})

	t.Run("license reload signals the daemon", func(t *testing.T) {
		out := mustRun(t, nil, "license", "reload", "--state-dir", d.stateDir)
		if !strings.Contains(out, fmt.Sprintf("pid %d", d.cmd.Process.Pid)) {
			t.Errorf("reload output does not name the daemon's pid %d: %s", d.cmd.Process.Pid, out)
		}
		d.waitLog(t, "SIGHUP: reloading license keys", 5*time.Second)
		// With no daemon behind the state dir: a clear error, exit 1.
		r := licbridge(t, nil, "license", "reload", "--state-dir", t.TempDir())
		if r.code != 1 || !strings.Contains(r.stderr, "no running licbridge found") {
			t.Errorf("reload with no daemon: exit %d, %s", r.code, r.stderr)
		}
	})

	t.Run("SIGTERM drains", func(t *testing.T) {
		held := place(t, pbx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
		if !held.Admitted() {
			t.Fatalf("%s/%s", held.Status, held.Reason)
		}
		d.signal(t, syscall.SIGTERM)
		d.waitLog(t, "draining: no new admissions; waiting for holdings to end", 5*time.Second)
		late := place(t, pbx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
		if late.AGIStatus != "FAILURE" {
			t.Fatalf("admission while draining: AGISTATUS %s, %s/%s; want FAILURE", late.AGIStatus, late.Status, late.Reason)
		}
		if d.exited() {
			t.Fatal("exited with a call still held")
		}
		if u := d.usage(t, "g729"); u.InUse != 1 {
			t.Fatalf("while draining: %+v, want the held call", u)
		}
		hangup(t, pbx, held, late)
		if err := d.wait(t, 10*time.Second); err != nil {
			t.Fatalf("exit after drain: %v", err)
		}
	})
}

// TestE2ERunCluster runs two daemons, each beside its own Asterisk double, on
// one real redis-server: one cluster total; a kill -9 lets the survivor use the
// dead node's channels once they lapse.
func TestE2ERunCluster(t *testing.T) {
	rs := redistest.Start(t)
	k := newKeyring(t)
	k.add(t, "G729-TEN", "g729", 10)
	pbxA := asterisksim.StartT(t, asterisksim.Options{NoARI: true})
	pbxB := asterisksim.StartT(t, asterisksim.Options{NoARI: true})
	common := []string{"--redis", rs.Addr, "--lapse", "2s"}
	a := startDaemon(t, k, append(append(asteriskFlags(pbxA), common...), "--node-id", "node-a")...)
	b := startDaemon(t, k, append(append(asteriskFlags(pbxB), common...), "--node-id", "node-b")...)
	pbxA.SetAGIAddr(a.agi)
	pbxB.SetAGIAddr(b.agi)
	connected(t, pbxA, 1)
	connected(t, pbxB, 1)
	// Both present the same key: it counts once.
	b.waitUsage(t, "g729", "both nodes live", func(u productUse) bool { return len(u.InUseByNode) == 2 })
	if u := b.usage(t, "g729"); u.Total != 10 {
		t.Fatalf("cluster total %d, want 10 (one key presented twice)", u.Total)
	}

	for i := range 6 {
		if pl := place(t, pbxA, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI}); !pl.Admitted() {
			t.Fatalf("node A call %d: %s/%s", i+1, pl.Status, pl.Reason)
		}
	}
	var onB []*asterisksim.Placed
	for i := range 4 {
		pl := place(t, pbxB, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI})
		if !pl.Admitted() {
			t.Fatalf("node B call %d: %s/%s", i+1, pl.Status, pl.Reason)
		}
		onB = append(onB, pl)
	}
	for name, pbx := range map[string]*asterisksim.PBX{"A": pbxA, "B": pbxB} {
		if pl := place(t, pbx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI}); pl.Status != "REJECTED" || pl.Reason != "OVER_LIMIT" {
			t.Fatalf("11th call in the cluster on node %s: %s/%s", name, pl.Status, pl.Reason)
		}
	}
	if u := b.usage(t, "g729"); u.InUse != 10 || u.InUseByNode["node-a"] != 6 || u.InUseByNode["node-b"] != 4 {
		t.Fatalf("cluster usage %+v", u)
	}

	a.signal(t, syscall.SIGKILL)
	_ = a.wait(t, 5*time.Second)
	b.waitUsage(t, "g729", "node A's channels lapsed", inUseIs(4))
	for i := range 6 {
		if pl := place(t, pbxB, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI}); !pl.Admitted() {
			t.Fatalf("node B, after node A died, call %d: %s/%s", i+1, pl.Status, pl.Reason)
		}
	}
	if pl := place(t, pbxB, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI}); pl.Reason != "OVER_LIMIT" {
		t.Fatalf("past the total on node B alone: %s/%s", pl.Status, pl.Reason)
	}
	hangup(t, pbxB, onB...)
	b.waitUsage(t, "g729", "released", inUseIs(6))
}

// TestE2ERunARIOnly runs a node whose only source of channel life is ARI:
// the release comes from the Stasis application's StasisEnd/hangup events.
func TestE2ERunARIOnly(t *testing.T) {
	k := newKeyring(t)
	k.add(t, "G729-TWO", "g729", 2)
	pbx := asterisksim.StartT(t, asterisksim.Options{NoAMI: true, ARI: arisrv.Options{NoChannelDestroyed: true}})
	d := startDaemon(t, k, asteriskFlags(pbx)...)
	connected(t, pbx, 0)
	a := place(t, pbx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaARI})
	b := place(t, pbx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaARI})
	c := place(t, pbx, asterisksim.Call{Product: "g729", Via: asterisksim.ViaARI})
	if !a.Admitted() || !b.Admitted() || c.Reason != "OVER_LIMIT" {
		t.Fatalf("three calls on two channels: %s", statuses([]*asterisksim.Placed{a, b, c}))
	}
	hangup(t, pbx, a)
	d.waitUsage(t, "g729", "released on the ARI hangup", inUseIs(1))
	hangup(t, pbx, b, c)
	d.waitUsage(t, "g729", "released", inUseIs(0))
}

// TestRunConfigErrors checks that bad settings are refused with a clear error
// before anything starts.
func TestRunConfigErrors(t *testing.T) {
	k := newKeyring(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no channel life", nil, "no source of channel life"},
		{"bad AMI address", []string{"--ami-addr", "localhost"}, "--ami-addr \"localhost\": want HOST:PORT"},
		{"bad ARI URL", []string{"--ari-url", "127.0.0.1:8088"}, "want http://HOST:PORT"},
		{"bad outage", []string{"--no-asterisk", "--outage", "maybe"}, "store outage"},
		{"bad counting", []string{"--no-asterisk", "--counting", "g729"}, "want PRODUCT=VALUE"},
		{"bad node ID", []string{"--no-asterisk", "--node-id", "a b"}, "node ID \"a b\""},
		{"HTTP off loopback without a token", []string{"--no-asterisk", "--http-listen", "0.0.0.0:0"}, "token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--state-dir", t.TempDir(), "--no-default-dirs", "--host-id", e2eHost,
				"--licenses-dir", k.dir, "--issuer-pub", k.pub, "--agi-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, tc.args...)
			r := licbridge(t, nil, args...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// TestRunSecretsNotLogged checks that no secret reaches the logs.
func TestRunSecretsNotLogged(t *testing.T) {
	k := newKeyring(t)
	k.add(t, "G729-ONE", "g729", 1)
	pbx := asterisksim.StartT(t, asterisksim.Options{})
	d := startDaemon(t, k, append(asteriskFlags(pbx), "--http-token", "tok-s3cr3t")...)
	connected(t, pbx, 1)
	d.signal(t, syscall.SIGTERM)
	if err := d.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"licsecret", "tok-s3cr3t"} {
		if strings.Contains(d.logs.String(), secret) {
			t.Errorf("the logs contain the secret %q", secret)
		}
	}
}

// TestE2ERunWrongSecret: refused AMI credentials stop the daemon with a clear
// error instead of a retry loop.
func TestE2ERunWrongSecret(t *testing.T) {
	k := newKeyring(t)
	pbx := asterisksim.StartT(t, asterisksim.Options{NoARI: true})
	r := licbridge(t, nil, "run", "--state-dir", t.TempDir(), "--no-default-dirs", "--host-id", e2eHost,
		"--licenses-dir", k.dir, "--issuer-pub", k.pub, "--agi-listen", "127.0.0.1:0", "--http-listen", "off",
		"--ami-addr", pbx.AMIAddr(), "--ami-user", "licbridge", "--ami-secret", "wrong-one")
	if r.code == 0 || !strings.Contains(r.stderr, "authentication failed") || strings.Contains(r.stderr, "wrong-one") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
