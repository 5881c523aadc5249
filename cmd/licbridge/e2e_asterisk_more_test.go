package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/internal/testkit/realasterisk"
)

// More of issue 11 against the real Asterisk 22, on one instance: transfers of
// an admitted call (Redirect, BlindTransfer, Atxfer), unknown ARI events
// (TALK_DETECT / TONE_DETECT) with the event filter on and off, and the
// printed routines' failure branches (licbridge stopped, draining, refusing)
// for --on-failure open and closed over both paths.

// routineVariants are the printed g729 routines of this file: via x on-failure,
// each renamed to [NAME-g729] so that all four live in one extensions.conf.
var routineVariants = []struct{ name, via, onFailure string }{
	{"lbo-agi", dialplan.ViaAGI, dialplan.FailOpen},
	{"lbc-agi", dialplan.ViaAGI, dialplan.FailClosed},
	{"lbo-ari", dialplan.ViaARI, dialplan.FailOpen},
	{"lbc-ari", dialplan.ViaARI, dialplan.FailClosed},
}

func moreDialplan(t *testing.T, agiAddr string) string {
	t.Helper()
	var b strings.Builder
	for _, v := range routineVariants {
		var out bytes.Buffer
		if err := dialplan.Generate(&out, dialplan.GenerateOptions{Products: []string{"g729"}, Via: v.via, AGIAddr: agiAddr, OnFailure: v.onFailure}); err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.ReplaceAll(out.String(), "\n[licbridge-", "\n["+v.name+"-"))
		// lbtest-m-NAME: the routine, then answer and wait (see callerContexts).
		fmt.Fprintf(&b, `
[lbtest-m-%[1]s]
exten => s,1,Gosub(%[1]s-g729,s,1)
 same => n,Set(LBTEST_RET=${GOSUB_RETVAL})
 same => n,Answer()
 same => n,Wait(120)
 same => n,Hangup()
`, v.name)
	}
	b.WriteString(`
; Transfers: an admitted Local leg bridged to a PJSIP call (alice -> bob over
; loopback; the leg that comes back in answers and waits).
[lbtest-m-xfer]
exten => s,1,Gosub(lbo-agi-g729,s,1)
 same => n,Set(LBTEST_RET=${GOSUB_RETVAL})
 same => n,Dial(PJSIP/alice,20,tT)
 same => n,Hangup()

[lbtest-m-xfer-ari]
exten => s,1,Gosub(lbo-ari-g729,s,1)
 same => n,Set(LBTEST_RET=${GOSUB_RETVAL})
 same => n,Dial(PJSIP/alice,20,tT)
 same => n,Hangup()

[lbtest-from-alice]
exten => bob,1,Answer()
 same => n,Wait(120)
 same => n,Hangup()

; Where transfers send a channel (AMI Atxfer plays the extension as DTMF:
; it must be digits).
[lbtest-m-target]
exten => s,1,Answer()
 same => n,Wait(120)
 same => n,Hangup()
exten => 100,1,Goto(s,1)

; A target that asks for the licence again (the channel already holds it).
[lbtest-m-target-again]
exten => s,1,Gosub(lbo-agi-g729,s,1)
 same => n,Set(LBTEST_RET2=${GOSUB_RETVAL})
 same => n,Set(LBTEST_STATUS2=${LICBRIDGE_STATUS})
 same => n,Answer()
 same => n,Wait(120)
 same => n,Hangup()

; SIPp (testdata/sipp_refer.xml) calls in as endpoint sipp; the call is
; admitted and bridged to a PJSIP call; SIPp REFERs the far end to 100.
[lbtest-m-from-sipp]
exten => refer,1,Gosub(lbo-agi-g729,s,1)
 same => n,Set(LBTEST_RET=${GOSUB_RETVAL})
 same => n,Dial(PJSIP/alice,20)
 same => n,Hangup()
exten => 100,1,Answer()
 same => n,Wait(120)
 same => n,Hangup()

; Unknown ARI events: the admitted channel hears a 440 Hz tone in bursts, with
; TALK_DETECT and TONE_DETECT on it, from before it enters Stasis on. (TONE_DETECT
; raises no ARI event here: it counts, read back with TONE_DETECT(rx).)
[lbtest-m-tone]
exten => s,1,Set(TALK_DETECT(set)=100,20)
 same => n,Set(TONE_DETECT(440,100)=)
 same => n,Answer()
 same => n,Wait(0.5)
 same => n,Gosub(lbo-ari-g729,s,1)
 same => n,Set(LBTEST_RET=${GOSUB_RETVAL})
 same => n,Wait(120)
 same => n,Hangup()

[lbtest-m-tonesrc]
exten => s,1,Answer()
 same => n,Playtones(440/150,0/150)
 same => n,Wait(120)
 same => n,Hangup()
`)
	return b.String()
}

