package dialplan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/licbridge/licbridge/admission"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/dialplan/agi"
	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// countingAdmitter is a small in-memory admission core: a per-product limit,
// idempotent per channel, with hooks to fail or block.
type countingAdmitter struct {
	mu      sync.Mutex
	limit   map[string]int
	holds   map[string]map[string]string // product → channel → lease
	reqs    []admission.Request
	seq     int
	reason  string        // Reason for admitted decisions, if set
	fail    error         // returned by every call when set
	block   chan struct{} // Admit waits for it to close (or ctx) when set
	entered chan struct{} // receives once per Admit that starts blocking
}

var _ admission.Admitter = (*countingAdmitter)(nil)

func newAdmitter(limits map[string]int) *countingAdmitter {
	return &countingAdmitter{limit: limits, holds: map[string]map[string]string{}}
}

func (a *countingAdmitter) Admit(ctx context.Context, req admission.Request) (admission.Decision, error) {
	if a.block != nil {
		if a.entered != nil {
			a.entered <- struct{}{}
		}
		select {
		case <-a.block:
		case <-ctx.Done():
			return admission.Decision{}, ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, req)
	if a.fail != nil {
		return admission.Decision{}, a.fail
	}
	total, ok := a.limit[req.Product]
	if !ok {
		return admission.Decision{Reason: "NO_LICENSE"}, nil
	}
	h := a.holds[req.Product]
	if h == nil {
		h = map[string]string{}
		a.holds[req.Product] = h
	}
	if lease, ok := h[req.Channel]; ok {
		return admission.Decision{Admitted: true, Reason: a.reason, Lease: lease}, nil
	}
	if len(h) >= total {
		return admission.Decision{Reason: "OVER_LIMIT"}, nil
	}
	a.seq++
	lease := fmt.Sprintf("%s-%d", req.Product, a.seq)
	h[req.Channel] = lease
	return admission.Decision{Admitted: true, Reason: a.reason, Lease: lease}, nil
}

func (a *countingAdmitter) Release(ctx context.Context, product, channel string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	delete(a.holds[product], channel)
	return nil
}

func (a *countingAdmitter) Status(ctx context.Context, product string) (admission.Usage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return admission.Usage{}, a.fail
	}
	return admission.Usage{InUse: len(a.holds[product]), Total: a.limit[product]}, nil
}

func (a *countingAdmitter) calls() []admission.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]admission.Request(nil), a.reqs...)
}

// startServer runs a server on 127.0.0.1:0 until the test ends and returns its
// address and a stop func that ends Run's context and waits for Run to return.
func startServer(t testing.TB, adm admission.Admitter, cfg Config) (addr string, stop func() error) {
	addr, cancel, wait := startServerParts(t, adm, cfg)
	return addr, func() error { cancel(); return wait() }
}

