package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/config"
	"github.com/licbridge/licbridge/sipmon"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// The SIP side monitor, in its two forms: embedded in a node (sideMonitor,
// built by New when sipmon.interface or sipmon.hep_listen is set) and
// standalone (Monitor, licbridge sipmon hep|live).

// monitorRetain is how long a running monitor keeps finished legs: two
// hourly windows, enough for the peaks it reports, and no more.
const monitorRetain = 2 * time.Hour

// defaultSideInterval is sipmon.interval when the file sets none (or zero).
const defaultSideInterval = 5 * time.Second

// Tracking turns the sipmon section (flags already merged over it) into the
// monitor's settings: a zero field takes sipmon's default, a negative one is
// an error naming the config key.
func Tracking(sc config.SIPMonConfig, log *slog.Logger) (sipmon.Config, error) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"sipmon.dialog_timeout", sc.DialogTimeout}, {"sipmon.sensor_tolerance", sc.SensorTolerance}} {
		if d.v < 0 {
			return sipmon.Config{}, fmt.Errorf("config %s %v: must be positive (or absent for the default)", d.key, d.v)
		}
	}
	if sc.MaxDialogs < 0 {
		return sipmon.Config{}, fmt.Errorf("config sipmon.max_dialogs %d: must be positive (or absent for the default)", sc.MaxDialogs)
	}
	if log == nil {
		log = slog.Default()
	}
	return sipmon.Config{
		CorrelationHeader: sc.CorrelationHeader,
		DialogTimeout:     sc.DialogTimeout,
		MaxDialogs:        sc.MaxDialogs,
		SensorTolerance:   sc.SensorTolerance,
		Logger:            log,
	}, nil
}

// wirePublisher gives the monitor's counts to the bridge as the wire count of
// the bridge's node: "legs" (every leg) as bridge.WireLegs, "g729" and "fax"
// as those products. They never overwrite the daemon's admitted or passive
// counts.
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

var _ sipmon.Publisher = logPublisher{}

func (p logPublisher) PublishObserved(_ context.Context, product string, legs int) error {
	p.log.Debug("wire legs", "product", product, "legs", legs)
	return nil
}

// sideMonitor is the SIP side monitor a node embeds. It publishes through the
// node's own bridge, so the wire count shows on the node's own row next to
// its admitted and passive counts. sipmon supervises its inputs; this is the
// wiring.
type sideMonitor struct {
	mon      *sipmon.Monitor
	bridge   *bridge.Bridge
	interval time.Duration
	log      *slog.Logger
	sup      *sipmon.Supervisor
}

// newSideMonitor opens every input that sc names; it returns nil when none is.
func newSideMonitor(sc config.SIPMonConfig, b *bridge.Bridge, log *slog.Logger) (*sideMonitor, error) {
	if sc.Interface == "" && sc.HEPListen == "" {
		if sc.Filter != "" {
			return nil, errors.New("sipmon filter: set without an interface (--sipmon-interface or sipmon.interface)")
		}
		return nil, nil
	}
	if sc.Interval < 0 {
		return nil, fmt.Errorf("config sipmon.interval %v: must be positive (or absent for the default)", sc.Interval)
	}
	log = log.With("component", "sipmon")
	mcfg, err := Tracking(sc, log)
	if err != nil {
		return nil, err
	}
	mcfg.Retain = monitorRetain
	m := &sideMonitor{mon: sipmon.New(mcfg), bridge: b, interval: sc.Interval, log: log}
	if m.interval == 0 {
		m.interval = defaultSideInterval
	}
	if m.sup, err = sipmon.Supervise(sideInputs(sc.Interface, sc.Filter, sc.HEPListen, m.mon, log), sipmon.SuperviseOptions{Logger: log}); err != nil {
		return nil, err
	}
	return m, nil
}

// sideInputs lists the configured inputs of the embedded monitor.
func sideInputs(iface, filter, hepListen string, mon *sipmon.Monitor, log *slog.Logger) []sipmon.Input {
	var inputs []sipmon.Input
	if iface != "" {
		inputs = append(inputs, sipmon.Input{Name: "interface " + iface, Open: func() (func(context.Context) error, error) {
			l, err := capture.NewLive(iface, filter, "", mon.Handle, capture.LiveOptions{})
			if err != nil {
				return nil, err
			}
			return l.Run, nil
		}})
	}
	if hepListen != "" {
		for _, network := range []string{"udp", "tcp"} {
			addr := hepListen
			inputs = append(inputs, sipmon.Input{Name: "HEP " + network + " " + addr, Open: func() (func(context.Context) error, error) {
				s, err := capture.NewHEPServer(network, addr, "", mon.Handle, capture.HEPOptions{Logger: log})
				if err != nil {
					return nil, err
				}
				return s.Run, nil
			}})
		}
	}
	return inputs
}

// Run feeds and ticks the monitor until ctx ends. An input that fails (an
// interface gone down, say) is reopened with backoff; meanwhile the other
// inputs go on counting and Health reports it.
func (m *sideMonitor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = m.mon.Run(ctx, sipmon.RunOptions{
			Publisher: wirePublisher{b: m.bridge, log: m.log},
			Interval:  m.interval,
		})
	})
	wg.Go(func() { m.sup.Run(ctx) })
	wg.Wait()
}

// Health is the monitor's /readyz component: not OK while an input is down.
func (m *sideMonitor) Health() admin.Component {
	ok, detail := m.sup.Health()
	return admin.Component{Name: "sipmon", OK: ok, Detail: detail}
}
