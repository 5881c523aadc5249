package agi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// recordedKeys is the key order of every recorded environment (agi_admit_1 adds
// agi_arg_1 and agi_arg_2).
var recordedKeys = []string{
	"agi_network", "agi_network_script", "agi_request", "agi_channel", "agi_language",
	"agi_type", "agi_uniqueid", "agi_version", "agi_callerid", "agi_calleridname",
	"agi_callingpres", "agi_callingani2", "agi_callington", "agi_callingtns", "agi_dnid",
	"agi_rdnis", "agi_context", "agi_extension", "agi_priority", "agi_enhanced",
	"agi_accountcode", "agi_threadid",
}

type wantReply struct {
	rep    Reply
	hangup bool
}

func ok(result string) wantReply { return wantReply{rep: Reply{Code: 200, Result: result}} }
func okData(result, data string) wantReply {
	return wantReply{rep: Reply{Code: 200, Result: result, Data: data, HasData: true}}
}

const dead = "Command Not Permitted on a dead channel or intercept routine"

var replays = []struct {
	name    string
	env     map[string]string // a selection of values, checked exactly
	args    []string
	replies []wantReply
}{
	{
		name: "agi_admit_1",
		env: map[string]string{
			"agi_network": "yes", "agi_network_script": "admit?feature=g729",
			"agi_request": "agi://127.0.0.1:4573/admit?feature=g729", "agi_channel": "Local/s@lic-agi-0000000b;2",
			"agi_uniqueid": "1795386360.29", "agi_version": "22.10.1", "agi_callerid": "unknown",
			"agi_accountcode": "", "agi_priority": "4", "agi_threadid": "139825867007680",
		},
		args: []string{"first arg", "second"},
		replies: []wantReply{
			ok("1"), okData("1", "g729"), ok("1"), okData("1", "ADMIT g729"), ok("0"),
			okData("1", "Local/s@lic-agi-0000000b;2|g729"), ok("6"),
		},
	},
	{
		name: "agi_errors_1",
		env: map[string]string{
			"agi_network_script": "errors", "agi_uniqueid": "1795386363.31", "agi_extension": "errors",
			"agi_accountcode": "",
		},
		replies: []wantReply{
			{rep: Reply{Code: 510, Text: "Invalid or unknown command"}},
			{rep: Reply{Code: 520, Text: "Invalid command syntax.  Proper usage follows:\n" +
				"Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parentheses.\n" +
				"Example return code: 200 result=1 (testvariable)\n" +
				"End of proper usage."}},
			{rep: Reply{Code: 520, Text: "Invalid command syntax.  Proper usage follows:\nSets a variable to the current channel.\nEnd of proper usage."}},
			ok("0"), ok("1"), okData("1", "50% off: a=b (x)"), ok("0"),
		},
	},
	{
		name: "agi_hangtest_1",
		env: map[string]string{
			"agi_network_script": "hangtest?feature=fax", "agi_uniqueid": "1795386396.37",
			"agi_channel": "Local/hangtest@lic-agi-0000000f;2",
		},
		replies: []wantReply{
			{rep: Reply{Code: 200, Result: "1", Data: "fax", HasData: true}, hangup: true},
			ok("1"),
			{rep: Reply{Code: 511, Text: dead}}, {rep: Reply{Code: 511, Text: dead}}, {rep: Reply{Code: 511, Text: dead}},
		},
	},
}

// TestReplayRecordedRx decodes every byte Asterisk sent in each recorded session:
// the environment, then each reply, then EOF; whole, and one byte per read (the
// environment arrived split over TCP segments).
func TestReplayRecordedRx(t *testing.T) {
	for _, tc := range replays {
		raw := fixtures.Read(t, "asterisk", tc.name+".rx.raw")
		for _, mode := range []string{"whole", "one-byte-reads"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				var src io.Reader = bytes.NewReader(raw)
				if mode == "one-byte-reads" {
					src = iotest.OneByteReader(src)
				}
				r := bufio.NewReaderSize(src, 16)
				env, err := ReadEnv(r, Limits{})
				if err != nil {
					t.Fatalf("ReadEnv: %v", err)
				}
				var keys []string
				for _, v := range env {
					if !strings.HasPrefix(v.Key, "agi_arg_") {
						keys = append(keys, v.Key)
					}
				}
				if strings.Join(keys, " ") != strings.Join(recordedKeys, " ") {
					t.Errorf("keys\n got %v\nwant %v", keys, recordedKeys)
				}
				for k, want := range tc.env {
					if got, found := env.Get(k); !found || got != want {
						t.Errorf("%s = %q (sent %v), want %q", k, got, found, want)
					}
				}
				if got := env.Args(); strings.Join(got, "|") != strings.Join(tc.args, "|") {
					t.Errorf("args = %q, want %q", got, tc.args)
				}
				for i, want := range tc.replies {
					rep, hangup, err := readReply(r, Limits{})
					if err != nil {
						t.Fatalf("reply %d: %v", i+1, err)
					}
					if rep != want.rep || hangup != want.hangup {
						t.Errorf("reply %d\n got %+v hangup=%v\nwant %+v hangup=%v", i+1, rep, hangup, want.rep, want.hangup)
					}
				}
				if _, _, err := readReply(r, Limits{}); !errors.Is(err, io.EOF) {
					t.Errorf("after the last reply: %v, want EOF", err)
				}
			})
		}
	}
}

type event struct {
	T    float64 `json:"t"`
	Dir  string  `json:"dir"`
	Data string  `json:"data"`
}

