package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/licbridge/licbridge/admission"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/ari"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/license"
)

// Defaults for Options.
const (
	DefaultReconcileEvery = time.Minute
	DefaultHangupCause    = 34 // Q.850 "no circuit/channel available"
	DefaultFaxProduct     = "fax"
	DefaultStartupTimeout = 10 * time.Second
)

// ReasonStarting is the LICBRIDGE_REASON of an admission refused because the
// node has not finished starting (keys loading, holdings being taken back)
// within the caller's patience: a refusal, never a guess.
const ReasonStarting bridge.Reason = "STARTING"

// ErrDraining is what admission answers while the node drains: the dialplan
// gets LICBRIDGE_STATUS=ERROR with LICBRIDGE_REASON=DRAINING and takes its
// failure branch.
var ErrDraining error = drainingError{}

// ReasonDraining is the LICBRIDGE_REASON of an admission refused while the
// node drains.
const ReasonDraining = "DRAINING"

type drainingError struct{}

func (drainingError) Error() string { return "node: draining, no new admissions" }

// Reason implements admission.Reasoned.
func (drainingError) Reason() string { return ReasonDraining }

var _ admission.Reasoned = drainingError{}

// Options configure a Node. A zero field means its default; nil protocol
// options mean that part does not run.
type Options struct {
	// Bridge is the admission core. Required. The caller owns it (Close).
	Bridge *bridge.Bridge
	// Licenses, if set, is run by the node; every new Set is published with
	// Bridge.PublishKeys.
	Licenses *license.Watcher

	// AMI, if set, is the AMI connection. The node sets OnConnect (calling a
	// given one afterwards) and consumes Events.
	AMI *ami.Options
	// ARI, if set, is the Stasis application. The node sets Admitter (and
	// OnChannelGone, calling a given one too).
	ARI *ari.Options
	// AGI, if set, is the FastAGI server's configuration.
	AGI *dialplan.Config

	// ReconcileEvery is the period of the reconciliation with Asterisk's
	// channel list (AMI CoreShowChannels, else ARI's channel list) and of the
	// FAXSessions poll. Default 1 minute; negative disables the periodic run (the
	// one on every AMI connect stays).
	ReconcileEvery time.Duration
	// Passive configures passive accounting (on AMI only).
	Passive Passive
	// DrainTimeout bounds the drain after the context ends. Zero: until the last
	// holding is released (a second signal, or systemd's stop timeout, ends it).
	DrainTimeout time.Duration
	// StartupTimeout bounds how long admissions wait, at start, for Asterisk's
	// channel list (the first reconcile) before they are answered anyway.
	// Default 10 s.
	StartupTimeout time.Duration
	// OnDecision, if set, is told of every admission through FastAGI or ARI,
	// with its duration (metrics). err is non-nil when no decision was made.
	OnDecision func(via string, product string, r bridge.Result, d time.Duration, err error)
	// Logger. Default: discard.
	Logger *slog.Logger
}

// Passive configures passive accounting: channels that use a licensed feature
// are counted as observed usage, whether they asked for admission or not.
type Passive struct {
	// Disabled turns passive accounting off.
	Disabled bool
	// Codecs maps a native audio format, as CHANNEL(audionativeformat) names it,
	// to the product it uses. Default {"g729": "g729"}.
	Codecs map[string]string
	// FaxProduct is the product of fax sessions (AMI FAXSessions).
	// Default "fax"; "-" disables fax accounting.
	FaxProduct string
	// HangupOverLimit hangs up an observed channel that never asked for
	// admission when it would take its product beyond the licensed total
	// (cluster in use plus this node's unadmitted channels).
	HangupOverLimit bool
	// HangupCause is the Q.850 cause for such hangups. Default 34.
	HangupCause int
}

