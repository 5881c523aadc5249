package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/ari"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/license"
	"github.com/urfave/cli/v2"
)

// defaultStateDir keeps the node ID and the fail-open journal.
const defaultStateDir = "/var/lib/licbridge"

func runCommand() *cli.Command {
	env := func(name string) []string { return []string{"LICBRIDGE_" + name} }
	return &cli.Command{
		Name:  "run",
		Usage: "run the licbridge daemon beside an Asterisk node",
		Description: "One process per Asterisk node: FastAGI server, ARI Stasis application, AMI client, the counter\n" +
			"store (embedded, or Redis with --redis), the license keys (reloaded on SIGHUP and when a license\n" +
			"directory changes) and the admin HTTP server. SIGTERM drains: no new admissions, holdings kept\n" +
			"until their calls end; a second signal stops at once. Flags override the --config file.",
		Flags: append(append(licensesFlags(),
			&cli.StringFlag{Name: "node-id", Usage: "this node's name in the cluster (default: derived once from the host name, kept in --state-dir)", EnvVars: env("NODE_ID")},
			&cli.StringFlag{Name: "state-dir", Usage: "where the node ID and the fail-open journal are kept (default " + defaultStateDir + ")", EnvVars: env("STATE_DIR")},
			&cli.StringFlag{Name: "ami-addr", Usage: "Asterisk Manager Interface HOST:PORT (e.g. 127.0.0.1:5038)", EnvVars: env("AMI_ADDR")},
			&cli.StringFlag{Name: "ami-user", Usage: "AMI user (manager.conf)", EnvVars: env("AMI_USER")},
			&cli.StringFlag{Name: "ami-secret", Usage: "AMI secret (never logged)", EnvVars: env("AMI_SECRET")},
			&cli.StringFlag{Name: "ari-url", Usage: "ARI base URL http://HOST:PORT (e.g. http://127.0.0.1:8088)", EnvVars: env("ARI_URL")},
			&cli.StringFlag{Name: "ari-user", Usage: "ARI user (ari.conf)", EnvVars: env("ARI_USER")},
			&cli.StringFlag{Name: "ari-password", Usage: "ARI password (never logged)", EnvVars: env("ARI_PASSWORD")},
			&cli.StringFlag{Name: "ari-app", Usage: "Stasis application name (default licbridge)", EnvVars: env("ARI_APP")},
			&cli.StringFlag{Name: "agi-listen", Usage: "FastAGI listen HOST:PORT (default 127.0.0.1:4573; \"off\" disables)", EnvVars: env("AGI_LISTEN")},
			&cli.StringSliceFlag{Name: "agi-allow", Usage: "client networks (CIDR) allowed to connect to FastAGI (default loopback)", EnvVars: env("AGI_ALLOW")},
			&cli.StringFlag{Name: "http-listen", Usage: "admin HTTP listen HOST:PORT (default 127.0.0.1:8089; \"off\" disables)", EnvVars: env("HTTP_LISTEN")},
			&cli.StringFlag{Name: "http-token", Usage: "admin HTTP bearer token, required off loopback (never logged)", EnvVars: env("HTTP_TOKEN")},
			&cli.StringFlag{Name: "redis", Usage: "Redis URL or HOST:PORT (a comma list for Cluster seeds or Sentinels); empty: embedded single-node store", EnvVars: env("REDIS")},
			&cli.StringFlag{Name: "redis-password", Usage: "Redis password (never logged)", EnvVars: env("REDIS_PASSWORD")},
			&cli.StringFlag{Name: "sentinel-master", Usage: "Sentinel master name when --redis lists Sentinels", EnvVars: env("SENTINEL_MASTER")},
			&cli.StringFlag{Name: "pool", Usage: "cluster (default: all live nodes' keys stack) or per-host", EnvVars: env("POOL")},
			&cli.StringFlag{Name: "outage", Usage: "when the store is unreachable: fail-open (default) or fail-closed", EnvVars: env("OUTAGE")},
			&cli.StringFlag{Name: "fail-open-budget", Usage: "fail-open admits, per product, at most: share (default: this node's share of the free channels at its last contact with the store), a number, or unlimited", EnvVars: env("FAIL_OPEN_BUDGET")},
			&cli.DurationFlag{Name: "lapse", Usage: "how long a silent node's channels keep counting (default 15s)", EnvVars: env("LAPSE")},
			&cli.DurationFlag{Name: "deadline", Usage: "bound on one admission's store call; a miss decides that call by the outage policy (default 500ms)", EnvVars: env("DEADLINE")},
			&cli.StringSliceFlag{Name: "enforcement", Usage: "PRODUCT=hard|grace|monitor (repeatable; default hard)", EnvVars: env("ENFORCEMENT")},
			&cli.StringSliceFlag{Name: "counting", Usage: "PRODUCT=channel|call (repeatable; default channel)", EnvVars: env("COUNTING")},
			&cli.StringFlag{Name: "time-zone", Usage: "zone in which over-limit days and statistics are counted (default UTC)", EnvVars: env("TIME_ZONE")},
			&cli.DurationFlag{Name: "reconcile-every", Usage: "period of the reconciliation with Asterisk's channel list (default 1m)", EnvVars: env("RECONCILE_EVERY")},
			&cli.DurationFlag{Name: "drain-timeout", Usage: "bound on the drain after SIGTERM (default: until the last holding ends)", EnvVars: env("DRAIN_TIMEOUT")},
			&cli.BoolFlag{Name: "no-passive", Usage: "do not count channels that use a licensed codec or fax without asking", EnvVars: env("NO_PASSIVE")},
			&cli.BoolFlag{Name: "hangup-over-limit", Usage: "hang up unadmitted channels that take a product beyond its total", EnvVars: env("HANGUP_OVER_LIMIT")},
			&cli.BoolFlag{Name: "no-asterisk", Usage: "run without AMI and ARI (a test node serving FastAGI only)", EnvVars: env("NO_ASTERISK")},
		), runSIPMonFlags()...),
		Action: runAction,
	}
}

