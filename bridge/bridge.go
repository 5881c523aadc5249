// Package bridge is licbridge's admission core: it admits or refuses each
// licensed channel against the stacked, cluster-wide total kept in a shared
// Store, releases and reconciles holdings, keeps the node live with heartbeats
// so that a dead node's holdings lapse by themselves, and follows the outage
// policy (fail-open with a local journal, or fail-closed) when the store does
// not answer within its deadline.
//
// A Bridge serves one node. Protocol packages (ami, ari, dialplan) reach it
// through small interfaces of their own; Admit, Release and Reconcile are safe
// for concurrent use. Run must be running for heartbeats and for recovery
// after a store outage.
//
// Data model (both stores): per product, a set of live nodes each with an
// expiry time stamped from the node's own clock; per node, its channels (each
// mapped to the unit it counts as), its units with reference counts, its
// published keys, its passive (observed) count and its SIP monitor's wire
// count. Only live nodes count, so a node
// that stops heartbeating stops counting at its expiry with nobody acting; the
// next store operation that notices removes its data.
//
// Two counts sit beside the admitted units and never overwrite each other:
// Observed, the channels that use a product without asking for admission
// (passive accounting over AMI, PublishObserved), and Wire, the legs a SIP
// monitor sees in the signalling (PublishWire; WireLegs for all legs). A SIP
// monitor publishes as a node of its own that holds no keys and no channels,
// so that its count lapses when it dies.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options.
const (
	// DefaultDeadline bounds one admission's store call. It is a budget for
	// that call alone: a miss decides that call by the outage policy and never
	// declares an outage by itself. Well inside FastAGI's and ARI's own
	// deadlines, and far above a healthy store's round trip even on a busy
	// machine (a tighter one turned CPU contention into refusals).
	DefaultDeadline = 500 * time.Millisecond
	DefaultLapse    = 15 * time.Second
	// DefaultSyncTimeout bounds calls off the admission path (resync,
	// heartbeat, usage).
	DefaultSyncTimeout = 5 * time.Second
	// DefaultDownAfter is how many store calls in a row must fail (time out)
	// before the store is declared unavailable. A lost connection declares it
	// at once.
	DefaultDownAfter = 3
	// DefaultProbeTimeout bounds the recovery probe: a slow store that still
	// answers is not down.
	DefaultProbeTimeout = 2 * time.Second
)

// BudgetShare and BudgetUnlimited are the special values of
// Options.FailOpenBudget.
const (
	// BudgetShare (the default): without the store a node admits, per product,
	// at most its share of the free headroom it saw at its last good contact
	// (free channels over live nodes), plus the channels it releases itself.
	BudgetShare = 0
	// BudgetUnlimited admits everything without the store (no bound on the
	// overshoot): only by explicit choice.
	BudgetUnlimited = -1
)

// Options configure a Bridge. A zero field means its default.
type Options struct {
	// Store is the shared counter store. Default: a new MemStore (single node).
	Store Store
	// Node names this node in the cluster. Required.
	Node string
	// Pool: PoolCluster (default) or PoolPerHost.
	Pool Pool
	// Enforcement per product. Default ModeHard.
	Enforcement map[string]Mode
	// Counting per product. Default CountChannel.
	Counting map[string]Counting
	// Lock says whether a grace-mode product is locked. Default NeverLocked.
	Lock LockState
	// Observer receives every Event. Default: none.
	Observer Observer
	// Deadline bounds every store call on the admission path; a slower store
	// counts as unavailable for that admission. Default 50 ms.
	Deadline time.Duration
	// Lapse is how long this node's holdings keep counting after its last
	// heartbeat. Default 15 s.
	Lapse time.Duration
	// HeartbeatEvery is the heartbeat period. Default Lapse/3.
	HeartbeatEvery time.Duration
	// SyncTimeout bounds store calls off the admission path. Default 5 s.
	SyncTimeout time.Duration
	// Outage: FailOpen (default) or FailClosed.
	Outage Outage
	// FailOpenBudget bounds, per product, the channels admitted without the
	// store under FailOpen in a product that may not go over its total (hard
	// mode, or a locked grace product): BudgetShare (default), a fixed number
	// N > 0, or BudgetUnlimited.
	FailOpenBudget int
	// DownAfter: store calls that must time out in a row before the store is
	// declared unavailable. Default 3.
	DownAfter int
	// ProbeTimeout bounds the recovery probe. Default 2 s.
	ProbeTimeout time.Duration
	// Instance names this process (host, pid, state dir) in the store's claim
	// on the node ID: one node ID, one process. Empty: no claim is made.
	Instance string
	// Superseded, if set, reports whether the instance holding the node ID is
	// an earlier run of this very process that is known to be dead (same host
	// and state dir, whose lock this process now holds): a restart takes the
	// ID over at once instead of waiting for the old claim to end.
	Superseded func(holder string) bool
	// Known, if set, says which products exist (the catalog, and the products
	// of loaded keys). An admission of any other product is refused
	// NO_LICENSE and creates nothing: no store key, no heartbeat, no event.
	Known func(product string) bool
	// JournalPath is the fail-open journal (JSON lines). Empty: decisions taken
	// without the store are kept in memory only.
	JournalPath string
	// Clock is the time source. Default: the system clock.
	Clock Clock
	// Logger. Default: discard.
	Logger *slog.Logger
}

