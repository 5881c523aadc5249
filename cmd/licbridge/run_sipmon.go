package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/sipmon"
	"github.com/licbridge/licbridge/sipmon/capture"
	"github.com/urfave/cli/v2"
)

// runSIPMonFlags are the flags of licbridge run that start the SIP side
// monitor inside the daemon. Its tracking settings come from the config's
// sipmon section.
func runSIPMonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "sipmon-interface", Usage: "watch SIP on this interface with the built-in side monitor (\"any\" for all; needs CAP_NET_RAW; config sipmon.interface)", EnvVars: []string{"LICBRIDGE_SIPMON_INTERFACE"}},
		&cli.StringFlag{Name: "sipmon-filter", Usage: "capture filter for --sipmon-interface: an expression, e.g. \"port 5060\", or \"raw-bpf:\" then `tcpdump -ddd` output (config sipmon.filter)", EnvVars: []string{"LICBRIDGE_SIPMON_FILTER"}},
		&cli.StringFlag{Name: "sipmon-hep", Usage: "receive HEPv3 (UDP and TCP) on this HOST:PORT for the built-in side monitor (config sipmon.hep_listen)", EnvVars: []string{"LICBRIDGE_SIPMON_HEP"}},
		&cli.DurationFlag{Name: "sipmon-interval", Usage: "how often the built-in side monitor publishes its counts (default 5s; config sipmon.interval)", EnvVars: []string{"LICBRIDGE_SIPMON_INTERVAL"}},
	}
}

// runMonitor is the SIP side monitor that licbridge run embeds when
// sipmon.interface or sipmon.hep_listen is set. It publishes through the
// daemon's own bridge, so the wire count shows on the node's own row next to
// its admitted and passive counts. sipmon supervises its inputs; this is the
// wiring.
type runMonitor struct {
	mon      *sipmon.Monitor
	bridge   *bridge.Bridge
	interval time.Duration
	log      *slog.Logger
	sup      *sipmon.Supervisor
}

// newRunMonitor merges the run flags over cfg.SIPMon and opens every input.
// It returns nil when no input is configured.
func newRunMonitor(c *cli.Context, cfg *Config, b *bridge.Bridge, log *slog.Logger) (*runMonitor, error) {
	sc := &cfg.SIPMon
	overrideString(c, "sipmon-interface", &sc.Interface)
	overrideString(c, "sipmon-filter", &sc.Filter)
	overrideString(c, "sipmon-hep", &sc.HEPListen)
	if sc.Interface == "" && sc.HEPListen == "" {
		if sc.Filter != "" {
			return nil, errors.New("sipmon filter: set without an interface (--sipmon-interface or sipmon.interface)")
		}
		return nil, nil
	}
	switch {
	case c.IsSet("sipmon-interval") && c.Duration("sipmon-interval") <= 0:
		return nil, fmt.Errorf("--sipmon-interval %v: must be positive", c.Duration("sipmon-interval"))
	case c.IsSet("sipmon-interval"):
		sc.Interval = c.Duration("sipmon-interval")
	case sc.Interval < 0:
		return nil, fmt.Errorf("config sipmon.interval %v: must be positive (or absent for the default)", sc.Interval)
	}
	mcfg, err := sipmonSettings(c, cfg)
	if err != nil {
		return nil, err
	}
	log = log.With("component", "sipmon")
	mcfg.Logger = log
	// Finished legs are kept for two hourly windows, as in sipmon live.
	mcfg.Retain = 2 * time.Hour
	m := &runMonitor{mon: sipmon.New(mcfg), bridge: b, interval: sc.Interval, log: log}
	if m.interval == 0 {
		m.interval = 5 * time.Second
	}
	if m.sup, err = sipmon.Supervise(runInputs(sc.Interface, sc.Filter, sc.HEPListen, m.mon, log), sipmon.SuperviseOptions{Logger: log}); err != nil {
		return nil, err
	}
	return m, nil
}

// runInputs lists the configured inputs of the embedded monitor.
func runInputs(iface, filter, hepListen string, mon *sipmon.Monitor, log *slog.Logger) []sipmon.Input {
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

// run feeds and ticks the monitor until ctx ends. An input that fails (an
// interface gone down, say) is reopened with backoff; meanwhile the other
// inputs go on counting and health reports it.
func (m *runMonitor) run(ctx context.Context) {
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

// health is the monitor's /readyz component: not OK while an input is down.
func (m *runMonitor) health() admin.Component {
	ok, detail := m.sup.Health()
	return admin.Component{Name: "sipmon", OK: ok, Detail: detail}
}
