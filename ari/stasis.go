package ari

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/license"
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
	if ev.Type == typeApplicationReplaced {
		a.log.Warn("another client took over the stasis application", "app", ev.Application)
		return true
	}
	if ev.Channel == nil || ev.Channel.ID == "" {
		a.log.Warn("ignoring ari event without channel", "type", ev.Type)
		return true
	}
	id := ev.Channel.ID
	switch ev.Type {
	case typeStasisStart:
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
	case typeStasisEnd:
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
	case typeChannelHangupRequest, typeChannelDestroyed:
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
	verb    admission.Verb
	product string
}

// parseArgs reads ["admit","g729"], ["release","g729"] and ["status","g729"],
// as the FastAGI parser reads admit,g729: the first argument is the verb, and
// an unknown one is a bad request, never a product (Stasis(licbridge,tone)
// must not be asked for as a product named "tone"). The product follows the
// one product-name grammar (license.CheckProductName); extra arguments are
// ignored, as FastAGI ignores agi_arg_2 and on. With known set, a first
// argument that is a known product is the older short form of admit
// (Options.KnownProduct).
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
	verb, ok := admission.ParseVerb(clean[0])
	if !ok {
		if known != nil && license.ValidProductName(clean[0]) && known(clean[0]) {
			return request{verb: admission.VerbAdmit, product: clean[0]}, nil // the short form
		}
		return request{}, fmt.Errorf("unknown request %q (want admit, release or status, then PRODUCT)", clean[0])
	}
	if len(clean) < 2 {
		return request{}, fmt.Errorf("%s without a product", clean[0])
	}
	if err := license.CheckProductName(clean[1]); err != nil {
		return request{}, fmt.Errorf("%s: %w", clean[0], err)
	}
	return request{verb: verb, product: clean[1]}, nil
}

// handleStart answers one StasisStart.
func (a *App) handleStart(runCtx context.Context, ev Event) {
	ch := ev.Channel
	id := ch.ID
	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), a.opts.CallTimeout)
	defer cancel()
	log := a.log.With("channel", id)
	defer func() {
		a.mu.Lock()
		if c := a.calls[id]; c != nil {
			c.inflight--
			a.settle(id, c)
		}
		a.mu.Unlock()
	}()

	req, perr := parseArgs(ev.Args, a.opts.KnownProduct)
	var ans admission.Answer
	if perr != nil {
		log.Warn("bad stasis request", "args", ev.Args, "err", perr)
		ans = admission.BadRequest()
	} else {
		// The Admitter gets the call's time minus a reserve, so that a slow
		// admission is still answered (ERROR, TIMEOUT), as over FastAGI.
		deadline, _ := ctx.Deadline()
		askCtx, cancelAsk := context.WithDeadline(ctx, deadline.Add(-admission.Reserve(a.opts.CallTimeout)))
		ans = a.ask(askCtx, log, id, ch, req)
		cancelAsk()
	}
	log.Debug("stasis decision", "action", req.verb, "product", req.product, "status", ans.Status, "reason", ans.Reason)

	if ans.Admitted() {
		// First (a later request may fail): keep hearing this channel after
		// it leaves Stasis, so that its hangup releases the holding.
		if err := a.client.Subscribe(ctx, a.opts.App, "channel:"+id); err != nil {
			log.Warn("cannot follow the channel after stasis; its holding ends by lapse or AMI", "err", err)
		}
	}
	for _, v := range ans.Settings() {
		if err := a.client.SetVariable(ctx, id, v.Name, v.Value); err != nil {
			a.restFailed(log, id, err)
			return
		}
	}
	if ans.Status == admission.StatusRejected && (a.opts.RejectHangupCause > 0 || a.opts.RejectHangupReason != "") {
		cause := hangupCause{Code: a.opts.RejectHangupCause, Reason: a.opts.RejectHangupReason}
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

// ask puts one decoded request to the Admitter through the admission
// contract, and keeps what the channel holds up to date.
func (a *App) ask(ctx context.Context, log *slog.Logger, id string, ch *Channel, req request) admission.Answer {
	areq := admission.Request{Product: req.product, Channel: id, Caller: ch.CallerNumber, Called: ch.Exten}
	switch req.verb {
	case admission.VerbAdmit:
		if !a.opts.NoLinkedid {
			if v, err := a.client.Variable(ctx, id, "CHANNEL(linkedid)"); err == nil {
				areq.Call = v
			} else {
				log.Debug("linkedid unknown", "err", err)
			}
		}
	case admission.VerbRelease:
		a.mu.Lock()
		if c := a.calls[id]; c != nil {
			delete(c.held, req.product)
		}
		a.mu.Unlock()
	}
	ans := admission.Do(ctx, a.opts.Admitter, req.verb, areq)
	switch {
	case ans.Err != nil && ans.Expected:
		log.Info(string(req.verb)+" refused", "product", req.product, "reason", ans.Reason, "err", ans.Err)
	case ans.Err != nil:
		log.Error(string(req.verb)+" failed", "product", req.product, "reason", ans.Reason, "err", ans.Err)
	case ans.Admitted():
		a.mu.Lock()
		if c := a.calls[id]; c != nil {
			c.held[req.product] = struct{}{}
		}
		a.mu.Unlock()
	case req.verb == admission.VerbRelease:
		log.Debug("released from the dialplan", "product", req.product)
	}
	return ans
}

// restFailed logs a failed REST call; a channel Asterisk no longer has is gone.
func (a *App) restFailed(log *slog.Logger, id string, err error) {
	if errors.Is(err, errNotFound) {
		log.Info("channel went away while we answered it", "err", err)
		a.channelGone(id)
		return
	}
	log.Warn("ari request failed", "err", err)
}
