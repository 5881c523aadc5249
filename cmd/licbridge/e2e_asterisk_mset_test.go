package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/dialplan/agi"
	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
	"github.com/licbridge/licbridge/internal/testkit/realasterisk"
)

// Issue 14: the FastAGI server sets its answer in one exchange,
// `EXEC MSet "NAME=VALUE,..."`. These tests play raw FastAGI commands to the
// real Asterisk 22 and to the Asterisk double (agiclient) through one scripted
// FastAGI server, and require the same replies and the same variables from
// both: MSet's argument parsing (commas, quotes, backslashes, parentheses,
// brackets, '=' in a value, empty values), EXEC's replies, and EXEC on a
// channel already hung up (AGI() from the h extension).

// scriptedAGI is a FastAGI server that runs, in each session, the commands
// of the case named by agi_arg_1, and hands the replies over on done.
type scriptedAGI struct {
	ln    net.Listener
	cases [][]string
	done  chan agiTranscript
	wg    sync.WaitGroup
}

// agiTranscript is one session: the case and, per command, the reply.
type agiTranscript struct {
	n       int
	replies []string
	err     error
}

func newScriptedAGI(t *testing.T, cases [][]string) *scriptedAGI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptedAGI{ln: ln, cases: cases, done: make(chan agiTranscript, 4)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.done <- s.session(nc) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *scriptedAGI) addr() string { return s.ln.Addr().String() }

func (s *scriptedAGI) session(nc net.Conn) agiTranscript {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := agi.NewConn(nc, agi.Limits{})
	defer c.Close()
	env, err := c.ReadEnv(ctx)
	if err != nil {
		return agiTranscript{n: -1, err: err}
	}
	args := env.Args()
	tr := agiTranscript{n: -1}
	if len(args) > 0 {
		tr.n, _ = strconv.Atoi(args[0])
	}
	if tr.n < 0 || tr.n >= len(s.cases) {
		tr.err = fmt.Errorf("no case %q", args)
		return tr
	}
	for _, cmd := range s.cases[tr.n] {
		rep, err := c.Command(ctx, cmd)
		if _, ok := errors.AsType[*agi.ReplyError](err); err != nil && !ok {
			tr.err = fmt.Errorf("%s: %w", cmd, err)
			return tr
		}
		r := fmt.Sprintf("%d result=%s", rep.Code, rep.Result)
		if rep.HasData {
			r += " (" + rep.Data + ")"
		}
		if rep.Text != "" {
			r += " " + rep.Text
		}
		tr.replies = append(tr.replies, r)
	}
	return tr
}

// wait returns the transcript of case n.
func (s *scriptedAGI) wait(t *testing.T, n int) agiTranscript {
	t.Helper()
	select {
	case tr := <-s.done:
		if tr.err != nil {
			t.Fatalf("case %d: scripted FastAGI session: %v", n, tr.err)
		}
		if tr.n != n {
			t.Fatalf("transcript of case %d, want %d", tr.n, n)
		}
		return tr
	case <-time.After(20 * time.Second):
		t.Fatalf("case %d: no FastAGI session", n)
	}
	return agiTranscript{}
}

// msetCase is one EXEC MSet command (its data as the AGI argument carries it,
// after AGI's own unquoting) and the variables it leaves.
type msetCase struct {
	name string
	data string
	want map[string]string // read back with GET VARIABLE; "\x00" = not set
}

const unset = "\x00"