func newMoreWorld(t *testing.T) *astWorld {
	t.Helper()
	realasterisk.Find(t)
	k := newKeyring(t)
	k.add(t, "G729-TWO", "g729", 2)
	agiAddr := freePort(t) // the node listens here; Asterisk is told before it starts
	ast := realasterisk.Start(t, realasterisk.Options{
		ManagerUser:  readmeManagerUser(t),
		Dialplan:     moreDialplan(t, agiAddr),
		ExtraModules: []string{"res_tonedetect.so", "func_talkdetect.so", "res_pjsip_notify.so"},
		ExtraFiles:   map[string]string{"pjsip_notify.conf": ""},
		// SIPp, identified by its From user.
		ExtraPJSIP: `
[sipp]
type = endpoint
transport = t-alice
context = lbtest-m-from-sipp
disallow = all
allow = ulaw
direct_media = no
`,
	})
	if p := ast.Problems(); len(p) > 0 {
		t.Errorf("the printed dialplans load with warnings:\n%s", strings.Join(p, "\n"))
	}
	return &astWorld{ast: ast, k: k, agiAddr: agiAddr}
}

func freeUDP(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// getvar reads a variable of a live channel or fails the test.
func (w *astWorld) getvar(t *testing.T, channel, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := w.ast.Getvar(ctx, channel, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// action sends an AMI action as the test's admin and fails unless it succeeds.
func (w *astWorld) action(t *testing.T, a realasterisk.Msg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := w.ast.Action(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if m["Response"] != "Success" {
		t.Fatalf("%s %v: %s\n%s", a["Action"], a, m["Message"], w.ast.Output(20))
	}
}

// waitChans waits until cond holds for the live channels, by name.
func (w *astWorld) waitChans(t *testing.T, what string, cond func(map[string]realasterisk.Channel) bool) map[string]realasterisk.Channel {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	byName := func(cs []realasterisk.Channel) map[string]realasterisk.Channel {
		m := map[string]realasterisk.Channel{}
		for _, c := range cs {
			m[c.Name] = c
		}
		return m
	}
	cs, err := w.ast.WaitChannels(ctx, func(cs []realasterisk.Channel) bool { return cond(byName(cs)) })
	if err != nil {
		t.Fatalf("%s: %v; channels %+v\n%s", what, err, cs, w.ast.Output(20))
	}
	return byName(cs)
}

// bridgedCall places lbtest-m-xfer: the admitted Local leg (Half2) bridged to
// the outgoing PJSIP leg, which it returns with the call.
func (w *astWorld) bridgedCall(t *testing.T) (astCall, string) {
	t.Helper()
	return w.bridgedCallIn(t, "m-xfer")
}

// bridgedCallIn is bridgedCall through lbtest-CONTEXT (m-xfer-ari: admitted
// over ARI).
func (w *astWorld) bridgedCallIn(t *testing.T, context_ string) (astCall, string) {
	t.Helper()
	c := w.call(t, context_)
	if !c.admitted() {
		t.Fatalf("call to transfer: %s, want ADMITTED", c)
	}
	var peer string
	w.waitChans(t, "the PJSIP call up and bridged", func(m map[string]realasterisk.Channel) bool {
		up := 0
		for n, ch := range m {
			if strings.HasPrefix(n, "PJSIP/") && ch.State == "Up" {
				up++
			}
		}
		if up < 2 {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		peer, _ = w.ast.Getvar(ctx, c.Half2, "BRIDGEPEER")
		return strings.HasPrefix(peer, "PJSIP/")
	})
	return c, peer
}

// inUseAtMost checks the count never went over the licensed legs at this point.
func inUseAtMost(t *testing.T, d *daemon, what string, n int) {
	t.Helper()
	if u := d.usage(t, "g729"); u.InUse > n {
		t.Errorf("%s: in use %d, more than the %d licensed legs", what, u.InUse, n)
	}
}

// ariFilter reads the Stasis application's event filter (the allowed types).
func (w *astWorld) ariFilter(t *testing.T) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.ast.ARIURL+"/ari/applications/"+dialplan.DefaultARIApp, nil)
	req.SetBasicAuth(realasterisk.LicbridgeUser, realasterisk.LicbridgeSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var app struct {
		Allowed []struct {
			Type string `json:"type"`
		} `json:"events_allowed"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&app); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ARI application %s: %s %v", dialplan.DefaultARIApp, resp.Status, err)
	}
	var out []string
	for _, a := range app.Allowed {
		out = append(out, a.Type)
	}
	return out
}

// clearARIFilter removes the application's event filter, as an operator's
// other tool or an older licbridge would leave it: every event reaches it.
func (w *astWorld) clearARIFilter(t *testing.T) {
	t.Helper()
	body := strings.NewReader(`{"allowed":[],"disallowed":[]}`)
	req, _ := http.NewRequest(http.MethodPut, w.ast.ARIURL+"/ari/applications/"+dialplan.DefaultARIApp+"/eventFilter", body)
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(realasterisk.LicbridgeUser, realasterisk.LicbridgeSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("clear the event filter: %s", resp.Status)
	}
	if f := w.ariFilter(t); len(f) != 0 {
		t.Fatalf("event filter still %v after clearing it", f)
	}
}

// failureBranch checks what each printed variant leaves when licbridge gives
// no decision: LICBRIDGE_STATUS ERROR, the reason, and GOSUB_RETVAL ADMITTED
// when fail-open, REJECTED when fail-closed.
func (w *astWorld) failureBranch(t *testing.T, reason map[string]string) {
	t.Helper()
	for _, v := range routineVariants {
		c := w.call(t, "m-"+v.name)
		want := "ADMITTED"
		if v.onFailure == dialplan.FailClosed {
			want = "REJECTED"
		}
		if c.status != "ERROR" || c.reason != reason[v.via] || c.ret != want {
			t.Errorf("%s (via %s, fail-%s): %s; want GOSUB_RETVAL %s, LICBRIDGE_STATUS ERROR, LICBRIDGE_REASON %s",
				v.name, v.via, v.onFailure, c, want, reason[v.via])
		}
	}
}

// TestE2EAsteriskMore: transfers, unknown ARI events and the dialplan's
// failure branches against one real Asterisk 22.
func TestE2EAsteriskMore(t *testing.T) {
	w := newMoreWorld(t)
	unreachable := map[string]string{dialplan.ViaAGI: "UNREACHABLE", dialplan.ViaARI: "UNREACHABLE"}

	t.Run("failure branches with licbridge never started", func(t *testing.T) {
		defer w.hangupAll(t)
		w.failureBranch(t, unreachable)
	})

	stateDir := t.TempDir()
	d := w.start(t, stateDir, true)

	t.Run("refusing: OVER_LIMIT is REJECTED whatever the failure mode", func(t *testing.T) {
		defer w.hangupAll(t)
		w.fill(t, "m-lbo-agi", 2)
		for _, v := range routineVariants {
			if c := w.call(t, "m-"+v.name); !c.overLimit() {
				t.Errorf("%s over a total of 2: %s, want REJECTED/OVER_LIMIT", v.name, c)
			}
		}
		inUseAtMost(t, d, "after the refusals", 2)
		w.hangupAll(t)
		d.waitUsage(t, "g729", "all hung up", inUseIs(0))
	})

	t.Run("Redirect of the licensed leg to a target that asks again", func(t *testing.T) {
		defer w.hangupAll(t)
		c := w.call(t, "m-lbo-agi")
		if !c.admitted() {
			t.Fatalf("call: %s", c)
		}
		w.action(t, realasterisk.Msg{"Action": "Redirect", "Channel": c.Half2, "Context": "lbtest-m-target-again", "Exten": "s", "Priority": "1"})
		w.waitChans(t, "the redirected leg asked again", func(m map[string]realasterisk.Channel) bool {
			return m[c.Half2].Context == "lbtest-m-target-again" && m[c.Half2].Application == "Wait"
		})
		if r := w.getvar(t, c.Half2, "LBTEST_RET2"); r != "ADMITTED" {
			t.Errorf("the licensed leg asking again after a Redirect: %s (%s), want ADMITTED", r, w.getvar(t, c.Half2, "LBTEST_STATUS2"))
		}
		if u := d.usage(t, "g729"); u.InUse != 1 {
			t.Errorf("in use %d after the Redirect and a second ask on the same channel, want 1", u.InUse)
		}
		// The other half is redirected too: it holds nothing.
		w.action(t, realasterisk.Msg{"Action": "Redirect", "Channel": c.Half1, "Context": "lbtest-m-target", "Exten": "s", "Priority": "1"})
		inUseAtMost(t, d, "both halves redirected", 1)
		w.hangupAll(t)
		d.waitUsage(t, "g729", "all hung up", inUseIs(0))
	})

	t.Run("BlindTransfer by the far end: the licensed leg goes on", func(t *testing.T) {
		defer w.hangupAll(t)
		c, peer := w.bridgedCall(t)
		w.action(t, realasterisk.Msg{"Action": "BlindTransfer", "Channel": peer, "Context": "lbtest-m-target", "Exten": "s"})
		w.waitChans(t, "the licensed leg in the target", func(m map[string]realasterisk.Channel) bool {
			_, p := m[peer]
			return !p && m[c.Half2].Context == "lbtest-m-target"
		})
		if u := d.usage(t, "g729"); u.InUse != 1 {
			t.Errorf("in use %d with the licensed leg transferred and up, want 1", u.InUse)
		}
		w.hangupAll(t)
		d.waitUsage(t, "g729", "all hung up", inUseIs(0))
	})

	t.Run("BlindTransfer by the licensed leg: its licence is freed", func(t *testing.T) {
		defer w.hangupAll(t)
		c, peer := w.bridgedCall(t)
		w.action(t, realasterisk.Msg{"Action": "BlindTransfer", "Channel": c.Half2, "Context": "lbtest-m-target", "Exten": "s"})
		w.waitChans(t, "the far end in the target, the licensed leg gone", func(m map[string]realasterisk.Channel) bool {
			_, l := m[c.Half2]
			return !l && m[peer].Context == "lbtest-m-target"
		})
		d.waitUsage(t, "g729", "the licensed leg transferred away and hung up", inUseIs(0))
		w.hangupAll(t)
		d.waitUsage(t, "g729", "all hung up", inUseIs(0))
	})

	t.Run("Atxfer by the far end, completed: the licensed leg goes on", func(t *testing.T) {
		defer w.hangupAll(t)
		c, peer := w.bridgedCall(t)
		w.action(t, realasterisk.Msg{"Action": "Atxfer", "Channel": peer, "Context": "lbtest-m-target", "Exten": "100"})
		w.waitChans(t, "the transfer target up", func(m map[string]realasterisk.Channel) bool {
			for n, ch := range m {
				if strings.HasPrefix(n, "Local/100@lbtest-m-target") && ch.State == "Up" {
					return true
				}
			}
			return false
		})
		inUseAtMost(t, d, "during the attended transfer", 1)
		// The transferer hangs up: the transfer completes.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.ast.Hangup(ctx, peer); err != nil {
			t.Fatal(err)
		}
		m := w.waitChans(t, "the licensed leg bridged to the target", func(m map[string]realasterisk.Channel) bool {
			_, p := m[peer]
			if p || m[c.Half2].Name == "" {
				return false
			}
			// A context of its own: the hangup's may have run out on a busy
			// machine while the transfer completes.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			bp, _ := w.ast.Getvar(ctx, c.Half2, "BRIDGEPEER")
			return strings.HasPrefix(bp, "Local/100@lbtest-m-target")
		})
		if _, ok := m[c.Half2]; !ok {
			t.Fatalf("licensed leg gone after the attended transfer")
		}
		if u := d.usage(t, "g729"); u.InUse != 1 {
			t.Errorf("in use %d with the licensed leg attended-transferred and up, want 1", u.InUse)
		}
		w.hangupAll(t)
		d.waitUsage(t, "g729", "all hung up", inUseIs(0))
	})

	t.Run("Atxfer by the licensed leg, completed: its licence is freed", func(t *testing.T) {
		defer w.hangupAll(t)
		c, peer := w.bridgedCall(t)
		w.action(t, realasterisk.Msg{"Action": "Atxfer", "Channel": c.Half2, "Context": "lbtest-m-target", "Exten": "100"})
		w.waitChans(t, "the transfer target up", func(m map[string]realasterisk.Channel) bool {
			for n, ch := range m {
				if strings.HasPrefix(n, "Local/100@lbtest-m-target") && ch.State == "Up" {
					return true
				}
			}
			return false
		})
		inUseAtMost(t, d, "during the attended transfer", 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.ast.Hangup(ctx, c.Half2); err != nil {
			t.Fatal(err)
		}
		w.waitChans(t, "the far end bridged to the target", func(m map[string]realasterisk.Channel) bool {
			if _, l := m[c.Half2]; l || m[peer].Name == "" {
				return false
			}
			bp, _ := w.ast.Getvar(ctx, peer, "BRIDGEPEER")
			return strings.HasPrefix(bp, "Local/100@lbtest-m-target")
		})
		d.waitUsage(t, "g729", "the licensed leg gone after completing the transfer", inUseIs(0))
		w.hangupAll(t)
		d.waitUsage(t, "g729", "all hung up", inUseIs(0))
	})

	t.Run("SIPp REFER by the licensed caller: its licence is freed, the far end goes on", func(t *testing.T) {
		defer w.hangupAll(t)
		sipp, err := exec.LookPath("sipp")
		if err != nil {
			t.Skip("sipp (Debian package sip-tester) not installed")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var out syncBuffer
		cmd := exec.CommandContext(ctx, sipp, "-sf", filepath.Join("testdata", "sipp_refer.xml"), "-s", "refer",
			"-i", "127.0.0.1", "-p", strconv.Itoa(freeUDP(t)), "-mp", strconv.Itoa(freeUDP(t)), "-m", "1",
			"-timeout", "20s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", filepath.Join(t.TempDir(), "err.log"),
			fmt.Sprintf("127.0.0.1:%d", w.ast.SIPPorts[0]))
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var caller, peer string
		w.waitChans(t, "SIPp's call admitted and bridged", func(m map[string]realasterisk.Channel) bool {
			for n, ch := range m {
				if strings.HasPrefix(n, "PJSIP/sipp-") && ch.State == "Up" {
					caller = n
					peer, _ = w.ast.Getvar(ctx, n, "BRIDGEPEER")
				}
			}
			return strings.HasPrefix(peer, "PJSIP/alice-")
		})
		if r := w.getvar(t, caller, "LBTEST_RET"); r != "ADMITTED" {
			t.Fatalf("SIPp's call: GOSUB_RETVAL %s, want ADMITTED", r)
		}
		d.waitUsage(t, "g729", "SIPp's call up", inUseIs(1))
		// The go-ahead: SIPp sends its REFER when this NOTIFY arrives.
		w.action(t, realasterisk.Msg{"Action": "PJSIPNotify", "Channel": caller, "Variable": "Event=licbridge-test"})
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("sipp: %v\n%s", err, out.String())
			}
		case <-ctx.Done():
			t.Fatalf("sipp never finished\n%s", out.String())
		}
		w.waitChans(t, "the far end in extension 100, SIPp's leg gone", func(m map[string]realasterisk.Channel) bool {
			_, c := m[caller]
			return !c && m[peer].Exten == "100"
		})
		d.waitUsage(t, "g729", "the licensed caller transferred away", inUseIs(0))
		w.hangupAll(t)
		d.waitUsage(t, "g729", "all hung up", inUseIs(0))
	})

	for _, filter := range []bool{true, false} {
		name := "TALK_DETECT and TONE_DETECT events with the ARI event filter on"
		if !filter {
			name = "TALK_DETECT and TONE_DETECT events with the ARI event filter off"
		}
		t.Run(name, func(t *testing.T) {
			defer w.hangupAll(t)
			logsFrom := len(d.logs.String())
			if filter {
				if f := w.ariFilter(t); len(f) == 0 {
					t.Errorf("licbridge's event filter is not in place: the application allows every event")
				}
			} else {
				w.clearARIFilter(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := w.ast.OriginateTo(ctx, "lbtest-m-tone", "lbtest-m-tonesrc")
			if err != nil {
				t.Fatal(err)
			}
			// The routine runs after the answer: wait for its result.
			var ret string
			w.waitChans(t, "the tone call past the routine", func(map[string]realasterisk.Channel) bool {
				ret, _ = w.ast.Getvar(ctx, c.Half2, "LBTEST_RET")
				return ret != ""
			})
			status := w.getvar(t, c.Half2, "LICBRIDGE_STATUS")
			if ret != "ADMITTED" || status != "ADMITTED" {
				t.Fatalf("tone call: GOSUB_RETVAL %s, LICBRIDGE_STATUS %s, want ADMITTED", ret, status)
			}
			// Bursts heard (the tone detector counted some): the talk detector
			// has fired too by now, its events sent or filtered out.
			w.waitChans(t, "the tone heard", func(map[string]realasterisk.Channel) bool {
				v, _ := w.ast.Getvar(ctx, c.Half2, "TONE_DETECT(rx)")
				return v != "" && v != "0"
			})
			if !filter {
				// Proof the unknown events reached licbridge: it says it ignores them.
				for {
					m := d.waitLog(t, "ignoring ari event", 10*time.Second)
					if ty, _ := m["type"].(string); strings.HasPrefix(ty, "ChannelTalking") {
						break
					}
				}
			}
			// The channel is still up, admitted, counted; a second call still admitted.
			if _, err := w.ast.Getvar(ctx, c.Half2, "LICBRIDGE_LEASE"); err != nil {
				t.Fatalf("tone call dropped: %v", err)
			}
			if u := d.usage(t, "g729"); u.InUse != 1 {
				t.Errorf("in use %d with the tone call up, want 1", u.InUse)
			}
			if c2 := w.call(t, "m-lbo-ari"); !c2.admitted() {
				t.Errorf("a second call while the events flow: %s, want ADMITTED", c2)
			}
			if d.exited() {
				t.Fatalf("licbridge exited: %v", d.exitErr)
			}
			// What reached licbridge during this subtest (the second call's
			// StasisStart came after the events the tone caused).
			ignored := map[string]int{}
			for _, l := range strings.Split(d.logs.String()[logsFrom:], "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "ignoring ari event" {
					ty, _ := m["type"].(string)
					ignored[ty]++
				}
			}
			t.Logf("unknown ARI events licbridge ignored: %v", ignored)
			// With the filter on, Asterisk sends none of the types licbridge
			// does not act on (talk events, ChannelDialplan, ChannelVarset...).
			if filter && len(ignored) > 0 {
				t.Errorf("with licbridge's event filter on, events it does not act on still reached it: %v", ignored)
			}
			w.hangupAll(t)
			d.waitUsage(t, "g729", "all hung up", inUseIs(0))
		})
	}

	t.Run("draining: new calls take the failure branch", func(t *testing.T) {
		defer w.hangupAll(t)
		// One call held through each path: the drain ends only when both
		// are released on hangup.
		for _, via := range []string{"m-lbo-agi", "m-lbo-ari"} {
			if held := w.call(t, via); !held.admitted() {
				t.Fatalf("held call into lbtest-%s: %s", via, held)
			}
		}
		d.signal(t, syscall.SIGTERM)
		d.waitLog(t, "draining: no new admissions; waiting for holdings to end", 10*time.Second)
		// FastAGI's listener closes when draining starts (a refused connect),
		// while the ARI application answers DRAINING.
		w.failureBranch(t, map[string]string{dialplan.ViaAGI: "UNREACHABLE", dialplan.ViaARI: "DRAINING"})
		if d.exited() {
			t.Fatalf("licbridge exited with a call held: %v", d.exitErr)
		}
		if u := d.usage(t, "g729"); u.InUse != 2 {
			t.Errorf("in use %d while draining with 2 calls held, want 2", u.InUse)
		}
		w.hangupAll(t)
		if err := d.wait(t, 15*time.Second); err != nil {
			t.Errorf("licbridge after draining: %v", err)
		}
		if !strings.Contains(d.logs.String(), "drained: no holdings left") {
			t.Errorf("licbridge stopped without draining its holdings")
		}
	})

	t.Run("failure branches after licbridge stopped", func(t *testing.T) {
		defer w.hangupAll(t)
		w.failureBranch(t, unreachable)
	})

	// An ARI-only node follows its admitted channels over ARI alone: the
	// same transfers, legs admitted through Stasis.
	t.Run("ARI-only node: Redirect, BlindTransfer and Atxfer of ARI-admitted legs", func(t *testing.T) {
		defer w.hangupAll(t)
		n := w.start(t, t.TempDir(), false)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		// Redirect of the licensed leg: still counted once, released on hangup.
		c := w.call(t, "m-lbo-ari")
		if !c.admitted() {
			t.Fatalf("call: %s", c)
		}
		w.action(t, realasterisk.Msg{"Action": "Redirect", "Channel": c.Half2, "Context": "lbtest-m-target", "Exten": "s", "Priority": "1"})
		w.waitChans(t, "the redirected leg in the target", func(m map[string]realasterisk.Channel) bool {
			return m[c.Half2].Context == "lbtest-m-target"
		})
		if u := n.usage(t, "g729"); u.InUse != 1 {
			t.Errorf("redirect: in use %d with the licensed leg up, want 1", u.InUse)
		}
		if err := w.ast.Hangup(ctx, c.Half2); err != nil {
			t.Fatal(err)
		}
		n.waitUsage(t, "g729", "the redirected leg hung up", inUseIs(0))

		// BlindTransfer by the far end: the licensed leg goes on, counted once.
		c, peer := w.bridgedCallIn(t, "m-xfer-ari")
		w.action(t, realasterisk.Msg{"Action": "BlindTransfer", "Channel": peer, "Context": "lbtest-m-target", "Exten": "s"})
		w.waitChans(t, "the licensed leg in the target", func(m map[string]realasterisk.Channel) bool {
			_, p := m[peer]
			return !p && m[c.Half2].Context == "lbtest-m-target"
		})
		if u := n.usage(t, "g729"); u.InUse != 1 {
			t.Errorf("blind transfer: in use %d with the licensed leg up, want 1", u.InUse)
		}
		if err := w.ast.Hangup(ctx, c.Half2); err != nil {
			t.Fatal(err)
		}
		n.waitUsage(t, "g729", "the transferred leg hung up", inUseIs(0))
		w.hangupAll(t)

		// Atxfer by the licensed leg, completed: its licence is freed.
		c, peer = w.bridgedCallIn(t, "m-xfer-ari")
		w.action(t, realasterisk.Msg{"Action": "Atxfer", "Channel": c.Half2, "Context": "lbtest-m-target", "Exten": "100"})
		w.waitChans(t, "the transfer target up", func(m map[string]realasterisk.Channel) bool {
			for name, ch := range m {
				if strings.HasPrefix(name, "Local/100@lbtest-m-target") && ch.State == "Up" {
					return true
				}
			}
			return false
		})
		inUseAtMost(t, n, "ARI-only, during the attended transfer", 1)
		if err := w.ast.Hangup(ctx, c.Half2); err != nil {
			t.Fatal(err)
		}
		w.waitChans(t, "the far end bridged to the target", func(m map[string]realasterisk.Channel) bool {
			if _, l := m[c.Half2]; l || m[peer].Name == "" {
				return false
			}
			bp, _ := w.ast.Getvar(ctx, peer, "BRIDGEPEER")
			return strings.HasPrefix(bp, "Local/100@lbtest-m-target")
		})
		n.waitUsage(t, "g729", "ARI-only, the licensed leg gone after completing the transfer", inUseIs(0))
		w.hangupAll(t)
		n.waitUsage(t, "g729", "all hung up", inUseIs(0))
	})
}
