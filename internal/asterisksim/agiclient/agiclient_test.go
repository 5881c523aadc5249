package agiclient_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// The recorded channels, as the double must describe them.
var recorded = map[string]struct {
	ch     agiclient.Channel
	script string
	hangup bool
}{
	"agi_admit_1": {agiclient.Channel{
		Name: "Local/s@lic-agi-0000000b;2", Uniqueid: "1795386360.29", Context: "lic-agi", Exten: "s", Priority: 4,
		ThreadID: "139825867007680", Vars: map[string]string{"LICENSE_FEATURE": "g729"},
	}, "admit?feature=g729,first arg,second", false},
	"agi_errors_1": {agiclient.Channel{
		Name: "Local/errors@lic-agi-0000000c;2", Uniqueid: "1795386363.31", Context: "lic-agi", Exten: "errors", Priority: 2,
		ThreadID: "139825867519680",
	}, "errors", false},
	"agi_hangtest_1": {agiclient.Channel{
		Name: "Local/hangtest@lic-agi-0000000f;2", Uniqueid: "1795386396.37", Context: "lic-agi", Exten: "hangtest", Priority: 3,
		ThreadID: "139825867519680", Vars: map[string]string{"LICENSE_FEATURE": "fax"},
	}, "hangtest?feature=fax", true},
}