// Bridge admits channels for one node.
type Bridge struct {
	opt   Options
	store Store
	log   *slog.Logger
	clock Clock

	// syncMu lets admissions and releases (read side) run together and keeps
	// them out while a resync replaces the node's holdings (write side).
	syncMu sync.RWMutex

	mu       sync.Mutex
	leases   map[string]map[string]*Lease // product -> channel -> lease
	keys     map[string][]KeyGrant        // product -> last published keys
	observed map[string]int               // product -> last passive count
	wire     map[string]int               // product -> last published wire legs
	products map[string]bool              // products this node heartbeats
	dirty    map[string]bool              // products whose store copy needs a resync
	room     map[string]*headroom         // product -> what the node may admit without the store
	// undecided: product -> when an admission was last given up on (its
	// script may still run in the store).
	undecided map[string]time.Time
	down      bool      // the store is unavailable
	failures  int       // store calls failed in a row
	answered  time.Time // when the store last answered a call
	journal   *journal
	// journaled: the journal holds entries that the store may not have yet.
	journaled bool

	restoreMu sync.Mutex
	restored  atomic.Bool // the store's record of this node's earlier run was read

	wake chan struct{}
}

// ProductUsage is one product as the cluster sees it now.
type ProductUsage struct {
	Product string
	Pool    Pool
	// Total is the stacked total over distinct live key IDs.
	Total int
	// InUse is the units held over all live nodes.
	InUse int
	// Observed is the channels the live nodes count passively (using the
	// product without asking for admission).
	Observed int
	// Wire is the legs the live nodes' SIP monitors see on the wire. For the
	// pseudo-product WireLegs it is every leg, whatever its codec.
	Wire      int
	Nodes     []NodeUsage
	Conflicts []Conflict
	// Expired: some live node presents a key that has ended.
	Expired bool
}

// NodeUsage is one live node's share of a product.
type NodeUsage struct {
	Node     string
	InUse    int
	Observed int
	Wire     int
	// Total is what the node may spend: its own keys under PoolPerHost, the
	// cluster total otherwise.
	Total int
	Keys  []KeyGrant
}

// Conflict is one key ID presented by several live nodes (a cloned VM, say):
// it counts once.
type Conflict struct {
	KeyID string
	Nodes []string
}

// ErrStoreUnavailable is returned by calls that need the store while it is away.
var ErrStoreUnavailable = errors.New("bridge: store unavailable")

// New builds a Bridge. A journal left by an earlier run (a crash during an
// outage) is read back: its leases are restored and written to the store by
// the first recovery in Run.
func New(opt Options) (*Bridge, error) {
	if opt.Node == "" {
		return nil, errors.New("bridge: node name is required")
	}
	if opt.Store == nil {
		opt.Store = NewMemStore()
	}
	if opt.Pool == "" {
		opt.Pool = PoolCluster
	}
	if opt.Lock == nil {
		opt.Lock = NeverLocked{}
	}
	if opt.Deadline <= 0 {
		opt.Deadline = DefaultDeadline
	}
	if opt.Lapse <= 0 {
		opt.Lapse = DefaultLapse
	}
	if opt.HeartbeatEvery <= 0 {
		opt.HeartbeatEvery = opt.Lapse / 3
	}
	if opt.SyncTimeout <= 0 {
		opt.SyncTimeout = DefaultSyncTimeout
	}
	if opt.Outage == "" {
		opt.Outage = FailOpen
	}
	if opt.DownAfter <= 0 {
		opt.DownAfter = DefaultDownAfter
	}
	if opt.ProbeTimeout <= 0 {
		opt.ProbeTimeout = DefaultProbeTimeout
	}
	if opt.FailOpenBudget < BudgetUnlimited {
		return nil, fmt.Errorf("bridge: fail-open budget %d: want a number of channels, BudgetShare or BudgetUnlimited", opt.FailOpenBudget)
	}
	if opt.Clock == nil {
		opt.Clock = systemClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b := &Bridge{
		opt:       opt,
		store:     opt.Store,
		log:       opt.Logger.With("component", "bridge", "node", opt.Node),
		clock:     opt.Clock,
		leases:    map[string]map[string]*Lease{},
		keys:      map[string][]KeyGrant{},
		observed:  map[string]int{},
		wire:      map[string]int{},
		products:  map[string]bool{},
		dirty:     map[string]bool{},
		room:      map[string]*headroom{},
		undecided: map[string]time.Time{},
		wake:      make(chan struct{}, 1),
	}
	if opt.JournalPath != "" {
		j, entries, err := openJournal(opt.JournalPath, b.log)
		if err != nil {
			return nil, err
		}
		b.journal = j
		if len(entries) > 0 {
			b.replay(entries)
			b.down = true // recover (resync, then truncate the journal) before trusting the store
			b.log.Warn("journal from an earlier run replayed; holdings will be written to the store on recovery",
				"entries", len(entries), "path", opt.JournalPath)
		}
	}
	return b, nil
}

// Close releases the journal file. It does not close the Store, which the
// caller owns.
func (b *Bridge) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.journal != nil {
		return b.journal.close()
	}
	return nil
}

