package bridge

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
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