var msetCases = []msetCase{
	{"plain", "LBA=x,LBB=OVER_LIMIT,LBC=ADMITTED", map[string]string{"LBA": "x", "LBB": "OVER_LIMIT", "LBC": "ADMITTED"}},
	{"empty values", "LBA=,LBB=y,LBC=", map[string]string{"LBA": "", "LBB": "y", "LBC": ""}},
	{"spaces", "LBA=a b ,LBB= c", map[string]string{"LBA": "a b ", "LBB": " c"}},
	{"equals in a value", "LBA=a=b=c,LBB=y", map[string]string{"LBA": "a=b=c", "LBB": "y"}},
	{"escaped comma", `LBA=x\,y,LBB=q`, map[string]string{"LBA": "x,y", "LBB": "q"}},
	{"quoted comma", `LBA="x,y",LBB=q`, map[string]string{"LBA": "x,y", "LBB": "q"}},
	{"parentheses", "LBA=f(x,y),LBB=q", map[string]string{"LBA": "f(x,y)", "LBB": "q"}},
	{"brackets", "LBA=[x,y],LBB=q", map[string]string{"LBA": "[x,y]", "LBB": "q"}},
	{"unbalanced quote", `LBA=x"y,LBB=q`, map[string]string{"LBA": "xy,LBB=q", "LBB": unset}},
	{"backslash", `LBA=x\\y\z`, map[string]string{"LBA": `x\yz`}},
	{"closing parenthesis", "LBA=x)y,LBB=q", map[string]string{"LBA": "x)y", "LBB": "q"}},
	{"dollar", "LBA=$x${CHANNEL(linkedid)}", map[string]string{"LBA": "$x${CHANNEL(linkedid)}"}},
	{"pipe percent colon", "LBA=a|b,LBB=50% used: a;b", map[string]string{"LBA": "a|b", "LBB": "50% used: a;b"}},
	{"utf-8", "LBA=café", map[string]string{"LBA": "café"}},
	{"single quotes, semicolon, hash", "LBA='a';#b", map[string]string{"LBA": "'a';#b"}},
	{"entry without =", "LBA=x,LBB,LBC=z", map[string]string{"LBA": "x", "LBB": unset, "LBC": "z"}},
}

// msetCommands are the commands of a case: the EXEC, then a GET VARIABLE of
// every name.
func msetCommands(c msetCase) []string {
	cmds := []string{`EXEC MSet ` + agiQuote(c.data)}
	for _, n := range slices.Sorted(maps.Keys(c.want)) {
		cmds = append(cmds, "GET VARIABLE "+n)
	}
	return cmds
}

// agiQuote is Asterisk's AGI quoting (parse_args): backslash before '"' and '\'.
func agiQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// msetReplies is what a case's GET VARIABLEs must answer.
func msetReplies(c msetCase) []string {
	out := []string{"200 result=0"} // MSet returns 0
	for _, n := range slices.Sorted(maps.Keys(c.want)) {
		if v := c.want[n]; v == unset {
			out = append(out, "200 result=0")
		} else {
			out = append(out, "200 result=1 ("+v+")")
		}
	}
	return out
}

// execCases are EXEC's other answers.
var execCases = [][]string{
	{"EXEC NoSuchApplication x"},
	{"EXEC"},
	{"EXEC MSet", "GET VARIABLE LBA"},
	// With AGIEXECFULL set, EXEC expands ${...} in the argument first.
	{`EXEC MSet "AGIEXECFULL=yes"`, `EXEC MSet "LBA=${LBCASE}x"`, "GET VARIABLE LBA"},
}