// Known reports whether product may be admitted (Options.Known; every valid
// name when it is not set).
func (b *Bridge) Known(product string) bool {
	if b.opt.Known == nil {
		return licensable(product)
	}
	return licensable(product) && b.opt.Known(product)
}

// Catalog returns Options.Known (nil when every valid name is accepted).
func (b *Bridge) Catalog() func(product string) bool { return b.opt.Known }

// Node returns the node name.
func (b *Bridge) Node() string { return b.opt.Node }

func (b *Bridge) mode(product string) Mode {
	if m := b.opt.Enforcement[product]; m != "" {
		return m
	}
	return ModeHard
}

// unit is what the channel counts as in the store: empty (alone) when
// counting per channel; its call, or itself when it names no call, when
// counting per call (Asterisk's Linkedid is the Uniqueid of the call's first
// channel, so both ways of naming that channel meet on one unit).
func (b *Bridge) unit(product, channel, call string) string {
	if b.opt.Counting[product] != CountCall {
		return ""
	}
	if call != "" {
		return call
	}
	return channel
}

func validate(req Request) error {
	switch {
	case req.Product == WireLegs:
		return fmt.Errorf("product %q: reserved for the SIP monitor's count of all legs", req.Product)
	case !ValidProduct(req.Product):
		return fmt.Errorf("product %q: want 1-32 of a-z 0-9 _ . -", req.Product)
	case req.Channel == "" || len(req.Channel) > 256:
		return fmt.Errorf("channel %q: want 1-256 bytes", req.Channel)
	case len(req.Call) > 256:
		return fmt.Errorf("call %q: longer than 256 bytes", req.Call)
	}
	return nil
}

// Admit decides whether req.Channel may use a license of req.Product now. The
// outcome is a value: Admitted with its Lease, or a Reason. Admitting a
// channel that holds a lease returns that same lease and counts nothing.
//
// The store call has its own budget, Options.Deadline. A call that misses it
// (or fails) is decided by the outage policy, within the fail-open budget;
// it does not declare an outage unless DownAfter calls in a row fail or the
// connection is lost. A caller whose own ctx has ended is answered TIMEOUT
// and admitted nowhere: what the store may have counted for it is undone by
// the next resync, which writes the node's real holdings.
func (b *Bridge) Admit(ctx context.Context, req Request) Result {
	now := b.clock.Now()
	ev := Event{Kind: EventReject, Time: now, Node: b.opt.Node, Product: req.Product, Channel: req.Channel,
		Call: req.Call, Caller: req.Caller, Called: req.Called}
	if err := validate(req); err != nil {
		b.log.Warn("admission refused: bad request", "err", err)
		ev.Reason = ReasonBadRequest
		b.record(ev)
		return Result{Reason: ReasonBadRequest}
	}
	if !b.Known(req.Product) {
		// Invented names must not become products: no store key, no event
		// (an event would give the statistics a product of its own).
		b.log.Debug("admission refused: unknown product", "product", req.Product, "channel", req.Channel)
		return Result{Reason: ReasonNoLicense}
	}
	b.mu.Lock()
	if l := b.leases[req.Product][req.Channel]; l != nil {
		lease := *l
		b.mu.Unlock()
		return Result{Admitted: true, Lease: lease}
	}
	b.products[req.Product] = true
	down := b.down
	b.mu.Unlock()

	mode := b.mode(req.Product)
	locked := mode == ModeGrace && b.opt.Lock.Locked(req.Product)
	op := AdmitOp{
		Node: b.opt.Node, Product: req.Product, Channel: req.Channel,
		Unit: b.unit(req.Product, req.Channel, req.Call),
		Now:  now, Expires: now.Add(b.opt.Lapse), Pool: b.opt.Pool,
		AllowOver: mode == ModeMonitor || (mode == ModeGrace && !locked),
	}
	if !down && !b.restored.Load() {
		rctx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
		if err := b.ensureRestored(rctx); err != nil {
			down = !b.StoreAvailable()
		}
		cancel()
	}
	for {
		if ctx.Err() != nil {
			return b.callerGone(ev)
		}
		if !down {
			rep, lease, err := b.admitOnce(ctx, op, ev.Call)
			if err == nil {
				return b.decided(ev, rep, lease, locked)
			}
			if ctx.Err() != nil {
				return b.callerGone(ev)
			}
			if !errors.Is(err, errBusy) { // a resync that ran long is no failure of the store
				down = b.storeFailed(err)
			}
		}
		actx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
		res, recovered := b.admitWithoutStore(actx, ev, op, down)
		cancel()
		if !recovered {
			return res
		}
		// The store came back while this admission waited for the recovery
		// to finish: ask it after all, with a deadline of its own.
		down = false
	}
}

