package bridge

import (
	"context"
	"sort"
	"time"

	"github.com/licbridge/licbridge/license"
)

// Store is the shared counter store the admission core needs. Every method is
// atomic on the store side. Times come from the calling node's clock: a node is
// live while its last heartbeat's Expires is after the caller's now, and
// everything a lapsed node held stops counting at once and is removed by the
// next operation that notices.
//
// Implementations: MemStore (embedded, single node) and redisstore.Store.
// Both pass the same behavioural suite (bridge/suite_test.go).
type Store interface {
	// Admit counts op.Channel for op.Node unless the node's pool is full.
	Admit(ctx context.Context, op AdmitOp) (AdmitReply, error)
	// Release drops the channel; releasing an unknown channel is not an error.
	Release(ctx context.Context, node, product, channel string) error
	// Sync replaces everything op.Node holds for op.Product with op.Holds,
	// never refusing, and registers the node live until op.Expires.
	Sync(ctx context.Context, op SyncOp) (SyncReply, error)
	// PublishKeys replaces op.Node's keys of op.Product and registers the node
	// live until op.Expires. Fresh reports that the node had lapsed (or was new).
	PublishKeys(ctx context.Context, op KeysOp) (fresh bool, err error)
	// PublishObserved records the node's passive count of product: channels
	// that use it without asking for admission. It does not register the node.
	PublishObserved(ctx context.Context, node, product string, n int) error
	// PublishWire records how many legs of op.Product (or, for WireLegs, legs of
	// any kind) the node's SIP monitor sees on the wire, and registers the node
	// live until op.Expires. Fresh reports that the node had lapsed (or was new).
	PublishWire(ctx context.Context, op WireOp) (fresh bool, err error)
	// Heartbeat keeps node live until expires for each product, at a cost that
	// does not depend on how many channels it holds. It returns the products for
	// which the node had lapsed (its holdings there are gone: resync them).
	Heartbeat(ctx context.Context, node string, products []string, now, expires time.Time) (lapsed []string, err error)
	// Snapshot returns the live nodes of product as of now. Its cost grows
	// with the nodes and keys: for people (show, the status page), not for a
	// per-call or per-interval path (use Totals).
	Snapshot(ctx context.Context, product string, now time.Time) (Snapshot, error)
	// Totals returns product's totals over its live nodes as of now, and
	// node's own share, at a cost that does not depend on the number of
	// nodes and keys. A product the store has no state for is not Known and
	// is not created.
	Totals(ctx context.Context, product, node string, now time.Time) (Totals, error)
	// LiveNodes names product's live nodes as of now, sorted: their names
	// alone, without their keys and counts (for the per-node live gauge).
	LiveNodes(ctx context.Context, product string, now time.Time) ([]string, error)
	// Holdings returns what node holds of product, as the store records it,
	// when the node is live as of now; nothing when it has lapsed (a
	// restarted node takes back its record before it answers anyone).
	Holdings(ctx context.Context, node, product string, now time.Time) ([]UnitHold, error)
	// Products lists every product any node has used.
	Products(ctx context.Context) ([]string, error)
	// Claim takes or renews node's ID for instance until expires. When
	// another instance holds it (its claim not expired as of now), nothing
	// changes and that holder is returned; the zero Claim means it is ours.
	Claim(ctx context.Context, op ClaimOp) (Claim, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// ClaimOp claims a node ID for one process.
type ClaimOp struct {
	Node, Instance string
	Now, Expires   time.Time
	// Force takes the ID from whoever holds it: only for a holder known to be
	// dead (this process's own earlier run).
	Force bool
}

// Claim is who holds a node ID in the store: one node ID, one process.
type Claim struct {
	// Holder names the other process (host, pid, state dir); empty: the
	// claim is ours.
	Holder string
	// Until is when its claim ends unless renewed.
	Until time.Time
}

// AdmitOp is one admission as the store sees it.
type AdmitOp struct {
	Node, Product, Channel string
	// Unit is the call whose single unit the channel shares (CountCall);
	// empty: the channel counts alone.
	Unit string
	Now  time.Time
	// Expires registers the node live until then if it was not.
	Expires time.Time
	Pool    Pool
	// AllowOver admits beyond the total (reporting Over) instead of refusing.
	AllowOver bool
	// NoRegister: a node that is not live is not registered by this call; the
	// reply is Fresh and nothing changes (the node resyncs first).
	NoRegister bool
}

// AdmitReply is the store's decision.
type AdmitReply struct {
	Admitted bool
	// Reason for a refusal: OVER_LIMIT, NO_LICENSE or EXPIRED.
	Reason Reason
	// Existing: the channel was already admitted (nothing changed).
	Existing bool
	// Over: admitted beyond the total.
	Over bool
	// Fresh: the node was not live before this call (new, or lapsed and its
	// holdings dropped); the caller should resync.
	Fresh bool
	// InUse (after the decision) and Total of the node's pool.
	InUse, Total int
	// Nodes is how many nodes are live for the product: a node's share of the
	// free headroom (the fail-open budget) is the headroom over them.
	Nodes int
}

// SyncOp replaces a node's holdings of one product.
type SyncOp struct {
	Node, Product string
	Holds         []UnitHold
	Now, Expires  time.Time
	Pool          Pool
}

// UnitHold is a held channel and the unit it counts as (see AdmitOp.Unit).
type UnitHold struct {
	Channel, Unit string
}

// SyncReply reports the node's pool after a Sync.
type SyncReply struct {
	InUse, Total int
	// Nodes is how many nodes are live for the product (see AdmitReply).
	Nodes int
}

// KeysOp replaces a node's keys of one product.
type KeysOp struct {
	Node, Product string
	Keys          []KeyGrant
	Now, Expires  time.Time
}

// WireOp is one node's count of legs on the wire for one product.
type WireOp struct {
	Node, Product string
	Legs          int
	Now, Expires  time.Time
}

// Snapshot is what the store holds for one product: its live nodes.
type Snapshot struct {
	Product string
	Nodes   []NodeSnapshot
}

// Totals is what the store keeps summed over a product's live nodes, the
// figures a Snapshot would give through Summarize (less the per-node detail
// and the key conflicts), and one node's own share.
type Totals struct {
	Product string
	// Known: the store has state for the product (some node has used it).
	Known bool
	// InUse is the units held by all live nodes.
	InUse int
	// Total is the cluster pool: the channels of the distinct key IDs live
	// nodes present that have not ended.
	Total int
	// Expired: some live node presents a key that has ended.
	Expired bool
	// Nodes is how many nodes are live.
	Nodes int
	// Observed is the live nodes' passive counts summed (PublishObserved).
	Observed int
	// Wire is the live nodes' wire legs summed (PublishWire).
	Wire int
	// Node is the node asked about; Live whether it is live.
	Node string
	Live bool
	// NodeInUse is the units Node holds; NodeTotal the channels of the keys
	// it owns (its pool under PoolPerHost: a key on several live nodes
	// belongs to the first by name).
	NodeInUse, NodeTotal int
}

// NodeSnapshot is one live node's share of a product.
type NodeSnapshot struct {
	Node    string
	Expires time.Time
	// Units is how many units (channels, or calls) the node holds.
	Units int
	// Observed is the node's passive count (PublishObserved).
	Observed int
	// Wire is the legs its SIP monitor sees on the wire (PublishWire).
	Wire int
	Keys []KeyGrant
}

// capacity is the rule both stores apply (the Redis scripts mirror it in Lua):
// the stacked total of distinct key IDs over live nodes, or under PoolPerHost
// the keys owned by self, where a key on several nodes belongs to the first by
// name. Keys whose Until is not after now do not count; expired reports that
// one was seen.
func capacity(nodes []NodeSnapshot, now time.Time, pool Pool, self string) (total int, expired bool) {
	type owner struct {
		node     string
		channels int
	}
	owners := map[string]owner{}
	for _, n := range nodes {
		for _, k := range n.Keys {
			if !k.Until.IsZero() && !k.Until.After(now) {
				expired = true
				continue
			}
			if o, ok := owners[k.KeyID]; !ok || n.Node < o.node {
				owners[k.KeyID] = owner{n.Node, k.Channels}
			}
		}
	}
	for _, o := range owners {
		if pool != PoolPerHost || o.node == self {
			total += o.channels
		}
	}
	return total, expired
}

// used is the units counted against self's pool.
func used(nodes []NodeSnapshot, pool Pool, self string) int {
	n := 0
	for _, s := range nodes {
		if pool != PoolPerHost || s.Node == self {
			n += s.Units
		}
	}
	return n
}

// conflicts lists key IDs presented by more than one live node.
func conflicts(nodes []NodeSnapshot) []Conflict {
	by := map[string][]string{}
	for _, n := range nodes {
		for _, k := range n.Keys {
			by[k.KeyID] = append(by[k.KeyID], n.Node)
		}
	}
	var out []Conflict
	for id, ns := range by {
		if len(ns) > 1 {
			sort.Strings(ns)
			out = append(out, Conflict{KeyID: id, Nodes: ns})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KeyID < out[j].KeyID })
	return out
}

// refusal names the reason for refusing one more unit.
func refusal(total int, expired bool) Reason {
	switch {
	case total > 0:
		return ReasonOverLimit
	case expired:
		return ReasonExpired
	default:
		return ReasonNoLicense
	}
}

// ValidProduct reports whether name can be a product: license.ValidProductName,
// the one grammar, whose names are also safe inside store key names and hash tags.
func ValidProduct(name string) bool { return license.ValidProductName(name) }

// WireLegs is the pseudo-product under which a SIP monitor publishes every leg
// it sees on the wire, whatever its codec (PublishWire). It is reserved: it
// cannot be licensed, admitted or counted passively, and its ProductUsage
// carries only Wire and the nodes that publish it.
const WireLegs = "legs"

// licensable reports whether name can be a licensed product: valid and not
// reserved.
func licensable(name string) bool { return name != WireLegs && ValidProduct(name) }
