package daemon

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/licbridge/licbridge/config"
)

// MonitorFlags are what a standalone monitor's command line sets beside the
// config (licbridge sipmon hep|live).
type MonitorFlags struct {
	// Interval between ticks (--interval); must be positive.
	Interval time.Duration
	// NodeID is --node-id: the node to publish as (MonitorNodeID).
	NodeID string
	// Lapse is --lapse when given (nil: the config's store.lapse); must be
	// positive.
	Lapse *time.Duration
}

// MonitorSettings are a standalone monitor's options from cfg (the tracking,
// store and state-dir flags merged over it) and f, checked in this order:
// the tracking settings (Tracking), the interval, the lapse (a flag must be
// above zero; zero in the file means the default), and, when a store is
// named, the node to publish as (MonitorNodeID). Each error names the
// setting; OnTick is left to the caller.
func MonitorSettings(cfg *config.Config, f MonitorFlags, log *slog.Logger) (MonitorOptions, error) {
	tr, err := Tracking(cfg.SIPMon, log)
	if err != nil {
		return MonitorOptions{}, err
	}
	if f.Interval <= 0 {
		return MonitorOptions{}, fmt.Errorf("--interval %v: must be positive", f.Interval)
	}
	st := cfg.Store
	if f.Lapse != nil {
		if st.Lapse = *f.Lapse; st.Lapse <= 0 {
			return MonitorOptions{}, fmt.Errorf("--lapse %v: must be positive", st.Lapse)
		}
	} else if st.Lapse < 0 {
		return MonitorOptions{}, fmt.Errorf("config store.lapse %v: must be positive (or absent for the default)", st.Lapse)
	}
	opts := MonitorOptions{Tracking: tr, Store: st, Interval: f.Interval, Logger: log}
	if st.Redis != "" {
		if opts.NodeID, err = MonitorNodeID(f.NodeID, cfg); err != nil {
			return MonitorOptions{}, err
		}
	}
	return opts, nil
}
