package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/sipmon"
	"github.com/licbridge/licbridge/sipmon/capture"
)

func sipmonCommand() *cli.Command {
	return &cli.Command{
		Name:  "sipmon",
		Usage: "SIP side monitor: count the call legs on the wire",
		Subcommands: []*cli.Command{
			sipmonReadCommand(),
			sipmonHEPCommand(),
			sipmonLiveCommand(),
		},
	}
}

// sipmonTrackingFlags tune leg tracking; every sipmon subcommand takes them.
// Each overrides its key under sipmon: in the --config file; the Value shown is
// the default when neither is given.
func sipmonTrackingFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "correlation-header", Usage: "header whose value in an initial INVITE names the Call-ID of another leg of the same call (e.g. X-CID); off when empty", EnvVars: []string{"LICBRIDGE_SIPMON_CORRELATION_HEADER"}},
		&cli.DurationFlag{Name: "dialog-timeout", Value: sipmon.DefaultDialogTimeout, Usage: "close a dialog silent for this long (capture time; config sipmon.dialog_timeout)", EnvVars: []string{"LICBRIDGE_SIPMON_DIALOG_TIMEOUT"}},
		&cli.IntFlag{Name: "max-dialogs", Value: sipmon.DefaultMaxDialogs, Usage: "cap on open dialogs per sensor; the stalest is evicted beyond it (config sipmon.max_dialogs)", EnvVars: []string{"LICBRIDGE_SIPMON_MAX_DIALOGS"}},
		&cli.DurationFlag{Name: "sensor-tolerance", Value: sipmon.DefaultSensorTolerance, Usage: "how far apart two sensors' records of one call may be (config sipmon.sensor_tolerance)", EnvVars: []string{"LICBRIDGE_SIPMON_SENSOR_TOLERANCE"}},
	}
}

func sipmonConfig(c *cli.Context) (sipmon.Config, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return sipmon.Config{}, err
	}
	return sipmonSettings(c, cfg)
}

// sipmonSettings merges the tracking flags over cfg.SIPMon: a flag given wins,
// a zero in the file means the default, and a value that cannot work is an
// error naming the flag or the key it came from.
func sipmonSettings(c *cli.Context, cfg *Config) (sipmon.Config, error) {
	sc := &cfg.SIPMon
	overrideString(c, "correlation-header", &sc.CorrelationHeader)
	durations := []struct {
		flag, key string
		dst       *time.Duration
	}{
		{"dialog-timeout", "sipmon.dialog_timeout", &sc.DialogTimeout},
		{"sensor-tolerance", "sipmon.sensor_tolerance", &sc.SensorTolerance},
	}
	for _, d := range durations {
		switch {
		case c.IsSet(d.flag) && c.Duration(d.flag) <= 0:
			return sipmon.Config{}, fmt.Errorf("--%s %v: must be positive", d.flag, c.Duration(d.flag))
		case c.IsSet(d.flag):
			*d.dst = c.Duration(d.flag)
		case *d.dst < 0:
			return sipmon.Config{}, fmt.Errorf("config %s %v: must be positive (or absent for the default)", d.key, *d.dst)
		}
	}
	switch {
	case c.IsSet("max-dialogs") && c.Int("max-dialogs") <= 0:
		return sipmon.Config{}, fmt.Errorf("--max-dialogs %d: must be positive", c.Int("max-dialogs"))
	case c.IsSet("max-dialogs"):
		sc.MaxDialogs = c.Int("max-dialogs")
	case sc.MaxDialogs < 0:
		return sipmon.Config{}, fmt.Errorf("config sipmon.max_dialogs %d: must be positive (or absent for the default)", sc.MaxDialogs)
	}
	// Zero fields take sipmon's defaults (the flags' shown Values).
	return sipmon.Config{
		CorrelationHeader: sc.CorrelationHeader,
		DialogTimeout:     sc.DialogTimeout,
		MaxDialogs:        sc.MaxDialogs,
		SensorTolerance:   sc.SensorTolerance,
		Logger:            slog.Default(),
	}, nil
}