// Node is one licbridge node. Build it with New and start it with Run.
type Node struct {
	opt Options
	b   *bridge.Bridge
	log *slog.Logger

	amiC *ami.Client
	// amiProblem: needed AMI actions refused at the last connect (n.mu).
	amiProblem string
	ariApp     *ari.App
	agiSrv     *dialplan.Server

	draining atomic.Bool
	ready    chan struct{}
	keysOnce sync.Once
	keysUp   chan struct{}
	// gate opens once admissions may be answered: the store's record of this
	// node taken back, the first keys published, Asterisk's channels read.
	gate     chan struct{}
	gateOnce sync.Once
	syncOnce sync.Once
	asterisk chan struct{} // closed after the first reconcile with Asterisk

	mu       sync.Mutex
	chans    map[string]*channel  // AMI's view: Uniqueid → channel
	recent   map[string]time.Time // channels admitted lately (reconcile races)
	hungup   map[string]time.Time // channels that hung up lately (admission races)
	observed map[string]int       // desired observed counts per product
	faxNow   int
	pubSig   chan struct{}
	faxSig   chan struct{}
	codecSem chan struct{}

	connects  atomic.Int64
	reconcile atomic.Int64
	lastRec   atomic.Pointer[ReconcileReport]
}

// New builds a Node; nothing runs until Run.
func New(opt Options) (*Node, error) {
	if opt.Bridge == nil {
		return nil, errors.New("node: a bridge is required")
	}
	if opt.ReconcileEvery == 0 {
		opt.ReconcileEvery = DefaultReconcileEvery
	}
	if opt.Passive.Codecs == nil {
		opt.Passive.Codecs = map[string]string{"g729": "g729"}
	}
	if opt.Passive.FaxProduct == "" {
		opt.Passive.FaxProduct = DefaultFaxProduct
	}
	if opt.Passive.HangupCause == 0 {
		opt.Passive.HangupCause = DefaultHangupCause
	}
	if opt.StartupTimeout <= 0 {
		opt.StartupTimeout = DefaultStartupTimeout
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		opt: opt, b: opt.Bridge, log: log.With("component", "node"),
		ready: make(chan struct{}), keysUp: make(chan struct{}), gate: make(chan struct{}), asterisk: make(chan struct{}),
		chans: map[string]*channel{}, recent: map[string]time.Time{}, hungup: map[string]time.Time{}, observed: map[string]int{},
		pubSig: make(chan struct{}, 1), faxSig: make(chan struct{}, 1), codecSem: make(chan struct{}, 8),
	}
	if opt.Licenses == nil {
		close(n.keysUp)
	}
	if opt.AMI == nil && opt.ARI == nil {
		close(n.asterisk) // nothing to read channels from
	}
	if opt.AMI != nil {
		ao := *opt.AMI
		user := ao.OnConnect
		ao.OnConnect = func(ctx context.Context, info ami.ConnectInfo) error {
			if err := n.onAMIConnect(ctx, info); err != nil {
				return err
			}
			if user != nil {
				return user(ctx, info)
			}
			return nil
		}
		n.amiC = ami.New(ao)
	}
	if opt.ARI != nil {
		ro := *opt.ARI
		ro.Admitter = admitter{n: n, via: dialplan.ViaARI}
		ro.KnownProduct = n.b.Catalog() // Stasis(APP,PRODUCT) of a catalog product still admits
		user := ro.OnChannelGone
		ro.OnChannelGone = func(id string) {
			// The app releases the channel's holdings itself; the node only forgets
			// that it was admitted lately.
			n.mu.Lock()
			delete(n.recent, id)
			n.mu.Unlock()
			if user != nil {
				user(id)
			}
		}
		app, err := ari.New(ro)
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		n.ariApp = app
	}
	if opt.AGI != nil {
		srv, err := dialplan.NewServer(admitter{n: n, via: dialplan.ViaAGI}, *opt.AGI)
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		n.agiSrv = srv
	}
	return n, nil
}

// Bridge returns the node's admission core.
func (n *Node) Bridge() *bridge.Bridge { return n.b }

