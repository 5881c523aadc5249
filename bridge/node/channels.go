package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/ami/proto"
	"github.com/licbridge/licbridge/bridge"
)

// stateUp is Asterisk's channel state number for an answered channel.
const stateUp = 6

// channel is one live channel as AMI reports it.
type channel struct {
	Uniqueid, Linkedid, Name string
	State                    int
	// checked: CHANNEL(audionativeformat) was read (or is being read).
	checked bool
	// native is the licensed product its native format uses, "" for none.
	native string
	// product is the licensed product it is counted for: native, when that
	// codec is translated (see checkCodec); "" for none.
	product string
	// fax: a fax session is running on it (FAXStatus seen, no ReceiveFAX/SendFAX yet).
	fax bool
	// replaces: the halves of a Local channel pair that Asterisk is
	// optimising away with this channel moving into their place
	// (LocalOptimizationBegin named it as the source), until the swap or
	// LocalOptimizationEnd.
	replaces []string
}

// consume reads AMI events until the stream closes or ctx ends.
func (n *Node) consume(ctx context.Context) error {
	events := n.amiC.Events()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			n.handle(ctx, ev)
		}
	}
}

// handle applies one AMI event to the channel table and the holdings.
func (n *Node) handle(ctx context.Context, ev ami.Event) {
	switch e := ev.(type) {
	case *ami.Newchannel:
		n.upsert(ctx, e.ChannelFields)
	case *ami.Newstate:
		n.upsert(ctx, e.ChannelFields)
	case *ami.Hangup:
		n.gone(ctx, e.Uniqueid)
	case *ami.OtherEvent:
		switch e.EventName() {
		case "LocalOptimizationBegin":
			n.localOptimizing(e)
		case "LocalOptimizationEnd":
			n.localOptimized(e)
		}
	case *ami.BridgeEnter:
		if swap := e.Get("SwapUniqueid"); swap != "" {
			n.swapped(ctx, e.Uniqueid, swap)
		}
		// Joining a bridge sets the formats Asterisk reads and writes the
		// channel in: a licensed codec may now be translated (or not).
		n.mu.Lock()
		c := n.chans[e.Uniqueid]
		again := c != nil && c.native != "" && !n.opt.Passive.Disabled
		n.mu.Unlock()
		if again {
			n.checkCodec(ctx, e.Uniqueid, e.Channel)
		}
	case *ami.FAXStatus:
		n.mu.Lock()
		if c := n.chans[e.Uniqueid]; c != nil {
			c.fax = true
		}
		n.mu.Unlock()
		n.pokeFax()
	case *ami.ReceiveFAX:
		n.faxEnded(e.Uniqueid)
	case *ami.SendFAX:
		n.faxEnded(e.Uniqueid)
	}
}

// localOptimizing notes a Local channel pair that Asterisk starts to
// optimise away (LocalOptimizationBegin): the source channel is about to
// take the place of the pair in the call.
func (n *Node) localOptimizing(e *ami.OtherEvent) {
	src := e.Get("SourceUniqueid")
	one, two := e.Get("LocalOneUniqueid"), e.Get("LocalTwoUniqueid")
	if src == "" || one == "" || two == "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.chans[src]
	if c == nil {
		c = &channel{Uniqueid: src, Name: e.Get("SourceChannel"), Linkedid: e.Get("SourceLinkedid")}
		n.chans[src] = c
	}
	c.replaces = []string{one, two}
}

// localOptimized forgets an optimisation that ended without the swap (the
// swap itself is the BridgeEnter with SwapUniqueid, see swapped).
// Asterisk 22 reports "Success: No" even for an optimisation that swapped, so
// the event's verdict is not what decides.
func (n *Node) localOptimized(e *ami.OtherEvent) {
	one, two := e.Get("LocalOneUniqueid"), e.Get("LocalTwoUniqueid")
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.chans {
		if len(c.replaces) == 2 && c.replaces[0] == one && c.replaces[1] == two {
			c.replaces = nil
		}
	}
}

