package agi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/realasterisk"
)

// TestE2EAsteriskHalfClose: what Conn.Answer relies on, shown on the real
// Asterisk 22. A FastAGI server sends its last command (EXEC MSet) and shuts
// its write side without reading the reply: Asterisk runs the command, sees
// EOF, ends AGI() with SUCCESS and goes on in the dialplan while the server
// still holds its read side; the reply then waits there for it, followed by
// the HANGUP notice Asterisk sends when AGI() ends and its close (issue 14).
func TestE2EAsteriskHalfClose(t *testing.T) {
	realasterisk.Find(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ast := realasterisk.Start(t, realasterisk.Options{Dialplan: fmt.Sprintf(`
[lbtest-halfclose]
exten => s,1,AGI(agi://%s/halfclose)
 same => n,Log(NOTICE,lbtest halfclose agistatus=${AGISTATUS} a=${LBT_A} b=${LBT_B})
 same => n,Answer()
 same => n,Wait(120)
`, ln.Addr())})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type accepted struct {
		nc  *net.TCPConn
		err error
	}
	got := make(chan accepted, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			got <- accepted{err: err}
			return
		}
		got <- accepted{nc: nc.(*net.TCPConn)}
	}()
	calls := make(chan error, 1)
	go func() {
		call, err := ast.Originate(ctx, "lbtest-halfclose")
		if err == nil {
			defer func() { _ = ast.Hangup(context.Background(), call.Half2) }()
		}
		calls <- err
	}()
	var a accepted
	select {
	case a = <-got:
	case <-ctx.Done():
		t.Fatal("Asterisk never connected")
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	nc := a.nc
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(nc)
	if _, err := ReadEnv(r, Limits{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write([]byte("EXEC MSet \"LBT_A=1,LBT_B=two\"\n")); err != nil {
		t.Fatal(err)
	}
	if err := nc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// Nothing is read from the socket until the dialplan has gone on.
	want := "lbtest halfclose agistatus=SUCCESS a=1 b=two"
	for !strings.Contains(ast.Output(400), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("the dialplan never logged %q:\n%s", want, ast.Output(40))
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The reply, then the HANGUP that Asterisk sends as AGI() ends (with
	// AGISIGHUP unset), then its close.
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "200 result=0\nHANGUP\n" {
		t.Errorf("after the dialplan went on, the socket held %q (%v); want the reply, HANGUP and EOF", rest, err)
	}
	if err := <-calls; err != nil {
		t.Errorf("originate: %v", err)
	}
}
