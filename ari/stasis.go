package ari

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/licbridge/licbridge/dialplan"
)

// call is what we know of one channel.
type call struct {
	inflight   int                 // StasisStart handlers running
	held       map[string]struct{} // products admitted and not released
	continuing bool                // we asked Asterisk to continue it
	left       bool                // it left Stasis into the dialplan
	gone       bool                // hung up
}

// dispatch acts on one event; false only when ctx ended while waiting for a
// handler slot. It never drops a StasisStart: with all slots busy it blocks
// the reader, which pushes back onto the socket.
func (a *App) dispatch(ctx context.Context, ev Event) bool {
	if !ev.Known {
		a.log.Debug("ignoring ari event", "type", ev.Type)
		return true
	}
	if ev.Type == TypeApplicationReplaced {
		a.log.Warn("another client took over the stasis application", "app", ev.Application)
		return true
	}
	if ev.Channel == nil || ev.Channel.ID == "" {
		a.log.Warn("ignoring ari event without channel", "type", ev.Type)
		return true
	}
	id := ev.Channel.ID
	switch ev.Type {
	case TypeStasisStart:
		select {
		case a.sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		a.mu.Lock()
		c := a.calls[id]
		if c == nil {
			c = &call{held: map[string]struct{}{}}
			a.calls[id] = c
		}
		c.inflight++
		c.left, c.continuing, c.gone = false, false, false
		a.mu.Unlock()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer func() { <-a.sem }()
			a.handleStart(ctx, ev)
		}()
	case TypeStasisEnd:
		a.mu.Lock()
		c := a.calls[id]
		if c == nil {
			a.mu.Unlock()
			return true
		}
		if c.continuing {
			// Our continue: the channel goes on in the dialplan (and we stay
			// subscribed to it when it holds a license).
			c.continuing, c.left = false, true
			a.settle(id, c)
			a.mu.Unlock()
			return true
		}
		a.mu.Unlock()
		a.channelGone(id)
	case TypeChannelHangupRequest, TypeChannelDestroyed:
		a.channelGone(id)
	}
	return true
}

// channelGone marks a channel hung up, releases its holdings once nothing is
// in flight for it, and reports it.
func (a *App) channelGone(id string) {
	a.mu.Lock()
	c := a.calls[id]
	if c == nil || c.gone {
		a.mu.Unlock()
		return
	}
	c.gone = true
	a.settle(id, c)
	a.mu.Unlock()
	if a.opts.OnChannelGone != nil {
		a.opts.OnChannelGone(id)
	}
}

// settle forgets a channel once nothing is in flight and nothing more can
// happen to it, releasing what it holds if it is gone. a.mu is held.
func (a *App) settle(id string, c *call) {
	if c.inflight > 0 {
		return
	}
	switch {
	case c.gone:
		delete(a.calls, id)
		if len(c.held) == 0 {
			return
		}
		products := make([]string, 0, len(c.held))
		for p := range c.held {
			products = append(products, p)
		}
		c.held = nil
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), a.opts.CallTimeout)
			defer cancel()
			for _, p := range products {
				if err := a.opts.Admitter.Release(ctx, p, id); err != nil {
					a.log.Error("release failed", "channel", id, "product", p, "err", err)
					continue
				}
				// The same line as a release on an AMI hangup, so that either
				// path leaves a trace of every holding it ended.
				a.log.Debug("released on hangup", "channel", id, "product", p)
			}
		}()
	case c.left && len(c.held) == 0:
		delete(a.calls, id)
	}
}

// request is what Stasis(licbridge,ARGS) asks.
type request struct {
	action  string // admit, release, status
	product string
}

// parseArgs reads ["admit","g729"], ["release","g729"] and ["status","g729"],
// as the FastAGI parser reads admit,g729: the first argument is the verb, and
// an unknown one is a bad request, never a product (Stasis(licbridge,tone)
// must not be asked for as a product named "tone"). The product follows the
// same naming rule as FastAGI's; extra arguments are ignored, as FastAGI
// ignores agi_arg_2 and on. With known set, a first argument that is a known
// product is the older short form of admit (Options.KnownProduct).
func parseArgs(args []string, known func(string) bool) (request, error) {
	var clean []string
	for _, s := range args {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			clean = append(clean, s)
		}
	}
	if len(clean) == 0 {
		return request{}, errors.New("no request in Stasis() arguments (want admit, release or status, then PRODUCT)")
	}
	switch clean[0] {
	case dialplan.VerbAdmit, dialplan.VerbRelease, dialplan.VerbStatus:
	default:
		if known != nil && dialplan.CheckProduct(clean[0]) == nil && known(clean[0]) {
			return request{action: dialplan.VerbAdmit, product: clean[0]}, nil // the short form
		}
		return request{}, fmt.Errorf("unknown request %q (want admit, release or status, then PRODUCT)", clean[0])
	}
	if len(clean) < 2 {
		return request{}, fmt.Errorf("%s without a product", clean[0])
	}
	if err := dialplan.CheckProduct(clean[1]); err != nil {
		return request{}, fmt.Errorf("%s: %w", clean[0], err)
	}
	return request{action: clean[0], product: clean[1]}, nil
}

