package bridge

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"
)

// MemStore is the embedded in-process Store, the default when no Redis address
// is given: one node, nothing persisted. It keeps the same data model and
// semantics as the Redis store, so that one behavioural suite covers both.
// It is safe for concurrent use.
type MemStore struct {
	mu       sync.Mutex
	products map[string]*memProduct
	owners   map[string]Claim // node -> the instance that holds its ID
}

type memProduct struct {
	expires  map[string]time.Time           // node -> live until
	channels map[string]map[string]string   // node -> channel -> unit
	units    map[string]map[string]int      // node -> unit -> channels holding it
	keys     map[string]map[string]KeyGrant // node -> key ID -> grant
	observed map[string]int                 // node -> passive count
	wire     map[string]int                 // node -> legs its SIP monitor sees
}

var (
	_ Store = (*MemStore)(nil)
)

// NewMemStore returns an empty embedded store.
func NewMemStore() *MemStore {
	return &MemStore{products: map[string]*memProduct{}}
}

func (s *MemStore) product(name string) *memProduct {
	p := s.products[name]
	if p == nil {
		p = &memProduct{
			expires:  map[string]time.Time{},
			channels: map[string]map[string]string{},
			units:    map[string]map[string]int{},
			keys:     map[string]map[string]KeyGrant{},
			observed: map[string]int{},
			wire:     map[string]int{},
		}
		s.products[name] = p
	}
	return p
}

// sweep drops every node that has lapsed as of now, with all it held.
func (p *memProduct) sweep(now time.Time) {
	for n, exp := range p.expires {
		if !exp.After(now) {
			p.drop(n)
			delete(p.expires, n)
		}
	}
}

func (p *memProduct) drop(node string) {
	delete(p.channels, node)
	delete(p.units, node)
	delete(p.keys, node)
	delete(p.observed, node)
	delete(p.wire, node)

}

// register marks node live until expires, reporting whether it was absent.
func (p *memProduct) register(node string, expires time.Time) (fresh bool) {
	_, ok := p.expires[node]
	if !ok {
		p.drop(node)
	}
	p.expires[node] = expires
	return !ok
}

func (p *memProduct) snapshot(name string) Snapshot {
	snap := Snapshot{Product: name}
	for n, exp := range p.expires {
		ns := NodeSnapshot{Node: n, Expires: exp, Units: len(p.units[n]), Observed: p.observed[n], Wire: p.wire[n]}
		for _, k := range p.keys[n] {
			ns.Keys = append(ns.Keys, k)
		}
		sort.Slice(ns.Keys, func(i, j int) bool { return ns.Keys[i].KeyID < ns.Keys[j].KeyID })
		snap.Nodes = append(snap.Nodes, ns)
	}
	sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].Node < snap.Nodes[j].Node })
	return snap
}

// hold records channel under unit; the empty unit means the channel counts
// alone (a NUL-prefixed unit of its own, which no call ID can be).
func (p *memProduct) hold(node, channel, unit string) {
	if unit == "" {
		unit = "\x00" + channel
	}
	if p.channels[node] == nil {
		p.channels[node] = map[string]string{}
		p.units[node] = map[string]int{}
	}
	p.channels[node][channel] = unit
	p.units[node][unit]++
}

