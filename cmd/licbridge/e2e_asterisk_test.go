package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/internal/testkit/realasterisk"
)

// The end-to-end suite against the real Asterisk 22 (issue 11): the built
// daemon, a private Asterisk started by internal/testkit/realasterisk, calls placed
// through the Gosub routines that `licbridge dialplan` prints. One Asterisk
// serves every scenario of a test; subtests share it and leave it without
// channels.

// readmeManagerUser is the licbridge section of manager.conf exactly as
// README.md prints it (the indented block after "`manager.conf`, for AMI").
func readmeManagerUser(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatalf("README: %v", err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if !strings.Contains(l, "`manager.conf`, for AMI") {
			continue
		}
		var out []string
		for _, l := range lines[i+1:] {
			if strings.HasPrefix(l, "    ") {
				out = append(out, strings.TrimPrefix(l, "    "))
			} else if len(out) > 0 {
				break
			}
		}
		if len(out) == 0 || !strings.HasPrefix(out[0], "[licbridge]") {
			t.Fatalf("README: manager.conf block is not a [licbridge] section: %q", out)
		}
		return strings.Join(out, "\n") + "\n"
	}
	t.Fatal("README: no manager.conf section for licbridge")
	return ""
}

// printedDialplan is what `licbridge dialplan` prints for via, through the
// dialplan package's own generator. The ARI variant's routines are renamed
// licbridge-ari-PRODUCT so that both can live in one extensions.conf; nothing
// else is changed.
func printedDialplan(t *testing.T, via, agiAddr string, products ...string) string {
	t.Helper()
	var b bytes.Buffer
	if err := dialplan.Generate(&b, dialplan.GenerateOptions{Products: products, Via: via, AGIAddr: agiAddr}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if via == dialplan.ViaARI {
		s = strings.ReplaceAll(s, "\n[licbridge-", "\n[licbridge-ari-")
	}
	return s
}

// callerContexts are the test's own contexts: lbtest-VIA-PRODUCT runs the
// printed routine and then answers and waits, so that AMI Originate returns
// once licbridge has decided; lbtest-VIA-PRODUCT-release admits, then runs the
// routine's release extension, as the README shows for a fax call that goes
// on afterwards.
func callerContexts(products ...string) string {
	var b strings.Builder
	for _, via := range []string{"agi", "ari"} {
		routine := "licbridge-"
		if via == "ari" {
			routine = "licbridge-ari-"
		}
		for _, p := range products {
			fmt.Fprintf(&b, `
[lbtest-%[1]s-%[2]s]
exten => s,1,Gosub(%[3]s%[2]s,s,1)
 same => n,Set(LBTEST_RET=${GOSUB_RETVAL})
 same => n,Answer()
 same => n,Wait(120)
 same => n,Hangup()

[lbtest-%[1]s-%[2]s-release]
exten => s,1,Gosub(%[3]s%[2]s,s,1)
 same => n,Set(LBTEST_RET=${GOSUB_RETVAL})
 same => n,Gosub(%[3]s%[2]s,release,1)
 same => n,Set(LBTEST_REL=${GOSUB_RETVAL})
 same => n,Set(LBTEST_REL_STATUS=${LICBRIDGE_STATUS})
 same => n,Answer()
 same => n,Wait(120)
 same => n,Hangup()
`, via, p, routine)
		}
	}
	// A G.729 passthrough call (carol and dave speak only G.729), and a Stasis()
	// call with arguments that are not a request.
	b.WriteString(`
[lbtest-passthrough]
exten => s,1,Dial(PJSIP/dave,20)
 same => n,Hangup()

[lbtest-from-carol]
exten => dave,1,Answer()
 same => n,Echo()

[lbtest-from-dave]
exten => carol,1,Answer()
 same => n,Echo()

[lbtest-stasis-tone]
exten => s,1,Set(LICBRIDGE_STATUS=)
 same => n,Stasis(licbridge,tone)
 same => n,Set(LBTEST_RET=${STASISSTATUS})
 same => n,Answer()
 same => n,Wait(120)
 same => n,Hangup()
`)
	return b.String()
}

// astWorld is one real Asterisk with both printed dialplans, and the daemon
// arguments that point licbridge at it.
type astWorld struct {
	ast     *realasterisk.Asterisk
	k       *keyring
	agiAddr string  // fixed, since the dialplan names it
	cur     *daemon // the daemon started last: one at a time
}

func newAstWorld(t *testing.T) *astWorld {
	t.Helper()
	realasterisk.Find(t) // skip (or fail under CI) before building anything
	k := newKeyring(t)
	k.add(t, "G729-TWO", "g729", 2)
	k.add(t, "G729-ONE", "g729", 1)
	k.add(t, "FAX-ONE", "fax", 1)
	agiAddr := freePort(t) // the node listens here; Asterisk is told before it starts
	products := []string{"g729", "fax"}
	dp := printedDialplan(t, dialplan.ViaAGI, agiAddr, products...) +
		printedDialplan(t, dialplan.ViaARI, agiAddr, products...) +
		callerContexts(products...)
	ast := realasterisk.Start(t, realasterisk.Options{ManagerUser: readmeManagerUser(t), Dialplan: dp})
	if p := ast.Problems(); len(p) > 0 {
		t.Errorf("the printed dialplan loads with warnings:\n%s", strings.Join(p, "\n"))
	}
	return &astWorld{ast: ast, k: k, agiAddr: agiAddr}
}

// flags are the daemon's arguments for this Asterisk; withAMI false makes an
// ARI-only node.
func (w *astWorld) flags(stateDir string, withAMI bool) []string {
	out := []string{"--state-dir", stateDir, "--agi-listen", w.agiAddr,
		"--ari-url", w.ast.ARIURL, "--ari-user", realasterisk.LicbridgeUser, "--ari-password", realasterisk.LicbridgeSecret}
	if withAMI {
		out = append(out, "--ami-addr", w.ast.AMIAddr, "--ami-user", realasterisk.LicbridgeUser, "--ami-secret", realasterisk.LicbridgeSecret)
	}
	return out
}

// start runs the daemon and waits until Asterisk sees it: its AMI session (if
// any) and its Stasis application.
func (w *astWorld) start(t *testing.T, stateDir string, withAMI bool, extra ...string) *daemon {
	t.Helper()
	if w.cur != nil && !w.cur.exited() {
		_ = w.cur.cmd.Process.Kill()
		_ = w.cur.wait(t, 10*time.Second)
	}
	// The previous daemon's AMI session must be gone, or the wait below would
	// see it instead of this daemon's. (A Stasis application stays listed by
	// ARI after its WebSocket closed: the daemon's /readyz tells instead.)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.ast.WaitAMIUser(ctx, realasterisk.LicbridgeUser, false); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, w.k, append(w.flags(stateDir, withAMI), extra...)...)
	w.connected(t, d, withAMI)
	w.cur = d
	return d
}

// connected waits until Asterisk lists the daemon's AMI session and its
// Stasis application, and the daemon's /readyz says AMI and ARI are up.
func (w *astWorld) connected(t *testing.T, d *daemon, withAMI bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if withAMI {
		if err := w.ast.WaitAMIUser(ctx, realasterisk.LicbridgeUser, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.ast.WaitARIApp(ctx, dialplan.DefaultARIApp, true); err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := apiClient.Get("http://" + d.http + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("%s %s", resp.Status, b)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("licbridge /readyz never ready: %v", err)
		case <-d.done:
			t.Fatalf("licbridge exited: %v", d.exitErr)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// astCall is one placed call and what the routine left on its channel.
type astCall struct {
	*realasterisk.Call
	ret, status, reason, lease string
}

func (c astCall) String() string {
	return fmt.Sprintf("%s: GOSUB_RETVAL %s, LICBRIDGE_STATUS %s, LICBRIDGE_REASON %s", c.Half2, c.ret, c.status, c.reason)
}

func (c astCall) admitted() bool { return c.status == "ADMITTED" && c.ret == "ADMITTED" }

func (c astCall) overLimit() bool {
	return c.status == "REJECTED" && c.reason == "OVER_LIMIT" && c.ret == "REJECTED"
}

// call places a call into lbtest-CONTEXT and reads the routine's variables.
func (w *astWorld) call(t *testing.T, context_ string) astCall {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	c, err := w.ast.Originate(ctx, "lbtest-"+context_)
	if err != nil {
		t.Fatalf("call into lbtest-%s: %v\nasterisk:\n%s", context_, err, w.ast.Output(20))
	}
	out := astCall{Call: c}
	for _, v := range []struct {
		name string
		dst  *string
	}{{"LBTEST_RET", &out.ret}, {"LICBRIDGE_STATUS", &out.status}, {"LICBRIDGE_REASON", &out.reason}, {"LICBRIDGE_LEASE", &out.lease}} {
		if *v.dst, err = w.ast.Getvar(ctx, c.Half2, v.name); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// fill places n calls that must all be admitted.
func (w *astWorld) fill(t *testing.T, context_ string, n int) []astCall {
	t.Helper()
	var calls []astCall
	for i := range n {
		c := w.call(t, context_)
		if !c.admitted() {
			t.Fatalf("call %d of %d into lbtest-%s: %s, want ADMITTED", i+1, n, context_, c)
		}
		calls = append(calls, c)
	}
	return calls
}

// hangupAll hangs up every channel Asterisk has and waits until none is left.
func (w *astWorld) hangupAll(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	chans, err := w.ast.Channels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chans {
		_ = w.ast.Hangup(ctx, c.Name) // a Local half may already be gone with its twin
	}
	if _, err := w.ast.WaitChannels(ctx, func(cs []realasterisk.Channel) bool { return len(cs) == 0 }); err != nil {
		t.Fatal(err)
	}
}

// passthrough places a G.729 call between carol and dave (G.729 only on both
// sides, so nothing can translate: a native_rtp bridge) and returns its four
// PJSIP legs once all are up, checking that each reads and writes g729.
func (w *astWorld) passthrough(t *testing.T, d *daemon) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := w.ast.Dial(ctx, "PJSIP/carol", "lbtest-passthrough"); err != nil {
		t.Fatalf("passthrough call: %v\n%s", err, w.ast.Output(20))
	}
	pjsip := func(cs []realasterisk.Channel) map[string]bool {
		up := map[string]bool{}
		for _, c := range cs {
			if strings.HasPrefix(c.Name, "PJSIP/") && c.State == "Up" {
				up[c.Name] = true
			}
		}
		return up
	}
	// Done when the four legs are up, or when legs were seen and all are gone
	// again (something hung the call up).
	most := 0
	chans, err := w.ast.WaitChannels(ctx, func(cs []realasterisk.Channel) bool {
		n := len(pjsip(cs))
		most = max(most, n)
		return n == 4 || most > 0 && len(cs) == 0
	})
	if err != nil || len(pjsip(chans)) != 4 {
		t.Fatalf("passthrough call: %d PJSIP legs up at most, then %d (%v); licbridge's hangups:\n%s",
			most, len(pjsip(chans)), err, grepLines(d.logs.String(), "hanging up"))
	}
	legs := pjsip(chans)
	for name := range legs {
		for _, f := range []string{"CHANNEL(audionativeformat)", "CHANNEL(audioreadformat)", "CHANNEL(audiowriteformat)"} {
			if v, err := w.ast.Getvar(ctx, name, f); err != nil || v != "g729" && v != "(g729)" {
				t.Fatalf("%s %s = %q (%v), want g729 (a passthrough call)", name, f, v, err)
			}
		}
	}
	return legs
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestE2EAsterisk runs the daemon against one real Asterisk 22: admission over
// FastAGI and ARI up to the stacked total, release on hangup, a kill -9 and
// restart of licbridge with calls up (AMI node, ARI-only node), and a stop and
// restart of Asterisk with calls up.
func TestE2EAsterisk(t *testing.T) {
	w := newAstWorld(t)
	stateDir := t.TempDir()
	d := w.start(t, stateDir, true)
	if u := d.usage(t, "g729"); u.Total != 3 || u.InUse != 0 {
		t.Fatalf("g729 at start: %+v, want 0 of 3 (keys 2+1)", u)
	}

	for _, via := range []string{"agi", "ari"} {
		t.Run("admission to the stacked total via "+via, func(t *testing.T) {
			defer w.hangupAll(t)
			calls := w.fill(t, via+"-g729", 3)
			over := w.call(t, via+"-g729")
			if !over.overLimit() {
				t.Fatalf("4th call over a total of 3: %s, want REJECTED/OVER_LIMIT", over)
			}
			if u := d.usage(t, "g729"); u.InUse != 3 {
				t.Fatalf("in use %d with 3 admitted calls up, want 3", u.InUse)
			}
			// Hangups only: the dialplan has no release step.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := w.ast.Hangup(ctx, calls[0].Half2); err != nil {
				t.Fatal(err)
			}
			d.waitUsage(t, "g729", "one call hung up", inUseIs(2))
			w.hangupAll(t)
			d.waitUsage(t, "g729", "all hung up", inUseIs(0))
		})
	}

	for _, via := range []string{"agi", "ari"} {
		t.Run("release from the dialplan via "+via, func(t *testing.T) {
			defer w.hangupAll(t)
			c := w.call(t, via+"-fax-release")
			if c.ret != "ADMITTED" {
				t.Fatalf("fax call: %s, want ADMITTED", c)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rel, err := w.ast.Getvar(ctx, c.Half2, "LBTEST_REL")
			if err != nil {
				t.Fatal(err)
			}
			// FastAGI's answer is the reference: both paths must mean the same.
			if rel != "OK" {
				t.Errorf("release via %s returned %q, want OK", via, rel)
			}
			// The call is still up; the fax unit is free again.
			d.waitUsage(t, "fax", "released from the dialplan", inUseIs(0))
			if again := w.call(t, via+"-fax"); !again.admitted() {
				t.Errorf("second fax call on a 1-unit key after the release: %s", again)
			}
		})
	}

	t.Run("Stasis with arguments that are no request", func(t *testing.T) {
		defer w.hangupAll(t)
		c := w.call(t, "stasis-tone")
		if c.reason != "BAD_REQUEST" {
			t.Errorf("Stasis(licbridge,tone): %s, want LICBRIDGE_REASON BAD_REQUEST", c)
		}
	})

	t.Run("the README's AMI user may run every action licbridge sends", func(t *testing.T) {
		defer w.hangupAll(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := w.call(t, "agi-g729") // a live channel to read and hang up
		s, err := w.ast.Login(ctx, realasterisk.LicbridgeUser, realasterisk.LicbridgeSecret)
		if err != nil {
			t.Fatalf("login with the README's manager.conf: %v", err)
		}
		defer s.Close()
		// The actions of package ami that bridge/node sends (channels.go,
		// passive.go) and the client's keep-alive.
		var refused []string
		for _, a := range []realasterisk.Msg{
			{"Action": "Ping"},
			{"Action": "CoreShowChannels"},
			{"Action": "Getvar", "Channel": c.Half2, "Variable": "LICBRIDGE_LEASE"},
			{"Action": "Getvar", "Channel": c.Half2, "Variable": "CHANNEL(audionativeformat)"},
			{"Action": "Getvar", "Channel": c.Half2, "Variable": "CHANNEL(audioreadformat)"},
			{"Action": "Getvar", "Channel": c.Half2, "Variable": "CHANNEL(audiowriteformat)"},
			{"Action": "Getvar", "Channel": c.Half2, "Variable": "BRIDGEPEER"},
			{"Action": "FAXSessions"},
			{"Action": "Hangup", "Channel": c.Half2, "Cause": "34"},
		} {
			m, err := s.Action(ctx, a)
			if err != nil {
				t.Fatalf("%s: %v", a["Action"], err)
			}
			if m["Response"] != "Success" {
				refused = append(refused, fmt.Sprintf("%s: %s", a["Action"], m["Message"]))
			}
		}
		if len(refused) > 0 {
			t.Errorf("with the README's manager.conf, Asterisk refuses:\n%s", strings.Join(refused, "\n"))
		}
	})

	t.Run("a key removed while its calls are up", func(t *testing.T) {
		defer w.hangupAll(t)
		w.fill(t, "agi-g729", 3)
		key := filepath.Join(w.k.dir, "g729-one.lic")
		if err := os.Remove(key); err != nil {
			t.Fatal(err)
		}
		defer func() {
			w.k.add(t, "G729-ONE", "g729", 1)
			d.waitUsage(t, "g729", "the key back", func(u productUse) bool { return u.Total == 3 })
		}()
		u := d.waitUsage(t, "g729", "the total down to 2", func(u productUse) bool { return u.Total == 2 })
		if u.InUse != 3 {
			t.Fatalf("in use %d after the key went, want the 3 calls still counted", u.InUse)
		}
		if over := w.call(t, "agi-g729"); !over.overLimit() {
			t.Errorf("a call over the smaller total: %s, want REJECTED/OVER_LIMIT", over)
		}
		if !slices.Contains(u.Warnings, "in use 3 over the total 2") {
			t.Errorf("in use 3 over a total of 2 and no warning \"in use 3 over the total 2\": %+v", u)
		}
	})

	// From here on each subtest runs a daemon of its own (a daemon started in a
	// subtest ends with it), after the previous one is gone.
	t.Run("kill -9 and restart of an AMI node with calls up", func(t *testing.T) {
		defer w.hangupAll(t)
		w.fill(t, "agi-g729", 3)
		d.signal(t, syscall.SIGKILL)
		_ = d.wait(t, 10*time.Second)
		d := w.start(t, stateDir, true)
		// The first admission after the restart must already see the 3 calls.
		if over := w.call(t, "agi-g729"); !over.overLimit() {
			t.Errorf("4th call right after the restart: %s, want REJECTED/OVER_LIMIT", over)
		}
		if u := d.usage(t, "g729"); u.InUse != 3 {
			t.Errorf("in use right after the restart: %d, want 3", u.InUse)
		}
		w.hangupAll(t)
		d.waitUsage(t, "g729", "all hung up after the restart", inUseIs(0))
	})

	t.Run("Asterisk core stop now with calls up, then a new Asterisk", func(t *testing.T) {
		defer w.hangupAll(t)
		d := w.start(t, t.TempDir(), true)
		w.fill(t, "agi-g729", 2)
		w.fill(t, "ari-g729", 1)
		w.ast.Stop()
		d.waitUsage(t, "g729", "released when Asterisk stopped", inUseIs(0))
		w.ast.Start()
		w.connected(t, d, true)
		for _, via := range []string{"agi", "ari"} {
			w.fill(t, via+"-g729", 1)
		}
		w.fill(t, "agi-g729", 1)
		if over := w.call(t, "ari-g729"); !over.overLimit() {
			t.Errorf("4th call on the new Asterisk: %s, want REJECTED/OVER_LIMIT", over)
		}
		w.hangupAll(t)
		d.waitUsage(t, "g729", "all hung up on the new Asterisk", inUseIs(0))
	})

	t.Run("kill -9 of Asterisk with calls up, then a new Asterisk", func(t *testing.T) {
		defer w.hangupAll(t)
		d := w.start(t, t.TempDir(), true)
		w.fill(t, "agi-g729", 3)
		w.ast.Kill() // no hangup events at all: licbridge learns it from the lost connections
		w.ast.Start()
		w.connected(t, d, true)
		d.waitUsage(t, "g729", "released after Asterisk died", inUseIs(0))
		w.fill(t, "agi-g729", 3)
		w.hangupAll(t)
		d.waitUsage(t, "g729", "all hung up", inUseIs(0))
	})

	t.Run("G.729 passthrough over PJSIP is not counted", func(t *testing.T) {
		defer w.hangupAll(t)
		d := w.start(t, t.TempDir(), true)
		legs := w.passthrough(t, d)
		// Sync point: the daemon has read every leg's format (its debug line
		// "native format"); whatever it counts, it has counted by then.
		seen := map[string]bool{}
		for len(seen) < len(legs) {
			m := d.waitLog(t, "native format", 15*time.Second)
			if name, _ := m["channel"].(string); legs[name] {
				seen[name] = true
			}
		}
		if u := d.usage(t, "g729"); u.Passive != 0 || u.InUse != 0 {
			t.Errorf("passthrough call (4 legs, all g729, native_rtp bridge): passive %d, in use %d; want 0 and 0 (no translation, no licence)", u.Passive, u.InUse)
		}
	})

	t.Run("G.729 passthrough over PJSIP is not hung up with --hangup-over-limit", func(t *testing.T) {
		defer w.hangupAll(t)
		d := w.start(t, t.TempDir(), true, "--hangup-over-limit")
		legs := w.passthrough(t, d)
		seen := map[string]bool{}
		for len(seen) < len(legs) {
			m := d.waitLog(t, "native format", 15*time.Second)
			if name, _ := m["channel"].(string); legs[name] {
				seen[name] = true
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The daemon's reaction to what it counted is asynchronous: the next
		// admission it decides comes after (a FastAGI call is queued behind).
		w.call(t, "agi-g729")
		after, err := w.ast.Channels(ctx)
		up := 0
		for _, c := range after {
			if legs[c.Name] {
				up++
			}
		}
		if err != nil || up != len(legs) {
			t.Errorf("passthrough call: %d of %d legs still up (%v): licbridge hung up a call that needs no licence", up, len(legs), err)
		}
	})

	t.Run("kill -9 and restart of an ARI-only node with calls up", func(t *testing.T) {
		defer w.hangupAll(t)
		ariDir := t.TempDir()
		n := w.start(t, ariDir, false)
		w.fill(t, "ari-g729", 3)
		if over := w.call(t, "ari-g729"); !over.overLimit() {
			t.Fatalf("4th call on the ARI-only node: %s, want REJECTED/OVER_LIMIT", over)
		}
		w.hangupAll(t)
		n.waitUsage(t, "g729", "ARI hangups", inUseIs(0))
		w.fill(t, "ari-g729", 3)
		n.signal(t, syscall.SIGKILL)
		_ = n.wait(t, 10*time.Second)
		n = w.start(t, ariDir, false)
		if over := w.call(t, "ari-g729"); !over.overLimit() {
			t.Errorf("4th call right after the restart of an ARI-only node: %s, want REJECTED/OVER_LIMIT", over)
		}
		if u := n.usage(t, "g729"); u.InUse != 3 {
			t.Errorf("in use right after the restart of an ARI-only node: %d, want 3", u.InUse)
		}
	})
}