// AMI returns the AMI client, nil without AMI.
func (n *Node) AMI() *ami.Client { return n.amiC }

// ARI returns the Stasis application, nil without ARI.
func (n *Node) ARI() *ari.App { return n.ariApp }

// AGIAddr is the FastAGI server's address once Ready (nil without FastAGI).
func (n *Node) AGIAddr() string {
	if n.agiSrv == nil || n.agiSrv.Addr() == nil {
		return ""
	}
	return n.agiSrv.Addr().String()
}

// Ready is closed once the FastAGI server listens and the first license set
// is published (each when configured).
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Draining reports whether the node has stopped admitting.
func (n *Node) Draining() bool { return n.draining.Load() }

// Run runs every part until ctx ends, drains (see the package doc) and
// returns nil; or returns at once with the error of a part that cannot work
// (refused credentials, a listen address in use).
func (n *Node) Run(ctx context.Context) error {
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var wg sync.WaitGroup
	fatal := make(chan error, 8)
	goRun := func(name string, fn func(context.Context) error, c context.Context) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(c); err != nil && c.Err() == nil {
				fatal <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}

	// Before anything can resync or admit: take back what the store records
	// under this node's ID (a restart within the lapse), so that those calls
	// keep counting until Asterisk says which are still up.
	if err := n.b.Claim(life); err != nil {
		var taken *bridge.NodeIDTakenError
		if errors.As(err, &taken) {
			return err
		}
		n.log.Warn("could not claim the node ID in the store; the first heartbeat that reaches it will", "err", err)
	}
	if _, err := n.b.Restore(life); err != nil {
		n.log.Warn("could not read this node's holdings from the store; following the outage policy", "err", err)
	}
	goRun("bridge", n.b.Run, life)
	goRun("publisher", n.publishLoop, life)
	if w := n.opt.Licenses; w != nil {
		cancel := w.Subscribe(func(s *license.Set) { n.publishKeys(life, s) })
		defer cancel()
		goRun("licenses", w.Run, life)
	}
	if n.agiSrv != nil {
		// The FastAGI listener closes as soon as draining starts: a refused
		// connection sends the dialplan down its failure branch at once.
		agiCtx, stopAGI := context.WithCancel(ctx)
		defer stopAGI()
		context.AfterFunc(life, stopAGI)
		goRun("fastagi", n.agiSrv.Run, agiCtx)
	}
	if n.amiC != nil {
		goRun("ami", n.amiC.Run, life)
		goRun("ami events", n.consume, life)
		if !n.opt.Passive.Disabled && n.opt.Passive.FaxProduct != "-" {
			goRun("fax", n.faxLoop, life)
		}
	}
	if n.ariApp != nil {
		goRun("ari", n.ariApp.Run, life)
		if n.amiC == nil {
			goRun("ari first reconcile", n.firstARIReconcile, life)
		}
	}
	go n.openGate(life)
	if n.opt.ReconcileEvery > 0 {
		goRun("reconcile", n.reconcileLoop, life)
	}
	go n.signalReady(ctx)

	var err error
	select {
	case <-ctx.Done():
		err = n.drain(ctx, fatal)
	case err = <-fatal:
		n.log.Error("stopping", "err", err)
	}
	n.draining.Store(true)
	stop()
	wg.Wait()
	return err
}

func (n *Node) signalReady(ctx context.Context) {
	if n.agiSrv != nil {
		select {
		case <-n.agiSrv.Ready():
		case <-ctx.Done():
			return
		}
	}
	select {
	case <-n.gate:
	case <-ctx.Done():
		return
	}
	close(n.ready)
}