// latin1 undoes the recorder's decoding: each rune is one byte.
func latin1(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return b
}

func readEvents(t *testing.T, name string) []event {
	t.Helper()
	var evs []event
	for _, line := range bytes.Split(fixtures.Read(t, "asterisk", name+".jsonl"), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("%s.jsonl: %v", name, err)
		}
		evs = append(evs, e)
	}
	return evs
}

// playAsterisk plays the recorded Asterisk side of a session on nc: each rx chunk
// is written as it was received, and each tx line must arrive from our Conn as
// recorded. Mismatches are sent to errs.
func playAsterisk(nc net.Conn, evs []event, errs chan<- error) {
	defer close(errs)
	defer nc.Close()
	r := bufio.NewReader(nc)
	for i, e := range evs {
		switch e.Dir {
		case "rx":
			if _, err := nc.Write(latin1(e.Data)); err != nil {
				errs <- err
				return
			}
		case "tx":
			want := latin1(e.Data)
			got := make([]byte, len(want))
			if _, err := io.ReadFull(r, got); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, want) {
				errs <- fmt.Errorf("event %d: got %q, want %q", i, got, want)
				return
			}
		}
	}
}

// TestConnReplaysRecordedSessions drives Conn through the recorded sessions, with
// a peer that plays Asterisk's recorded bytes and checks ours byte for byte. It is
// the test of the CyCoreSystems/agi defects: the multi-line 520 is read whole, the
// unsolicited HANGUP does not shift any reply, and the 511s are surfaced.
func TestConnReplaysRecordedSessions(t *testing.T) {
	type step struct {
		words []string
		check func(t *testing.T, rep Reply, err error)
	}
	isOK := func(result, data string) func(*testing.T, Reply, error) {
		return func(t *testing.T, rep Reply, err error) {
			t.Helper()
			if err != nil || rep.Result != result || rep.Data != data {
				t.Errorf("got %+v, %v; want result=%s (%s)", rep, err, result, data)
			}
		}
	}
	isErr := func(target error) func(*testing.T, Reply, error) {
		return func(t *testing.T, rep Reply, err error) {
			t.Helper()
			var re *ReplyError
			if !errors.Is(err, target) || !errors.As(err, &re) {
				t.Errorf("got %+v, %v; want %v", rep, err, target)
			}
		}
	}
	cases := []struct {
		name     string
		steps    []step
		wantHung bool
	}{
		{"agi_admit_1", []step{
			{[]string{"VERBOSE", `"licbridge admit check"`, "1"}, isOK("1", "")},
			{[]string{"GET", "VARIABLE", "LICENSE_FEATURE"}, isOK("1", "g729")},
			{[]string{"SET", "VARIABLE", "LIC_RESULT", quote("ADMIT g729")}, isOK("1", "")},
			{[]string{"GET", "VARIABLE", "LIC_RESULT"}, isOK("1", "ADMIT g729")},
			{[]string{"GET", "VARIABLE", "NOSUCHVAR"}, isOK("0", "")},
			{[]string{"GET", "FULL", "VARIABLE", "${CHANNEL}|${LICENSE_FEATURE}"}, isOK("1", "Local/s@lic-agi-0000000b;2|g729")},
			{[]string{"CHANNEL", "STATUS"}, isOK("6", "")},
		}, false},
		{"agi_errors_1", []step{
			{[]string{"FOO", "BAR"}, isErr(ErrInvalidCommand)},
			{[]string{"GET", "VARIABLE"}, isErr(ErrUsage)},
			{[]string{"SET", "VARIABLE", "LIC_SPACES", "hello", "world"}, isErr(ErrUsage)},
			{[]string{"GET", "VARIABLE", "LIC_SPACES"}, isOK("0", "")}, // not shifted by the 520
			{[]string{"SET", "VARIABLE", "LIC_QUOTED", quote("50% off: a=b (x)")}, isOK("1", "")},
			{[]string{"GET", "VARIABLE", "LIC_QUOTED"}, isOK("1", "50% off: a=b (x)")},
			{[]string{"EXEC", "Verbose", quote("1,from agi exec")}, isOK("0", "")},
		}, false},
		{"agi_hangtest_1", []step{
			{[]string{"GET", "VARIABLE", "LICENSE_FEATURE"}, isOK("1", "fax")}, // its own reply, after HANGUP
			{[]string{"SET", "VARIABLE", "LIC_RESULT", "late"}, isOK("1", "")},
			{[]string{"ANSWER"}, isErr(ErrDeadChannel)},
			{[]string{"STREAM", "FILE", "lictone", `""`}, isErr(ErrDeadChannel)},
			{[]string{"CHANNEL", "STATUS"}, isErr(ErrDeadChannel)},
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ours, theirs := tcpPair(t)
			errs := make(chan error, 1)
			go playAsterisk(theirs, readEvents(t, tc.name), errs)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c := NewConn(ours, Limits{})
			defer c.Close()
			if _, err := c.ReadEnv(ctx); err != nil {
				t.Fatalf("ReadEnv: %v", err)
			}
			for _, s := range tc.steps {
				rep, err := c.Command(ctx, s.words...)
				s.check(t, rep, err)
			}
			if c.HungUp() != tc.wantHung {
				t.Errorf("HungUp = %v, want %v", c.HungUp(), tc.wantHung)
			}
			c.Close()
			for err := range errs {
				t.Errorf("recorded peer: %v", err)
			}
		})
	}
}

// tcpPair returns both ends of a real loopback TCP connection (buffered, unlike
// net.Pipe, so both sides may write at once as Asterisk and a server do).
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}
