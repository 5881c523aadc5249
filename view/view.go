package view

import (
	"errors"
	"time"
)

// Mode is a product's enforcement: hard, grace or monitor.
type Mode string

// Enforcement modes.
const (
	ModeHard    Mode = "hard"
	ModeGrace   Mode = "grace"
	ModeMonitor Mode = "monitor"
)

// Phase is a product's over-limit phase.
type Phase string

// Over-limit phases.
const (
	PhaseOK       Phase = "OK"
	PhaseGrace    Phase = "GRACE"
	PhaseLockdown Phase = "LOCKDOWN"
	PhaseLocked   Phase = "LOCKED"
)

// View is the whole cluster (or this host's key files) as seen from one node.
type View struct {
	// Node is this node's ID; empty when the view is of key files only.
	Node string `json:"node,omitempty"`
	// Time is when the view was taken.
	Time time.Time `json:"time"`
	// Usage tells whether InUse, Peak14d and Overage of the products are known
	// (read from a daemon or the shared store); false for key files alone.
	Usage bool `json:"usage"`
	// From says where the usage figures came from ("daemon http://...",
	// "shared store ..."); empty for key files alone.
	From string `json:"from,omitempty"`
	// Note says why usage is not shown (no daemon runs, say).
	Note string `json:"note,omitempty"`
	// Nodes lists the live nodes of the cluster.
	Nodes []string `json:"nodes,omitempty"`

	// HostID and Domain are this host's binding facts; HostIDNote says why
	// there is no host ID.
	HostID     string `json:"host_id,omitempty"`
	HostIDNote string `json:"host_id_note,omitempty"`
	Domain     string `json:"domain,omitempty"`
	// Problems are directory-level problems (a missing licences dir, say).
	Problems []string `json:"problems,omitempty"`
	// Unreadable are key files that name no product (did not parse).
	Unreadable []Key `json:"unreadable,omitempty"`
	// Invalid are this host's key files that count for nothing here, each by
	// file and reason (tampered, unsigned, for another host, unknown product,
	// not yet valid, unparsable), whatever product they claim.
	Invalid []Key `json:"invalid,omitempty"`

	// Health is the state of the parts the node depends on (AMI, ARI, the
	// store, the SIP monitor); the admin server fills it.
	Health []Component `json:"health,omitempty"`
	// Store is the shared store as this node sees it; nil when unknown.
	Store *Store `json:"store,omitempty"`

	// Products, sorted by name.
	Products []Product `json:"products"`
}

// Component is one part's health.
type Component struct {
	// Name is "ami", "ari", "store", "sipmon", ...
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Detail says why a part is not OK (or how it is, briefly).
	Detail string `json:"detail,omitempty"`
}

// Store is the shared store's state from this node.
type Store struct {
	// Available: the store answers and is trusted.
	Available bool `json:"available"`
	// Error is why the store could not be read for this view (the view then
	// holds this node's key files and its own leases only).
	Error string `json:"error,omitempty"`
	// AdmittedWithoutStore counts, per product, the channels this node holds
	// that it admitted while the store was away (fail-open), not yet written
	// back.
	AdmittedWithoutStore map[string]int `json:"admitted_without_store,omitempty"`
}

// FailOpen reports whether the node holds channels admitted without the store.
func (s *Store) FailOpen() bool {
	if s == nil {
		return false
	}
	for _, n := range s.AdmittedWithoutStore {
		if n > 0 {
			return true
		}
	}
	return false
}

// Product is one licensed product.
type Product struct {
	Name string `json:"name"`
	// Enforcement is hard, grace or monitor.
	Enforcement Mode `json:"enforcement"`
	// Total is the stacked cluster-wide total of valid keys (each key once);
	// without usage, this host's valid keys.
	Total int `json:"total"`
	// LocalTotal is the total of this host's own valid key files.
	LocalTotal int `json:"local_total"`
	// InUse is the count of channels in use in the cluster.
	InUse int `json:"in_use"`
	// InUseByNode splits InUse per live node.
	InUseByNode map[string]int `json:"in_use_by_node,omitempty"`
	// ObservedLegs is the count of legs the SIP monitor sees on the wire now;
	// nil when no monitor reports.
	ObservedLegs *int `json:"observed_legs,omitempty"`
	// Passive is what passive accounting (AMI) sees using the product on the
	// cluster's Asterisk nodes now, admitted or not.
	Passive int `json:"passive"`
	// Peak14d is the highest cluster-wide use of the last 14 days.
	Peak14d int `json:"peak_14d"`
	// Overage is the over-limit state and its countdown.
	Overage Overage `json:"overage"`
	// Rejections counts this node's recent refusals by reason (the last
	// RejectionWindow).
	Rejections map[string]int `json:"rejections,omitempty"`
	// Bypass is set when observed use exceeds admitted use (see Bypass).
	Bypass *Bypass `json:"bypass,omitempty"`
	// Keys are the product's key files and the keys live nodes present.
	Keys []Key `json:"keys"`
	// Warnings are the product's warnings: overage, keys nearing their end
	// date, conflicts, invalid keys, bypass. Every surface prints them.
	Warnings []string `json:"warnings,omitempty"`
}

