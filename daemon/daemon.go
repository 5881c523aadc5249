package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/ari"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/bypass"
	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/issuer"
	"github.com/licbridge/licbridge/license"
)

// Options are what a Daemon is built from.
type Options struct {
	// Settings are the validated configuration. Required.
	Settings *config.Settings
	// NodeID is this node's name (config.NodeID resolves it). Required.
	NodeID string
	// Licenses says where this node's key files are and whom to trust.
	Licenses license.LoadOptions
	// HostIDNote says why there is no host ID (logged as a warning).
	HostIDNote string
	// Instance names this process in the store's claim on the node ID;
	// Superseded says whether a holder is an earlier run of it (see
	// bridge.Options). Empty: no state dir, no takeover.
	Instance   string
	Superseded func(holder string) bool
	// Journal is the fail-open journal's path. Default: state_dir/journal.jsonl;
	// "-": none.
	Journal string
	// Observer, if set, is told of every bridge event too (the demo's story).
	Observer bridge.Observer
	// Version is logged when ready.
	Version string
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Daemon is one licbridge node with everything around it. Build with New,
// start with Run, release with Close.
type Daemon struct {
	opt Options
	s   *config.Settings
	log *slog.Logger

	rs       *redisstore.Store // nil: embedded store
	board    modeBoard
	machine  *overage.Machine
	tracker  *overage.Tracker
	recorder *stats.Recorder
	async    *stats.Async
	router   *Router
	refusals *node.Rejections
	metrics  *admin.Metrics
	b        *bridge.Bridge
	watcher  *license.Watcher
	nd       *node.Node
	mon      *sideMonitor // nil: no sipmon.interface nor sipmon.hep_listen
	srv      *admin.Server
	bypass   *bypass.Source
	// issuerHost fetches updated key files (nil: issuer.url not set).
	issuerHost *issuer.Host
	// stopped is closed when Run returns, with runErr its error: Ready must
	// not wait for a node that will never be ready.
	stopped chan struct{}
	runErr  error
}

// New builds a node from opt: nothing runs until Run, but listeners and the
// SIP monitor's inputs are opened, so that a taken port stops the start here.
func New(ctx context.Context, opt Options) (*Daemon, error) {
	if opt.Settings == nil {
		return nil, errors.New("daemon: no settings")
	}
	s := opt.Settings
	if s.AMI.Addr == "" && s.ARI.URL == "" && !s.NoAsterisk {
		return nil, errors.New("no source of channel life: give --ami-addr and/or --ari-url (or --no-asterisk for a test node)")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	d := &Daemon{opt: opt, s: s, log: opt.Logger.With("node", opt.NodeID), refusals: &node.Rejections{},
		stopped: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	store, err := d.openStore(ctx)
	if err != nil {
		return nil, err
	}
	d.openRecords(ctx)
	if err := d.buildBridge(store); err != nil {
		return nil, err
	}
	if err := d.buildNode(); err != nil {
		return nil, err
	}
	if err := d.buildIssuerUpdater(); err != nil {
		return nil, err
	}
	// The embedded SIP side monitor publishes through the node's bridge.
	if d.mon, err = newSideMonitor(s.SIPMon, d.b, d.log); err != nil {
		return nil, err
	}
	if err := d.buildAdmin(); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

// openStore opens the counter store: Redis (starting under the outage policy
// when it does not answer), else the embedded one.
func (d *Daemon) openStore(ctx context.Context) (bridge.Store, error) {
	if d.s.Store.Redis == "" {
		d.log.Info("counter store: embedded (single node)")
		d.board = &memModes{}
		return bridge.NewMemStore(), nil
	}
	rs, err := DialStore(ctx, d.s.Store, d.log.With("component", "redisstore"), true)
	var down *redisstore.DownError
	switch {
	case errors.As(err, &down):
		// Admissions follow the outage policy until Redis answers (fail-open
		// has proven no free channel yet, so it admits nothing).
		d.log.Warn("shared store does not answer; starting under the outage policy", "policy", d.s.Outage, "err", err)
	case err != nil:
		return nil, err
	}
	d.rs, d.board = rs, rs
	d.log.Info("counter store: redis", "addr", redisstore.Redact(d.s.Store.Redis))
	return rs, nil
}

// openRecords builds the over-limit tracker and the statistics on the store.
func (d *Daemon) openRecords(ctx context.Context) {
	var statsStore stats.Store = stats.NewMemoryStore()
	var overStore overage.Store = overage.NewMemoryStore()
	if d.rs != nil {
		statsStore, overStore = stats.NewRedisStore(d.rs.Client()), overage.NewRedisStore(d.rs.Client())
	}
	d.machine = overage.New(overage.Options{Store: overStore, Modes: overageModes(d.s.Modes), Location: d.s.Location})
	d.tracker = overage.NewTracker(d.machine)
	var grace []string
	for p, m := range d.s.Modes {
		if m == bridge.ModeGrace {
			grace = append(grace, p)
		}
	}
	if len(grace) > 0 {
		pctx, cancel := context.WithTimeout(ctx, bridge.DefaultSyncTimeout)
		if err := d.tracker.Prime(pctx, grace...); err != nil {
			d.log.Warn("could not read the over-limit state of grace-mode products; treated as not locked until it can be", "err", err)
		}
		cancel()
	}
	d.recorder = stats.New(stats.Options{Store: statsStore, Location: d.s.Location})
	d.async = stats.NewAsync(d.recorder)
}

func overageModes(m map[string]bridge.Mode) map[string]overage.Mode {
	out := make(map[string]overage.Mode, len(m))
	for p, v := range m {
		out[p] = overage.Mode(v)
	}
	return out
}

// buildBridge builds the admission core, its events going through the router.
func (d *Daemon) buildBridge(store bridge.Store) error {
	d.router = NewRouter(d.tracker, d.async, d.nodeInUse)
	d.router.refusals = d.refusals
	var observer bridge.Observer = d.router
	if extra := d.opt.Observer; extra != nil {
		observer = bridge.ObserverFunc(func(e bridge.Event) { d.router.Record(e); extra.Record(e) })
	}
	journal := d.opt.Journal
	switch journal {
	case "":
		journal = filepath.Join(d.s.StateDir, "journal.jsonl")
	case "-":
		journal = ""
	}
	cat := d.s.Catalog
	b, err := bridge.New(bridge.Options{
		Store: store, Node: d.opt.NodeID, Pool: d.s.Pool, Enforcement: d.s.Modes, Counting: d.s.Counting,
		Lock: d.tracker, Observer: observer, Deadline: d.s.Store.Deadline, Lapse: d.s.Store.Lapse,
		Outage: d.s.Outage, FailOpenBudget: d.s.Budget, JournalPath: journal, Logger: d.opt.Logger,
		Instance: d.opt.Instance, Superseded: d.opt.Superseded,
		// Only the catalog's products: an invented name creates nothing.
		Known: func(p string) bool { _, ok := cat.Lookup(p); return ok },
	})
	if err != nil {
		return err
	}
	d.b = b
	return nil
}

// nodeInUse is this node's count of leases of product.
func (d *Daemon) nodeInUse(product string) int {
	k := 0
	for _, l := range d.b.Leases() {
		if l.Product == product {
			k++
		}
	}
	return k
}

// buildNode builds the node: licences, AMI, ARI, FastAGI.
func (d *Daemon) buildNode() error {
	s := d.s
	if d.opt.Licenses.Catalog == nil {
		d.opt.Licenses.Catalog = s.Catalog
	}
	d.watcher = license.NewWatcher(d.opt.Licenses, license.WatcherOptions{Logger: d.log})
	if d.opt.HostIDNote != "" {
		d.log.Warn("no host ID: host-bound keys will be invalid", "why", d.opt.HostIDNote)
	}
	if s.Config.HTTP.Listen != config.Off {
		d.metrics = admin.NewMetrics()
	}
	opts := node.Options{
		Bridge: d.b, Licenses: d.watcher, ReconcileEvery: s.ReconcileEvery,
		DrainTimeout: s.DrainTimeout, Logger: d.log,
		Passive: node.Passive{Disabled: s.Passive.Disabled, Codecs: s.Codecs, FaxProduct: s.Passive.FaxProduct,
			HangupOverLimit: s.Passive.HangupOverLimit, HangupCause: s.Passive.HangupCause},
		OnDecision: d.decided,
	}
	if !s.NoAsterisk && s.AMI.Addr != "" {
		opts.AMI = &ami.Options{Addr: s.AMI.Addr, Username: s.AMI.User, Secret: s.AMI.Secret, Logger: d.log}
	}
	if !s.NoAsterisk && s.ARI.URL != "" {
		opts.ARI = &ari.Options{URL: s.ARI.URL, User: s.ARI.User, Password: s.ARI.Password, App: s.ARI.App, Logger: d.log}
	}
	if s.AGI.Listen != config.Off {
		opts.AGI = &dialplan.Config{Addr: s.AGI.Listen, Allow: s.AGIAllow, Logger: d.log}
	}
	nd, err := node.New(opts)
	if err != nil {
		return err
	}
	d.nd = nd
	return nil
}

// decided feeds the metrics with an admission's outcome.
func (d *Daemon) decided(_ string, product string, r bridge.Result, dur time.Duration, err error) {
	if d.metrics == nil {
		return
	}
	outcome := "admitted"
	switch {
	case err != nil:
		outcome = "error"
	case !r.Admitted:
		outcome = "rejected"
	}
	d.metrics.ObserveAdmission(product, outcome, string(r.Reason), dur)
}

// buildAdmin builds the admin HTTP server unless it is off.
func (d *Daemon) buildAdmin() error {
	// The bypass rule reads the view the API serves, with or without the server.
	d.bypass = bypass.Wrap(&node.Source{Node: d.nd, Licenses: d.watcher, Enforcement: d.s.Modes, Recorder: d.recorder,
		Overage: d.machine, Rejections: d.refusals}, bypass.Options{After: d.s.Bypass.After, Logger: d.log, Metrics: d.metrics})
	if d.metrics == nil {
		return nil
	}
	srv, err := admin.New(admin.Options{
		Listen: d.s.HTTP.Listen, Token: d.s.HTTP.Token, Metrics: d.metrics, Logger: d.log,
		Source: d.bypass,
		Health: admin.HealthFunc(func(context.Context) []admin.Component { return d.Health() }),
		// show licenses finds the running daemon through this file.
		AddrFile: filepath.Join(d.s.StateDir, admin.AddrFileName),
	})
	if err != nil {
		return fmt.Errorf("admin http: %w", err)
	}
	d.srv = srv
	return nil
}

// Close releases the bridge and the store. Run must have returned.
func (d *Daemon) Close() {
	if d.b != nil {
		d.b.Close()
	}
	if d.rs != nil {
		d.rs.Close()
	}
}

// Node is the running node.
func (d *Daemon) Node() *node.Node { return d.nd }

// Bridge is the node's admission core.
func (d *Daemon) Bridge() *bridge.Bridge { return d.b }