func sipmonReadCommand() *cli.Command {
	return &cli.Command{
		Name:      "read",
		Usage:     "read pcap/pcapng captures (gzip too) or directories of them and report the legs",
		ArgsUsage: "[SENSOR=]PATH...",
		Description: "Each PATH is a capture file or a directory of captures (read in time order). " +
			"Name the sensor that recorded it with SENSOR=PATH: the same call seen by two sensors counts once. " +
			"Paths without a name are one sensor.",
		Flags: append(sipmonTrackingFlags(),
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.Exit("licbridge sipmon read: give at least one [SENSOR=]PATH", 2)
			}
			cfg, err := sipmonConfig(c)
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			inputs := make([]capture.Input, 0, c.NArg())
			for _, a := range c.Args().Slice() {
				in := capture.ParseInput(a)
				fi, err := os.Stat(in.Path)
				if err != nil {
					return cli.Exit(fmt.Sprintf("licbridge sipmon read: %s: %v", in.Path, err), 2)
				}
				// A named pipe or device would block the read where neither the
				// context nor SIGTERM reaches it: captures are files.
				if !fi.IsDir() && !fi.Mode().IsRegular() {
					return cli.Exit(fmt.Sprintf("licbridge sipmon read: %s: not a regular file or directory (%s)", in.Path, fi.Mode().Type()), 2)
				}
				inputs = append(inputs, in)
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				// The read's live heap is the dialogs up at once (about 500 B
				// each): a soft limit keeps the GC's headroom from doubling
				// it in RSS. Under it the GC runs at its usual pace.
				debug.SetMemoryLimit(sipmonReadMemoryLimit)
			}
			return sipmonRead(c.Context, c.App.Writer, c.App.ErrWriter, cfg, inputs, c.Bool("json"))
		},
	}
}

// sipmonReadMemoryLimit is the soft memory limit of sipmon read (GOMEMLIMIT
// overrides it).
const sipmonReadMemoryLimit = 64 << 20

// sipmonRead reads inputs and prints the report to out, progress to errOut.
func sipmonRead(ctx context.Context, out, errOut io.Writer, cfg sipmon.Config, inputs []capture.Input, asJSON bool) error {
	// Legs go out as they become final (JSON) or are only counted (text), so
	// memory holds the legs up at once, not every leg read.
	var js *sipmon.JSONStream
	cfg.LegSink = func(sipmon.LegRecord) {}
	if asJSON {
		js = sipmon.NewJSONStream(out)
		cfg.LegSink = js.Leg
	}
	mon := sipmon.New(cfg)
	read := &capture.Progress{}
	prog := startProgress(errOut, read, mon)
	_, readErr := capture.ReadPaths(ctx, inputs, mon.Handle, capture.ReadOptions{Progress: read})
	prog.stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	mon.Flush()
	r := mon.Report()
	var err error
	if asJSON {
		err = js.Finish(r)
	} else {
		err = r.WriteText(out)
	}
	if err != nil {
		return fmt.Errorf("sipmon read: writing report: %w", err)
	}
	if readErr != nil {
		// The unreadable inputs are named in readErr; the others were counted.
		return fmt.Errorf("sipmon read: %w", readErr)
	}
	return nil
}

// sipmonLiveFlags are shared by the continuously running subcommands: the
// tracking flags, and where to publish the counts.
func sipmonLiveFlags() []cli.Flag {
	env := func(name string) []string { return []string{"LICBRIDGE_" + name} }
	return append(sipmonTrackingFlags(),
		&cli.DurationFlag{Name: "interval", Value: 10 * time.Second, Usage: "how often to print and publish the counts", EnvVars: env("SIPMON_INTERVAL")},
		&cli.StringFlag{Name: "redis", Usage: "shared store (Redis URL or HOST:PORT, a comma list for Cluster seeds or Sentinels) to publish the wire counts to; empty: they are only printed (config store.redis)", EnvVars: env("REDIS")},
		&cli.StringFlag{Name: "redis-password", Usage: "Redis password (never logged; config store.password)", EnvVars: env("REDIS_PASSWORD")},
		&cli.StringFlag{Name: "sentinel-master", Usage: "Sentinel master name when --redis lists Sentinels (config store.sentinel_master)", EnvVars: env("SENTINEL_MASTER")},
		&cli.StringFlag{Name: "node-id", Usage: "the monitor's own node name in the store (default: the licbridge node's ID from the config or --state-dir, else the host name, plus \"" + sipmonNodeSuffix + "\"); never the daemon's own ID", EnvVars: env("SIPMON_NODE_ID")},
		&cli.StringFlag{Name: "state-dir", Usage: "where licbridge run keeps its node ID, to name the monitor after it (default " + defaultStateDir + "; config state_dir)", EnvVars: env("STATE_DIR")},
		&cli.DurationFlag{Name: "lapse", DefaultText: bridge.DefaultLapse.String(), Usage: "how long the published counts outlive the monitor if it dies (config store.lapse)", EnvVars: env("LAPSE")},
		&cli.BoolFlag{Name: "json", Usage: "print the final report as JSON when stopped"},
	)
}