// TestE2EAsteriskMSet: EXEC MSet as the real Asterisk 22 answers it, and the
// double the same.
func TestE2EAsteriskMSet(t *testing.T) {
	var cases [][]string
	for _, c := range msetCases {
		cases = append(cases, msetCommands(c))
	}
	cases = append(cases, execCases...)
	deadCase := len(cases)
	cases = append(cases, msetCommands(msetCases[0]))
	srv := newScriptedAGI(t, cases)

	// The double first: it needs no Asterisk.
	double := map[int][]string{}
	for i := range cases {
		if i == deadCase {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		res, err := agiclient.Call(ctx, srv.addr(), agiclient.Channel{Vars: map[string]string{"LBCASE": strconv.Itoa(i)}}, "mset,${LBCASE}")
		cancel()
		if err != nil || res.AGIStatus != agiclient.StatusSuccess {
			t.Fatalf("double, case %d: %v %+v", i, err, res)
		}
		double[i] = srv.wait(t, i).replies
	}
	for i, c := range msetCases {
		if got, want := strings.Join(double[i], "\n"), strings.Join(msetReplies(c), "\n"); got != want {
			t.Errorf("double, %s: replies\n got %q\nwant %q", c.name, double[i], msetReplies(c))
		}
	}

	realasterisk.Find(t)
	ast := realasterisk.Start(t, realasterisk.Options{Dialplan: fmt.Sprintf(`
[lbtest-mset]
exten => s,1,AGI(agi://%[1]s/mset,${LBCASE})
 same => n,Answer()
 same => n,Wait(120)

[lbtest-mset-dead]
exten => s,1,Answer()
 same => n,Hangup()
exten => h,1,AGI(agi://%[1]s/mset,${LBCASE})
`, srv.addr())})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range cases {
		context := "lbtest-mset"
		if i == deadCase {
			context = "lbtest-mset-dead"
		}
		call, err := ast.Originate(ctx, context, "LBCASE="+strconv.Itoa(i))
		if err != nil {
			t.Fatalf("case %d: originate: %v", i, err)
		}
		real := srv.wait(t, i).replies
		if i == deadCase {
			if got, want := strings.Join(real, "\n"), strings.Join(msetReplies(msetCases[0]), "\n"); got != want {
				t.Errorf("real, EXEC MSet from the h extension: replies\n got %q\nwant %q", real, msetReplies(msetCases[0]))
			}
			continue
		}
		if err := ast.Hangup(ctx, call.Half2); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(real, "\n"), strings.Join(double[i], "\n"); got != want {
			t.Errorf("case %d %q: the double differs from the real Asterisk\nreal   %q\ndouble %q", i, cases[i], real, double[i])
		}
	}
}

// queueAdmitter admits every channel with the next lease and reason the
// test queued, and records the requests.
type queueAdmitter struct {
	mu   sync.Mutex
	next admission.Decision
	reqs []admission.Request
}

func (a *queueAdmitter) set(d admission.Decision) { a.mu.Lock(); a.next = d; a.mu.Unlock() }

func (a *queueAdmitter) Admit(_ context.Context, req admission.Request) (admission.Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, req)
	return a.next, nil
}
func (a *queueAdmitter) Release(context.Context, string, string) error { return nil }
func (a *queueAdmitter) Status(context.Context, string) (admission.Usage, error) {
	return admission.Usage{}, nil
}

func (a *queueAdmitter) last() admission.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reqs) == 0 {
		return admission.Request{}
	}
	return a.reqs[len(a.reqs)-1]
}