// swapped follows a channel that entered a bridge in place of another
// (BridgeEnter with SwapUniqueid). When it is the source of a Local channel
// optimisation, both halves of the pair are about to hang up while the call
// goes on through this channel: the licences they hold move to it, so that
// the call stays counted and is released when this channel hangs up.
func (n *Node) swapped(ctx context.Context, uid, swap string) {
	n.mu.Lock()
	c := n.chans[uid]
	var halves []string
	name := ""
	if c != nil && slices.Contains(c.replaces, swap) {
		halves, c.replaces, name = c.replaces, nil, c.Name
	}
	n.mu.Unlock()
	moved := 0
	for _, h := range halves {
		if k := n.b.Move(ctx, h, uid); k > 0 {
			moved += k
			n.log.Info("Local channel optimised away: its licence follows the call", "from", h, "to", uid, "leases", k)
		}
	}
	if moved > 0 && n.amiC != nil {
		n.markLeases(ctx, uid, name)
	}
}

// markLeases sets LICBRIDGE_LEASE on a channel that leases moved to, naming
// every lease it now holds: a restarted node reads it back (leasesOf) and
// keeps counting the call.
func (n *Node) markLeases(ctx context.Context, uid, name string) {
	var v []string
	for _, l := range n.b.Leases() {
		if l.Channel == uid {
			v = append(v, l.ID)
		}
	}
	slices.Sort(v)
	sctx, cancel := context.WithTimeout(ctx, n.b.SyncTimeout())
	defer cancel()
	if err := n.amiC.Setvar(sctx, name, "LICBRIDGE_LEASE", strings.Join(v, ",")); err != nil {
		n.log.Warn("could not name the moved licence on its new channel; a restart before it hangs up forgets it", "channel", name, "err", err)
	}
}

func (n *Node) faxEnded(uid string) {
	n.mu.Lock()
	if c := n.chans[uid]; c != nil {
		c.fax = false
	}
	n.mu.Unlock()
	n.pokeFax()
}

// upsert records a channel's snapshot and, once it is up, has its codec read.
func (n *Node) upsert(ctx context.Context, f ami.ChannelFields) {
	if f.Uniqueid == "" {
		return
	}
	n.mu.Lock()
	c := n.chans[f.Uniqueid]
	if c == nil {
		c = &channel{Uniqueid: f.Uniqueid}
		n.chans[f.Uniqueid] = c
	}
	c.Name, c.State = f.Channel, f.ChannelState
	if f.Linkedid != "" {
		c.Linkedid = f.Linkedid
	}
	check := n.wantCodec(c)
	n.mu.Unlock()
	if check {
		n.checkCodec(ctx, f.Uniqueid, f.Channel)
	}
}

// wantCodec marks c as checked when its codec should be read now. n.mu held.
func (n *Node) wantCodec(c *channel) bool {
	if n.opt.Passive.Disabled || c.checked || c.State != stateUp || len(n.opt.Passive.Codecs) == 0 {
		return false
	}
	c.checked = true
	return true
}

// gone releases everything a channel held: Asterisk says it no longer exists.
func (n *Node) gone(ctx context.Context, uid string) {
	if uid == "" {
		return
	}
	n.mu.Lock()
	c := n.chans[uid]
	delete(n.chans, uid)
	delete(n.recent, uid)
	n.rememberHungupLocked(uid)
	observed := c != nil && (c.product != "" || c.fax)
	n.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, n.b.SyncTimeout())
	defer cancel()
	if k := n.b.Release(rctx, uid); k > 0 {
		n.log.Debug("released on hangup", "channel", uid, "leases", k)
	}
	if observed {
		n.recount()
		if c.fax {
			n.pokeFax()
		}
	}
}

// hungupMemory is how long a hung-up channel is remembered: an admission of
// it that was still in flight when the hangup came is released at once.
const hungupMemory = 2 * time.Minute

// rememberHungupLocked notes that uid hung up (n.mu held), forgetting old
// entries as it goes so that the set stays small.
func (n *Node) rememberHungupLocked(uid string) {
	now := time.Now()
	n.hungup[uid] = now
	if len(n.hungup) > 1024 {
		for ch, at := range n.hungup {
			if now.Sub(at) > hungupMemory {
				delete(n.hungup, ch)
			}
		}
	}
}

