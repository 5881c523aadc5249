package node

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/bridge"
)

// The protocol packages take the node through this.
var _ admission.Admitter = admitter{}

// Admit runs one admission for a protocol adapter: refused while draining,
// remembered (for reconcile races) when admitted, reported to OnDecision.
func (n *Node) Admit(ctx context.Context, via string, req bridge.Request) (bridge.Result, error) {
	start := time.Now()
	if n.draining.Load() {
		n.decided(via, req.Product, bridge.Result{}, time.Since(start), ErrDraining)
		return bridge.Result{}, ErrDraining
	}
	if !n.waitGate(ctx) {
		r := bridge.Result{Reason: ReasonStarting}
		n.log.Warn("admission refused: the node is still starting", "product", req.Product, "channel", req.Channel)
		n.decided(via, req.Product, r, time.Since(start), nil)
		return r, nil
	}
	r := n.b.Admit(ctx, req)
	if r.Admitted && n.hungUp(req.Channel) {
		// The channel hung up while its admission was in flight: the release
		// on hangup found nothing to release, so release it now.
		n.b.Release(context.WithoutCancel(ctx), req.Channel, req.Product)
		n.log.Debug("channel hung up during its admission; released", "channel", req.Channel, "product", req.Product)
	} else if r.Admitted {
		n.mu.Lock()
		n.recent[req.Channel] = start
		n.mu.Unlock()
	}
	n.decided(via, req.Product, r, time.Since(start), nil)
	return r, nil
}

func (n *Node) decided(via, product string, r bridge.Result, d time.Duration, err error) {
	if !n.b.Known(product) {
		product = "unknown" // an invented name must not become a metric label
	}
	if n.opt.OnDecision != nil {
		n.opt.OnDecision(via, product, r, d, err)
	}
}

// Release ends a channel's holding of product ("" for all of them).
func (n *Node) Release(ctx context.Context, product, channel string) {
	if product == "" {
		n.b.Release(ctx, channel)
	} else {
		n.b.Release(ctx, channel, product)
	}
}

// admitter is the node as a protocol adapter's admission.Admitter, one for
// FastAGI and ARI alike; via names the path (dialplan.ViaAGI or ViaARI) for
// the decision metrics.
type admitter struct {
	n   *Node
	via string
}

// Admit implements admission.Admitter.
func (a admitter) Admit(ctx context.Context, req admission.Request) (admission.Decision, error) {
	r, err := a.n.Admit(ctx, a.via, bridge.Request{Product: req.Product, Channel: req.Channel, Call: req.Call, Caller: req.Caller, Called: req.Called})
	if err != nil {
		return admission.Decision{}, err
	}
	return admission.Decision{Admitted: r.Admitted, Reason: string(r.Reason), Lease: r.Lease.ID}, nil
}

// Release implements admission.Admitter.
func (a admitter) Release(ctx context.Context, product, channel string) error {
	a.n.Release(ctx, product, channel)
	return nil
}

// Status implements admission.Admitter: the product's channels in use and
// total as the cluster sees them, on either path. It reads that product's
// totals alone, at a cost that does not grow with the cluster; a product no
// node has used (or an invalid name) is 0 of 0.
func (a admitter) Status(ctx context.Context, product string) (admission.Usage, error) {
	if !bridge.ValidProduct(product) {
		return admission.Usage{}, nil
	}
	t, err := a.n.b.Totals(ctx, product)
	if err != nil {
		return admission.Usage{}, err
	}
	return admission.Usage{InUse: t.InUse, Total: t.Total}, nil
}

// parseLease reads a LICBRIDGE_LEASE value ("g729:1795386360.29") back into
// its product and channel.
func parseLease(v string) (product, channel string, ok bool) {
	p, c, ok := strings.Cut(v, ":")
	if !ok || p == "" || c == "" || !bridge.ValidProduct(p) {
		return "", "", false
	}
	return p, c, true
}

var errNoAsterisk = errors.New("node: no AMI or ARI connection to reconcile with")
