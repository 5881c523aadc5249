package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/licbridge/licbridge/ami"
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

// checkCodec reads a channel's audio formats (once it is up, and again when it
// enters a bridge) and counts the channel as observed usage of a licensed
// codec only when that codec is translated: G.729 passthrough (both sides
// speak it, a native_rtp or simple bridge moves the frames untouched) needs no
// licence, so it is never counted and never hung up. See translated.
func (n *Node) checkCodec(ctx context.Context, uid, name string) {
	go func() {
		select {
		case n.codecSem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-n.codecSem }()
		gctx, cancel := context.WithTimeout(ctx, n.b.SyncTimeout())
		defer cancel()
		f, err := n.readFormats(gctx, name)
		if err != nil {
			n.log.Debug("reading the channel's formats", "channel", name, "err", err)
			n.mu.Lock()
			if c := n.chans[uid]; c != nil {
				c.checked = false // try again on the next state change or reconcile
			}
			n.mu.Unlock()
			return
		}
		native := n.productOfFormat(f.native)
		product := ""
		if native != "" && n.translated(native, f) {
			product = native
		}
		n.mu.Lock()
		c := n.chans[uid]
		changed := false
		if c != nil {
			c.native = native
			changed = c.product != product
			c.product = product
		}
		n.mu.Unlock()
		// Logged once the decision is stored: tests wait on this line.
		n.log.Debug("native format", "channel", name, "format", f.native, "read", f.read, "write", f.write,
			"peer", f.peer, "peer_format", f.peerNative, "product", product)
		if c == nil || !changed && product == "" {
			return // hung up meanwhile, or nothing to count
		}
		obs := n.recount()
		if product != "" && n.opt.Passive.HangupOverLimit {
			n.enforce(ctx, uid, name, product, obs)
		}
	}()
}

// formats are what Asterisk says about a channel's audio: its native format,
// the formats the core reads and writes it in, and its bridged peer's native
// format ("" when it is not bridged).
type formats struct {
	native, read, write string
	peer, peerNative    string
}

// readFormats asks Asterisk for a channel's formats. The read and write
// formats and the peer are only asked for when the native format is licensed.
func (n *Node) readFormats(ctx context.Context, name string) (formats, error) {
	var f formats
	var err error
	if f.native, err = n.amiC.Getvar(ctx, name, "CHANNEL(audionativeformat)"); err != nil {
		return f, fmt.Errorf("reading CHANNEL(audionativeformat): %w", err)
	}
	if n.productOfFormat(f.native) == "" {
		return f, nil
	}
	if f.read, err = n.amiC.Getvar(ctx, name, "CHANNEL(audioreadformat)"); err != nil {
		return f, fmt.Errorf("reading CHANNEL(audioreadformat): %w", err)
	}
	if f.write, err = n.amiC.Getvar(ctx, name, "CHANNEL(audiowriteformat)"); err != nil {
		return f, fmt.Errorf("reading CHANNEL(audiowriteformat): %w", err)
	}
	if f.peer, err = n.amiC.Getvar(ctx, name, "BRIDGEPEER"); err != nil {
		return f, fmt.Errorf("reading BRIDGEPEER: %w", err)
	}
	// BRIDGEPEER names one channel in a two-party bridge; with more it is a
	// comma list, and a conference mixes (translates) anyway.
	if f.peer != "" && !strings.Contains(f.peer, ",") {
		// A peer that hung up meanwhile says nothing: the bridge is gone.
		f.peerNative, _ = n.amiC.Getvar(ctx, f.peer, "CHANNEL(audionativeformat)")
	}
	return f, nil
}

// translated reports whether a channel whose native format is licensed as
// product has that codec on one side of a translation path: Asterisk reads or
// writes it in another format, or its bridged peer speaks none of the
// product's codecs. An Asterisk that answers neither read nor write format
// (empty values) is taken to translate, as before these were read.
func (n *Node) translated(product string, f formats) bool {
	if f.read == "" && f.write == "" {
		return true
	}
	if !n.hasProduct(f.read, product) || !n.hasProduct(f.write, product) {
		return true
	}
	return f.peerNative != "" && !n.hasProduct(f.peerNative, product)
}

// hasProduct reports whether a format list ("g729", "(g729|ulaw)") names a
// codec licensed as product.
func (n *Node) hasProduct(v, product string) bool {
	for _, f := range formatNames(v) {
		if p, ok := n.opt.Passive.Codecs[strings.ToLower(f)]; ok && p == product {
			return true
		}
	}
	return false
}

func formatNames(v string) []string {
	v = strings.Trim(strings.TrimSpace(v), "()")
	return strings.FieldsFunc(v, func(r rune) bool { return r == '|' || r == ',' || r == ' ' })
}

// productOfFormat maps "(g729)" or "(g729|ulaw)" to a licensed product.
func (n *Node) productOfFormat(v string) string {
	for _, f := range formatNames(v) {
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
	uctx, cancel := context.WithTimeout(ctx, n.b.SyncTimeout())
	defer cancel()
	// Only this product's totals: this runs for every unadmitted channel seen.
	t, err := n.b.Totals(uctx, product)
	if err != nil {
		n.log.Warn("over-limit check of an observed channel", "channel", name, "err", err)
		return
	}
	if !t.Known || t.InUse+obs[product].Unadmitted <= t.Total {
		return // a product the store has no state for has no total to go beyond
	}
	n.log.Warn("hanging up an unadmitted channel over the licensed total", "channel", name, "product", product,
		"in_use", t.InUse, "unadmitted", obs[product].Unadmitted, "total", t.Total)
	if err := n.amiC.Hangup(uctx, name, n.opt.Passive.HangupCause); err != nil {
		n.log.Warn("hanging up an over-limit channel", "channel", name, "err", err)
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
		if n.b.CountingOf(c.product) == bridge.CountCall && c.Linkedid != "" {
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
// sorted by product. For fax, Units are FAXSessions' live sessions and Unadmitted
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
		// The count does not say which channel holds a session: the sessions
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
			pctx, cancel := context.WithTimeout(ctx, n.b.SyncTimeout())
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

// faxRecheck is how often FAXSessions is read again while sessions are up: a
// session's end can reach FAXSessions after its ReceiveFAX/SendFAX event and the
// channel's hangup, so the read those events trigger may still count it.
const faxRecheck = 2 * time.Second

// faxLoop reads FAXSessions when fax events come, every faxRecheck while sessions
// are up, and with every reconcile period: its list is Asterisk's own live
// fax sessions.
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
		fctx, cancel := context.WithTimeout(ctx, n.b.SyncTimeout())
		// FAXSessions, not FAXStats: it needs only the call class.
		ss, err := n.amiC.FAXSessions(fctx)
		cancel()
		if err != nil {
			n.log.Debug("reading FAXSessions", "err", err)
			recheck.Reset(faxRecheck)
			continue
		}
		sessions := ami.FAXLiveSessions(ss)
		n.mu.Lock()
		// Sessions seen on channels count too, should FAXSessions lag behind.
		live := 0
		for _, c := range n.chans {
			if c.fax {
				live++
			}
		}
		v := max(sessions, live)
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