// hungUp reports whether uid hung up lately.
func (n *Node) hungUp(uid string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	at, ok := n.hungup[uid]
	return ok && time.Since(at) <= hungupMemory
}

// ReconcileReport says what the last reconciliation found.
type ReconcileReport struct {
	At       time.Time
	Live     int
	Released int
	Asserted int
	Err      string
}

// LastReconcile returns the last reconciliation's report, nil before the first.
func (n *Node) LastReconcile() *ReconcileReport { return n.lastRec.Load() }

// Reconciles counts reconciliations so far (tests wait on it).
func (n *Node) Reconciles() int64 { return n.reconcile.Load() }

// AMIConnects counts AMI logins so far.
func (n *Node) AMIConnects() int64 { return n.connects.Load() }

// onAMIConnect resynchronises after every login: events may have been missed.
func (n *Node) onAMIConnect(ctx context.Context, info ami.ConnectInfo) error {
	if info.Resync {
		n.log.Warn("AMI events were dropped; reconciling with CoreShowChannels", "dropped", info.Dropped)
	} else {
		n.connects.Add(1)
		n.log.Info("AMI connected; reconciling with CoreShowChannels", "connects", info.Connects)
	}
	if !info.Resync {
		n.checkAMIPermissions(ctx, info.Client)
	}
	_, err := n.reconcileAMI(ctx, info.Client, info.Connects == 1 && !info.Resync)
	if err != nil {
		// A failed resync must not cost the connection: the periodic run retries.
		n.log.Warn("reconcile after AMI connect", "err", err)
	}
	if err == nil || errors.Is(err, bridge.ErrStoreUnavailable) {
		// Asterisk's channels are read (the store gets them when it is back).
		n.asteriskSynced()
	}
	n.pokeFax()
	return nil
}

func (n *Node) reconcileLoop(ctx context.Context) error {
	t := time.NewTicker(n.opt.ReconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var err error
		switch {
		case n.amiC != nil && n.amiC.Connected():
			_, err = n.reconcileAMI(ctx, n.amiC, false)
		case n.amiC == nil && n.ariApp != nil && n.ariApp.Health().Connected:
			_, err = n.reconcileARI(ctx)
		default:
			continue
		}
		if err != nil {
			n.log.Warn("periodic reconcile", "err", err)
		}
	}
}

// reconcileAMI makes the holdings match CoreShowChannels. first: the node has
// just started, so live channels it holds nothing for are asked for the lease
// an earlier run gave them (LICBRIDGE_LEASE) and re-asserted.
func (n *Node) reconcileAMI(ctx context.Context, c *ami.Client, first bool) (bridge.ReconcileResult, error) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, n.b.SyncTimeout())
	defer cancel()
	list, err := c.CoreShowChannels(cctx)
	if err != nil {
		n.recordReconcile(start, 0, bridge.ReconcileResult{}, err)
		return bridge.ReconcileResult{}, err
	}
	held := map[string]bool{}
	for _, l := range n.b.Leases() {
		held[l.Channel] = true
	}
	var holds []bridge.Hold
	var ask []*ami.CoreShowChannel
	var check [][2]string
	n.mu.Lock()
	fresh := make(map[string]*channel, len(list))
	for _, ch := range list {
		old := n.chans[ch.Uniqueid]
		if old == nil {
			old = &channel{Uniqueid: ch.Uniqueid}
			if first && !held[ch.Uniqueid] {
				ask = append(ask, ch)
			}
		}
		old.Name, old.State, old.Linkedid = ch.Channel, ch.ChannelState, ch.Linkedid
		if n.wantCodec(old) {
			check = append(check, [2]string{ch.Uniqueid, ch.Channel})
		}
		fresh[ch.Uniqueid] = old
		holds = append(holds, bridge.Hold{Channel: ch.Uniqueid, Call: ch.Linkedid})
	}
	// Channels admitted since the list was asked for are live even if the list
	// missed them.
	for ch, at := range n.recent {
		if !at.Before(start) {
			if _, ok := fresh[ch]; !ok {
				holds = append(holds, bridge.Hold{Channel: ch})
			}
		} else if _, ok := fresh[ch]; !ok {
			delete(n.recent, ch)
		}
	}
	n.chans = fresh
	n.mu.Unlock()

	holds = append(holds, n.leasesOf(cctx, c, ask)...)
	res, err := n.b.Reconcile(cctx, holds)
	n.recordReconcile(start, len(list), res, err)
	for _, ck := range check {
		n.checkCodec(ctx, ck[0], ck[1])
	}
	n.recount()
	return res, err
}

