package node_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/internal/asterisksim"
	"github.com/licbridge/licbridge/internal/asterisksim/amisrv"
)

// formatLog hands the node's "native format" debug lines (written once a
// channel's formats are decided) to a test, channel name by channel name.
type formatLog struct{ ch chan string }

func (h formatLog) Enabled(context.Context, slog.Level) bool { return true }
func (h formatLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h formatLog) WithGroup(string) slog.Handler            { return h }
func (h formatLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "native format" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "channel" {
			h.ch <- a.Value.String()
		}
		return true
	})
	return nil
}

// waitDecided waits until the node has decided the formats of every named
// channel (n times each for a channel listed n times).
func (h formatLog) waitDecided(t *testing.T, names ...string) {
	t.Helper()
	want := map[string]int{}
	for _, n := range names {
		want[n]++
	}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case n := <-h.ch:
			if want[n]--; want[n] <= 0 {
				delete(want, n)
			}
		case <-deadline:
			t.Fatalf("the node never read the formats of %v", want)
		}
	}
}

// leg is one PJSIP channel of a test call: its native format, the formats
// Asterisk reads and writes it in, and the leg it is bridged with (by index).
type leg struct {
	native, read, write string
	peer                int // -1: not bridged
}

// TestPassiveCountsOnlyTranslatedG729: G.729 passthrough (both legs speak it,
// nothing translates) needs no licence: never counted, never hung up, even
// with HangupOverLimit and the total already used. A G.729 channel that
// Asterisk reads or writes in another format, or whose bridged peer speaks no
// G.729, is translated and counted (and, over the total, hung up). The format
// values are those a real Asterisk 22 answers (fixture
// ami_call_pjsip_g729_passthrough: native "(g729)"; read/write "g729").
func TestPassiveCountsOnlyTranslatedG729(t *testing.T) {
	for _, tc := range []struct {
		name    string
		legs    []leg
		counted []bool
	}{
		{"passthrough, native_rtp bridge", []leg{{"(g729)", "g729", "g729", 1}, {"(g729)", "g729", "g729", 0}}, []bool{false, false}},
		{"passthrough, one leg in Echo", []leg{{"(g729)", "g729", "g729", -1}}, []bool{false}},
		{"translated on the channel (reads slin)", []leg{{"(g729)", "slin", "slin", -1}}, []bool{true}},
		{"translated on the channel (writes ulaw)", []leg{{"(g729)", "g729", "ulaw", -1}}, []bool{true}},
		{"bridged with a ulaw peer", []leg{{"(g729)", "g729", "g729", 1}, {"(ulaw)", "ulaw", "ulaw", 0}}, []bool{true, false}},
		{"no G.729 at all", []leg{{"(ulaw)", "ulaw", "ulaw", 1}, {"(alaw)", "alaw", "alaw", 0}}, []bool{false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := formatLog{ch: make(chan string, 64)}
			w := start(t, setup{keys: g729(1), passive: node.Passive{HangupOverLimit: true}, log: slog.New(fl)})
			// The one unit is taken: any counted unadmitted channel is over the total.
			if ok := w.place(t, asterisksim.Call{Product: "g729", Via: asterisksim.ViaAGI}); !ok.Admitted() {
				t.Fatalf("%s/%s", ok.Status, ok.Reason)
			}
			names := make([]string, len(tc.legs))
			for i := range tc.legs {
				names[i] = "PJSIP/pt-0000000" + string(rune('a'+i))
			}
			uids := make([]string, len(tc.legs))
			for i, l := range tc.legs {
				vars := map[string]string{"CHANNEL(audioreadformat)": l.read, "CHANNEL(audiowriteformat)": l.write}
				if l.peer >= 0 {
					vars["BRIDGEPEER"] = names[l.peer]
				}
				// Uniqueids of our own: the double's generator can repeat the PBX's.
				ch := w.pbx.AMI.AddChannel(amisrv.Channel{Name: names[i], Uniqueid: fmt.Sprintf("1700000000.%d", 900+i), State: 4, NativeFormat: trimParens(l.native), Vars: vars})
				uids[i] = ch.Uniqueid
			}
			for _, uid := range uids {
				if err := w.pbx.AMI.SetState(uid, 6); err != nil {
					t.Fatal(err)
				}
			}
			fl.waitDecided(t, names...)
			want := 0
			for _, c := range tc.counted {
				if c {
					want++
				}
			}
			var got node.Observed
			for _, o := range w.n.ObservedNow() {
				if o.Product == "g729" {
					got = o
				}
			}
			// A counted channel is hung up (over the total) at once, possibly
			// before this reads: the hangups below prove those.
			if want == 0 && got.Units != 0 {
				t.Fatalf("observed g729 %+v, want none", got)
			}
			for i, counted := range tc.counted {
				if counted {
					waitHungUp(t, w, uids[i])
				}
			}
			for _, a := range w.pbx.AMI.Actions() {
				for i, counted := range tc.counted {
					if a.Get("Action") == "Hangup" && a.Get("Channel") == names[i] && !counted {
						t.Errorf("%s (%+v) was hung up: it needs no licence", names[i], tc.legs[i])
					}
				}
			}
		})
	}
}