// openGate opens the admission gate once the keys are published and
// Asterisk's channels have been read, or when StartupTimeout passes without
// Asterisk (then it says so: channels up on Asterisk that this node held in a
// run that lapsed are not counted until the first reconcile).
func (n *Node) openGate(ctx context.Context) {
	select {
	case <-n.keysUp:
	case <-ctx.Done():
		return
	}
	t := time.NewTimer(n.opt.StartupTimeout)
	defer t.Stop()
	select {
	case <-n.asterisk:
	case <-t.C:
		n.log.Warn("admitting before Asterisk's channel list could be read; live calls of an earlier run count from the first reconcile",
			"waited", n.opt.StartupTimeout)
	case <-ctx.Done():
		return
	}
	n.gateOnce.Do(func() { close(n.gate) })
}

// asteriskSynced marks the first reconcile with Asterisk done.
func (n *Node) asteriskSynced() { n.syncOnce.Do(func() { close(n.asterisk) }) }

// firstARIReconcile reads ARI's channel list once the application is
// connected, for a node without AMI: its first reconcile.
func (n *Node) firstARIReconcile(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if n.ariApp.Health().Connected {
			_, err := n.reconcileARIFirst(ctx, true)
			if err == nil || errors.Is(err, bridge.ErrStoreUnavailable) {
				n.asteriskSynced()
				return nil
			}
			n.log.Warn("first reconcile over ARI", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// waitGate holds an admission until the node has started, within the
// caller's patience (its deadline less a margin to answer, at most
// StartupTimeout). It reports whether the gate is open.
func (n *Node) waitGate(ctx context.Context) bool {
	select {
	case <-n.gate:
		return true
	default:
	}
	wait := n.opt.StartupTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-100*time.Millisecond)
	}
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-n.gate:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// drain stops admissions and waits for the holdings to end.
func (n *Node) drain(ctx context.Context, fatal <-chan error) error {
	n.draining.Store(true)
	if n.agiSrv != nil {
		// Say "no new admissions" once it is true of FastAGI too: its listener
		// closes on ctx, in a goroutine of its own.
		select {
		case <-n.agiSrv.Closed():
		case err := <-fatal:
			return err
		}
	}
	left := len(n.b.Leases())
	n.log.Info("draining: no new admissions; waiting for holdings to end", "holdings", left)
	var timeout <-chan time.Time
	if n.opt.DrainTimeout > 0 {
		t := time.NewTimer(n.opt.DrainTimeout)
		defer t.Stop()
		timeout = t.C
	}
	// Releases come from several places (AMI, ARI, reconcile); a short poll of
	// the lease count is simpler than a notification from each.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for left > 0 {
		select {
		case <-tick.C:
			left = len(n.b.Leases())
		case <-timeout:
			n.log.Warn("drain timeout: leaving the remaining holdings to lapse", "holdings", left)
			return nil
		case err := <-fatal:
			return err
		}
	}
	n.log.Info("drained: no holdings left")
	return nil
}

// publishKeys sends the valid keys of s to the store.
func (n *Node) publishKeys(ctx context.Context, s *license.Set) {
	grants := Grants(s)
	pctx, cancel := context.WithTimeout(ctx, n.b.SyncTimeout())
	defer cancel()
	if err := n.b.PublishKeys(pctx, grants); err != nil {
		n.log.Warn("publishing license keys", "err", err)
	} else {
		n.log.Info("license keys published", "keys", len(grants), "totals", s.Totals())
	}
	n.keysOnce.Do(func() { close(n.keysUp) })
}

// Grants converts the keys of a license set to what the bridge publishes: the
// valid ones, and the ones that have ended (with their end in the past they
// add no channel, but a product whose keys have all ended is refused EXPIRED,
// not NO_LICENSE).
func Grants(s *license.Set) []bridge.KeyGrant {
	var out []bridge.KeyGrant
	now := time.Now()
	for _, e := range s.Keys() {
		switch {
		case e.Status == license.StatusValid:
		case e.Status == license.StatusExpired && !e.CountsUntil.IsZero() && !e.CountsUntil.After(now):
		default:
			continue
		}
		out = append(out, bridge.KeyGrant{KeyID: e.KeyID, Product: e.Product, Channels: e.Channels, Until: e.CountsUntil})
	}
	return out
}