func startServerParts(t testing.TB, adm admission.Admitter, cfg Config) (addr string, cancel func(), wait func() error) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	srv, err := NewServer(adm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	var once sync.Once
	var runErr error
	wait = func() error {
		once.Do(func() { runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { cancel(); _ = wait() })
	return srv.Addr().String(), cancel, wait
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func channel(n int) agiclient.Channel {
	return agiclient.Channel{
		Name:     fmt.Sprintf("PJSIP/trunk-%08x", n),
		Uniqueid: fmt.Sprintf("1795386360.%d", n),
		Linkedid: fmt.Sprintf("1795386300.%d", n),
		CallerID: "+4930123456", DNID: "+4940987654",
		Context: "from-trunk", Exten: "+4940987654", Priority: 3,
	}
}

func call(t testing.TB, addr string, ch agiclient.Channel, script string, opts ...agiclient.Option) agiclient.Result {
	t.Helper()
	res, err := agiclient.Call(testCtx(t), addr, ch, script, opts...)
	if err != nil {
		t.Fatalf("AGI(agi://%s/%s): %v", addr, script, err)
	}
	return res
}

func TestAdmitRejectReleaseStatus(t *testing.T) {
	adm := newAdmitter(map[string]int{"g729": 1, "fax": 2})
	// A long session timeout: every close seen here is the server's own, not a deadline.
	addr, _ := startServer(t, adm, Config{SessionTimeout: time.Minute})

	steps := []struct {
		name   string
		ch     int
		script string
		want   map[string]string
	}{
		{"admit first", 1, "admit,g729", map[string]string{admission.VarStatus: "ADMITTED", admission.VarReason: "", admission.VarLease: "g729-1"}},
		{"admit again is idempotent", 1, "admit,g729", map[string]string{admission.VarStatus: "ADMITTED", admission.VarLease: "g729-1"}},
		{"second channel over the limit", 2, "admit?product=g729", map[string]string{admission.VarStatus: "REJECTED", admission.VarReason: "OVER_LIMIT", admission.VarLease: ""}},
		{"no license", 2, "admit?feature=hpec", map[string]string{admission.VarStatus: "REJECTED", admission.VarReason: "NO_LICENSE"}},
		{"status", 9, "status,g729", map[string]string{admission.VarStatus: "OK", admission.VarInUse: "1", admission.VarTotal: "1", admission.VarReason: ""}},
		{"release", 1, "release,g729", map[string]string{admission.VarStatus: "OK", admission.VarReason: "", admission.VarLease: ""}},
		{"status after release", 9, "status,g729", map[string]string{admission.VarStatus: "OK", admission.VarInUse: "0", admission.VarTotal: "1"}},
		{"admit after release", 2, "admit,g729", map[string]string{admission.VarStatus: "ADMITTED", admission.VarLease: "g729-2"}},
		{"unknown request", 3, "frobnicate,g729", map[string]string{admission.VarStatus: "ERROR", admission.VarReason: "BAD_REQUEST", admission.VarLease: ""}},
		{"no product", 3, "admit", map[string]string{admission.VarStatus: "ERROR", admission.VarReason: "BAD_REQUEST"}},
		{"bad product", 3, "admit,G 729!", map[string]string{admission.VarStatus: "ERROR", admission.VarReason: "BAD_REQUEST"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			ch := channel(s.ch)
			ch.Vars = map[string]string{admission.VarStatus: "STALE", admission.VarLease: "STALE"}
			res := call(t, addr, ch, s.script)
			if res.AGIStatus != agiclient.StatusSuccess || !res.ServerClosed {
				t.Fatalf("AGISTATUS=%s closed=%v, want SUCCESS and a close by the server", res.AGIStatus, res.ServerClosed)
			}
			for k, v := range s.want {
				if got := res.Vars[k]; got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if last := res.Sets[len(res.Sets)-1]; last.Name != admission.VarStatus {
				t.Errorf("last SET VARIABLE is %s, want %s (set last)", last.Name, admission.VarStatus)
			}
		})
	}

	// The admission core saw the channel's identity as Asterisk gave it.
	got := adm.calls()[0]
	want := admission.Request{Product: "g729", Channel: "1795386360.1", Call: "1795386300.1", Caller: "+4930123456", Called: "+4940987654"}
	if got != want {
		t.Errorf("AdmitRequest\n got %+v\nwant %+v", got, want)
	}
}

// TestEnvironmentInSegments: the environment arrives in many small TCP writes.
func TestEnvironmentInSegments(t *testing.T) {
	addr, _ := startServer(t, newAdmitter(map[string]int{"g729": 1}), Config{})
	var cuts []int
	for i := 7; i < 600; i += 7 {
		cuts = append(cuts, i)
	}
	res := call(t, addr, channel(1), "admit,g729", agiclient.WithSplit(cuts...))
	if res.Vars[admission.VarStatus] != admission.StatusAdmitted {
		t.Errorf("status %q", res.Vars[admission.VarStatus])
	}
}

// TestServerClosesAtOnce: with a one-minute session timeout, the double (which
// never closes by itself, like Asterisk) sees the server close right after the
// answer: the close is the server's design, not a deadline. Issue 14: the
// printed dialplan passes the linkedid, so an admission is one exchange (the
// answer by EXEC MSet); a dialplan without it still works, with one more.
func TestServerClosesAtOnce(t *testing.T) {
	mset := `EXEC MSet "LICBRIDGE_REASON=,LICBRIDGE_LEASE=g729-1,LICBRIDGE_STATUS=ADMITTED"`
	for _, tc := range []struct {
		name, script string
		wantCmds     []string
	}{
		{"printed dialplan", printedScript(t, "admit", "g729"), []string{mset}},
		{"dialplan without the linkedid", "admit,g729", []string{"GET VARIABLE CHANNEL(linkedid)", mset}},
		{"linkedid in the query", "admit?product=g729&linkedid=1795386300.1", []string{mset}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adm := newAdmitter(map[string]int{"g729": 5})
			addr, _ := startServer(t, adm, Config{SessionTimeout: time.Minute})
			res := call(t, addr, channel(1), tc.script)
			if !res.ServerClosed {
				t.Fatal("server did not close")
			}
			if strings.Join(res.Commands, "\n") != strings.Join(tc.wantCmds, "\n") {
				t.Errorf("commands\n got %q\nwant %q", res.Commands, tc.wantCmds)
			}
			if got := adm.calls(); len(got) != 1 || got[0].Call != "1795386300.1" {
				t.Errorf("admission requests %+v, want one for call 1795386300.1", got)
			}
		})
	}
}

// printedScript is what `licbridge dialplan` puts after agi://HOST:PORT/ in
// its AGI() call for verb and product.
func printedScript(t testing.TB, verb, product string) string {
	t.Helper()
	var b strings.Builder
	if err := Generate(&b, GenerateOptions{Products: []string{product}}); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`AGI\(agi://[^/]+/(` + verb + `,[^\n]*)\)\n`).FindStringSubmatch(b.String())
	if m == nil {
		t.Fatalf("no AGI(...%s...) in the printed dialplan", verb)
	}
	return m[1]
}

// TestAnswerFallsBack: values MSet would split or change (commas, quotes,
// backslashes, parentheses, brackets, '$', '|') are set with one SET VARIABLE
// each, LICBRIDGE_STATUS last; and so is every answer of a server after a
// client refused its EXEC (TestAnswerAfterMSetRefused).
func TestAnswerFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		opts         []agiclient.Option
	}{
		{"comma", "a,LICBRIDGE_STATUS=REJECTED", nil},
		{"quote", `say "hi"`, nil},
		{"backslash", `a\b`, nil},
		{"parentheses", "f(x)", nil},
		{"brackets", "[x]", nil},
		{"dollar", "${CHANNEL}", nil},
		{"pipe", "a|b", nil},
		{"refused EXEC", "OK", []agiclient.Option{agiclient.WithExecRefused()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adm := newAdmitter(map[string]int{"g729": 2})
			adm.reason = tc.reason
			log, refused := logSignal("refused EXEC MSet")
			addr, _ := startServer(t, adm, Config{Logger: log})
			lease := "g729-1"
			if tc.opts != nil {
				// The session whose EXEC is refused goes unanswered; the
				// next one is the case.
				call(t, addr, channel(2), printedScript(t, "admit", "g729"), tc.opts...)
				waitClosed(t, refused)
				lease = "g729-2"
			}
			res := call(t, addr, channel(1), printedScript(t, "admit", "g729"), tc.opts...)
			want := map[string]string{admission.VarReason: tc.reason, admission.VarLease: lease, admission.VarStatus: admission.StatusAdmitted}
			for k, v := range want {
				if got := res.Vars[k]; got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			var sets []string
			for _, c := range res.Commands {
				if strings.HasPrefix(c, "SET VARIABLE ") {
					sets = append(sets, strings.Fields(c)[2])
				}
			}
			if strings.Join(sets, " ") != "LICBRIDGE_REASON LICBRIDGE_LEASE LICBRIDGE_STATUS" {
				t.Errorf("commands %q: want one SET VARIABLE each, status last", res.Commands)
			}
		})
	}
}

// TestAnswerAfterMSetRefused: the answer's write side is shut after its EXEC
// MSet, so a client that refuses the EXEC gets no answer in that session (the
// dialplan's failure branch: LICBRIDGE_STATUS unset, AGI() ends SUCCESS); the
// server then answers every later session one SET VARIABLE at a time.
func TestAnswerAfterMSetRefused(t *testing.T) {
	adm := newAdmitter(map[string]int{"g729": 3})
	log, refused := logSignal("refused EXEC MSet")
	addr, _ := startServer(t, adm, Config{SessionTimeout: time.Minute, Logger: log})
	script := printedScript(t, "admit", "g729")
	first := call(t, addr, channel(1), script, agiclient.WithExecRefused())
	// The client is done before the server has read the refusal (that is
	// the point of the answer's half-close): wait until it has.
	waitClosed(t, refused)
	if len(first.Commands) != 1 || !strings.HasPrefix(first.Commands[0], "EXEC MSet ") {
		t.Errorf("first session's commands %q, want the EXEC MSet alone", first.Commands)
	}
	if v, ok := first.Vars[admission.VarStatus]; ok || first.AGIStatus != agiclient.StatusSuccess {
		t.Errorf("first session: status %q set (%v), AGISTATUS %s; want unset and SUCCESS", v, ok, first.AGIStatus)
	}
	for i, opts := range [][]agiclient.Option{{agiclient.WithExecRefused()}, nil} {
		res := call(t, addr, channel(2+i), script, opts...)
		if got := res.Vars[admission.VarStatus]; got != admission.StatusAdmitted {
			t.Errorf("later session %d: status %q, want ADMITTED (commands %q)", i, got, res.Commands)
		}
		if len(res.Commands) != 3 || !strings.HasPrefix(res.Commands[2], "SET VARIABLE LICBRIDGE_STATUS ") {
			t.Errorf("later session %d: commands %q, want three SET VARIABLEs, status last", i, res.Commands)
		}
	}
}

// logSignal returns a server logger and a channel closed once a log line
// holding substr is written.
func logSignal(substr string) (*slog.Logger, <-chan struct{}) {
	w := &signalWriter{substr: substr, ch: make(chan struct{})}
	return slog.New(slog.NewTextHandler(w, nil)), w.ch
}

type signalWriter struct {
	substr string
	ch     chan struct{}
	once   sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.substr) {
		w.once.Do(func() { close(w.ch) })
	}
	return len(p), nil
}

