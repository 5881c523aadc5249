package agi

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
)

// liveSession runs one AGI() call of the Asterisk double against a Conn and hands
// the Conn (with the environment read) to f; it returns the double's result.
func liveSession(t *testing.T, ch agiclient.Channel, f func(ctx context.Context, c *Conn), opts ...agiclient.Option) agiclient.Result {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type out struct {
		res agiclient.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := agiclient.Call(ctx, ln.Addr().String(), ch, "admit,g729", opts...)
		done <- out{res, err}
	}()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(nc, Limits{})
	if _, err := c.ReadEnv(ctx); err != nil {
		t.Fatal(err)
	}
	f(ctx, c)
	c.Close()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	return o.res
}

// TestCyCoreDefectsAbsent has one subtest per CyCoreSystems/agi v0.6.4 defect in
// ASTERISK-NOTES.md, against the Asterisk double over loopback. (The same is shown
// on the recorded bytes by TestConnReplaysRecordedSessions; the missing shutdown
// is dialplan's TestGracefulStop.)
func TestCyCoreDefectsAbsent(t *testing.T) {
	t.Run("values with spaces are quoted, later replies not shifted", func(t *testing.T) {
		res := liveSession(t, agiclient.Channel{}, func(ctx context.Context, c *Conn) {
			for _, v := range []string{"hello world", "50% used: a=b; c", `q"uo\te`} {
				if err := c.SetVariable(ctx, "X", v); err != nil {
					t.Fatalf("SetVariable(%q): %v", v, err)
				}
				got, ok, err := c.GetVariable(ctx, "X")
				if err != nil || !ok || got != v {
					t.Errorf("read back %q, %v, %v; want %q", got, ok, err, v)
				}
			}
		})
		if res.Vars["X"] != `q"uo\te` {
			t.Errorf("channel has X=%q", res.Vars["X"])
		}
	})
	t.Run("unsolicited HANGUP does not shift replies; 511 is surfaced", func(t *testing.T) {
		ch := agiclient.Channel{Vars: map[string]string{"LICENSE_FEATURE": "fax"}}
		res := liveSession(t, ch, func(ctx context.Context, c *Conn) {
			v, ok, err := c.GetVariable(ctx, "LICENSE_FEATURE")
			if err != nil || !ok || v != "fax" {
				t.Errorf("GET VARIABLE after HANGUP: %q, %v, %v", v, ok, err)
			}
			if !c.HungUp() {
				t.Error("HANGUP notice not reported")
			}
			if err := c.SetVariable(ctx, "LIC_RESULT", "late"); err != nil {
				t.Errorf("SET VARIABLE on a dead channel: %v (Asterisk answers 200)", err)
			}
			for _, cmd := range [][]string{{"ANSWER"}, {"CHANNEL", "STATUS"}} {
				if _, err := c.Command(ctx, cmd...); !errors.Is(err, ErrDeadChannel) {
					t.Errorf("%v on a dead channel: %v, want ErrDeadChannel", cmd, err)
				}
			}
			if v, _, err := c.GetVariable(ctx, "LIC_RESULT"); err != nil || v != "late" {
				t.Errorf("after the 511s: %q, %v", v, err)
			}
		}, agiclient.WithHangupAfterEnv())
		if res.AGIStatus != agiclient.StatusHangup {
			t.Errorf("AGISTATUS=%s", res.AGIStatus)
		}
	})
	t.Run("multi-line 520 read whole", func(t *testing.T) {
		liveSession(t, agiclient.Channel{}, func(ctx context.Context, c *Conn) {
			_, err := c.Command(ctx, "SET", "VARIABLE", "X", "hello", "world")
			var re *ReplyError
			if !errors.As(err, &re) || !errors.Is(err, ErrUsage) || re.Reply.Text != "Invalid command syntax.  Proper usage follows:\nSets a variable to the current channel.\nEnd of proper usage." {
				t.Errorf("unquoted value: %v", err)
			}
			if _, ok, err := c.GetVariable(ctx, "X"); err != nil || ok {
				t.Errorf("next reply: ok=%v err=%v, want result=0", ok, err)
			}
		})
	})
}
