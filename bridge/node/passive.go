package node

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/licbridge/licbridge/bridge"
)

// Observed is passive accounting's count for one product on this node.
type Observed struct {
	Product string
	// Units seen using the product (channels, or calls under per-call
	// counting), admitted or not.
	Units int
	// Unadmitted are those of Units that hold no lease for the product.
	Unadmitted int
}

// checkCodec reads a channel's native audio format (once it is up) and counts
// the channel as observed usage of the product the format is licensed as.
func (n *Node) checkCodec(ctx context.Context, uid, name string) {
	go func() {
		select {
		case n.codecSem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-n.codecSem }()
		gctx, cancel := context.WithTimeout(ctx, bridge.DefaultSyncTimeout)
		defer cancel()
		v, err := n.amiC.Getvar(gctx, name, "CHANNEL(audionativeformat)")
		if err != nil {
			n.log.Debug("reading the native format", "channel", name, "err", err)
			n.mu.Lock()
			if c := n.chans[uid]; c != nil {
				c.checked = false // try again on the next state change or reconcile
			}
			n.mu.Unlock()
			return
		}
		product := n.productOfFormat(v)
		n.log.Debug("native format", "channel", name, "format", v, "product", product)
		if product == "" {
			return
		}
		n.mu.Lock()
		c := n.chans[uid]
		if c != nil {
			c.product = product
		}
		n.mu.Unlock()
		if c == nil {
			return // hung up meanwhile
		}
		obs := n.recount()
		if n.opt.Passive.HangupOverLimit {
			n.enforce(ctx, uid, name, product, obs)
		}
	}()
}

// productOfFormat maps "(g729)" or "(g729|ulaw)" to a licensed product.
func (n *Node) productOfFormat(v string) string {
	v = strings.Trim(strings.TrimSpace(v), "()")
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == '|' || r == ',' || r == ' ' }) {
		if p, ok := n.opt.Passive.Codecs[strings.ToLower(f)]; ok {
			return p
		}
	}
	return ""
}

// enforce hangs up an unadmitted observed channel that takes its product
// beyond the licensed total.
func (n *Node) enforce(ctx context.Context, uid, name, product string, obs map[string]Observed) {
	for _, l := range n.b.Leases() {
		if l.Channel == uid && l.Product == product {
			return // it asked and was admitted
		}
	}
	uctx, cancel := context.WithTimeout(ctx, bridge.DefaultSyncTimeout)
	defer cancel()
	us, err := n.b.Usage(uctx)
	if err != nil {
		n.log.Warn("over-limit check of an observed channel", "channel", name, "err", err)
		return
	}
	for _, u := range us {
		if u.Product != product {
			continue
		}
		if u.InUse+obs[product].Unadmitted <= u.Total {
			return
		}
		n.log.Warn("hanging up an unadmitted channel over the licensed total", "channel", name, "product", product,
			"in_use", u.InUse, "unadmitted", obs[product].Unadmitted, "total", u.Total)
		if err := n.amiC.Hangup(uctx, name, n.opt.Passive.HangupCause); err != nil {
			n.log.Warn("hanging up an over-limit channel", "channel", name, "err", err)
		}
		return
	}
}

// recount computes the observed counts from the channel table and has them
// published.
func (n *Node) recount() map[string]Observed {
	leased := map[string]bool{}
	for _, l := range n.b.Leases() {
		leased[l.Product+":"+l.Channel] = true
	}
	units := map[string]map[string]bool{}
	unadm := map[string]map[string]bool{}
	n.mu.Lock()
	for _, c := range n.chans {
		if c.product == "" {
			continue
		}
		unit := c.Uniqueid
		if n.opt.Counting[c.product] == bridge.CountCall && c.Linkedid != "" {
			unit = c.Linkedid
		}
		if units[c.product] == nil {
			units[c.product], unadm[c.product] = map[string]bool{}, map[string]bool{}
		}
		units[c.product][unit] = true
		if !leased[c.product+":"+c.Uniqueid] {
			unadm[c.product][unit] = true
		}
	}
	out := map[string]Observed{}
	changed := false
	for p := range n.observed {
		if _, ok := units[p]; !ok && n.observed[p] != 0 && p != n.opt.Passive.FaxProduct {
			n.observed[p] = 0
			changed = true
		}
	}
	for p, u := range units {
		out[p] = Observed{Product: p, Units: len(u), Unadmitted: len(unadm[p])}
		if n.observed[p] != len(u) {
			n.observed[p] = len(u)
			changed = true
		}
	}
	n.mu.Unlock()
	if changed {
		n.pokePublish()
	}
	return out
}