// waitClosed waits for ch, failing the test if the test's context ends first.
func waitClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-testCtx(t).Done():
		t.Fatal("gave up waiting for the server")
	}
}

// TestAnswerEndsSessionAtOnce: the client reads EOF right after the
// answer's last command, before it has replied to it: Asterisk's AGI() ends
// as soon as it has run the command, not half a round trip later when the
// server has read the reply and closed (issue 14). Also when the answer takes
// several SET VARIABLEs: EOF follows the last one.
func TestAnswerEndsSessionAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		commands     int
	}{
		{"EXEC MSet", "OK", 1},
		{"SET VARIABLEs", "a,b", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adm := newAdmitter(map[string]int{"g729": 1})
			adm.reason = tc.reason
			// A session timeout far beyond the wait below: an EOF seen here
			// is the answer's, not the server giving up on the session.
			addr, _ := startServer(t, adm, Config{SessionTimeout: time.Minute})
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write(agiclient.Env(addr, channel(1), printedScript(t, "admit", "g729"))); err != nil {
				t.Fatal(err)
			}
			// Only a bound for the failing case: the passing one reads EOF at once.
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(nc)
			for i := 1; i <= tc.commands; i++ {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("command %d: %v", i, err)
				}
				if i < tc.commands {
					if _, err := nc.Write([]byte("200 result=1\n")); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if !strings.Contains(line, "LICBRIDGE_STATUS") {
					t.Fatalf("last command %q does not set LICBRIDGE_STATUS", line)
				}
			}
			// The last command is not answered yet.
			if rest, err := r.ReadString('\n'); err != io.EOF || rest != "" {
				t.Fatalf("after the last command, unanswered: %q, %v; want EOF at once", rest, err)
			}
			// The reply still reaches the server, which reads it and closes.
			if _, err := nc.Write([]byte("200 result=0\n")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestServerBytesHaveRecordedShape: every line our server sends has the shape of
// a line a FastAGI script sent to the real Asterisk in the recordings (LF only,
// upper-case verbs, the variable name bare, a SET value in double quotes).
func TestServerBytesHaveRecordedShape(t *testing.T) {
	shape := func(line string) string {
		line = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).ReplaceAllString(line, `"Q"`)
		line = regexp.MustCompile(`^EXEC [A-Za-z]+ `).ReplaceAllString(line, "EXEC APP ")
		return regexp.MustCompile(`^((?:GET|SET) (?:FULL )?VARIABLE) [A-Za-z_][A-Za-z0-9_]*(?:\([a-z]+\))?`).ReplaceAllString(line, "$1 NAME")
	}
	recorded := map[string]bool{}
	for _, name := range []string{"agi_admit_1", "agi_errors_1"} {
		for _, l := range strings.Split(string(fixtures.Read(t, "asterisk", name+".tx.raw")), "\n") {
			recorded[shape(l)] = true
		}
	}
	if !recorded[`SET VARIABLE NAME "Q"`] || !recorded["GET VARIABLE NAME"] || !recorded[`EXEC APP "Q"`] {
		t.Fatalf("recorded shapes lack the expected forms: %v", recorded)
	}
	adm := newAdmitter(map[string]int{"g729": 1})
	adm.reason = `50% used: a=b; "c" \ d`
	addr, _ := startServer(t, adm, Config{})
	for _, script := range []string{"admit,g729", "admit,g729", printedScript(t, "admit", "g729"), "status,g729", "release,g729", "nonsense"} {
		res := call(t, addr, channel(1), script)
		if strings.Contains(string(res.Received), "\r") || !strings.HasSuffix(string(res.Received), "\n") {
			t.Errorf("%s: not LF-terminated lines: %q", script, res.Received)
		}
		for _, l := range res.Commands {
			if !recorded[shape(l)] {
				t.Errorf("%s: %q has shape %q, not among the recorded ones", script, l, shape(l))
			}
		}
	}
}

// TestValuesSurviveQuoting is CyCoreSystems/agi's first defect (values not
// quoted): values with spaces, %, :, quotes and backslashes arrive as sent, and a
// CR/LF from the Admitter can never inject a command.
func TestValuesSurviveQuoting(t *testing.T) {
	cases := []struct{ reason, want string }{
		{"50% used: a=b; c", "50% used: a=b; c"},
		{`say "hi" \ (x)`, `say "hi" \ (x)`},
		{"a\nSET VARIABLE INJECTED yes", "a SET VARIABLE INJECTED yes"},
		{"cr\r\nlf", "cr  lf"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			adm := newAdmitter(map[string]int{"g729": 1})
			adm.reason = tc.reason
			addr, _ := startServer(t, adm, Config{})
			res := call(t, addr, channel(1), "admit,g729")
			if got := res.Vars[admission.VarReason]; got != tc.want {
				t.Errorf("LICBRIDGE_REASON = %q, want %q", got, tc.want)
			}
			if _, ok := res.Vars["INJECTED"]; ok {
				t.Error("a value injected a command")
			}
			if res.Vars[admission.VarStatus] != admission.StatusAdmitted {
				t.Errorf("status %q", res.Vars[admission.VarStatus])
			}
		})
	}
}

func TestConcurrentSessions(t *testing.T) {
	const n, limit = 100, 60
	adm := newAdmitter(map[string]int{"g729": limit})
	addr, _ := startServer(t, adm, Config{})
	results := make([]agiclient.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = agiclient.Call(testCtx(t), addr, channel(i), "admit,g729")
		}()
	}
	wg.Wait()
	admitted, rejected := 0, 0
	leases := map[string]bool{}
	for i, r := range results {
		if errs[i] != nil || r.AGIStatus != agiclient.StatusSuccess {
			t.Fatalf("session %d: %v, AGISTATUS=%s", i, errs[i], r.AGIStatus)
		}
		switch r.Vars[admission.VarStatus] {
		case admission.StatusAdmitted:
			admitted++
			if leases[r.Vars[admission.VarLease]] {
				t.Errorf("lease %s given twice", r.Vars[admission.VarLease])
			}
			leases[r.Vars[admission.VarLease]] = true
		case admission.StatusRejected:
			rejected++
			if r.Vars[admission.VarReason] != "OVER_LIMIT" {
				t.Errorf("session %d rejected for %q", i, r.Vars[admission.VarReason])
			}
		default:
			t.Errorf("session %d: status %q", i, r.Vars[admission.VarStatus])
		}
	}
	if admitted != limit || rejected != n-limit {
		t.Errorf("admitted %d, rejected %d; want %d and %d", admitted, rejected, limit, n-limit)
	}
}

