package bridge

import (
	"fmt"
	"strconv"
	"time"

	"github.com/licbridge/licbridge/license"
)

// Reason says why an admission was refused. The dialplan branches on its text
// (LICBRIDGE_REASON), so the values are part of the wire contract.
type Reason string

// The rejection reasons. An admitted channel has the empty reason.
const (
	ReasonOK               Reason = ""
	ReasonOverLimit        Reason = "OVER_LIMIT"
	ReasonNoLicense        Reason = "NO_LICENSE"
	ReasonExpired          Reason = "EXPIRED"
	ReasonLocked           Reason = "LOCKED"
	ReasonStoreUnavailable Reason = "STORE_UNAVAILABLE"
	ReasonBadRequest       Reason = "BAD_REQUEST"
	// ReasonTimeout: the caller stopped waiting before a decision; nothing
	// was admitted.
	ReasonTimeout Reason = "TIMEOUT"
)

// Mode is a product's enforcement mode; its one home is package license.
type Mode = license.Mode

// Enforcement modes. The zero value means ModeHard.
const (
	ModeHard    = license.ModeHard    // never admits beyond the stacked total
	ModeGrace   = license.ModeGrace   // admits beyond the total unless the LockState says locked
	ModeMonitor = license.ModeMonitor // never refuses; it only records
)

// Counting says what one license unit is for a product.
type Counting string

// Counting modes. The zero value means CountChannel.
const (
	// CountChannel: every admitted channel (Asterisk Uniqueid) holds one unit.
	CountChannel Counting = "channel"
	// CountCall: the channels of one call (Asterisk Linkedid) on a node hold one
	// unit, freed when the last of them is released.
	CountCall Counting = "call"
)

// Pool says whose keys a node may spend.
type Pool string

// Pools. The zero value means PoolCluster.
const (
	// PoolCluster: one pool per product, the keys of all live nodes stacked
	// (each key ID once).
	PoolCluster Pool = "cluster"
	// PoolPerHost: a node spends only its own keys. A key ID present on several
	// live nodes belongs to the one whose name sorts first.
	PoolPerHost Pool = "per-host"
)

// ParseMode reads an enforcement mode ("" is ModeHard); see license.ParseMode.
func ParseMode(s string) (Mode, error) { return license.ParseMode(s) }

// ParseCounting reads a counting setting ("" is CountChannel).
func ParseCounting(s string) (Counting, error) {
	switch Counting(s) {
	case "", CountChannel:
		return CountChannel, nil
	case CountCall:
		return CountCall, nil
	}
	return "", fmt.Errorf("counting %q: want channel or call", s)
}

// ParsePool reads a pool setting ("" is PoolCluster).
func ParsePool(s string) (Pool, error) {
	switch Pool(s) {
	case "", PoolCluster:
		return PoolCluster, nil
	case PoolPerHost:
		return PoolPerHost, nil
	}
	return "", fmt.Errorf("pool %q: want cluster or per-host", s)
}

// Outage is what admission does while the store cannot answer in time.
type Outage string

// Outage policies. The zero value means FailOpen.
const (
	// FailOpen admits, keeps the lease locally, journals it, and writes the
	// node's holdings back to the store when it returns.
	FailOpen Outage = "fail-open"
	// FailClosed refuses with ReasonStoreUnavailable.
	FailClosed Outage = "fail-closed"
)

// ParseOutage reads an outage setting ("" is FailOpen).
func ParseOutage(s string) (Outage, error) {
	switch Outage(s) {
	case "", FailOpen:
		return FailOpen, nil
	case FailClosed:
		return FailClosed, nil
	}
	return "", fmt.Errorf("outage %q: want fail-open or fail-closed", s)
}

// ParseBudget reads a fail-open budget: "" or "share" (BudgetShare), a
// number of channels (at least 1), or "unlimited" (BudgetUnlimited).
func ParseBudget(s string) (int, error) {
	switch s {
	case "", "share":
		return BudgetShare, nil
	case "unlimited":
		return BudgetUnlimited, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("fail-open budget %q: want share, unlimited or a number of channels (1 or more)", s)
	}
	return n, nil
}

// KeyGrant is one valid license key as a node publishes it: the daemon converts
// its verified license files to these, so that the core does not depend on the
// license format.
type KeyGrant struct {
	KeyID    string
	Product  string
	Channels int
	// Until is when the key stops counting (its end date plus any renewal
	// grace). Zero: no end.
	Until time.Time
}

// Request asks to admit one channel for one product.
type Request struct {
	// Product is the licensed product (g729, hpec, fax, ...). Required.
	Product string
	// Channel is the Asterisk Uniqueid. Required.
	Channel string
	// Call is the Asterisk Linkedid; with CountCall, channels sharing it hold one unit.
	Call string
	// Caller and Called are recorded for statistics only.
	Caller, Called string
}