// ObservedNow returns passive accounting's current counts, per product,
// sorted by product. For fax, Units are FAXStats' sessions and Unadmitted
// those beyond this node's fax leases.
func (n *Node) ObservedNow() []Observed {
	obs := n.recount()
	n.mu.Lock()
	// Products seen before and none now still report, as zero.
	for p := range n.observed {
		if _, ok := obs[p]; !ok {
			obs[p] = Observed{Product: p}
		}
	}
	fp := n.opt.Passive.FaxProduct
	faxOn := n.amiC != nil && !n.opt.Passive.Disabled && fp != "-"
	faxNow := n.faxNow
	n.mu.Unlock()
	if faxOn {
		// FAXStats does not say which channel holds a session: the sessions
		// beyond this node's admitted fax units are the unadmitted ones.
		held := 0
		for _, l := range n.b.Leases() {
			if l.Product == fp {
				held++
			}
		}
		o := obs[fp]
		o.Product, o.Units = fp, max(o.Units, faxNow)
		o.Unadmitted = max(0, o.Units-held)
		obs[fp] = o
	}
	out := make([]Observed, 0, len(obs))
	for _, o := range obs {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Observed) int { return strings.Compare(a.Product, b.Product) })
	return out
}

func (n *Node) pokePublish() {
	select {
	case n.pubSig <- struct{}{}:
	default:
	}
}

func (n *Node) pokeFax() {
	select {
	case n.faxSig <- struct{}{}:
	default:
	}
}

// publishLoop writes the latest observed counts to the store, off the event
// path so that a slow store never holds AMI events back.
func (n *Node) publishLoop(ctx context.Context) error {
	published := map[string]int{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.pubSig:
		}
		n.mu.Lock()
		want := make(map[string]int, len(n.observed))
		for p, v := range n.observed {
			want[p] = v
		}
		n.mu.Unlock()
		for p, v := range want {
			if published[p] == v {
				if _, ok := published[p]; ok {
					continue
				}
			}
			pctx, cancel := context.WithTimeout(ctx, bridge.DefaultSyncTimeout)
			err := n.b.PublishObserved(pctx, p, v)
			cancel()
			if err != nil {
				n.log.Warn("publishing observed usage", "product", p, "err", err)
				continue
			}
			published[p] = v
		}
	}
}

// faxRecheck is how often FAXStats is read again while sessions are up: a
// session's end can reach FAXStats after its ReceiveFAX/SendFAX event and the
// channel's hangup, so the read those events trigger may still count it.
const faxRecheck = 2 * time.Second

// faxLoop reads FAXStats when fax events come, every faxRecheck while sessions
// are up, and with every reconcile period: CurrentSessions is Asterisk's own
// live fax count.
func (n *Node) faxLoop(ctx context.Context) error {
	every := n.opt.ReconcileEvery
	if every <= 0 {
		every = DefaultReconcileEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	recheck := time.NewTimer(faxRecheck)
	recheck.Stop()
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.faxSig:
		case <-t.C:
		case <-recheck.C:
		}
		if !n.amiC.Connected() {
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, bridge.DefaultSyncTimeout)
		st, err := n.amiC.FAXStats(fctx)
		cancel()
		if err != nil {
			n.log.Debug("reading FAXStats", "err", err)
			recheck.Reset(faxRecheck)
			continue
		}
		n.mu.Lock()
		// Sessions seen on channels count too, should FAXStats lag behind.
		live := 0
		for _, c := range n.chans {
			if c.fax {
				live++
			}
		}
		v := max(st.CurrentSessions, live)
		changed := n.faxNow != v || n.observed[n.opt.Passive.FaxProduct] != v
		n.faxNow = v
		n.observed[n.opt.Passive.FaxProduct] = v
		n.mu.Unlock()
		if v > 0 {
			recheck.Reset(faxRecheck)
		}
		if changed {
			n.log.Info("fax sessions observed", "product", n.opt.Passive.FaxProduct, "sessions", v)
			n.pokePublish()
		}
	}
}