// TestPassiveTranslationFromBridgeEnter: a G.729 channel that is up and not
// translated yet (Dial has not bridged it) is read again when it enters a
// bridge: bridged with a ulaw peer, it is counted.
func TestPassiveTranslationFromBridgeEnter(t *testing.T) {
	fl := formatLog{ch: make(chan string, 64)}
	w := start(t, setup{keys: g729(1), log: slog.New(fl)})
	peer := w.pbx.AMI.AddChannel(amisrv.Channel{Name: "PJSIP/ulaw-00000001", Uniqueid: "1700000000.901", State: 6, NativeFormat: "ulaw"})
	a := w.pbx.AMI.AddChannel(amisrv.Channel{Name: "PJSIP/g729-00000002", Uniqueid: "1700000000.902", State: 4, NativeFormat: "g729",
		Vars: map[string]string{"CHANNEL(audioreadformat)": "g729", "CHANNEL(audiowriteformat)": "g729"}})
	if err := w.pbx.AMI.SetState(a.Uniqueid, 6); err != nil {
		t.Fatal(err)
	}
	fl.waitDecided(t, a.Name)
	if got := observedG729(w); got != 0 {
		t.Fatalf("observed g729 %d before the bridge, want 0", got)
	}
	if err := w.pbx.AMI.Update(a.Uniqueid, func(c *amisrv.Channel) { c.Vars["BRIDGEPEER"] = peer.Name }); err != nil {
		t.Fatal(err)
	}
	if err := w.pbx.AMI.BridgeEnter(amisrv.Bridge{Uniqueid: "br-1"}, a.Uniqueid); err != nil {
		t.Fatal(err)
	}
	fl.waitDecided(t, a.Name)
	if got := observedG729(w); got != 1 {
		t.Fatalf("observed g729 %d once bridged with a ulaw peer, want 1", got)
	}
}

func observedG729(w *world) int {
	for _, o := range w.n.ObservedNow() {
		if o.Product == "g729" {
			return o.Units
		}
	}
	return 0
}

func trimParens(s string) string {
	if len(s) >= 2 && s[0] == '(' && s[len(s)-1] == ')' {
		return s[1 : len(s)-1]
	}
	return s
}

// waitHungUp waits until the double no longer has the channel.
func waitHungUp(t *testing.T, w *world, uid string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		gone := true
		for _, ch := range w.pbx.AMI.Channels() {
			if ch.Uniqueid == uid {
				gone = false
			}
		}
		if gone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %s over the total was not hung up", uid)
		}
		time.Sleep(10 * time.Millisecond) // the double has no change signal for its table
	}
}

// TestAMIPermissionRefused: an AMI user whose manager.conf lacks a class the
// node needs (FAXSessions refused, as Asterisk refuses it without call) is
// reported at connect, so /readyz can say so instead of passive fax
// accounting staying silently off.
func TestAMIPermissionRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refuse  []string
		passive node.Passive
		want    string
	}{
		{"all allowed", nil, node.Passive{}, ""},
		{"FAXSessions refused", []string{"FAXSessions"}, node.Passive{}, "permission denied: FAXSessions (class call)"},
		{"FAXSessions refused, passive off", []string{"FAXSessions"}, node.Passive{Disabled: true}, ""},
		{"Hangup and Getvar refused", []string{"Getvar", "Hangup"}, node.Passive{}, "permission denied: Getvar (class call), Hangup (class call)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pbx := asterisksim.StartT(t, asterisksim.Options{})
			pbx.AMI.Refuse(tc.refuse...)
			w := start(t, setup{keys: g729(1), pbx: pbx, passive: tc.passive})
			// The connect's check runs before its reconcile is recorded.
			deadline := time.After(10 * time.Second)
			for w.n.Reconciles() == 0 {
				select {
				case <-deadline:
					t.Fatal("no reconcile after the AMI connect")
				case <-time.After(5 * time.Millisecond):
				}
			}
			if got := w.n.AMIPermissionProblem(); got != tc.want {
				t.Fatalf("AMIPermissionProblem() = %q, want %q", got, tc.want)
			}
		})
	}
}