// reasonedErr is an Admitter error that names its LICBRIDGE_REASON.
type reasonedErr string

func (e reasonedErr) Error() string  { return "refused: " + string(e) }
func (e reasonedErr) Reason() string { return string(e) }

var _ admission.Reasoned = reasonedErr("")

func TestAdmitterFailures(t *testing.T) {
	t.Run("error", func(t *testing.T) {
		adm := newAdmitter(map[string]int{"g729": 1})
		adm.fail = errors.New("store down")
		addr, _ := startServer(t, adm, Config{})
		for _, script := range []string{"admit,g729", "release,g729", "status,g729"} {
			res := call(t, addr, channel(1), script)
			if res.Vars[admission.VarStatus] != admission.StatusError || res.Vars[admission.VarReason] != admission.ReasonInternal {
				t.Errorf("%s: status %q reason %q, want ERROR INTERNAL", script, res.Vars[admission.VarStatus], res.Vars[admission.VarReason])
			}
		}
	})
	t.Run("error with a reason", func(t *testing.T) {
		adm := newAdmitter(map[string]int{"g729": 1})
		adm.fail = fmt.Errorf("admit: %w", reasonedErr("DRAINING"))
		addr, _ := startServer(t, adm, Config{})
		for _, script := range []string{"admit,g729", "release,g729", "status,g729"} {
			res := call(t, addr, channel(1), script)
			if res.Vars[admission.VarStatus] != admission.StatusError || res.Vars[admission.VarReason] != "DRAINING" {
				t.Errorf("%s: status %q reason %q, want ERROR DRAINING", script, res.Vars[admission.VarStatus], res.Vars[admission.VarReason])
			}
		}
	})
	t.Run("slower than the session", func(t *testing.T) {
		adm := newAdmitter(map[string]int{"g729": 1})
		adm.block = make(chan struct{}) // never closed: Admit returns at its deadline
		addr, _ := startServer(t, adm, Config{SessionTimeout: 600 * time.Millisecond})
		res := call(t, addr, channel(1), "admit,g729")
		if res.Vars[admission.VarStatus] != admission.StatusError || res.Vars[admission.VarReason] != admission.ReasonTimeout || !res.ServerClosed {
			t.Errorf("status %q reason %q closed %v, want ERROR TIMEOUT and a close", res.Vars[admission.VarStatus], res.Vars[admission.VarReason], res.ServerClosed)
		}
	})
}