// runSettings are the merged settings of licbridge run.
type runSettings struct {
	cfg      *Config
	licenses nodeLicenses
	modes    map[string]bridge.Mode
	counting map[string]bridge.Counting
	pool     bridge.Pool
	outage   bridge.Outage
	budget   int
	loc      *time.Location
}

// runConfig merges the flags over the config file and checks the result.
func runConfig(c *cli.Context) (*runSettings, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, err
	}
	for _, m := range []struct {
		flag string
		dst  *string
	}{
		{"node-id", &cfg.NodeID}, {"state-dir", &cfg.StateDir},
		{"ami-addr", &cfg.AMI.Addr}, {"ami-user", &cfg.AMI.User}, {"ami-secret", &cfg.AMI.Secret},
		{"ari-url", &cfg.ARI.URL}, {"ari-user", &cfg.ARI.User}, {"ari-password", &cfg.ARI.Password}, {"ari-app", &cfg.ARI.App},
		{"agi-listen", &cfg.AGI.Listen}, {"http-listen", &cfg.HTTP.Listen}, {"http-token", &cfg.HTTP.Token},
		{"redis", &cfg.Store.Redis}, {"redis-password", &cfg.Store.Password}, {"sentinel-master", &cfg.Store.SentinelMaster},
		{"pool", &cfg.Store.Pool}, {"outage", &cfg.Store.Outage}, {"fail-open-budget", &cfg.Store.FailOpenBudget}, {"time-zone", &cfg.TimeZone},
	} {
		overrideString(c, m.flag, m.dst)
	}
	if c.IsSet("agi-allow") {
		cfg.AGI.Allow = c.StringSlice("agi-allow")
	}
	for flag, dst := range map[string]*time.Duration{"lapse": &cfg.Store.Lapse, "deadline": &cfg.Store.Deadline, "reconcile-every": &cfg.ReconcileEvery, "drain-timeout": &cfg.DrainTimeout} {
		if c.IsSet(flag) {
			*dst = c.Duration(flag)
		}
	}
	for flag, dst := range map[string]*bool{"no-passive": &cfg.Passive.Disabled, "hangup-over-limit": &cfg.Passive.HangupOverLimit, "no-asterisk": &cfg.NoAsterisk} {
		if c.IsSet(flag) {
			*dst = c.Bool(flag)
		}
	}
	if err := mergePairs(c, "enforcement", &cfg.Enforcement); err != nil {
		return nil, err
	}
	if err := mergePairs(c, "counting", &cfg.Counting); err != nil {
		return nil, err
	}

	s := &runSettings{cfg: cfg, modes: map[string]bridge.Mode{}, counting: map[string]bridge.Counting{}}
	if cfg.AMI.Addr == "" && cfg.ARI.URL == "" && !cfg.NoAsterisk {
		return nil, errors.New("run: no source of channel life: give --ami-addr and/or --ari-url (or --no-asterisk for a test node)")
	}
	if cfg.NoAsterisk {
		cfg.AMI.Addr, cfg.ARI.URL = "", ""
	}
	if cfg.AMI.Addr != "" {
		if _, _, err := net.SplitHostPort(cfg.AMI.Addr); err != nil {
			return nil, fmt.Errorf("--ami-addr %q: want HOST:PORT", cfg.AMI.Addr)
		}
	}
	if cfg.ARI.URL != "" && !strings.HasPrefix(cfg.ARI.URL, "http://") && !strings.HasPrefix(cfg.ARI.URL, "https://") {
		return nil, fmt.Errorf("--ari-url %q: want http://HOST:PORT", redisstore.Redact(cfg.ARI.URL))
	}
	for p, v := range cfg.Enforcement {
		m, err := bridge.ParseMode(v)
		if err != nil {
			return nil, fmt.Errorf("enforcement of %s: %w", p, err)
		}
		s.modes[p] = m
	}
	for p, v := range cfg.Counting {
		k, err := bridge.ParseCounting(v)
		if err != nil {
			return nil, fmt.Errorf("counting of %s: %w", p, err)
		}
		s.counting[p] = k
	}
	if s.pool, err = bridge.ParsePool(cfg.Store.Pool); err != nil {
		return nil, fmt.Errorf("store pool: %w", err)
	}
	if s.outage, err = bridge.ParseOutage(cfg.Store.Outage); err != nil {
		return nil, fmt.Errorf("store outage: %w", err)
	}
	if s.budget, err = bridge.ParseBudget(cfg.Store.FailOpenBudget); err != nil {
		return nil, fmt.Errorf("store fail_open_budget: %w", err)
	}
	s.loc = time.UTC
	if cfg.TimeZone != "" {
		if s.loc, err = time.LoadLocation(cfg.TimeZone); err != nil {
			return nil, fmt.Errorf("time zone %q: %w", cfg.TimeZone, err)
		}
	}
	if cfg.StateDir == "" {
		cfg.StateDir = defaultStateDir
	}
	if s.licenses, err = licensesSetup(c, cfg); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	return s, nil
}

