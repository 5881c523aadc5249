package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/internal/backoff"
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

// sipmonSource is one input of the embedded monitor: a live interface or a
// HEP listener. open binds it (so an error shows at start-up) and returns
// the loop that feeds the monitor until ctx ends or the input fails.
type sipmonSource struct {
	name string
	open func() (func(context.Context) error, error)
}

// runMonitor is the SIP side monitor that licbridge run embeds when
// sipmon.interface or sipmon.hep_listen is set. It publishes through the
// daemon's own bridge, so the wire count shows on the node's own row next to
// its admitted and passive counts.
type runMonitor struct {
	mon      *sipmon.Monitor
	bridge   *bridge.Bridge
	interval time.Duration
	log      *slog.Logger
	sources  []sipmonSource
	runs     []func(context.Context) error

	mu   sync.Mutex
	down map[string]string // source name → why it is not capturing now
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
	m := &runMonitor{mon: sipmon.New(mcfg), bridge: b, interval: sc.Interval, log: log, down: map[string]string{}}
	if m.interval == 0 {
		m.interval = 5 * time.Second
	}
	if sc.Interface != "" {
		iface, filter := sc.Interface, sc.Filter
		m.sources = append(m.sources, sipmonSource{name: "interface " + iface, open: func() (func(context.Context) error, error) {
			l, err := capture.NewLive(iface, filter, "", m.mon.Handle, capture.LiveOptions{})
			if err != nil {
				return nil, err
			}
			return l.Run, nil
		}})
	}
	if sc.HEPListen != "" {
		for _, network := range []string{"udp", "tcp"} {
			addr := sc.HEPListen
			m.sources = append(m.sources, sipmonSource{name: "HEP " + network + " " + addr, open: func() (func(context.Context) error, error) {
				s, err := capture.NewHEPServer(network, addr, "", m.mon.Handle, capture.HEPOptions{Logger: log})
				if err != nil {
					return nil, err
				}
				return s.Run, nil
			}})
		}
	}
	for _, s := range m.sources {
		run, err := s.open()
		if err != nil {
			return nil, fmt.Errorf("sipmon %s: %w", s.name, err)
		}
		m.runs = append(m.runs, run)
		log.Info("SIP side monitor input open", "input", s.name)
	}
	return m, nil
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
	for i, s := range m.sources {
		wg.Go(func() { m.keep(ctx, s, m.runs[i]) })
	}
	wg.Wait()
}

// keep runs one input, reopening it after a failure.
func (m *runMonitor) keep(ctx context.Context, s sipmonSource, run func(context.Context) error) {
	for attempt := 0; ; {
		err := run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("input ended")
		}
		m.setDown(s.name, err.Error())
		m.log.Error("SIP side monitor input failed; reopening", "input", s.name, "err", err)
		for {
			if !backoff.Sleep(ctx, backoff.Delay(attempt, time.Second, time.Minute)) {
				return
			}
			attempt++
			if run, err = s.open(); err == nil {
				break
			}
			m.setDown(s.name, err.Error())
			m.log.Warn("SIP side monitor input still failing", "input", s.name, "err", err)
		}
		m.setDown(s.name, "")
		m.log.Info("SIP side monitor input open again", "input", s.name)
		attempt = 0
	}
}

func (m *runMonitor) setDown(name, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if why == "" {
		delete(m.down, name)
	} else {
		m.down[name] = why
	}
}

// health is the monitor's /readyz component: not OK while an input is down.
func (m *runMonitor) health() admin.Component {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.down) == 0 {
		names := make([]string, len(m.sources))
		for i, s := range m.sources {
			names[i] = s.name
		}
		return admin.Component{Name: "sipmon", OK: true, Detail: strings.Join(names, ", ")}
	}
	var why []string
	for _, s := range m.sources {
		if w, ok := m.down[s.name]; ok {
			why = append(why, s.name+": "+w)
		}
	}
	return admin.Component{Name: "sipmon", OK: false, Detail: strings.Join(why, "; ")}
}
