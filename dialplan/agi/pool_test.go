package agi

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestConnAfterClose: Close hands the read buffer back for the next session,
// so a Conn used after Close must fail as a closed socket does, never read
// from a buffer that another session now owns.
func TestConnAfterClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		use  func(c *Conn) error
	}{
		{"ReadEnv", func(c *Conn) error { _, err := c.ReadEnv(ctx); return err }},
		{"GetVariable", func(c *Conn) error { _, _, err := c.GetVariable(ctx, "X"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, theirs := net.Pipe()
			defer theirs.Close()
			c := NewConn(ours, Limits{})
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) { // twice: no double hand-back
				t.Fatal(err)
			}
			// Another session takes the buffer and fills it.
			o2, t2 := net.Pipe()
			defer t2.Close()
			c2 := NewConn(o2, Limits{})
			defer c2.Close()
			go func() { _, _ = t2.Write([]byte("agi_network: yes\nagi_uniqueid: 2\n\n")) }()
			env, err := c2.ReadEnv(ctx)
			if err != nil || env.Value("agi_uniqueid") != "2" {
				t.Fatalf("second session: %v %v", env, err)
			}
			// The write fails first on a pipe (io.ErrClosedPipe); the read
			// fails on the closed socket's stand-in.
			if err := tc.use(c); !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("%s after Close: %v, want a closed-connection error", tc.name, err)
			}
		})
	}
}