// mergePairs reads repeatable PRODUCT=VALUE flags over a config map.
func mergePairs(c *cli.Context, flag string, dst *map[string]string) error {
	if !c.IsSet(flag) {
		return nil
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	for _, kv := range c.StringSlice(flag) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--%s %q: want PRODUCT=VALUE", flag, kv)
		}
		(*dst)[k] = v
	}
	return nil
}

var (
	nodeIDChars = regexp.MustCompile(`[^a-z0-9_-]+`)
	validNodeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// hostNodeName is the short host name in node-ID characters ("node" when
// there is none), the base of the names that nodes derive for themselves.
func hostNodeName() string {
	host, _ := os.Hostname()
	host = strings.Trim(nodeIDChars.ReplaceAllString(strings.ToLower(strings.Split(host, ".")[0]), "-"), "-")
	if host == "" {
		return "node"
	}
	return host
}

// nodeID returns the configured node ID, or the one kept in stateDir, or
// derives one from the host name (plus a random suffix, so that cloned hosts
// differ) and keeps it there.
func nodeID(configured, stateDir string) (string, error) {
	if configured != "" {
		if !validNodeID.MatchString(configured) {
			return "", fmt.Errorf("node ID %q: want 1 to 64 letters, digits, '.', '-' and '_'", configured)
		}
		return configured, nil
	}
	path := filepath.Join(stateDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	id := hostNodeName() + "-" + hex.EncodeToString(rnd[:])
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return "", fmt.Errorf("node ID: keeping it in %s: %w (set --node-id or --state-dir)", stateDir, err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("node ID: keeping it in %s: %w (set --node-id or --state-dir)", path, err)
	}
	return id, nil
}

func runAction(c *cli.Context) error {
	s, err := runConfig(c)
	if err != nil {
		return err
	}
	cfg := s.cfg
	log := slog.Default()
	id, err := nodeID(cfg.NodeID, cfg.StateDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	unlock, err := lockStateDir(cfg.StateDir)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer unlock()
	removePID, err := writePIDFile(cfg.StateDir)
	if err != nil {
		return err
	}
	defer removePID()
	// The bridge tags its logs with the node itself.
	baseLog := log
	log = log.With("node", id)
	ctx := c.Context

	// SIGHUP reloads the license keys; without this it would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// The store, and the shared records of statistics and over-limit state.
	var store bridge.Store
	var statsStore stats.Store = stats.NewMemoryStore()
	var overStore overage.Store = overage.NewMemoryStore()
	if cfg.Store.Redis != "" {
		rs, err := dialStoreOpts(ctx, cfg.Store, log.With("component", "redisstore"), true)
		var down *redisstore.DownError
		switch {
		case errors.As(err, &down):
			// Start anyway: admissions follow the outage policy until Redis
			// answers (fail-open has proven no free channel yet, so it admits
			// nothing).
			log.Warn("shared store does not answer; starting under the outage policy", "policy", s.outage, "err", err)
		case err != nil:
			return fmt.Errorf("run: %w", err)
		}
		defer rs.Close()
		store = rs
		statsStore = stats.NewRedisStore(rs.Client())
		overStore = overage.NewRedisStore(rs.Client())
		log.Info("counter store: redis", "addr", redisstore.Redact(cfg.Store.Redis))
	} else {
		store = bridge.NewMemStore()
		log.Info("counter store: embedded (single node)")
	}
	omodes := map[string]overage.Mode{}
	for p, m := range s.modes {
		omodes[p] = overage.Mode(m)
	}
	machine := overage.New(overage.Options{Store: overStore, Modes: omodes, Location: s.loc})
	tracker := overage.NewTracker(machine)
	var grace []string
	for p, m := range s.modes {
		if m == bridge.ModeGrace {
			grace = append(grace, p)
		}
	}
	if len(grace) > 0 {
		pctx, cancel := context.WithTimeout(ctx, bridge.DefaultSyncTimeout)
		if err := tracker.Prime(pctx, grace...); err != nil {
			log.Warn("could not read the over-limit state of grace-mode products; treated as not locked until it can be", "err", err)
		}
		cancel()
	}
	recorder := stats.New(stats.Options{Store: statsStore, Location: s.loc})
	async := stats.NewAsync(recorder)

	var metrics *admin.Metrics
	httpOn := cfg.HTTP.Listen != "off"
	if httpOn {
		metrics = admin.NewMetrics()
	}
	var nd *node.Node
	// The observer runs under the bridge's lock and must not call back into
	// it: the node's own count is read by a worker of the statistics queue.
	statsQ := newEventQueue()
	observer := bridge.ObserverFunc(func(e bridge.Event) {
		switch e.Kind {
		case bridge.EventAdmit, bridge.EventReconcile:
			tracker.Observe(e.Product, e.InUse, e.Total)
		case bridge.EventReject:
			// Demand, not admitted use, decides an over-limit day.
			tracker.Observe(e.Product, e.InUse+1, e.Total)
		}
		// Statistics are of admitted channels: not of passive or wire counts
		// (the built-in SIP monitor publishes through this bridge).
		if e.Kind != bridge.EventObserved && e.Kind != bridge.EventReject && e.Kind != bridge.EventWire {
			statsQ.put(e)
		}
	})
	catalog := s.licenses.Options.Catalog
	if catalog == nil {
		if catalog, err = license.NewCatalog(); err != nil {
			return fmt.Errorf("run: %w", err)
		}
	}
	instance, self := instanceName(cfg.StateDir)
	b, err := bridge.New(bridge.Options{
		Store: store, Node: id, Pool: s.pool, Enforcement: s.modes, Counting: s.counting,
		Lock: tracker, Observer: observer, Deadline: cfg.Store.Deadline, Lapse: cfg.Store.Lapse,
		Outage: s.outage, FailOpenBudget: s.budget, JournalPath: filepath.Join(cfg.StateDir, "journal.jsonl"), Logger: baseLog,
		Instance: instance, Superseded: supersededBy(self),
		// Only the catalog's products: an invented name creates nothing.
		Known: func(p string) bool { _, ok := catalog.Lookup(p); return ok },
	})
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer b.Close()

	watcher := license.NewWatcher(s.licenses.Options, license.WatcherOptions{Logger: log})
	if s.licenses.HostIDNote != "" {
		log.Warn("no host ID: host-bound keys will be invalid", "why", s.licenses.HostIDNote)
	}
	opts := node.Options{
		Bridge: b, Licenses: watcher, ReconcileEvery: cfg.ReconcileEvery, Counting: s.counting,
		DrainTimeout: cfg.DrainTimeout, Logger: log,
		Passive: node.Passive{Disabled: cfg.Passive.Disabled, Codecs: cfg.Passive.Codecs, FaxProduct: cfg.Passive.FaxProduct,
			HangupOverLimit: cfg.Passive.HangupOverLimit, HangupCause: cfg.Passive.HangupCause},
		OnDecision: func(via, product string, r bridge.Result, d time.Duration, err error) {
			outcome := "admitted"
			switch {
			case err != nil:
				outcome = "error"
			case !r.Admitted:
				outcome = "rejected"
			}
			metrics.ObserveAdmission(product, outcome, string(r.Reason), d)
		},
	}
	if cfg.AMI.Addr != "" {
		opts.AMI = &ami.Options{Addr: cfg.AMI.Addr, Username: cfg.AMI.User, Secret: cfg.AMI.Secret, Logger: log}
	}
	if cfg.ARI.URL != "" {
		opts.ARI = &ari.Options{URL: cfg.ARI.URL, User: cfg.ARI.User, Password: cfg.ARI.Password, App: cfg.ARI.App, Logger: log}
	}
	if cfg.AGI.Listen != "off" {
		allow, err := dialplan.ParseAllow(cfg.AGI.Allow)
		if err != nil {
			return fmt.Errorf("agi allow: %w", err)
		}
		opts.AGI = &dialplan.Config{Addr: cfg.AGI.Listen, Allow: allow, Logger: log}
	}
	nd, err = node.New(opts)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}

	// The built-in SIP side monitor, when an input is configured: it opens now,
	// so a missing interface or a taken port stops the start.
	mon, err := newRunMonitor(c, cfg, b, log)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}

	var srv *admin.Server
	if httpOn {
		srv, err = admin.New(admin.Options{
			Listen: cfg.HTTP.Listen, Token: cfg.HTTP.Token, Metrics: metrics, Logger: log,
			Source: &node.Source{Node: nd, Licenses: watcher, Enforcement: s.modes, Recorder: recorder, Overage: machine},
			Health: admin.HealthFunc(func(context.Context) []admin.Component { return health(nd, mon) }),
		})
		if err != nil {
			return fmt.Errorf("run: admin http: %w", err)
		}
	}

	// The parts around the node stop when it has drained.
	aux, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAux()
	errc := make(chan error, 4)
	go func() { _ = tracker.Run(aux, func(err error) { log.Debug("overage", "err", err) }) }()
	go func() { _ = async.Run(aux, func(err error) { log.Debug("statistics", "err", err) }) }()
	if mon != nil {
		go mon.run(aux)
	}
	go statsQ.run(aux, func(e bridge.Event) {
		async.Observe(e.Time, e.Product, e.Node, nodeInUse(nd, e.Product), e.InUse)
	})
	if srv != nil {
		go func() {
			if err := srv.Run(aux); err != nil {
				errc <- fmt.Errorf("admin http: %w", err)
			}
		}()
	}
	go func() {
		for {
			select {
			case <-aux.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading license keys")
				if _, err := watcher.Reload(aux); err != nil {
					log.Warn("license reload", "err", err)
				}
			}
		}
	}()
	go func() {
		if err := waitReady(ctx, nd, srv); err != nil {
			return
		}
		// The ARI URL may carry user:password@ (Redact keeps the host).
		attrs := []any{"version", version, "agi", nd.AGIAddr(), "ami", cfg.AMI.Addr, "ari", redisstore.Redact(cfg.ARI.URL)}
		if srv != nil {
			attrs = append(attrs, "http", srv.Addr().String())
		}
		if mon != nil {
			attrs = append(attrs, "sipmon", mon.health().Detail)
		}
		log.Info("licbridge ready", attrs...)
	}()
	runErr := make(chan error, 1)
	go func() { runErr <- nd.Run(ctx) }()
	select {
	case err = <-runErr:
	case err = <-errc:
		log.Error("stopping", "err", err)
		stopAux()
		// The node drains as on SIGTERM only for a signal; a broken admin
		// server is a start-up error (address in use), so stop at once.
		return err
	}
	stopAux()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	log.Info("licbridge stopped")
	return nil
}

func waitReady(ctx context.Context, nd *node.Node, srv *admin.Server) error {
	select {
	case <-nd.Ready():
	case <-ctx.Done():
		return ctx.Err()
	}
	if srv != nil {
		select {
		case <-srv.Ready():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// eventQueue hands bridge events to a worker without blocking the bridge.
type eventQueue struct {
	mu  sync.Mutex
	q   []bridge.Event
	sig chan struct{}
}

func newEventQueue() *eventQueue { return &eventQueue{sig: make(chan struct{}, 1)} }

func (q *eventQueue) put(e bridge.Event) {
	q.mu.Lock()
	q.q = append(q.q, e)
	q.mu.Unlock()
	select {
	case q.sig <- struct{}{}:
	default:
	}
}

func (q *eventQueue) run(ctx context.Context, fn func(bridge.Event)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.sig:
		}
		q.mu.Lock()
		batch := q.q
		q.q = nil
		q.mu.Unlock()
		for _, e := range batch {
			fn(e)
		}
	}
}

// nodeInUse is this node's count of leases of product.
func nodeInUse(nd *node.Node, product string) int {
	k := 0
	for _, l := range nd.Bridge().Leases() {
		if l.Product == product {
			k++
		}
	}
	return k
}

// health is what /readyz reflects: the store, and AMI, ARI and the SIP side
// monitor when configured.
func health(nd *node.Node, mon *runMonitor) []admin.Component {
	out := []admin.Component{{Name: "store", OK: nd.Bridge().StoreAvailable()}}
	if c := nd.AMI(); c != nil {
		// A needed action refused at connect (a class missing in manager.conf)
		// leaves a feature idle: not ready, saying which.
		p := nd.AMIPermissionProblem()
		out = append(out, admin.Component{Name: "ami", OK: c.Connected() && p == "", Detail: p})
	}
	if a := nd.ARI(); a != nil {
		h := a.Health()
		out = append(out, admin.Component{Name: "ari", OK: h.Connected, Detail: h.LastError})
	}
	if mon != nil {
		out = append(out, mon.health())
	}
	if nd.Draining() {
		out = append(out, admin.Component{Name: "admission", OK: false, Detail: "draining"})
	}
	return out
}