// sipmonLiveDescription documents where a live monitor's counts go.
const sipmonLiveDescription = "Prints the legs up (all, G.729, fax) every --interval. With --redis (or store.redis in the\n" +
	"--config file) it also publishes them to the shared store as wire counts (products legs, g729 and fax),\n" +
	"beside, never over, the admitted and passive counts of licbridge run. It publishes as a node of its own\n" +
	"that holds no keys and no channels: by default the licbridge node's ID (node_id, or the one kept in\n" +
	"--state-dir) plus \"-sipmon\", so it shows next to the Asterisk node it watches; with the host name\n" +
	"when no licbridge node runs here. Its counts lapse --lapse after it stops (killed or stopped alike).\n" +
	"Run one monitor per node ID: two monitors with one ID overwrite each other's counts."

// startLive reads the settings of a continuously running subcommand and dials
// the store when one is named: a store that does not answer is an error at
// start (exit 1), a bad setting exits 2.
func startLive(c *cli.Context) (*sipmon.Monitor, sipmon.RunOptions, *sipmonStore, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, sipmon.RunOptions{}, nil, cli.Exit(err.Error(), 2)
	}
	mcfg, err := sipmonSettings(c, cfg)
	if err != nil {
		return nil, sipmon.RunOptions{}, nil, cli.Exit(err.Error(), 2)
	}
	if c.Duration("interval") <= 0 {
		return nil, sipmon.RunOptions{}, nil, cli.Exit(fmt.Sprintf("--interval %v: must be positive", c.Duration("interval")), 2)
	}
	id, err := storeSettings(c, cfg)
	if err != nil {
		return nil, sipmon.RunOptions{}, nil, cli.Exit(err.Error(), 2)
	}
	store, err := openSipmonStore(c.Context, cfg.Store, id)
	if err != nil {
		return nil, sipmon.RunOptions{}, nil, fmt.Errorf("sipmon %s: %w", c.Command.Name, err)
	}
	mon, opt := liveMonitor(c, mcfg, store)
	return mon, opt, store, nil
}

func sipmonHEPCommand() *cli.Command {
	return &cli.Command{
		Name:        "hep",
		Usage:       "receive HEPv3 (Asterisk res_hep, Kamailio siptrace, heplify) and count the legs",
		Description: sipmonLiveDescription,
		Flags: append(sipmonLiveFlags(),
			&cli.StringFlag{Name: "listen", Value: capture.DefaultHEPAddr, Usage: "address to receive HEP on (loopback by default)", EnvVars: []string{"LICBRIDGE_SIPMON_HEP_LISTEN"}},
			&cli.StringSliceFlag{Name: "network", Value: cli.NewStringSlice("udp", "tcp"), Usage: "udp, tcp or both"},
			&cli.StringFlag{Name: "sensor", Usage: "name of this sensor"},
		),
		Action: func(c *cli.Context) error {
			mon, opt, store, err := startLive(c)
			if err != nil {
				return err
			}
			defer store.close()
			var servers []*capture.HEPServer
			for _, network := range c.StringSlice("network") {
				s, err := capture.NewHEPServer(network, c.String("listen"), c.String("sensor"), mon.Handle, capture.HEPOptions{Logger: slog.Default()})
				if err != nil {
					return fmt.Errorf("sipmon hep: %w", err)
				}
				slog.Info("receiving HEP", "network", network, "addr", s.Addr().String())
				servers = append(servers, s)
			}
			return runLive(c, mon, opt, store, func(ctx context.Context) error {
				errs := make(chan error, len(servers))
				for _, s := range servers {
					go func() { errs <- s.Run(ctx) }()
				}
				var all []error
				for range servers {
					all = append(all, <-errs)
				}
				return errors.Join(all...)
			})
		},
	}
}