// admitOnce asks the store, within the admission deadline, and keeps the
// headroom accounts: in flight while it waits, the reply's figures after, and
// an undecided admission when it gives up.
func (b *Bridge) admitOnce(ctx context.Context, op AdmitOp, call string) (AdmitReply, Lease, error) {
	actx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
	defer cancel()
	b.mu.Lock()
	h := b.roomLocked(op.Product)
	h.inflight++
	b.mu.Unlock()
	rep, lease, err := b.admitStore(actx, op, call)
	b.mu.Lock()
	h.inflight--
	switch {
	case err == nil:
		h.saw(rep.InUse, rep.Total, rep.Nodes)
		b.answeredLocked() // under the lock already taken: no second one per admission
	case !errors.Is(err, errBusy):
		// The script may still run, or have run: the store may count a
		// channel that nobody holds until a resync writes the truth. It may
		// also land after that resync: heartbeats resync the product again
		// for a lapse.
		b.dirty[op.Product] = true
		b.undecided[op.Product] = time.Now()
	}
	b.mu.Unlock()
	if err != nil && !errors.Is(err, errBusy) {
		b.poke()
	}
	return rep, lease, err
}

// callerGone answers an admission whose caller stopped waiting: nobody will
// act on the answer, so nothing is admitted.
func (b *Bridge) callerGone(ev Event) Result {
	ev.Reason = ReasonTimeout
	b.record(ev)
	b.log.Warn("admission abandoned: the caller stopped waiting", "product", ev.Product, "channel", ev.Channel)
	return Result{Reason: ReasonTimeout}
}

// errBusy: a resync is writing this node's holdings back, and the admission's
// deadline ended before it finished. The store is not down; this admission
// just does not wait any longer for it.
var errBusy = errors.New("bridge: holdings are being written back")

// rlock takes syncMu's read side, giving up when ctx ends: admissions and
// releases never wait on a resync longer than their deadline.
func (b *Bridge) rlock(ctx context.Context) bool {
	if b.syncMu.TryRLock() {
		return true
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			if b.syncMu.TryRLock() {
				return true
			}
		}
	}
}

// admitStore runs the store's admission and keeps the lease locally before a
// resync (or Reconcile) can look; when the node turns out to have lapsed (its
// holdings dropped) while it still holds leases or keys here, it writes them
// back and decides again.
func (b *Bridge) admitStore(ctx context.Context, op AdmitOp, call string) (AdmitReply, Lease, error) {
	for attempt := 0; ; attempt++ {
		if !b.rlock(ctx) {
			return AdmitReply{}, Lease{}, errBusy
		}
		local := attempt == 0 && b.hasLocal(op.Product)
		op.NoRegister = local
		rep, err := b.store.Admit(ctx, op)
		retry := err == nil && rep.Fresh && local
		var lease Lease
		if err == nil && rep.Admitted && !retry {
			lease = b.keep(op, call, rep.Over, false)
		}
		b.syncMu.RUnlock()
		if !retry {
			return rep, lease, err
		}
		if err := b.resync(ctx, op.Product); err != nil {
			return rep, Lease{}, err
		}
	}
}

// hasLocal reports whether this node has anything of product that the store
// should hold (a lapse drops it).
func (b *Bridge) hasLocal(product string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hasLocalLocked(product)
}

func (b *Bridge) hasLocalLocked(product string) bool {
	_, obs := b.observed[product]
	_, wire := b.wire[product]
	return obs || wire || len(b.leases[product]) > 0 || len(b.keys[product]) > 0
}

func (b *Bridge) decided(ev Event, rep AdmitReply, lease Lease, locked bool) Result {
	ev.InUse, ev.Total, ev.Counted = rep.InUse, rep.Total, true
	if !rep.Admitted {
		ev.Reason = rep.Reason
		if locked && rep.Reason == ReasonOverLimit {
			ev.Reason = ReasonLocked
		}
		b.record(ev)
		return Result{Reason: ev.Reason, InUse: rep.InUse, Total: rep.Total}
	}
	ev.Kind, ev.Over = EventAdmit, lease.Over
	b.record(ev)
	return Result{Admitted: true, Lease: lease, InUse: rep.InUse, Total: rep.Total}
}

// keep records an admitted lease locally (the node's own truth) and returns
// it; a concurrent admission of the same channel keeps the first lease.
func (b *Bridge) keep(op AdmitOp, call string, over, degraded bool) Lease {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.leases[op.Product]
	if m == nil {
		m = map[string]*Lease{}
		b.leases[op.Product] = m
	}
	if l := m[op.Channel]; l != nil {
		return *l
	}
	l := &Lease{ID: op.Product + ":" + op.Channel, Product: op.Product, Channel: op.Channel, Call: call,
		Node: b.opt.Node, Unit: op.Unit, At: op.Now, Over: over, Degraded: degraded}
	m[op.Channel] = l
	return *l
}