// handleStart answers one StasisStart.
func (a *App) handleStart(runCtx context.Context, ev Event) {
	ch := ev.Channel
	id := ch.ID
	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), a.opts.CallTimeout)
	defer cancel()
	log := a.log.With("channel", id)

	held := false
	defer func() {
		a.mu.Lock()
		if c := a.calls[id]; c != nil {
			c.inflight--
			a.settle(id, c)
		}
		a.mu.Unlock()
	}()

	req, perr := parseArgs(ev.Args, a.opts.KnownProduct)
	var d Decision
	var extra [][2]string // status: in use and total, set before the status
	status := StatusError
	switch {
	case perr != nil:
		log.Warn("bad stasis request", "args", ev.Args, "err", perr)
		d.Reason = ReasonBadRequest
	case req.action == "admit":
		ar := AdmitRequest{Product: req.product, Channel: id, Caller: ch.CallerNumber, Called: ch.Exten}
		if !a.opts.NoLinkedid {
			if v, err := a.client.Variable(ctx, id, "CHANNEL(linkedid)"); err == nil {
				ar.Call = v
			} else {
				log.Debug("linkedid unknown", "err", err)
			}
		}
		var err error
		d, err = a.opts.Admitter.Admit(ctx, ar)
		switch {
		case err != nil:
			d = Decision{Reason: failReason(log, "admit", req.product, err)}
		case d.Admitted:
			status, held = StatusAdmitted, true
			a.mu.Lock()
			if c := a.calls[id]; c != nil {
				c.held[req.product] = struct{}{}
			}
			a.mu.Unlock()
		default:
			status = StatusRejected
		}
	case req.action == "release":
		a.mu.Lock()
		if c := a.calls[id]; c != nil {
			delete(c.held, req.product)
		}
		a.mu.Unlock()
		if err := a.opts.Admitter.Release(ctx, req.product, id); err != nil {
			d.Reason = failReason(log, "release", req.product, err)
		} else {
			status = StatusOK
			log.Debug("released from the dialplan", "product", req.product)
		}
	case req.action == "status":
		sc, ok := a.opts.Admitter.(StatusChecker)
		if !ok {
			d.Reason = ReasonUnsupported
			break
		}
		u, err := sc.Status(ctx, req.product)
		if err != nil {
			d.Reason = failReason(log, "status", req.product, err)
			break
		}
		status = StatusOK
		extra = [][2]string{{VarInUse, strconv.Itoa(u.InUse)}, {VarTotal, strconv.Itoa(u.Total)}}
	}
	log.Debug("stasis decision", "action", req.action, "product", req.product, "status", status, "reason", d.Reason)

	if held {
		// First (a later request may fail): keep hearing this channel after
		// it leaves Stasis, so that its hangup releases the holding.
		if err := a.client.Subscribe(ctx, a.opts.App, "channel:"+id); err != nil {
			log.Warn("cannot follow the channel after stasis; its holding ends by lapse or AMI", "err", err)
		}
	}

	// LICBRIDGE_STATUS last, so that an answer cut short never leaves a status
	// without its details (as FastAGI sets them).
	// A status answer leaves LICBRIDGE_LEASE alone (as FastAGI does): a
	// restarted node reads it back to know what the channel holds.
	set := append(extra, [2]string{VarReason, d.Reason})
	if extra == nil {
		set = append(set, [2]string{VarLease, d.Lease})
	}
	set = append(set, [2]string{VarStatus, status})
	for _, v := range set {
		if err := a.client.SetVariable(ctx, id, v[0], v[1]); err != nil {
			a.restFailed(log, id, err)
			return
		}
	}
	if status == StatusRejected && (a.opts.RejectHangupCause > 0 || a.opts.RejectHangupReason != "") {
		cause := HangupCause{Code: a.opts.RejectHangupCause, Reason: a.opts.RejectHangupReason}
		if err := a.client.Hangup(ctx, id, cause); err != nil {
			a.restFailed(log, id, err)
		}
		return
	}
	a.mu.Lock()
	if c := a.calls[id]; c != nil {
		c.continuing = true
	}
	a.mu.Unlock()
	if err := a.client.Continue(ctx, id, "", "", 0); err != nil {
		a.mu.Lock()
		if c := a.calls[id]; c != nil {
			c.continuing = false
		}
		a.mu.Unlock()
		a.restFailed(log, id, err)
	}
}

// restFailed logs a failed REST call; a channel Asterisk no longer has is gone.
func (a *App) restFailed(log *slog.Logger, id string, err error) {
	if errors.Is(err, ErrNotFound) {
		log.Info("channel went away while we answered it", "err", err)
		a.channelGone(id)
		return
	}
	log.Warn("ari request failed", "err", err)
}