// Over reports whether more channels are in use than the total allows.
func (p Product) Over() bool { return p.InUse > p.Total }

// Bypass is observed use above admitted use: channels that use the product
// without having asked licbridge.
type Bypass struct {
	// Observed is the use seen (wire legs or AMI passive), Admitted the
	// channels admitted, Source what saw it ("wire" or "ami").
	Observed int    `json:"observed"`
	Admitted int    `json:"admitted"`
	Source   string `json:"source"`
	// Since is when observed use first went over admitted use.
	Since time.Time `json:"since,omitzero"`
	// Alert: observed use has stayed above admitted use for longer than
	// bypass.after (the bypass rule, bridge/bypass); Excess is how far above.
	Alert  bool `json:"alert"`
	Excess int  `json:"excess"`
}

// Overage is a product's over-limit state and its countdown.
type Overage struct {
	Product string `json:"product"`
	Mode    Mode   `json:"mode"`
	Phase   Phase  `json:"phase"`
	// OverDays is the run of consecutive over-limit days.
	OverDays int `json:"over_days"`
	// LocksIn is the days left before a grace product locks.
	LocksIn int `json:"locks_in"`
	// Since is the first day of the run.
	Since time.Time `json:"since,omitzero"`
	// Peak is the highest demand seen on an over-limit day of the run.
	Peak int `json:"peak,omitempty"`
}

// Key statuses.
const (
	StatusValid    = "VALID"
	StatusExpiring = "EXPIRING" // valid, ends soon
	StatusGrace    = "GRACE"    // past its end date, in renewal grace
	StatusExpired  = "EXPIRED"
	StatusIgnored  = "IGNORED" // authentic but not counted here (a free product, say)
	StatusInvalid  = "INVALID"
)

// Key is one licence key as the cluster sees it.
type Key struct {
	// ID is the key ID (never the whole key); the file name when unreadable.
	ID string `json:"id"`
	// File is this host's key file; empty for a key only other nodes present.
	File     string `json:"file,omitempty"`
	Channels int    `json:"channels"`
	// Nodes are the live nodes presenting the key.
	Nodes []string `json:"nodes,omitempty"`
	// Binding is "host <id>", "domain <name>", "none", or "remote" for a key
	// only other nodes present.
	Binding string `json:"binding"`
	// Kind is commercial, trial or emergency; AutoRenew when it renews.
	Kind      string `json:"kind,omitempty"`
	AutoRenew bool   `json:"auto_renew,omitempty"`
	// EndDate is the formal end date; CountsUntil when it stops counting.
	EndDate     time.Time `json:"end_date,omitzero"`
	CountsUntil time.Time `json:"counts_until,omitzero"`
	// Status is one of the Status* constants.
	Status string `json:"status"`
	// Reason says why the key is not plainly valid ("bad signature", ...).
	Reason string `json:"reason,omitempty"`
	// Warning is set for a valid key nearing its end or in renewal grace.
	Warning string `json:"warning,omitempty"`
	// Conflicts names nodes presenting the same key (a cloned VM, say).
	Conflicts []string `json:"conflicts,omitempty"`
	// EndsInDays is set when the end is near (the warning thresholds).
	EndsInDays *int `json:"ends_in_days,omitempty"`
}

// Counts reports whether the key adds to the total.
func (k Key) Counts() bool {
	return k.Status == StatusValid || k.Status == StatusExpiring || k.Status == StatusGrace
}

// Report is a product's hourly and daily peaks (/api/v1/stats).
type Report struct {
	Product string `json:"product"`
	// Zone is the time zone the days are cut in.
	Zone    string   `json:"zone"`
	Windows []Window `json:"windows"`
	Days    []Day    `json:"days"`
	Peak    int      `json:"peak"`
}

// Window is one hour's peak.
type Window struct {
	Start time.Time      `json:"start"`
	Peak  int            `json:"peak"`
	Nodes map[string]int `json:"nodes,omitempty"`
}

// Day is one calendar day's peak.
type Day struct {
	Date  string         `json:"date"`
	Peak  int            `json:"peak"`
	Nodes map[string]int `json:"nodes,omitempty"`
}

// ErrUnknownProduct is what a source of Reports returns (wrapped) for a
// product it does not know.
var ErrUnknownProduct = errors.New("unknown product")
