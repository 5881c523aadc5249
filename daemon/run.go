package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/bridge/redisstore"
)

// Run runs the node until ctx ends and it has drained; the parts around it
// (tracker, statistics, admin server, SIP monitor) stop after it. A signal on
// hup reloads the licence keys. A broken admin server (address in use) stops
// the daemon at once, without a drain: it is a start-up error.
func (d *Daemon) Run(ctx context.Context, hup <-chan os.Signal) (err error) {
	defer func() {
		d.runErr = err
		close(d.stopped)
	}()
	aux, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	// The tracker and the statistics stop after the router, so that its last
	// batch (it batches events: issue 14) reaches them before they stop.
	sinks, stopSinks := context.WithCancel(context.WithoutCancel(ctx))
	routed := make(chan struct{})
	// The admin server removes its address file as it stops: wait for it, or
	// the process may exit first and leave a stale file that points show
	// licenses at a daemon that is gone.
	served := make(chan struct{})
	defer func() { stopAux(); <-routed; stopSinks(); <-served }()
	errc := make(chan error, 1)
	go func() { _ = d.tracker.Run(sinks, func(err error) { d.log.Debug("overage", "err", err) }) }()
	go func() { _ = d.async.Run(sinks, func(err error) { d.log.Debug("statistics", "err", err) }) }()
	go func() { d.router.Run(aux); close(routed) }()
	go func() { _ = d.bypass.Run(aux) }()
	go d.publishModes(aux)
	if d.mon != nil {
		go d.mon.Run(aux)
	}
	if d.srv != nil {
		go func() {
			defer close(served)
			if err := d.srv.Run(aux); err != nil {
				errc <- fmt.Errorf("admin http: %w", err)
			}
		}()
	} else {
		close(served)
	}
	go d.reloadOn(aux, hup)
	go d.runIssuerUpdates(aux)
	go d.logReady(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- d.nd.Run(ctx) }()
	select {
	case err := <-runErr:
		return err
	case err := <-errc:
		d.log.Error("stopping", "err", err)
		return err
	}
}

func (d *Daemon) reloadOn(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			d.log.Info("SIGHUP: reloading license keys")
			if _, err := d.watcher.Reload(ctx); err != nil {
				d.log.Warn("license reload", "err", err)
			}
		}
	}
}

// Ready returns when the node admits and the admin server listens, or with
// an error when ctx ends or Run stopped first (a start-up error: the state
// dir cannot be written, say).
func (d *Daemon) Ready(ctx context.Context) error {
	for _, ch := range []<-chan struct{}{d.nd.Ready(), d.srvReady()} {
		select {
		case <-ch:
			continue // ready first, even if it has stopped since
		default:
		}
		select {
		case <-ch:
		case <-d.stopped:
			if d.runErr != nil {
				return fmt.Errorf("daemon stopped before it was ready: %w", d.runErr)
			}
			return errors.New("daemon stopped before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (d *Daemon) srvReady() <-chan struct{} {
	if d.srv == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return d.srv.Ready()
}

func (d *Daemon) logReady(ctx context.Context) {
	if d.Ready(ctx) != nil {
		return
	}
	// The ARI URL may carry user:password@ (Redact keeps the host).
	attrs := []any{"version", d.opt.Version, "agi", d.nd.AGIAddr(), "ami", d.s.AMI.Addr, "ari", redisstore.Redact(d.s.ARI.URL)}
	if d.srv != nil {
		attrs = append(attrs, "http", d.srv.Addr().String())
	}
	if d.mon != nil {
		attrs = append(attrs, "sipmon", d.mon.Health().Detail)
	}
	d.log.Info("licbridge ready", attrs...)
}

// Health is what /readyz reflects: the store, and AMI, ARI and the SIP side
// monitor when configured.
func (d *Daemon) Health() []admin.Component {
	nd := d.nd
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
	if d.mon != nil {
		out = append(out, d.mon.Health())
	}
	if nd.Draining() {
		out = append(out, admin.Component{Name: "admission", OK: false, Detail: "draining"})
	}
	return out
}