// TestHangupBeforeAdmission: a HANGUP notice read before admitting means nothing is
// admitted, the session still ends at once, and Asterisk reports HANGUP.
func TestHangupBeforeAdmission(t *testing.T) {
	adm := newAdmitter(map[string]int{"g729": 1})
	addr, _ := startServer(t, adm, Config{SessionTimeout: time.Minute})
	res := call(t, addr, channel(1), "admit,g729", agiclient.WithHangupAfterEnv())
	if res.AGIStatus != agiclient.StatusHangup || !res.ServerClosed {
		t.Errorf("AGISTATUS=%s closed=%v, want HANGUP and a close", res.AGIStatus, res.ServerClosed)
	}
	if n := len(adm.calls()); n != 0 {
		t.Errorf("%d admissions for a dead channel", n)
	}
}

// TestHostileInput: nothing a client sends can stall the server or its other sessions.
func TestHostileInput(t *testing.T) {
	adm := newAdmitter(map[string]int{"g729": 1000})
	addr, _ := startServer(t, adm, Config{
		SessionTimeout: 300 * time.Millisecond,
		Limits:         agi.Limits{MaxLine: 512, MaxLines: 64},
	})
	// expectClosed sends raw bytes and checks that the server closes without
	// answering a byte (it cannot speak AGI to such a peer).
	expectClosed := func(t *testing.T, payload string) {
		t.Helper()
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		// A write error is the server closing early, which is what is checked below.
		_, _ = io.WriteString(nc, payload)
		got, err := io.ReadAll(nc)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("server did not close")
		}
		if len(got) != 0 {
			t.Errorf("server answered %q", got)
		}
	}
	env := string(agiclient.Env(addr, channel(1), "admit,g729"))
	cases := []struct{ name, payload string }{
		{"garbage", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"empty block", "\n"},
		{"repeated key", "agi_network: yes\nagi_network: yes\n\n"},
		{"binary", "\x00\x01\x02\xff\n\n"},
		{"oversized line", "agi_network: yes\nagi_callerid: " + strings.Repeat("9", 100000) + "\n\n"},
		{"endless environment", manyVars(1000)},
		{"never finishes the environment", env[:len(env)/2]},
		{"connects and says nothing", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { expectClosed(t, tc.payload) })
	}

	// Clients that send a good environment, then misbehave on the first command.
	for _, tc := range []struct{ name, reply string }{
		{"never answers a command", ""},
		{"answers garbage", "hello\n"},
		{"answers an oversized line", strings.Repeat("2", 5000) + "\n"},
		{"answers HANGUP forever", strings.Repeat("HANGUP\n", 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(nc, env); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, len("GET VARIABLE CHANNEL(linkedid)\n"))
			if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "GET VARIABLE CHANNEL(linkedid)\n" {
				t.Fatalf("first command %q, %v", buf, err)
			}
			_, _ = io.WriteString(nc, tc.reply)
			rest, err := io.ReadAll(nc)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server did not close")
			}
			if len(rest) != 0 {
				t.Errorf("server went on with %q", rest)
			}
		})
	}
	if n := len(adm.calls()); n != 0 {
		t.Errorf("%d admissions from hostile clients", n)
	}

	t.Run("a stalled client does not hold up others", func(t *testing.T) {
		stalled, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer stalled.Close()
		if _, err := io.WriteString(stalled, env[:40]); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			res := call(t, addr, channel(100+i), "admit,g729")
			if res.Vars[admission.VarStatus] != admission.StatusAdmitted {
				t.Fatalf("session %d beside a stalled one: %q", i, res.Vars[admission.VarStatus])
			}
		}
		_ = stalled.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(stalled); err != nil {
			t.Fatalf("stalled client was not closed: %v", err)
		}
	})
}