func sipmonLiveCommand() *cli.Command {
	return &cli.Command{
		Name:        "live",
		Usage:       "capture SIP from a network interface and count the legs",
		Description: sipmonLiveDescription,
		Flags: append(sipmonLiveFlags(),
			&cli.StringFlag{Name: "interface", Aliases: []string{"i"}, Required: true, Usage: "interface to capture on (\"any\" for all)"},
			&cli.StringFlag{Name: "filter", Usage: "capture filter: a pcap-filter expression (e.g. \"10.0.0.1 and port 5060\"), or \"raw-bpf:\" then `tcpdump -ddd` output for a kernel program; empty: everything"},
			&cli.StringFlag{Name: "sensor", Usage: "name of this sensor"},
		),
		Action: func(c *cli.Context) error {
			mon, opt, store, err := startLive(c)
			if err != nil {
				return err
			}
			defer store.close()
			// Open first: a missing interface or permission is reported at once, and
			// from here on packets are being captured.
			live, err := capture.NewLive(c.String("interface"), c.String("filter"), c.String("sensor"), mon.Handle, capture.LiveOptions{})
			if err != nil {
				return fmt.Errorf("sipmon live: %w", err)
			}
			slog.Info("capturing", "interface", c.String("interface"))
			return runLive(c, mon, opt, store, live.Run)
		},
	}
}

// wirePublisher gives the monitor's counts to the bridge as the wire count of
// the monitor's own node: "legs" (every leg) as bridge.WireLegs, "g729" and
// "fax" as those products. They never overwrite the daemon's admitted or
// passive counts.
type wirePublisher struct {
	b   *bridge.Bridge
	log *slog.Logger
}

var _ sipmon.Publisher = wirePublisher{}

// PublishObserved implements sipmon.Publisher. A store that is away is not an
// error here: the bridge keeps the count and writes it back on recovery (and
// has logged the outage once), and the monitor goes on counting.
func (p wirePublisher) PublishObserved(ctx context.Context, product string, legs int) error {
	if product == sipmon.ProductLegs {
		product = bridge.WireLegs
	}
	p.log.Debug("wire legs", "product", product, "legs", legs)
	if err := p.b.PublishWire(ctx, product, legs); err != nil && !errors.Is(err, bridge.ErrStoreUnavailable) {
		return err
	}
	return nil
}

// logPublisher is the publisher without a store: it logs at debug level.
type logPublisher struct{ log *slog.Logger }

func (p logPublisher) PublishObserved(_ context.Context, product string, legs int) error {
	p.log.Debug("wire legs", "product", product, "legs", legs)
	return nil
}

var _ sipmon.Publisher = logPublisher{}

// sipmonNodeSuffix names the monitor's node after the Asterisk node it watches.
const sipmonNodeSuffix = "-sipmon"

// sipmonNodeID is the node the monitor publishes as. It must not be the
// daemon's own: the monitor's bridge writes that node's (empty) keys and
// holdings back after a lapse, which would wipe the daemon's.
func sipmonNodeID(c *cli.Context, cfg *Config) (string, error) {
	overrideString(c, "state-dir", &cfg.StateDir)
	if cfg.StateDir == "" {
		cfg.StateDir = defaultStateDir
	}
	daemon := cfg.NodeID
	if daemon == "" {
		// Read only: the monitor never creates the daemon's ID.
		if b, err := os.ReadFile(filepath.Join(cfg.StateDir, "node-id")); err == nil {
			daemon = strings.TrimSpace(string(b))
		}
	}
	if id := c.String("node-id"); id != "" {
		if !validNodeID.MatchString(id) {
			return "", fmt.Errorf("--node-id %q: want 1 to 64 letters, digits, '.', '-' and '_'", id)
		}
		if id == daemon {
			return "", fmt.Errorf("--node-id %q is the licbridge node's own ID: the monitor publishes as a node of its own (default %q)", id, daemon+sipmonNodeSuffix)
		}
		return id, nil
	}
	base := daemon
	if base == "" {
		base = hostNodeName()
	}
	return base[:min(len(base), 64-len(sipmonNodeSuffix))] + sipmonNodeSuffix, nil
}

