package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/sipmon"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// MonitorNodeSuffix names a standalone monitor's node after the Asterisk node
// it watches.
const MonitorNodeSuffix = "-sipmon"

// MonitorNodeID is the node a standalone monitor publishes as: given (the
// --node-id flag) when set, else the licbridge node's ID (cfg.NodeID, or the
// one kept in cfg.StateDir, else the host name) plus MonitorNodeSuffix. It
// must not be the daemon's own: the monitor's bridge writes that node's
// (empty) keys and holdings back after a lapse, which would wipe the daemon's.
func MonitorNodeID(given string, cfg *config.Config) (string, error) {
	if cfg.StateDir == "" {
		cfg.StateDir = config.DefaultStateDir
	}
	daemon := cfg.NodeID
	if daemon == "" {
		// Read only: the monitor never creates the daemon's ID.
		if b, err := os.ReadFile(filepath.Join(cfg.StateDir, "node-id")); err == nil {
			daemon = strings.TrimSpace(string(b))
		}
	}
	if given != "" {
		if !config.NodeIDPattern.MatchString(given) {
			return "", fmt.Errorf("--node-id %q: want 1 to 64 letters, digits, '.', '-' and '_'", given)
		}
		if given == daemon {
			return "", fmt.Errorf("--node-id %q is the licbridge node's own ID: the monitor publishes as a node of its own (default %q)", given, daemon+MonitorNodeSuffix)
		}
		return given, nil
	}
	base := daemon
	if base == "" {
		base = config.HostNodeName()
	}
	return base[:min(len(base), 64-len(MonitorNodeSuffix))] + MonitorNodeSuffix, nil
}

// MonitorOptions are what a standalone SIP monitor is built from.
type MonitorOptions struct {
	// Tracking are the monitor's settings (Tracking builds them).
	Tracking sipmon.Config
	// Store is the shared store to publish the wire counts to; with no
	// Store.Redis they are only logged (debug).
	Store config.StoreConfig
	// NodeID is the monitor's own node in the store (MonitorNodeID); needed
	// with a store.
	NodeID string
	// Interval between ticks (publish, OnTick).
	Interval time.Duration
	// OnTick, if set, is told the counts every Interval.
	OnTick func(sipmon.Active, sipmon.Stats)
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Monitor is a standalone SIP side monitor (licbridge sipmon hep|live): a
// leg tracker that publishes to the shared store, when one is named, as a
// node of its own that holds no keys and no channels. Build with
// NewMonitor, feed Handle from a capture, run with Run, release with Close.
type Monitor struct {
	mon *sipmon.Monitor
	opt sipmon.RunOptions
	b   *bridge.Bridge    // nil: no store
	rs  *redisstore.Store // nil: no store
}

// NewMonitor dials the store when one is named: one that does not answer is
// an error here, at start.
func NewMonitor(ctx context.Context, opt MonitorOptions) (*Monitor, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	if opt.Store.Redis != "" && opt.NodeID == "" {
		return nil, errors.New("sipmon: a store and no node ID to publish as")
	}
	tr := opt.Tracking
	tr.Retain = monitorRetain
	m := &Monitor{mon: sipmon.New(tr)}
	m.opt = sipmon.RunOptions{Interval: opt.Interval, OnTick: opt.OnTick,
		Publisher: logPublisher{log: log.With("component", "sipmon")}}
	if opt.Store.Redis == "" {
		return m, nil
	}
	nlog := log.With("node", opt.NodeID)
	rs, err := DialStore(ctx, opt.Store, nlog.With("component", "redisstore"), false)
	if err != nil {
		return nil, err
	}
	b, err := bridge.New(bridge.Options{Store: rs, Node: opt.NodeID, Lapse: opt.Store.Lapse, Logger: nlog.With("component", "bridge")})
	if err != nil {
		rs.Close()
		return nil, err
	}
	nlog.Info("publishing wire counts to the shared store", "addr", redisstore.Redact(opt.Store.Redis))
	m.b, m.rs = b, rs
	m.opt.Publisher = wirePublisher{b: b, log: log.With("component", "sipmon")}
	return m, nil
}

// Handle takes one captured message (a capture.Handler).
func (m *Monitor) Handle(msg *capture.Message) error { return m.mon.Handle(msg) }

// Run runs capture, the monitor's ticker and the store's heartbeat until ctx
// ends or capture returns, and reports what was seen. The published counts
// are left to lapse: the monitor no longer knows them. err is capture's,
// nil when it ended with ctx.
func (m *Monitor) Run(ctx context.Context, capture func(context.Context) error) (*sipmon.Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = m.mon.Run(ctx, m.opt) })
	if m.b != nil {
		// Keeps the monitor's node live (heartbeats, recovery).
		wg.Go(func() { _ = m.b.Run(ctx) })
	}
	err := capture(ctx)
	cancel()
	wg.Wait()
	m.mon.Flush()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return m.mon.Report(), err
}

// Close releases the store.
func (m *Monitor) Close() {
	if m.b != nil {
		m.b.Close()
		m.rs.Close()
	}
}

// ListenHEP opens a HEPv3 server on addr for each of networks ("udp",
// "tcp"), messages credited to sensor. The returned run serves them all until
// ctx ends.
func (m *Monitor) ListenHEP(networks []string, addr, sensor string, log *slog.Logger) (run func(context.Context) error, err error) {
	if log == nil {
		log = slog.Default()
	}
	var servers []*capture.HEPServer
	for _, network := range networks {
		s, err := capture.NewHEPServer(network, addr, sensor, m.Handle, capture.HEPOptions{Logger: log})
		if err != nil {
			return nil, err
		}
		log.Info("receiving HEP", "network", network, "addr", s.Addr().String())
		servers = append(servers, s)
	}
	return func(ctx context.Context) error {
		errs := make(chan error, len(servers))
		for _, s := range servers {
			go func() { errs <- s.Run(ctx) }()
		}
		var all []error
		for range servers {
			all = append(all, <-errs)
		}
		return errors.Join(all...)
	}, nil
}

// Live opens a capture on iface with filter, messages credited to sensor:
// a missing interface or permission is reported here, and from here on
// packets are being captured. The returned run reads them until ctx ends.
func (m *Monitor) Live(iface, filter, sensor string) (run func(context.Context) error, err error) {
	live, err := capture.NewLive(iface, filter, sensor, m.Handle, capture.LiveOptions{})
	if err != nil {
		return nil, err
	}
	slog.Info("capturing", "interface", iface)
	return live.Run, nil
}