func manyVars(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "agi_v%d: x\n", i)
	}
	return b.String() + "\n"
}

func TestAllowList(t *testing.T) {
	adm := newAdmitter(map[string]int{"g729": 1})
	addr, _ := startServer(t, adm, Config{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	res := call(t, addr, channel(1), "admit,g729")
	if !res.ServerClosed || len(res.Received) != 0 || len(res.Sets) != 0 {
		t.Errorf("refused client: closed=%v received=%q sets=%v", res.ServerClosed, res.Received, res.Sets)
	}
	// What the dialplan then sees: AGI() succeeded but no status is set.
	if res.AGIStatus != agiclient.StatusSuccess || res.Vars[admission.VarStatus] != "" {
		t.Errorf("AGISTATUS=%s LICBRIDGE_STATUS=%q", res.AGIStatus, res.Vars[admission.VarStatus])
	}
	if n := len(adm.calls()); n != 0 {
		t.Errorf("%d admissions from a refused address", n)
	}

	for _, tc := range []struct {
		in   []string
		want string
		bad  bool
	}{
		{[]string{"127.0.0.1/8", "::1", " 192.168.1.10 "}, "[127.0.0.0/8 ::1/128 192.168.1.10/32]", false},
		{[]string{"10.0.0.0/33"}, "", true},
		{[]string{"example.com"}, "", true},
	} {
		got, err := ParseAllow(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && fmt.Sprint(got) != tc.want) {
			t.Errorf("ParseAllow(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// TestTooManySessions: with every slot taken and as many connections waiting
// for one as may run, the next connection is closed at once, unanswered.
func TestTooManySessions(t *testing.T) {
	adm := newAdmitter(map[string]int{"g729": 5})
	adm.block = make(chan struct{})
	adm.entered = make(chan struct{}, 1)
	addr, _ := startServer(t, adm, Config{MaxSessions: 1, SessionTimeout: time.Minute})
	first := make(chan agiclient.Result, 1)
	go func() { first <- call(t, addr, channel(1), "admit,g729") }()
	<-adm.entered                  // the only slot is taken
	dialFrom(t, "127.0.0.1", addr) // waits for the slot: as many may wait as run
	res := call(t, addr, channel(2), "admit,g729")
	if !res.ServerClosed || len(res.Sets) != 0 {
		t.Errorf("session beyond MaxSessions and its waiting room: closed=%v sets=%v", res.ServerClosed, res.Sets)
	}
	close(adm.block)
	if r := <-first; r.Vars[admission.VarStatus] != admission.StatusAdmitted {
		t.Errorf("first session: %q", r.Vars[admission.VarStatus])
	}
}

// TestGracefulStop: a session in flight when Run's context ends still gets its
// answer; Run returns nil and the port is closed.
func TestGracefulStop(t *testing.T) {
	adm := newAdmitter(map[string]int{"g729": 5})
	adm.block = make(chan struct{})
	adm.entered = make(chan struct{}, 1)
	addr, cancel, wait := startServerParts(t, adm, Config{SessionTimeout: time.Minute})
	first := make(chan agiclient.Result, 1)
	go func() { first <- call(t, addr, channel(1), "admit,g729") }()
	<-adm.entered
	cancel() // the session is in flight, its admission still pending
	close(adm.block)
	if r := <-first; r.Vars[admission.VarStatus] != admission.StatusAdmitted {
		t.Errorf("in-flight session during stop: %q", r.Vars[admission.VarStatus])
	}
	if err := wait(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if res, _ := agiclient.Call(testCtx(t), addr, channel(2), "admit,g729"); res.AGIStatus != agiclient.StatusFailure {
		t.Errorf("after stop: AGISTATUS=%s, want FAILURE (nothing listening)", res.AGIStatus)
	}
}

func TestNewServerChecks(t *testing.T) {
	if _, err := NewServer(nil, Config{}); err == nil {
		t.Error("nil admission.Admitter accepted")
	}
	if _, err := NewServer(newAdmitter(nil), Config{Addr: "nonsense"}); err == nil {
		t.Error("bad address accepted")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srv, err := NewServer(newAdmitter(nil), Config{Addr: busy.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(testCtx(t)); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Errorf("Run on a port in use: %v, want an error naming it", err)
	}
	if err := srv.Run(testCtx(t)); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run: %v", err)
	}
}

// TestClosedMeansRefused checks that once Closed is closed a new FastAGI
// connection is refused, with no wait for Run to return, and that a server
// that never listened is Closed too.
func TestClosedMeansRefused(t *testing.T) {
	srv, err := NewServer(newAdmitter(nil), Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Ready()
	select {
	case <-srv.Closed():
		t.Fatal("Closed while listening")
	default:
	}
	cancel()
	<-srv.Closed()
	if c, err := net.Dial("tcp", srv.Addr().String()); err == nil {
		c.Close()
		t.Fatal("a connection was accepted after Closed")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	never, err := NewServer(newAdmitter(nil), Config{Addr: taken.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if err := never.Run(context.Background()); err == nil {
		t.Fatal("Run listened on a taken address")
	}
	<-never.Closed()
}
