package bridge_test

import (
	"context"
	"slices"
	"testing"

	"github.com/licbridge/licbridge/bridge"
)

// Move hands a channel's leases to the channel that took its place in the
// call (a Local channel pair optimised away): the count neither drops nor
// doubles, and the lease ends with the new channel.
func TestMove(t *testing.T) {
	cases := []struct {
		name     string
		counting bridge.Counting
		admit    []bridge.Request
		from, to string
		moved    int
		held     []string // channels holding g729 after the move
		inUse    int
	}{
		{"to a channel with nothing", bridge.CountChannel,
			[]bridge.Request{{Channel: "local2", Call: "c1"}}, "local2", "pjsip", 1, []string{"pjsip"}, 1},
		{"to a channel that holds the product already", bridge.CountChannel,
			[]bridge.Request{{Channel: "local2", Call: "c1"}, {Channel: "pjsip", Call: "c1"}}, "local2", "pjsip", 0, []string{"pjsip"}, 1},
		{"counting per call: the call's unit is kept", bridge.CountCall,
			[]bridge.Request{{Channel: "local2", Call: "c1"}, {Channel: "caller", Call: "c1"}}, "local2", "pjsip", 1, []string{"caller", "pjsip"}, 1},
		{"from a channel with nothing", bridge.CountChannel,
			[]bridge.Request{{Channel: "other", Call: "c2"}}, "local2", "pjsip", 0, []string{"other"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b, err := bridge.New(bridge.Options{Store: bridge.NewMemStore(), Node: "n1", Counting: map[string]bridge.Counting{"g729": tc.counting}})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := b.PublishKeys(ctx, []bridge.KeyGrant{{KeyID: "K", Product: "g729", Channels: 3}}); err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.admit {
				r.Product = "g729"
				if res := b.Admit(ctx, r); !res.Admitted {
					t.Fatalf("admit %s: %+v", r.Channel, res)
				}
			}
			if k := b.Move(ctx, tc.from, tc.to); k != tc.moved {
				t.Errorf("Move %s -> %s moved %d, want %d", tc.from, tc.to, k, tc.moved)
			}
			var held []string
			for _, l := range b.Leases() {
				held = append(held, l.Channel)
				if l.ID != l.Product+":"+l.Channel {
					t.Errorf("lease %s on channel %s", l.ID, l.Channel)
				}
			}
			slices.Sort(held)
			if !slices.Equal(held, tc.held) {
				t.Errorf("held %v, want %v", held, tc.held)
			}
			if got := inUse(t, b); got != tc.inUse {
				t.Errorf("store in use %d after the move, want %d", got, tc.inUse)
			}
			for _, ch := range held {
				b.Release(ctx, ch)
			}
			if got := inUse(t, b); got != 0 {
				t.Errorf("store in use %d after the hangups, want 0", got)
			}
		})
	}
}

func inUse(t *testing.T, b *bridge.Bridge) int {
	t.Helper()
	us, err := b.Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Product == "g729" {
			return u.InUse
		}
	}
	return 0
}