// admitWithoutStore applies the outage policy, for a store that is down (or,
// with wasDown false, that did not answer this one call in time). Fail-open
// admits within the fail-open budget (remainingLocked) in a product that may
// not go over its total, and refuses STORE_UNAVAILABLE beyond it. A lease
// kept here is marked dirty so that the next resync writes it to the store,
// and journaled if the store is down. It reports recovered instead when the
// store turns out to be back (a recovery finished meanwhile): the caller then
// asks the store after all.
func (b *Bridge) admitWithoutStore(ctx context.Context, ev Event, op AdmitOp, wasDown bool) (res Result, recovered bool) {
	ev.Degraded = true
	if b.opt.Outage == FailClosed {
		ev.Reason = ReasonStoreUnavailable
		b.record(ev)
		return Result{Reason: ReasonStoreUnavailable}, false
	}
	// Hold off a recovery while the lease is recorded, so that it cannot miss
	// it; if a resync keeps it past the deadline, the dirty mark suffices.
	locked := b.rlock(ctx)
	defer func() {
		if locked {
			b.syncMu.RUnlock()
		}
	}()
	b.mu.Lock()
	if locked && wasDown && !b.down {
		b.mu.Unlock()
		return Result{}, true
	}
	m := b.leases[op.Product]
	if m == nil {
		m = map[string]*Lease{}
		b.leases[op.Product] = m
	}
	if l := m[op.Channel]; l != nil { // a concurrent admission of the channel won
		lease := *l
		b.mu.Unlock()
		return Result{Admitted: true, Lease: lease}, false
	}
	h := b.roomLocked(op.Product)
	left := b.remainingLocked(h)
	if !op.AllowOver && left == 0 {
		// Full at the last good contact: that is the best word there is
		// (the dialplan branches on it); otherwise the budget is spent.
		ev.Reason = ReasonStoreUnavailable
		if h.known && h.free <= 0 {
			ev.Reason = refusal(h.total, false)
			ev.InUse, ev.Total, ev.Counted = h.inUse, h.total, true
		}
		spent := len(h.unsynced)
		b.mu.Unlock()
		b.record(ev)
		b.log.Debug("admission refused without the store", "reason", ev.Reason, "product", op.Product, "channel", op.Channel,
			"admitted_without_store", spent)
		return Result{Reason: ev.Reason}, false
	}
	l := &Lease{ID: op.Product + ":" + op.Channel, Product: op.Product, Channel: op.Channel, Call: ev.Call,
		Node: b.opt.Node, Unit: op.Unit, At: op.Now, Degraded: true}
	m[op.Channel] = l
	h.unsynced[op.Channel] = true
	lease := *l
	b.dirty[op.Product] = true
	// Journaled even when the store is only slow: a crash before the next
	// resync must not forget a channel that was told ADMITTED.
	if b.journal != nil {
		b.appendJournal(journalEntry{Time: op.Now, Op: "admit", Product: op.Product, Channel: op.Channel,
			Call: ev.Call, Unit: op.Unit, Caller: ev.Caller, Called: ev.Called})
		b.journaled = true
	}
	b.mu.Unlock()
	b.poke() // write it to the store soon rather than at the next heartbeat
	ev.Kind = EventAdmit
	b.record(ev)
	return Result{Admitted: true, Lease: lease}, false
}

// Release ends the channel's leases: for the given products, or for every
// product when none is given. It is idempotent and returns how many leases
// ended. A store that cannot be reached is put right by the next resync.
func (b *Bridge) Release(ctx context.Context, channel string, products ...string) int {
	now := b.clock.Now()
	lctx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
	locked := b.rlock(lctx)
	cancel()
	if locked {
		defer b.syncMu.RUnlock()
	}
	b.mu.Lock()
	var gone []*Lease
	var events []Event
	unsynced := map[*Lease]bool{}
	for p, m := range b.leases {
		if len(products) > 0 && !contains(products, p) {
			continue
		}
		if l := m[channel]; l != nil {
			gone = append(gone, l)
			delete(m, channel)
			h := b.roomLocked(p)
			if h.unsynced[channel] {
				delete(h.unsynced, channel) // never reached the store
				unsynced[l] = true
			} else if b.down {
				h.free++ // the node's own unit, provably free again
			}
			events = append(events, b.releasedLocked(l, now, !unsynced[l]))
		}
	}
	down := b.down
	b.mu.Unlock()
	for i, l := range gone {
		ev := events[i]
		if !locked && !down {
			// A resync is running and may have missed this release.
			ev.Degraded = true
			b.setDirty(l.Product)
			b.poke()
		} else if !down {
			cctx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
			err := b.store.Release(cctx, b.opt.Node, l.Product, l.Channel)
			cancel()
			if err != nil {
				// The resync puts the store right; only a run of failures
				// (or a lost connection) is an outage.
				down = b.storeFailed(err)
				ev.Degraded = true
				b.setDirty(l.Product)
				b.poke()
			} else {
				b.storeAnswered()
			}
		}
		if down || unsynced[l] {
			ev.Degraded = ev.Degraded || down
			b.mu.Lock()
			b.dirty[l.Product] = b.dirty[l.Product] || down
			if b.journal != nil {
				b.appendJournal(journalEntry{Time: now, Op: "release", Product: l.Product, Channel: l.Channel})
				b.journaled = true
			}
			b.mu.Unlock()
		}
		b.record(ev)
	}
	return len(gone)
}

// releasedLocked accounts for the end of l, already out of b.leases, and
// returns its release event: the pool's figures as of the last store reply,
// less l's unit when it freed one (synced: the store counted it; with
// counting per call, the call's last channel here frees the unit).
func (b *Bridge) releasedLocked(l *Lease, now time.Time, synced bool) Event {
	h := b.roomLocked(l.Product)
	if synced && h.known && !b.unitHeldLocked(l) {
		h.inUse = max(h.inUse-1, 0)
	}
	return Event{Kind: EventRelease, Time: now, Node: b.opt.Node, Product: l.Product, Channel: l.Channel, Call: l.Call,
		InUse: h.inUse, Total: h.total, Counted: h.known}
}