// Admit implements Store.
func (s *MemStore) Admit(ctx context.Context, op AdmitOp) (AdmitReply, error) {
	if err := ctx.Err(); err != nil {
		return AdmitReply{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.product(op.Product)
	p.sweep(op.Now)
	var r AdmitReply
	if _, ok := p.expires[op.Node]; !ok {
		if op.NoRegister {
			return AdmitReply{Fresh: true, Nodes: len(p.expires)}, nil
		}
		r.Fresh = p.register(op.Node, op.Expires)
	}
	snap := p.snapshot(op.Product)
	total, expired := capacity(snap.Nodes, op.Now, op.Pool, op.Node)
	r.Total, r.InUse, r.Nodes = total, used(snap.Nodes, op.Pool, op.Node), len(snap.Nodes)
	if _, ok := p.channels[op.Node][op.Channel]; ok {
		r.Admitted, r.Existing = true, true
		return r, nil
	}
	if op.Unit != "" && p.units[op.Node][op.Unit] > 0 { // another channel of a held call
		p.hold(op.Node, op.Channel, op.Unit)
		r.Admitted = true
		return r, nil
	}
	if r.InUse+1 > total {
		if !op.AllowOver {
			r.Reason = refusal(total, expired)
			return r, nil
		}
		r.Over = true
	}
	p.hold(op.Node, op.Channel, op.Unit)
	r.Admitted = true
	r.InUse++
	return r, nil
}

// Release implements Store.
func (s *MemStore) Release(ctx context.Context, node, product, channel string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.products[product]
	if p == nil {
		return nil
	}
	unit, ok := p.channels[node][channel]
	if !ok {
		return nil
	}
	delete(p.channels[node], channel)
	if p.units[node][unit]--; p.units[node][unit] <= 0 {
		delete(p.units[node], unit)
	}
	return nil
}

// Sync implements Store.
func (s *MemStore) Sync(ctx context.Context, op SyncOp) (SyncReply, error) {
	if err := ctx.Err(); err != nil {
		return SyncReply{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.product(op.Product)
	p.sweep(op.Now)
	p.register(op.Node, op.Expires)
	delete(p.channels, op.Node)
	delete(p.units, op.Node)
	for _, h := range op.Holds {
		if _, dup := p.channels[op.Node][h.Channel]; !dup {
			p.hold(op.Node, h.Channel, h.Unit)
		}
	}
	snap := p.snapshot(op.Product)
	total, _ := capacity(snap.Nodes, op.Now, op.Pool, op.Node)
	return SyncReply{InUse: used(snap.Nodes, op.Pool, op.Node), Total: total, Nodes: len(snap.Nodes)}, nil
}

// PublishKeys implements Store.
func (s *MemStore) PublishKeys(ctx context.Context, op KeysOp) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.product(op.Product)
	p.sweep(op.Now)
	fresh := p.register(op.Node, op.Expires)
	m := map[string]KeyGrant{}
	for _, k := range op.Keys {
		k.Until = msTime(k.Until) // the Redis store keeps milliseconds
		m[k.KeyID] = k
	}
	p.keys[op.Node] = m
	return fresh, nil
}

// PublishObserved implements Store.
func (s *MemStore) PublishObserved(ctx context.Context, node, product string, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.product(product).observed[node] = n
	return nil
}

// PublishWire implements Store.
func (s *MemStore) PublishWire(ctx context.Context, op WireOp) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.product(op.Product)
	p.sweep(op.Now)
	fresh := p.register(op.Node, op.Expires)
	p.wire[op.Node] = op.Legs
	return fresh, nil
}

// Heartbeat implements Store.
func (s *MemStore) Heartbeat(ctx context.Context, node string, products []string, now, expires time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var lapsed []string
	for _, name := range products {
		p := s.product(name)
		if exp, ok := p.expires[node]; !ok || !exp.After(now) {
			// Not registered again until its resync (see heartbeat.lua).
			lapsed = append(lapsed, name)
			p.drop(node)
			delete(p.expires, node)
			continue
		}
		p.expires[node] = expires
	}
	return lapsed, nil
}

// Snapshot implements Store.
func (s *MemStore) Snapshot(ctx context.Context, product string, now time.Time) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.products[product]
	if p == nil {
		return Snapshot{Product: product}, nil
	}
	p.sweep(now)
	return p.snapshot(product), nil
}

// Totals implements Store. The embedded store serves one node, so it sums
// its (few) nodes rather than keeping totals.
func (s *MemStore) Totals(ctx context.Context, product, node string, now time.Time) (Totals, error) {
	if err := ctx.Err(); err != nil {
		return Totals{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := Totals{Product: product, Node: node}
	p := s.products[product]
	if p == nil {
		return t, nil
	}
	p.sweep(now)
	snap := p.snapshot(product)
	u := Summarize(snap, now, PoolCluster)
	t.Known, t.InUse, t.Total, t.Expired, t.Nodes, t.Observed, t.Wire = true, u.InUse, u.Total, u.Expired, len(snap.Nodes), u.Observed, u.Wire
	if _, ok := p.expires[node]; ok {
		t.Live = true
		t.NodeInUse = len(p.units[node])
		t.NodeTotal, _ = capacity(snap.Nodes, now, PoolPerHost, node)
	}
	return t, nil
}

// LiveNodes implements Store.
func (s *MemStore) LiveNodes(ctx context.Context, product string, now time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if p := s.products[product]; p != nil {
		for n, exp := range p.expires {
			if exp.After(now) {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Holdings implements Store.
func (s *MemStore) Holdings(ctx context.Context, node, product string, now time.Time) ([]UnitHold, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.products[product]
	if p == nil {
		return nil, nil
	}
	if exp, ok := p.expires[node]; !ok || !exp.After(now) {
		return nil, nil
	}
	var out []UnitHold
	for ch, unit := range p.channels[node] {
		if strings.HasPrefix(unit, "\x00") {
			unit = "" // the channel counts alone
		}
		out = append(out, UnitHold{Channel: ch, Unit: unit})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Channel < out[j].Channel })
	return out, nil
}

// Products implements Store.
func (s *MemStore) Products(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.products))
	for name := range s.products {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// Claim implements Store.
func (s *MemStore) Claim(ctx context.Context, op ClaimOp) (Claim, error) {
	if err := ctx.Err(); err != nil {
		return Claim{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owners == nil {
		s.owners = map[string]Claim{}
	}
	if cur, ok := s.owners[op.Node]; ok && !op.Force && cur.Holder != op.Instance && cur.Until.After(op.Now) {
		return cur, nil
	}
	s.owners[op.Node] = Claim{Holder: op.Instance, Until: op.Expires}
	return Claim{}, nil
}

// Ping implements Store; the embedded store always answers.
func (s *MemStore) Ping(ctx context.Context) error { return ctx.Err() }

// msTime truncates to milliseconds, the store's resolution; zero stays zero.
func msTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli())
}