func TestEnvMatchesRecording(t *testing.T) {
	for name, rec := range recorded {
		t.Run(name, func(t *testing.T) {
			raw := fixtures.Read(t, "asterisk", name+".rx.raw")
			want := raw[:bytes.Index(raw, []byte("\n\n"))+2]
			if got := agiclient.Env("127.0.0.1:4573", rec.ch, rec.script); !bytes.Equal(got, want) {
				t.Errorf("environment differs\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestSessionMatchesRecording plays the recorded FastAGI script against the double:
// a listener sends each recorded command line (.tx.raw) and the double must answer
// every byte as the real Asterisk did (.rx.raw): the 510, both multi-line 520s, the
// `%` value, the HANGUP notice and the 511s. It also reports the AGISTATUS Asterisk set.
func TestSessionMatchesRecording(t *testing.T) {
	for name, rec := range recorded {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			// The recorded environment names port 4573; keep the script's bytes and
			// compare the environment apart (TestEnvMatchesRecording).
			tx := fixtures.Read(t, "asterisk", name+".tx.raw")
			rx := fixtures.Read(t, "asterisk", name+".rx.raw")
			serverErr := make(chan error, 1)
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					serverErr <- err
					return
				}
				defer nc.Close()
				r := bufio.NewReader(nc)
				for { // the environment
					l, err := r.ReadString('\n')
					if err != nil {
						serverErr <- err
						return
					}
					if l == "\n" {
						break
					}
				}
				if rec.hangup {
					// As recorded, the HANGUP notice came before the first command.
					if l, err := r.ReadString('\n'); err != nil || l != "HANGUP\n" {
						serverErr <- err
						return
					}
				}
				for _, line := range strings.SplitAfter(string(tx), "\n") {
					if line == "" {
						continue
					}
					if _, err := io.WriteString(nc, line); err != nil {
						serverErr <- err
						return
					}
					// Wait for the reply's last line ("NNN text") before the next command.
					for {
						l, err := r.ReadString('\n')
						if err != nil {
							serverErr <- err
							return
						}
						if len(l) > 4 && l[3] == ' ' && strings.Trim(l[:3], "0123456789") == "" {
							break
						}
					}
				}
				serverErr <- nil
			}()
			var opts []agiclient.Option
			if rec.hangup {
				hang := make(chan struct{})
				close(hang)
				opts = append(opts, agiclient.WithHangup(hang))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := agiclient.Call(ctx, ln.Addr().String(), rec.ch, rec.script, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-serverErr; err != nil {
				t.Fatalf("script side: %v", err)
			}
			envLen := bytes.Index(rx, []byte("\n\n")) + 2
			gotEnvLen := bytes.Index(res.Sent, []byte("\n\n")) + 2
			if got, want := res.Sent[gotEnvLen:], rx[envLen:]; !bytes.Equal(got, want) {
				t.Errorf("replies differ\n got %q\nwant %q", got, want)
			}
			if !bytes.Equal(res.Received, tx) {
				t.Errorf("received %q, want %q", res.Received, tx)
			}
			wantStatus := agiclient.StatusSuccess
			if rec.hangup {
				wantStatus = agiclient.StatusHangup
			}
			if res.AGIStatus != wantStatus || !res.ServerClosed {
				t.Errorf("AGISTATUS=%s closed=%v, want %s", res.AGIStatus, res.ServerClosed, wantStatus)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	cases := []struct {
		line string
		want []string
	}{
		{`SET VARIABLE LIC_SPACES hello world`, []string{"SET", "VARIABLE", "LIC_SPACES", "hello", "world"}},
		{`SET VARIABLE LIC_QUOTED "50% off: a=b (x)"`, []string{"SET", "VARIABLE", "LIC_QUOTED", "50% off: a=b (x)"}},
		{`STREAM FILE lictone ""`, []string{"STREAM", "FILE", "lictone", ""}},
		{`SET VARIABLE X "a \"b\" \\ c"`, []string{"SET", "VARIABLE", "X", `a "b" \ c`}},
		{`SET VARIABLE X a\ b`, []string{"SET", "VARIABLE", "X", "a b"}},
		{"  GET\tVARIABLE   X  ", []string{"GET", "VARIABLE", "X"}},
		{`X ab"c d"e`, []string{"X", "abc de"}},
	}
	for _, tc := range cases {
		t.Run(tc.line, func(t *testing.T) {
			got := agiclient.ParseArgs(tc.line)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNothingListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res, err := agiclient.Call(context.Background(), addr, agiclient.Channel{}, "admit,g729")
	if err != nil || res.AGIStatus != agiclient.StatusFailure || res.DialError == nil {
		t.Errorf("got %+v, %v; want AGISTATUS=FAILURE", res, err)
	}
}

// TestServerHeld: a server that never closes leaves the channel in AGI(), which
// Call reports once its context ends.
func TestServerHeld(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			accepted <- nc
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		nc := <-accepted
		defer nc.Close()
		// Read the environment, then cancel: the server is holding the session.
		r := bufio.NewReader(nc)
		for {
			l, err := r.ReadString('\n')
			if err != nil || l == "\n" {
				break
			}
		}
		cancel()
	}()
	res, err := agiclient.Call(ctx, ln.Addr().String(), agiclient.Channel{}, "admit,g729")
	if err == nil || res.AGIStatus != "" {
		t.Errorf("got %+v, %v; want ErrServerHeld", res, err)
	}
}

// TestSeparateArgs: Asterisk's application argument splitting, as MSet uses
// it (TestE2EAsteriskMSet plays these on the real Asterisk 22).
func TestSeparateArgs(t *testing.T) {
	cases := []struct {
		in    string
		delim byte
		max   int
		want  []string
	}{
		{"A=x,B=y", ',', 99, []string{"A=x", "B=y"}},
		{"A=,B=", ',', 99, []string{"A=", "B="}},
		{"A=x,", ',', 99, []string{"A=x", ""}},
		{"", ',', 99, nil},
		{`A=x\,y,B`, ',', 99, []string{"A=x,y", "B"}},
		{`A="x,y",B`, ',', 99, []string{"A=x,y", "B"}},
		{"A=f(x,y),B", ',', 99, []string{"A=f(x,y)", "B"}},
		{"A=[x,y],B", ',', 99, []string{"A=[x,y]", "B"}},
		{`A=x"y,B=q`, ',', 99, []string{"A=xy,B=q"}},
		{"a,b,c", ',', 2, []string{"a", "b,c"}},
		{"A=a=b", '=', 2, []string{"A", "a=b"}},
		{`A=x"y`, '=', 2, []string{"A", `x"y`}}, // the last part stays as it is
		{"A=", '=', 2, []string{"A", ""}},
		{"A", '=', 2, []string{"A"}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got := agiclient.SeparateArgs(tc.in, tc.delim, tc.max)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