// recordingProxy forwards FastAGI connections to target and hands over, per
// session, the command lines the server sent.
type recordingProxy struct {
	ln       net.Listener
	sessions chan []string
	wg       sync.WaitGroup
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{ln: ln, sessions: make(chan []string, 4)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
			go func() {
				defer p.wg.Done()
				var sent strings.Builder
				_, _ = io.Copy(c, io.TeeReader(up, &sent))
				c.Close()
				up.Close()
				p.sessions <- strings.Split(strings.TrimSuffix(sent.String(), "\n"), "\n")
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *recordingProxy) next(t *testing.T) []string {
	t.Helper()
	select {
	case cmds := <-p.sessions:
		return cmds
	case <-time.After(20 * time.Second):
		t.Fatal("no FastAGI session through the proxy")
	}
	return nil
}

// TestE2EAsteriskAnswerInOneExchange: the FastAGI server against the real
// Asterisk 22 through the printed dialplan: the linkedid comes as an argument
// and the answer in one EXEC MSet, and the three variables are what the
// admission said; awkward values fall back to SET VARIABLEs; the older
// dialplan form (no linkedid argument) still works; and so does the h
// extension (a channel already hung up).
func TestE2EAsteriskAnswerInOneExchange(t *testing.T) {
	realasterisk.Find(t)
	adm := &queueAdmitter{}
	srv, err := dialplan.NewServer(adm, dialplan.Config{Addr: "127.0.0.1:0", SessionTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-runErr })
	<-srv.Ready()
	proxy := newRecordingProxy(t, srv.Addr().String())
	addr := proxy.ln.Addr().String()

	ast := realasterisk.Start(t, realasterisk.Options{Dialplan: printedDialplan(t, dialplan.ViaAGI, addr, "g729") + fmt.Sprintf(`
[lbtest-new]
exten => s,1,Gosub(licbridge-g729,s,1)
 same => n,Set(LBTEST_RET=${GOSUB_RETVAL})
 same => n,Answer()
 same => n,Wait(120)

[lbtest-old]
exten => s,1,AGI(agi://%s/admit,g729)
 same => n,Answer()
 same => n,Wait(120)

[lbtest-dead]
exten => s,1,Answer()
 same => n,Hangup()
exten => h,1,Gosub(licbridge-g729,s,1)
 same => n,Log(NOTICE,lbtest dead ret=${GOSUB_RETVAL} status=${LICBRIDGE_STATUS} reason=${LICBRIDGE_REASON} lease=${LICBRIDGE_LEASE})
`, addr)})
	if p := ast.Problems(); len(p) > 0 {
		t.Errorf("the dialplan loads with warnings:\n%s", strings.Join(p, "\n"))
	}
	tctx, tcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer tcancel()

	msetOf := func(d admission.Decision) string {
		return fmt.Sprintf(`EXEC MSet "LICBRIDGE_REASON=%s,LICBRIDGE_LEASE=%s,LICBRIDGE_STATUS=ADMITTED"`, d.Reason, d.Lease)
	}
	for _, tc := range []struct {
		name, context string
		d             admission.Decision
		want          func(admission.Decision) []string
	}{
		{"printed dialplan: one exchange", "lbtest-new", admission.Decision{Admitted: true, Lease: "g729-a1", Reason: "grace: 3 days left"},
			func(d admission.Decision) []string { return []string{msetOf(d)} }},
		{"printed dialplan, awkward values: SET VARIABLEs", "lbtest-new", admission.Decision{Admitted: true, Lease: `g729,"a2"`, Reason: `50% (a) [b] \ c, ${X} d|e`},
			func(d admission.Decision) []string {
				return []string{
					"SET VARIABLE LICBRIDGE_REASON " + agiQuote(d.Reason),
					"SET VARIABLE LICBRIDGE_LEASE " + agiQuote(d.Lease),
					`SET VARIABLE LICBRIDGE_STATUS "ADMITTED"`,
				}
			}},
		{"older dialplan form: the linkedid asked for", "lbtest-old", admission.Decision{Admitted: true, Lease: "g729-a3"},
			func(d admission.Decision) []string { return []string{"GET VARIABLE CHANNEL(linkedid)", msetOf(d)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adm.set(tc.d)
			call, err := ast.Originate(tctx, tc.context)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = ast.Hangup(tctx, call.Half2) }()
			if got, want := proxy.next(t), tc.want(tc.d); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("commands\n got %q\nwant %q", got, want)
			}
			for name, want := range map[string]string{
				admission.VarStatus: admission.StatusAdmitted, admission.VarReason: tc.d.Reason, admission.VarLease: tc.d.Lease,
			} {
				if got, err := ast.Getvar(tctx, call.Half2, name); err != nil || got != want {
					t.Errorf("%s = %q (%v), want %q", name, got, err, want)
				}
			}
			linkedid, err := ast.Getvar(tctx, call.Half2, "CHANNEL(linkedid)")
			if err != nil || adm.last().Call != linkedid || linkedid == "" {
				t.Errorf("admitted call %q, the channel's linkedid %q (%v)", adm.last().Call, linkedid, err)
			}
		})
	}

	t.Run("h extension: one exchange", func(t *testing.T) {
		d := admission.Decision{Admitted: true, Lease: "g729-a4"}
		adm.set(d)
		if _, err := ast.Originate(tctx, "lbtest-dead"); err != nil {
			t.Fatal(err)
		}
		if got, want := proxy.next(t), []string{msetOf(d)}; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("commands\n got %q\nwant %q", got, want)
		}
		want := "lbtest dead ret=ADMITTED status=ADMITTED reason= lease=g729-a4"
		for !strings.Contains(ast.Output(400), want) {
			select {
			case <-tctx.Done():
				t.Fatalf("the h extension never logged %q\n%s", want, grepLines(ast.Output(400), "lbtest dead"))
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}