// leasesOf reads LICBRIDGE_LEASE of channels the node holds nothing for, and
// returns holds that re-assert the leases they name (a restarted node's live
// calls).
func (n *Node) leasesOf(ctx context.Context, c *ami.Client, chs []*ami.CoreShowChannel) []bridge.Hold {
	live := make([]leaseChannel, len(chs))
	for i, ch := range chs {
		live[i] = leaseChannel{ref: ch.Channel, id: ch.Uniqueid, call: ch.Linkedid}
	}
	return readLeases(ctx, live, func(ctx context.Context, ref string) (string, error) {
		return c.Getvar(ctx, ref, "LICBRIDGE_LEASE")
	})
}

// leaseChannel is a live channel whose LICBRIDGE_LEASE is to be read: ref is
// how the protocol names it (AMI: its name; ARI: its ID), id its Uniqueid.
type leaseChannel struct{ ref, id, call string }

// readLeases reads LICBRIDGE_LEASE of each channel (8 at once) with get and
// returns holds that re-assert the leases they name for that very channel.
func readLeases(ctx context.Context, chs []leaseChannel, get func(ctx context.Context, ref string) (string, error)) []bridge.Hold {
	out := make(chan []bridge.Hold, len(chs))
	sem := make(chan struct{}, 8)
	for _, ch := range chs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			v, err := get(ctx, ch.ref)
			if err != nil {
				out <- nil
				return
			}
			var hs []bridge.Hold
			for _, one := range strings.Split(v, ",") {
				if p, chID, ok := parseLease(strings.TrimSpace(one)); ok && chID == ch.id {
					hs = append(hs, bridge.Hold{Product: p, Channel: ch.id, Call: ch.call})
				}
			}
			out <- hs
		}()
	}
	var holds []bridge.Hold
	for range chs {
		holds = append(holds, <-out...)
	}
	return holds
}

// reconcileARI is the reconciliation of a node without AMI: ARI's channel list
// is the truth.
func (n *Node) reconcileARI(ctx context.Context) (bridge.ReconcileResult, error) {
	return n.reconcileARIFirst(ctx, false)
}

// reconcileARIFirst is reconcileARI; first: the node has just started, so
// live channels it holds nothing for are asked over ARI for the lease an
// earlier run gave them (LICBRIDGE_LEASE), as the AMI reconcile does.
func (n *Node) reconcileARIFirst(ctx context.Context, first bool) (bridge.ReconcileResult, error) {
	if n.ariApp == nil {
		return bridge.ReconcileResult{}, errNoAsterisk
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, n.b.SyncTimeout())
	defer cancel()
	list, err := n.ariApp.Client().Channels(cctx)
	if err != nil {
		n.recordReconcile(start, 0, bridge.ReconcileResult{}, err)
		return bridge.ReconcileResult{}, err
	}
	live := map[string]bool{}
	var holds []bridge.Hold
	held := map[string]bool{}
	if first {
		for _, l := range n.b.Leases() {
			held[l.Channel] = true
		}
	}
	var ask []string
	for _, ch := range list {
		live[ch.ID] = true
		holds = append(holds, bridge.Hold{Channel: ch.ID})
		if first && !held[ch.ID] {
			ask = append(ask, ch.ID)
		}
	}
	holds = append(holds, n.ariLeasesOf(cctx, ask)...)
	n.mu.Lock()
	for ch, at := range n.recent {
		switch {
		case !at.Before(start) && !live[ch]:
			holds = append(holds, bridge.Hold{Channel: ch})
		case at.Before(start) && !live[ch]:
			delete(n.recent, ch)
		}
	}
	n.mu.Unlock()
	res, err := n.b.Reconcile(cctx, holds)
	n.recordReconcile(start, len(list), res, err)
	return res, err
}

