package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim"
)

// The chaos test's parts: a `licbridge run` process that can be killed and
// started again on the same ports and state dir (chaosProc, chaosNode), and
// the oracle that counts what the PBX doubles really have up (chaosOracle).
// Everything here returns errors instead of failing the test, because the
// fault injector and the admitters are goroutines of their own.

// tailBuffer keeps the last max bytes written to it (a daemon's stderr over a
// run of minutes would otherwise grow without bound).
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// chaosProc is one `licbridge run` process.
type chaosProc struct {
	cmd     *exec.Cmd
	logs    *tailBuffer
	ready   chan struct{} // closed at its "licbridge ready" line
	done    chan struct{} // closed when it has exited
	exitErr error
	killed  atomic.Bool // the test killed it (any other exit is a crash)
}

// startChaosProc starts the binary with args; it does not wait for readiness.
func startChaosProc(bin string, args []string) (*chaosProc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("chaos: stderr pipe: %w", err)
	}
	p := &chaosProc{cmd: cmd, logs: &tailBuffer{max: 256 << 10}, ready: make(chan struct{}), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("chaos: start licbridge: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(io.TeeReader(stderr, p.logs))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		ready := false
		for sc.Scan() {
			if ready {
				continue // the tee keeps the tail; nothing else to look for
			}
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "licbridge ready" {
				ready = true
				close(p.ready)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.exitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady waits for the ready line, the process's exit or the context.
func (p *chaosProc) waitReady(ctx context.Context) error {
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		return fmt.Errorf("chaos: licbridge exited (%v) before it was ready:\n%s", p.exitErr, tail(p.logs.String(), 20))
	case <-ctx.Done():
		return fmt.Errorf("chaos: licbridge not ready: %w:\n%s", ctx.Err(), tail(p.logs.String(), 20))
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *chaosProc) kill() {
	p.killed.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *chaosProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// freeAddr is a loopback address free now: a node keeps its FastAGI and HTTP
// ports across restarts, as a real one does, so calls placed while it is down
// are refused and those placed after it is back reach the new process.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("chaos: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// chaosNode is one cluster member: an Asterisk double that outlives the
// daemon (calls go on while licbridge is dead), a state dir and fixed ports.
type chaosNode struct {
	name           string
	stateDir       string
	agi, http      string
	pbx            *asterisksim.PBX
	args           []string // the whole command line after the binary
	bin            string
	mu             sync.Mutex
	proc           *chaosProc
	upCh           chan struct{} // closed while the node is up
	startDurations []time.Duration
	crashes        []string // exits the test did not cause: when, why, the log's tail
	// A crash counts as a kill -9 for the oracle, and the node is started
	// again at once (as systemd's Restart=always would) while ctx lasts.
	ctx         context.Context
	oracle      *chaosOracle
	lapseAfter  time.Duration
	pendingKill *chaosKill
}

func newChaosNode(t *testing.T, name, bin string, args func(n *chaosNode) []string) *chaosNode {
	t.Helper()
	agi, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := &chaosNode{name: name, stateDir: t.TempDir(), agi: agi, http: httpAddr, bin: bin, upCh: make(chan struct{})}
	n.pbx = asterisksim.StartT(t, asterisksim.Options{AGIAddr: agi})
	n.args = args(n)
	t.Cleanup(n.stop)
	return n
}

// start starts the daemon and waits for it to be ready.
func (n *chaosNode) start(ctx context.Context) error {
	began := time.Now()
	p, err := startChaosProc(n.bin, n.args)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.waitReady(ctx); err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.startDurations = append(n.startDurations, time.Since(began))
	close(n.upCh)
	if n.pendingKill != nil {
		n.oracle.nodeUp(n.pendingKill, time.Now())
		n.pendingKill = nil
	}
	go n.watch(p)
	return nil
}

// watch records an exit of p that the test did not cause (a crash, or the
// race detector stopping the daemon) and marks the node down, so that the
// injector starts it again and its calls wait for it as for a kill.
func (n *chaosNode) watch(p *chaosProc) {
	<-p.done
	if p.killed.Load() {
		return
	}
	now := time.Now()
	n.mu.Lock()
	n.crashes = append(n.crashes, fmt.Sprintf("%s: exited by itself (%v); log tail:\n%s",
		now.Format("15:04:05.000"), p.exitErr, tail(p.logs.String(), 150)))
	if n.proc != p || n.ctx == nil || n.ctx.Err() != nil {
		n.mu.Unlock()
		return
	}
	select {
	case <-n.upCh:
		n.upCh = make(chan struct{})
	default:
	}
	n.pendingKill = n.oracle.kill(n.name, now, n.lapseAfter)
	n.mu.Unlock()
	if err := n.start(n.ctx); err != nil {
		n.mu.Lock()
		n.crashes = append(n.crashes, "restart after the crash: "+err.Error())
		n.mu.Unlock()
	}
}

func (n *chaosNode) crashLog() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.crashes)
}

// kill is kill -9: the daemon's channels stay up in the PBX double.
func (n *chaosNode) kill() {
	n.mu.Lock()
	p := n.proc
	select {
	case <-n.upCh:
		n.upCh = make(chan struct{})
	default:
	}
	n.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

func (n *chaosNode) stop() {
	n.mu.Lock()
	n.ctx = nil // no restart after a crash from now on
	n.mu.Unlock()
	n.kill()
}

// up is closed while the node is up.
func (n *chaosNode) up() chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.upCh
}

func (n *chaosNode) isUp() bool {
	select {
	case <-n.up():
		return true
	default:
		return false
	}
}

func (n *chaosNode) logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return ""
	}
	return n.proc.logs.String()
}

var chaosHTTP = &http.Client{Timeout: 2 * time.Second}

// inUse reads the cluster-wide in-use count of product from the node's
// admin API (the same /api/v1/view the e2e tests read).
func (n *chaosNode) inUse(ctx context.Context, product string) (int, error) {
	u, err := n.usage(ctx, product)
	return u.InUse, err
}

// usage reads product's line of the node's /api/v1/view.
func (n *chaosNode) usage(ctx context.Context, product string) (productUse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.http+"/api/v1/view", nil)
	if err != nil {
		return productUse{}, err
	}
	resp, err := chaosHTTP.Do(req)
	if err != nil {
		return productUse{}, fmt.Errorf("%s admin API: %w", n.name, err)
	}
	defer resp.Body.Close()
	var body struct {
		Products []productUse `json:"products"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		return productUse{}, fmt.Errorf("%s admin API: status %d, %v", n.name, resp.StatusCode, err)
	}
	for _, p := range body.Products {
		if p.Name == product {
			return p, nil
		}
	}
	return productUse{Name: product}, nil
}

// ready reports whether the node's /readyz answers 200 (store, AMI, ARI up).
func (n *chaosNode) ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.http+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := chaosHTTP.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// chaosFault is one injected fault, from its start until the cluster has
// converged again after it (its effects are "in effect" that long).
type chaosFault struct {
	kind       string
	node       string
	store      bool // a store fault: fail-open overshoot is allowed, counted apart
	start, end time.Time
	converged  time.Duration // from end; -1: not within the bound
	// filled by the oracle
	maxOver       map[string]int // by class (hard, fail-open, lapsed)
	honestRefused int
	admitted      int
	refused       int
	note          string
}

// chaosKill is a kill -9 of a node, for the channels that outlived it.
type chaosKill struct {
	node       string
	at, upAt   time.Time
	eligibleIn time.Duration // down this long: its holdings may have lapsed
}

// lapsed reports whether the killed node's holdings may have lapsed by now:
// survivors may then reuse the slots of its channels (by design).
func (k *chaosKill) lapsed(now time.Time) bool {
	end := now
	if !k.upAt.IsZero() {
		end = k.upAt
	}
	return end.Sub(k.at) >= k.eligibleIn
}

// chaosCall is one admitted channel that is up in a PBX double.
type chaosCall struct {
	node     string
	failOpen bool         // admitted while a store fault was in effect
	survived []*chaosKill // kills of its node it outlived
}

// chaosOracle counts the channels really admitted and alive, from the test's
// own record of Place results and Hangups: the PBX doubles' truth. It is
// conservative: a channel counts from when Place returned (after licbridge
// admitted it) until the test decides to hang it up (before licbridge sees
// the hangup), so every overshoot it records is real.
type chaosOracle struct {
	total int

	mu            sync.Mutex
	live          map[*chaosCall]struct{}
	fault         *chaosFault
	storeFault    bool
	faults        []*chaosFault
	admissions    int
	rejections    map[string]int
	honestRefused map[string]int // by fault kind ("none" outside faults)
	maxOver       map[string]int // "class/kind"
	overSamples   map[string]int // "class/kind"
	samples       int
	violations    []string // the first few hard-limit breaches
	hardSamples   int
	hangupErrs    int
	admittedBy    map[string]int
	kills         map[string][]*chaosKill
}

func newChaosOracle(total int) *chaosOracle {
	return &chaosOracle{total: total, live: map[*chaosCall]struct{}{}, rejections: map[string]int{},
		honestRefused: map[string]int{}, maxOver: map[string]int{}, overSamples: map[string]int{},
		admittedBy: map[string]int{}, kills: map[string][]*chaosKill{}}
}

// placeStart is what the oracle saw when a call was placed.
type placeStart struct {
	at         time.Time
	live       int
	storeFault bool
}

func (o *chaosOracle) begin() placeStart {
	o.mu.Lock()
	defer o.mu.Unlock()
	return placeStart{at: time.Now(), live: len(o.live), storeFault: o.storeFault}
}

// end records a placed call's result; an admitted one is live from now (nil
// otherwise).
func (o *chaosOracle) end(node string, st placeStart, pl *asterisksim.Placed, err error) *chaosCall {
	o.mu.Lock()
	defer o.mu.Unlock()
	f := o.fault
	if pl != nil && pl.Admitted() {
		o.admissions++
		if f != nil {
			f.admitted++
		}
		o.admittedBy[node]++
		c := &chaosCall{node: node, failOpen: st.storeFault || o.storeFault}
		// Admitted just before a kill that was recorded before Place
		// returned: the channel outlived that kill too.
		for _, k := range o.kills[node] {
			if !k.at.Before(st.at) {
				c.survived = append(c.survived, k)
			}
		}
		o.live[c] = struct{}{}
		return c
	}
	reason := rejectionReason(pl, err)
	o.rejections[reason]++
	kind := "none"
	if f != nil {
		f.refused++
		kind = f.kind
	}
	// Honest: there was room for it when it was placed and when it was
	// answered, by the PBX doubles' truth.
	if st.live < o.total && len(o.live) < o.total {
		o.honestRefused[kind+": "+reason]++
		if f != nil {
			f.honestRefused++
		}
	}
	return nil
}

func rejectionReason(pl *asterisksim.Placed, err error) string {
	switch {
	case err != nil:
		var op *net.OpError
		switch {
		case errors.As(err, &op) && strings.Contains(err.Error(), "refused"):
			return "AGI: connection refused"
		case errors.Is(err, context.DeadlineExceeded):
			return "AGI: timeout"
		case strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset"):
			return "AGI: connection dropped"
		default:
			return "AGI: " + err.Error()
		}
	case pl == nil:
		return "no result"
	case pl.Status == "":
		if pl.AGIStatus == "FAILURE" {
			return "AGISTATUS=FAILURE (node unreachable)"
		}
		return "AGISTATUS=" + pl.AGIStatus + " without LICBRIDGE_STATUS"
	default:
		return pl.Status + "/" + pl.Reason
	}
}

// release ends a live call (before its Hangup reaches licbridge).
func (o *chaosOracle) release(c *chaosCall) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.live, c)
}

func (o *chaosOracle) hangupFailed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.hangupErrs++
}

// kill records a kill -9 of node: its live channels outlive it.
func (o *chaosOracle) kill(node string, at time.Time, eligibleIn time.Duration) *chaosKill {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := &chaosKill{node: node, at: at, eligibleIn: eligibleIn}
	o.kills[node] = append(o.kills[node], k)
	for c := range o.live {
		if c.node == node {
			c.survived = append(c.survived, k)
		}
	}
	return k
}

func (o *chaosOracle) nodeUp(k *chaosKill, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k.upAt = at
}

func (o *chaosOracle) setFault(f *chaosFault) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fault = f
	o.storeFault = f != nil && f.store
	if f != nil {
		f.maxOver = map[string]int{}
		o.faults = append(o.faults, f)
	}
}

func (o *chaosOracle) liveCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.live)
}

// sample is one look at the truth: every sample over the total is recorded
// under its class and the fault in effect. Classes: "lapsed" (only channels
// of a node killed past the lapse put it over: by design), "fail-open" (over
// only by channels admitted during a store fault) and "hard" (anything else:
// a breach of the invariant).
func (o *chaosOracle) sample(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.samples++
	all := len(o.live)
	if all <= o.total {
		return
	}
	lapsed, failOpen := 0, 0
	for c := range o.live {
		exempt := false
		for _, k := range c.survived {
			if k.lapsed(now) {
				exempt = true
				break
			}
		}
		switch {
		case exempt:
			lapsed++
		case c.failOpen:
			failOpen++
		}
	}
	kind := "none"
	if o.fault != nil {
		kind = o.fault.kind
	}
	class, over := "lapsed", all-o.total
	switch {
	case all-lapsed-failOpen > o.total:
		class, over = "hard", all-lapsed-failOpen-o.total
		o.hardSamples++
		if len(o.violations) < 10 {
			o.violations = append(o.violations, fmt.Sprintf("%s: %d channels alive (%d of a lapsed node, %d admitted during a store fault), total %d, fault %s",
				now.Format("15:04:05.000"), all, lapsed, failOpen, o.total, kind))
		}
	case all-lapsed > o.total:
		class, over = "fail-open", all-lapsed-o.total
	}
	key := class + "/" + kind
	o.overSamples[key]++
	o.maxOver[key] = max(o.maxOver[key], over)
	if o.fault != nil {
		o.fault.maxOver[class] = max(o.fault.maxOver[class], over)
	}
}

// maxFailOpen is the largest fail-open overshoot seen under any fault.
func (o *chaosOracle) maxFailOpen() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := 0
	for k, v := range o.maxOver {
		if strings.HasPrefix(k, "fail-open/") {
			m = max(m, v)
		}
	}
	return m
}

// report is the summary the test logs.
func (o *chaosOracle) report(w io.Writer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(w, "samples (every 10ms): %d; admissions: %d; hangup errors: %d\n", o.samples, o.admissions, o.hangupErrs)
	fmt.Fprintf(w, "rejections by reason:\n")
	for _, k := range sortedKeys(o.rejections) {
		fmt.Fprintf(w, "  %-40s %d\n", k, o.rejections[k])
	}
	kinds := map[string]int{}
	for _, f := range o.faults {
		kinds[f.kind]++
	}
	fmt.Fprintf(w, "faults injected by kind:\n")
	for _, k := range sortedKeys(kinds) {
		fmt.Fprintf(w, "  %-40s %d\n", k, kinds[k])
	}
	fmt.Fprintf(w, "max overshoot over the total of %d (class/fault in effect: max, samples over):\n", o.total)
	if len(o.maxOver) == 0 {
		fmt.Fprintf(w, "  none\n")
	}
	for _, k := range sortedKeys(o.maxOver) {
		fmt.Fprintf(w, "  %-40s %d (%d samples)\n", k, o.maxOver[k], o.overSamples[k])
	}
	fmt.Fprintf(w, "admissions by node:")
	for _, k := range sortedKeys(o.admittedBy) {
		fmt.Fprintf(w, " %s=%d", k, o.admittedBy[k])
	}
	fmt.Fprintf(w, "\nhonest calls refused (the PBXs' truth had room when the call was placed and when it was answered; an OVER_LIMIT here may still be fair, other admissions being in flight) by fault in effect and reason:\n")
	for _, k := range sortedKeys(o.honestRefused) {
		fmt.Fprintf(w, "  %-60s %d\n", k, o.honestRefused[k])
	}
	fmt.Fprintf(w, "each fault: kind node lasted converged-after admitted refused honest-refused max-overshoot note\n")
	for _, f := range o.faults {
		conv := "NOT within bound"
		if f.converged >= 0 {
			conv = f.converged.Round(time.Millisecond).String()
		}
		fmt.Fprintf(w, "  %-12s %-8s %8s %16s %5d %5d %5d %v %s\n", f.kind, f.node, f.end.Sub(f.start).Round(time.Millisecond),
			conv, f.admitted, f.refused, f.honestRefused, f.maxOver, f.note)
	}
	for _, v := range o.violations {
		fmt.Fprintf(w, "HARD LIMIT BREACH %s\n", v)
	}
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