// unitHeldLocked reports whether another lease of this node still holds l's
// unit (counting per call).
func (b *Bridge) unitHeldLocked(l *Lease) bool {
	if l.Unit == "" {
		return false
	}
	for _, o := range b.leases[l.Product] {
		if o.Unit == l.Unit {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Reconcile makes this node's holdings match what Asterisk reports live: a
// lease whose channel is not in live is released; a Hold naming a product is
// re-asserted (admitted without a check: a live channel is never refused), and
// the resulting overage is recorded and returned. A Hold without a product
// only keeps the channel's existing leases.
func (b *Bridge) Reconcile(ctx context.Context, live []Hold) (ReconcileResult, error) {
	now := b.clock.Now()
	res := ReconcileResult{Over: map[string]int{}}
	alive := map[string]bool{}
	for _, h := range live {
		alive[h.Channel] = true
	}
	restoreErr := b.ensureRestored(ctx)
	b.syncMu.Lock()
	b.mu.Lock()
	touched := map[string]bool{}
	var events []Event
	for p, m := range b.leases {
		for ch, l := range m {
			if !alive[ch] {
				delete(m, ch)
				touched[p] = true
				res.Released++
				events = append(events, b.releasedLocked(l, now, !b.roomLocked(p).unsynced[ch]))
			}
		}
	}
	var bad []error
	for _, h := range live {
		if h.Product == "" {
			continue
		}
		if err := validate(Request{Product: h.Product, Channel: h.Channel, Call: h.Call}); err != nil {
			bad = append(bad, fmt.Errorf("reconcile: %w", err))
			continue
		}
		m := b.leases[h.Product]
		if m == nil {
			m = map[string]*Lease{}
			b.leases[h.Product] = m
		}
		if m[h.Channel] != nil {
			continue
		}
		m[h.Channel] = &Lease{ID: h.Product + ":" + h.Channel, Product: h.Product, Channel: h.Channel, Call: h.Call,
			Node: b.opt.Node, Unit: b.unit(h.Product, h.Channel, h.Call), At: now}
		b.products[h.Product] = true
		touched[h.Product] = true
		res.Asserted++
	}
	// The store copy may differ from ours even where we changed nothing (a
	// restarted node knows nothing of what its previous run held).
	for p := range b.leases {
		touched[p] = true
	}
	for p := range b.products {
		touched[p] = true
	}
	for p := range touched {
		b.dirty[p] = true
		b.products[p] = true
	}
	down := b.down || restoreErr != nil
	b.mu.Unlock()
	// Emitted before syncMu is released, so that no admission or release of
	// these products can report in between.
	for _, ev := range events {
		b.record(ev)
	}
	b.syncMu.Unlock()
	if down {
		return res, errors.Join(append(bad, ErrStoreUnavailable)...)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	all, err := b.store.Products(ctx)
	if err != nil {
		b.markDown(err)
		return res, errors.Join(append(bad, fmt.Errorf("bridge: reconcile: %w", err))...)
	}
	for _, p := range all {
		if !touched[p] {
			touched[p] = true
			b.mu.Lock()
			b.products[p] = true
			b.mu.Unlock()
		}
	}
	for p := range touched {
		rep, err := b.resyncReply(ctx, p)
		if err != nil {
			b.markDown(err)
			return res, errors.Join(append(bad, err)...)
		}
		if rep.InUse > rep.Total {
			res.Over[p] = rep.InUse - rep.Total
		}
	}
	return res, errors.Join(bad...)
}

// resync writes this node's keys and holdings of product to the store.
func (b *Bridge) resync(ctx context.Context, product string) error {
	_, err := b.resyncReply(ctx, product)
	return err
}

func (b *Bridge) resyncReply(ctx context.Context, product string) (SyncReply, error) {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	return b.resyncLocked(ctx, product)
}

// resyncLocked is resyncReply for a caller that holds syncMu.
func (b *Bridge) resyncLocked(ctx context.Context, product string) (rep SyncReply, err error) {
	now := b.clock.Now()
	b.mu.Lock()
	// Clear the mark with the snapshot: a change after it (a lease kept while
	// an admission could not wait for this resync) marks it again.
	delete(b.dirty, product)
	defer func() {
		if err != nil {
			b.setDirty(product)
		}
	}()
	keys := append([]KeyGrant(nil), b.keys[product]...)
	holds := make([]UnitHold, 0, len(b.leases[product]))
	for _, l := range b.leases[product] {
		holds = append(holds, UnitHold{Channel: l.Channel, Unit: l.Unit})
	}
	h := b.roomLocked(product)
	written := make([]string, 0, len(h.unsynced))
	for ch := range h.unsynced {
		written = append(written, ch)
	}
	obs, hasObs := b.observed[product]
	wire, hasWire := b.wire[product]
	b.mu.Unlock()
	exp := now.Add(b.opt.Lapse)
	if _, err := b.store.PublishKeys(ctx, KeysOp{Node: b.opt.Node, Product: product, Keys: keys, Now: now, Expires: exp}); err != nil {
		return SyncReply{}, fmt.Errorf("bridge: resync %s: publish keys: %w", product, err)
	}
	rep, err = b.store.Sync(ctx, SyncOp{Node: b.opt.Node, Product: product, Holds: holds, Now: now, Expires: exp, Pool: b.opt.Pool})
	if err != nil {
		return rep, fmt.Errorf("bridge: resync %s: %w", product, err)
	}
	if hasObs {
		if err := b.store.PublishObserved(ctx, b.opt.Node, product, obs); err != nil {
			return rep, fmt.Errorf("bridge: resync %s: observed: %w", product, err)
		}
	}
	if hasWire {
		if _, err := b.store.PublishWire(ctx, WireOp{Node: b.opt.Node, Product: product, Legs: wire, Now: now, Expires: exp}); err != nil {
			return rep, fmt.Errorf("bridge: resync %s: wire: %w", product, err)
		}
	}
	// The store now holds exactly what this node holds: admissions given up
	// on are undone, and the leases taken without the store are written.
	b.mu.Lock()
	h.saw(rep.InUse, rep.Total, rep.Nodes)
	for _, ch := range written {
		delete(h.unsynced, ch)
	}
	b.mu.Unlock()
	b.record(Event{Kind: EventReconcile, Time: now, Node: b.opt.Node, Product: product,
		InUse: rep.InUse, Total: rep.Total, Counted: true, Over: rep.InUse > rep.Total})
	if rep.InUse > rep.Total {
		b.log.Warn("holdings beyond the total after resync", "product", product, "in_use", rep.InUse, "total", rep.Total,
			"over", rep.InUse-rep.Total, "written_after_admission_without_store", len(written))
	}
	return rep, nil
}

// PublishKeys replaces the keys this node presents (all products at once):
// a product missing from grants has no keys here any more. Grants that are not
// valid are skipped and named in the error; the others are published.
func (b *Bridge) PublishKeys(ctx context.Context, grants []KeyGrant) error {
	by := map[string][]KeyGrant{}
	var bad []error
	for _, g := range grants {
		switch {
		case g.Product == WireLegs:
			bad = append(bad, fmt.Errorf("bridge: key %q: product %q is reserved for the SIP monitor's count of all legs", g.KeyID, g.Product))
		case !ValidProduct(g.Product):
			bad = append(bad, fmt.Errorf("bridge: key %q: product %q is not a valid name", g.KeyID, g.Product))
		case g.KeyID == "":
			bad = append(bad, fmt.Errorf("bridge: a %s key has no key ID", g.Product))
		case g.Channels < 0:
			bad = append(bad, fmt.Errorf("bridge: key %s: %d channels", g.KeyID, g.Channels))
		default:
			by[g.Product] = append(by[g.Product], g)
		}
	}
	restoreErr := b.ensureRestored(ctx)
	b.mu.Lock()
	for p := range b.keys {
		if _, ok := by[p]; !ok {
			by[p] = nil
		}
	}
	for p, ks := range by {
		b.keys[p] = ks
		b.products[p] = true
	}
	down := b.down || restoreErr != nil
	b.mu.Unlock()
	if down {
		b.mu.Lock()
		for p := range by {
			b.dirty[p] = true
		}
		b.mu.Unlock()
		return errors.Join(append(bad, ErrStoreUnavailable)...)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	names := make([]string, 0, len(by))
	for p := range by {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		now := b.clock.Now()
		fresh, err := b.store.PublishKeys(ctx, KeysOp{Node: b.opt.Node, Product: p, Keys: by[p], Now: now, Expires: now.Add(b.opt.Lapse)})
		if err != nil {
			b.markDown(err)
			return errors.Join(append(bad, fmt.Errorf("bridge: publish %s keys: %w", p, err))...)
		}
		// Resync even when nothing was lost: its reply is the headroom that
		// bounds admissions without the store (the fail-open budget).
		if fresh || b.hasLocal(p) {
			if err := b.resync(ctx, p); err != nil {
				b.markDown(err)
				return errors.Join(append(bad, err)...)
			}
		}
		if len(by[p]) > 0 {
			b.warnConflicts(ctx, p, now)
		}
	}
	return errors.Join(bad...)
}

// warnConflicts logs every key of product that this node presents and another
// live node presents too (a cloned VM, say): it counts once. Usage reports
// the same conflicts for the admin views.
func (b *Bridge) warnConflicts(ctx context.Context, product string, now time.Time) {
	snap, err := b.store.Snapshot(ctx, product, now)
	if err != nil {
		return // the conflict will show in Usage; publishing succeeded
	}
	for _, c := range conflicts(snap.Nodes) {
		if contains(c.Nodes, b.opt.Node) {
			b.log.Warn("the same license key is present on several live nodes; it counts once",
				"product", product, "key_id", c.KeyID, "nodes", c.Nodes)
		}
	}
}

// PublishObserved records the node's passive count of product: n channels
// that use it without asking for admission (AMI passive accounting). It is
// kept apart from the SIP monitor's wire count (PublishWire). The observation
// is always reported to the Observer, even when the store is away.
func (b *Bridge) PublishObserved(ctx context.Context, product string, n int) error {
	if !licensable(product) {
		return fmt.Errorf("bridge: observed count: product %q is not a valid name", product)
	}
	b.mu.Lock()
	b.observed[product] = n
	b.products[product] = true
	down := b.down
	b.mu.Unlock()
	b.record(Event{Kind: EventObserved, Time: b.clock.Now(), Node: b.opt.Node, Product: product, InUse: n, Degraded: down})
	if down {
		b.setDirty(product)
		return ErrStoreUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.Deadline)
	defer cancel()
	if err := b.store.PublishObserved(ctx, b.opt.Node, product, n); err != nil {
		b.markDown(err)
		return fmt.Errorf("bridge: publish observed %s: %w", product, err)
	}
	return nil
}

// PublishWire records that this node's SIP monitor sees legs legs of product on
// the wire: "g729" and "fax" for those products, WireLegs for every leg
// whatever its codec. It registers the node live in the store (a monitor
// publishes as a node of its own, which holds no keys and no channels; Run
// keeps it live) and never touches the node's admitted units or its passive
// count. The count is reported to the Observer as EventWire, even when the
// store is away; it is then written back by the recovery.
func (b *Bridge) PublishWire(ctx context.Context, product string, legs int) error {
	if !ValidProduct(product) {
		return fmt.Errorf("bridge: wire count: product %q is not a valid name", product)
	}
	if legs < 0 {
		return fmt.Errorf("bridge: wire count of %s: %d legs", product, legs)
	}
	b.mu.Lock()
	b.wire[product] = legs
	b.products[product] = true
	down := b.down
	b.mu.Unlock()
	now := b.clock.Now()
	b.record(Event{Kind: EventWire, Time: now, Node: b.opt.Node, Product: product, InUse: legs, Degraded: down})
	if down {
		b.setDirty(product)
		return ErrStoreUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	fresh, err := b.store.PublishWire(ctx, WireOp{Node: b.opt.Node, Product: product, Legs: legs, Now: now, Expires: now.Add(b.opt.Lapse)})
	if err != nil {
		b.markDown(err)
		return fmt.Errorf("bridge: publish wire %s: %w", product, err)
	}
	if fresh && b.hasOtherThanWire(product) {
		// The node had lapsed: whatever else it had of product was dropped.
		if err := b.resync(ctx, product); err != nil {
			b.markDown(err)
			return err
		}
	}
	return nil
}

func (b *Bridge) hasOtherThanWire(product string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, obs := b.observed[product]
	return obs || len(b.leases[product]) > 0 || len(b.keys[product]) > 0
}

func (b *Bridge) setDirty(product string) {
	b.mu.Lock()
	b.dirty[product] = true
	b.mu.Unlock()
}

// Usage reports every product as the cluster sees it now.
func (b *Bridge) Usage(ctx context.Context) ([]ProductUsage, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	names, err := b.store.Products(ctx)
	if err != nil {
		return nil, fmt.Errorf("bridge: usage: %w", err)
	}
	now := b.clock.Now()
	out := make([]ProductUsage, 0, len(names))
	for _, p := range names {
		snap, err := b.store.Snapshot(ctx, p, now)
		if err != nil {
			return nil, fmt.Errorf("bridge: usage of %s: %w", p, err)
		}
		out = append(out, Summarize(snap, now, b.opt.Pool))
	}
	return out, nil
}

// Summarize turns a store Snapshot into a ProductUsage under the given pool.
func Summarize(snap Snapshot, now time.Time, pool Pool) ProductUsage {
	if pool == "" {
		pool = PoolCluster
	}
	u := ProductUsage{Product: snap.Product, Pool: pool, Conflicts: conflicts(snap.Nodes)}
	u.Total, u.Expired = capacity(snap.Nodes, now, PoolCluster, "")
	for _, n := range snap.Nodes {
		total := u.Total
		if pool == PoolPerHost {
			total, _ = capacity(snap.Nodes, now, PoolPerHost, n.Node)
		}
		u.Nodes = append(u.Nodes, NodeUsage{Node: n.Node, InUse: n.Units, Observed: n.Observed, Wire: n.Wire, Total: total, Keys: n.Keys})
		u.InUse += n.Units
		u.Observed += n.Observed
		u.Wire += n.Wire
	}
	return u
}

// Leases returns this node's leases, sorted by ID.
func (b *Bridge) Leases() []Lease {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Lease
	for _, m := range b.leases {
		for _, l := range m {
			out = append(out, *l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// StoreAvailable reports whether the store is currently trusted.
func (b *Bridge) StoreAvailable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.down
}

// InSync reports whether the store is available and holds everything this
// node holds (no resync pending).
func (b *Bridge) InSync() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.down && len(b.dirty) == 0
}

func (b *Bridge) record(ev Event) {
	if b.opt.Observer != nil {
		b.opt.Observer.Record(ev)
	}
}

// markDown stops trusting the store until Run has seen it answer again and
// has written this node's holdings back.
func (b *Bridge) markDown(err error) {
	b.mu.Lock()
	was := b.down
	b.down = true
	for p := range b.products {
		b.dirty[p] = true
	}
	b.mu.Unlock()
	if !was {
		b.log.Warn("store unavailable; following the outage policy", "policy", b.opt.Outage, "err", err)
	}
	b.poke()
}

func (b *Bridge) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}