// ariLeasesOf reads LICBRIDGE_LEASE of the given channels over ARI and
// returns holds that re-assert the leases they name.
func (n *Node) ariLeasesOf(ctx context.Context, ids []string) []bridge.Hold {
	live := make([]leaseChannel, len(ids))
	for i, id := range ids {
		live[i] = leaseChannel{ref: id, id: id}
	}
	return readLeases(ctx, live, func(ctx context.Context, id string) (string, error) {
		return n.ariApp.Client().Variable(ctx, id, "LICBRIDGE_LEASE")
	})
}

func (n *Node) recordReconcile(at time.Time, live int, res bridge.ReconcileResult, err error) {
	r := &ReconcileReport{At: at, Live: live, Released: res.Released, Asserted: res.Asserted}
	if err != nil {
		r.Err = err.Error()
	}
	n.lastRec.Store(r)
	n.reconcile.Add(1)
	if res.Released > 0 || res.Asserted > 0 || err != nil {
		n.log.Info("reconciled with Asterisk", "live", live, "released", res.Released, "asserted", res.Asserted, "err", errString(err))
	} else {
		n.log.Debug("reconciled with Asterisk", "live", live)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Reconcile runs one reconciliation now (AMI if configured and connected,
// else ARI).
func (n *Node) Reconcile(ctx context.Context) (bridge.ReconcileResult, error) {
	if n.amiC != nil {
		if !n.amiC.Connected() {
			return bridge.ReconcileResult{}, ami.ErrNotConnected
		}
		return n.reconcileAMI(ctx, n.amiC, false)
	}
	if n.ariApp != nil {
		return n.reconcileARI(ctx)
	}
	return bridge.ReconcileResult{}, errNoAsterisk
}

// amiNeeds are the actions the node sends, each probed harmlessly at connect,
// with the manager.conf class that allows it (Asterisk 22: Getvar and
// FAXSessions need call; Hangup call or system; CoreShowChannels system or
// reporting).
var amiNeeds = []struct {
	action, class string
	fields        []proto.Field
	fax           bool // only needed for passive fax accounting
}{
	{"CoreShowChannels", "system", nil, false},
	{"Getvar", "call", []proto.Field{{Key: "Variable", Value: "LICBRIDGE_PERMISSION_CHECK"}}, false},
	// A channel that cannot exist: allowed answers "No such channel".
	{"Hangup", "call", []proto.Field{{Key: "Channel", Value: "licbridge/permission-check"}}, false},
	{"FAXSessions", "call", nil, true},
}

// checkAMIPermissions runs each action the node needs once and records the
// ones Asterisk refuses (Permission denied: a class missing from the AMI
// user's write list), so that /readyz shows it instead of a silently idle
// feature.
func (n *Node) checkAMIPermissions(ctx context.Context, c *ami.Client) {
	faxOn := !n.opt.Passive.Disabled && n.opt.Passive.FaxProduct != "-"
	var missing []string
	for _, a := range amiNeeds {
		if a.fax && !faxOn {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, n.b.SyncTimeout())
		_, err := c.Action(actx, a.action, a.fields...)
		cancel()
		var ae *ami.ActionError
		if errors.As(err, &ae) && strings.EqualFold(ae.Message, "Permission denied") {
			n.log.Warn("the AMI user may not run an action licbridge needs; add the class to its write list in manager.conf",
				"action", a.action, "missing_class", a.class)
			missing = append(missing, a.action+" (class "+a.class+")")
		}
	}
	problem := ""
	if len(missing) > 0 {
		problem = "permission denied: " + strings.Join(missing, ", ")
	}
	n.mu.Lock()
	n.amiProblem = problem
	n.mu.Unlock()
}

// AMIPermissionProblem says which needed AMI actions the last connect found
// refused, "" when none.
func (n *Node) AMIPermissionProblem() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.amiProblem
}
