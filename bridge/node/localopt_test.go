package node_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/ami/proto"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/internal/asterisksim"
)

// recordedEvents reads an AMI event recording of testdata: events separated
// by blank lines, "Key: Value" lines, lines starting with ; are comments.
func recordedEvents(t *testing.T, path string) []*proto.Message {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*proto.Message
	for _, block := range strings.Split(string(raw), "\n\n") {
		var kv []string
		for _, line := range strings.Split(block, "\n") {
			if line == "" || strings.HasPrefix(line, ";") {
				continue
			}
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				k, v = strings.TrimSuffix(line, ":"), ""
			}
			kv = append(kv, k, v)
		}
		if len(kv) > 0 {
			out = append(out, proto.NewMessage(kv...))
		}
	}
	return out
}

// The licence of a Local channel half follows the call when Asterisk
// optimises the pair away (issue 11): the recording is of a real Asterisk 22
// where the cap-in ;2 half (the one that ran the dialplan and asked) is
// swapped out and PJSIP/alice-00000000 bridged to the caller in its place.
func TestLocalOptimisationMovesTheLease(t *testing.T) {
	const (
		half2    = "1796234026.3" // Local/s@cap-in-00000001;2, admitted
		survivor = "1796234026.4" // PJSIP/alice-00000000, the swap's source
		call     = "1796234026.0"
	)
	rec := recordedEvents(t, "testdata/ami_local_optimisation.txt")
	// Where the recording is cut: after the Hangup of both cap-in halves.
	cut := -1
	for i, m := range rec {
		if m.Name() == "Hangup" && strings.HasPrefix(m.Get("Channel"), "Local/s@cap-in-00000001;1") {
			cut = i + 1
		}
	}
	if cut < 0 {
		t.Fatal("the recording has no Hangup of the cap-in ;1 half")
	}
	noSwap := func(ms []*proto.Message) []*proto.Message {
		return slices.DeleteFunc(slices.Clone(ms), func(m *proto.Message) bool {
			return m.Name() == "BridgeEnter" && m.Get("SwapUniqueid") != ""
		})
	}
	cases := []struct {
		name      string
		events    []*proto.Message
		counting  bridge.Counting
		afterSwap []string // leases once both Local halves hung up
	}{
		{"optimised away, counting per channel", rec, bridge.CountChannel, []string{"g729:" + survivor}},
		{"optimised away, counting per call", rec, bridge.CountCall, []string{"g729:" + survivor}},
		// Asterisk gave up before the swap (no BridgeEnter with SwapUniqueid):
		// the lease stays with the half and ends with its hangup.
		{"no swap: the lease ends with the half", noSwap(rec), bridge.CountChannel, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The double's AMI replays the recording; its own channel table
			// stays empty (no reconcile runs during the test).
			pbx := asterisksim.StartT(t, asterisksim.Options{})
			w := start(t, setup{pbx: pbx, keys: g729(4), counting: map[string]bridge.Counting{"g729": tc.counting}})
			ctx := context.Background()
			r, err := w.n.Admit(ctx, dialplan.ViaAGI, bridge.Request{Product: "g729", Channel: half2, Call: call})
			if err != nil || !r.Admitted {
				t.Fatalf("admit the ;2 half: %+v %v", r, err)
			}
			barriers := 0
			// play emits events and waits until the node has handled them: AMI
			// events are handled in order, so the release of a barrier
			// channel admitted for the purpose marks the end.
			play := func(ms []*proto.Message) {
				t.Helper()
				barriers++
				b := fmt.Sprintf("barrier-%d", barriers)
				if r, err := w.n.Admit(ctx, dialplan.ViaAGI, bridge.Request{Product: "g729", Channel: b}); err != nil || !r.Admitted {
					t.Fatalf("admit %s: %+v %v", b, r, err)
				}
				from := w.ev.mark()
				for _, m := range ms {
					w.pbx.AMI.EmitMessage(m)
				}
				w.pbx.AMI.Emit("Event", "Hangup", "Privilege", "call,all", "Channel", "Barrier/"+b, "Uniqueid", b, "Linkedid", b, "Cause", "16")
				w.ev.waitFrom(t, from, "release of "+b, released(b))
			}
			play(tc.events[:cut])
			if got := w.held(); !slices.Equal(got, tc.afterSwap) {
				t.Errorf("leases after the Local pair hung up: %v, want %v", got, tc.afterSwap)
			}
			if len(tc.afterSwap) > 0 {
				// A restarted node finds the moved lease by the survivor's
				// LICBRIDGE_LEASE.
				i := slices.IndexFunc(w.pbx.AMI.Actions(), func(m *proto.Message) bool {
					return strings.EqualFold(m.Get("Action"), "Setvar") && m.Get("Variable") == "LICBRIDGE_LEASE"
				})
				if i < 0 {
					t.Errorf("no Setvar of LICBRIDGE_LEASE on the survivor")
				} else if a := w.pbx.AMI.Actions()[i]; a.Get("Channel") != "PJSIP/alice-00000000" || a.Get("Value") != "g729:"+survivor {
					t.Errorf("Setvar on %s of %q, want PJSIP/alice-00000000, g729:%s", a.Get("Channel"), a.Get("Value"), survivor)
				}
			}
			if u := usage(t, w, "g729"); u != len(tc.afterSwap) {
				t.Errorf("store in use %d after the Local pair hung up, want %d", u, len(tc.afterSwap))
			}
			play(tc.events[cut:])
			if got := w.held(); len(got) != 0 {
				t.Errorf("leases after every channel hung up: %v, want none", got)
			}
			if u := usage(t, w, "g729"); u != 0 {
				t.Errorf("store in use %d after every channel hung up, want 0", u)
			}
		})
	}
}

// usage is the store's in-use count of product as the bridge reports it.
func usage(t *testing.T, w *world, product string) int {
	t.Helper()
	us, err := w.b.Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Product == product {
			return u.InUse
		}
	}
	return 0
}