// Lease is an admitted channel.
type Lease struct {
	// ID names the lease: product and channel, so the same channel admitted
	// twice gets the same ID.
	ID      string
	Product string
	Channel string
	Call    string
	Node    string
	// Unit is the call whose one unit the channel shares under CountCall;
	// empty when the channel counts alone.
	Unit string
	// At is when it was first admitted.
	At time.Time
	// Over: admitted beyond the total (grace or monitor mode, or a re-assertion).
	Over bool
	// Degraded: admitted while the store was unavailable (fail-open).
	Degraded bool
}

// Result is the outcome of an admission: a lease, or a refusal with its reason.
type Result struct {
	Admitted bool
	Reason   Reason
	Lease    Lease
	// InUse and Total are the counts the store decided on (zero when it was not asked).
	InUse, Total int
}

// Hold is a channel that Asterisk reports live, for Reconcile.
type Hold struct {
	// Product: re-assert this channel for this product. Empty: the channel is
	// live; keep whatever leases it has.
	Product string
	Channel string
	Call    string
}

// ReconcileResult says what Reconcile changed.
type ReconcileResult struct {
	Released int
	Asserted int
	// Over is, per product, how far the node's pool stood beyond its total after
	// re-assertion (re-asserted channels are never refused).
	Over map[string]int
}

// EventKind names what an Event records.
type EventKind string

// Event kinds.
const (
	EventAdmit     EventKind = "admit"
	EventReject    EventKind = "reject"
	EventRelease   EventKind = "release"
	EventReconcile EventKind = "reconcile"
	EventObserved  EventKind = "observed"
	// EventWire is a SIP monitor's count of legs on the wire (PublishWire);
	// InUse is the count.
	EventWire EventKind = "wire"
)

// Event is one admission decision, release, reconciliation or observation, as
// given to the Observer. Every one is reported, whatever the enforcement state.
//
// What each kind carries:
//   - EventAdmit: the channel was admitted; Over when it went beyond the total
//     (grace, monitor); Degraded when decided without the store. Counted, with
//     InUse and Total the pool's figures the store reported with the decision
//     (InUse counts this channel), unless Degraded.
//   - EventReject: the channel was refused for Reason. Counted only when the
//     refusal is about the count (OVER_LIMIT, LOCKED, NO_LICENSE, EXPIRED as
//     the store or the last good contact saw it): then InUse and Total are
//     those figures. A refusal that says nothing of the count (BAD_REQUEST,
//     TIMEOUT, STORE_UNAVAILABLE) has Counted false and zero figures: it is
//     not "over the limit".
//   - EventRelease: the channel's holding ended. Counted when the node has had
//     a store reply for the product: InUse is then the pool's units in use as
//     of the node's last contact with the store, less the unit this release
//     freed (not a fresh read of the store), Total the pool's total then.
//     Degraded when the store could not be told.
//   - EventReconcile: a resync wrote the node's holdings; Counted, with the
//     store's InUse and Total after it; Over when InUse > Total.
//   - EventObserved, EventWire: InUse is the published count (passive
//     channels, legs on the wire); Counted is false, Total zero.
//
// Events are emitted after the Bridge's state lock is released, and in order
// per product for the decisions that state lock orders.
type Event struct {
	Kind    EventKind
	Time    time.Time
	Node    string
	Product string
	Channel string
	Call    string
	Caller  string
	Called  string
	Reason  Reason
	Over    bool
	// Degraded: decided without the store.
	Degraded bool
	// Counted: InUse and Total are the pool's figures (see above); false
	// when the event carries no count.
	Counted bool
	// InUse and Total: see the kinds above.
	InUse, Total int
	// NodeInUse is this node's leases of Product just after the event, taken
	// with the event, when NodeCounted (EventAdmit, EventRelease,
	// EventReconcile): an Observer that batches events still has each one's
	// own count, without reading the Bridge later.
	NodeInUse   int
	NodeCounted bool
}

// Observer receives every Event, synchronously on the caller's goroutine and
// never with the Bridge's state lock held: it must be quick, and it may read
// the Bridge (Leases, StoreAvailable) but not admit or release. Statistics (issue 5)
// plug in here.
type Observer interface {
	Record(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Record calls f(e).
func (f ObserverFunc) Record(e Event) { f(e) }

// LockState tells grace-mode admission whether a product is locked (over the
// limit for too long). Over-limit admissions of a locked product are refused
// with ReasonLocked.
type LockState interface {
	Locked(product string) bool
}

// NeverLocked is the default LockState.
type NeverLocked struct{}

// Locked always returns false.
func (NeverLocked) Locked(string) bool { return false }

// Clock is the time source; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