// sipmonStore is where a live monitor publishes: a bridge on the shared
// store, as a node of its own. A nil *sipmonStore publishes nowhere.
type sipmonStore struct {
	b     *bridge.Bridge
	store *redisstore.Store
}

// storeSettings merges the store flags over cfg.Store and names the
// monitor's node; id is empty when no store is named.
func storeSettings(c *cli.Context, cfg *Config) (id string, err error) {
	st := &cfg.Store
	overrideString(c, "redis", &st.Redis)
	overrideString(c, "redis-password", &st.Password)
	overrideString(c, "sentinel-master", &st.SentinelMaster)
	if c.IsSet("lapse") {
		st.Lapse = c.Duration("lapse")
		if st.Lapse <= 0 {
			return "", fmt.Errorf("--lapse %v: must be positive", st.Lapse)
		}
	} else if st.Lapse < 0 {
		return "", fmt.Errorf("config store.lapse %v: must be positive (or absent for the default)", st.Lapse)
	}
	if st.Redis == "" {
		return "", nil
	}
	return sipmonNodeID(c, cfg)
}

// openSipmonStore dials st as node id; with no id (no store named) it
// returns nil and no error.
func openSipmonStore(ctx context.Context, st StoreConfig, id string) (*sipmonStore, error) {
	if id == "" {
		return nil, nil
	}
	log := slog.Default().With("node", id)
	rs, err := dialStore(ctx, st, log.With("component", "redisstore"))
	if err != nil {
		return nil, err
	}
	b, err := bridge.New(bridge.Options{Store: rs, Node: id, Lapse: st.Lapse, Logger: log.With("component", "bridge")})
	if err != nil {
		rs.Close()
		return nil, err
	}
	log.Info("publishing wire counts to the shared store", "addr", redisstore.Redact(st.Redis))
	return &sipmonStore{b: b, store: rs}, nil
}

// run keeps the monitor's node live (heartbeats, recovery) until ctx ends.
func (s *sipmonStore) run(ctx context.Context) {
	if s != nil {
		_ = s.b.Run(ctx)
	}
}

func (s *sipmonStore) close() {
	if s != nil {
		s.b.Close()
		s.store.Close()
	}
}

func (s *sipmonStore) publisher() sipmon.Publisher {
	if s == nil {
		return logPublisher{log: slog.Default().With("component", "sipmon")}
	}
	return wirePublisher{b: s.b, log: slog.Default().With("component", "sipmon")}
}

func liveMonitor(c *cli.Context, cfg sipmon.Config, store *sipmonStore) (*sipmon.Monitor, sipmon.RunOptions) {
	// A live monitor keeps finished legs for two windows, enough for the hourly
	// peaks it prints, and no more.
	cfg.Retain = 2 * time.Hour
	mon := sipmon.New(cfg)
	out := c.App.Writer
	return mon, sipmon.RunOptions{
		Publisher: store.publisher(),
		Interval:  c.Duration("interval"),
		OnTick: func(a sipmon.Active, s sipmon.Stats) {
			fmt.Fprintf(out, "%s  legs up %d  g729 %d  fax %d  SIP messages %d  malformed %d\n",
				time.Now().UTC().Format(time.RFC3339), a.Legs, a.G729, a.Fax, s.SIPMessages, s.Malformed)
		},
	}
}

// runLive runs the capture, the monitor's ticker and the store's heartbeat
// until the context ends, then prints the report of what was seen. The
// published counts are left to lapse: the monitor no longer knows them.
func runLive(c *cli.Context, mon *sipmon.Monitor, opt sipmon.RunOptions, store *sipmonStore, capture func(context.Context) error) error {
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = mon.Run(ctx, opt)
	}()
	go func() {
		defer wg.Done()
		store.run(ctx)
	}()
	err := capture(ctx)
	cancel()
	wg.Wait()
	mon.Flush()
	r := mon.Report()
	if c.Bool("json") {
		_ = sipmon.WriteJSON(c.App.Writer, r)
	} else {
		_ = r.WriteText(c.App.Writer)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("sipmon: %w", err)
	}
	return nil
}
