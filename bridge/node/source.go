package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/bypass"
	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/license"
	"github.com/licbridge/licbridge/view"
)

// The bypass rule and the metrics read the cheap views.
var (
	_ bypass.Counter      = (*Source)(nil)
	_ bypass.MetricsViews = (*Source)(nil)
)

// Source builds the view (package view) of a node: the cluster's usage from
// the bridge, this node's key files, passive accounting, recent rejections,
// the statistics recorder's peaks and the over-limit state. The admin server
// serves it; show licenses --redis prints it.
type Source struct {
	// Node is the running node, or nil for a read-only view of the cluster
	// (licbridge show licenses --redis), which then needs Bridge.
	Node *Node
	// Bridge is used when Node is nil: a bridge on the shared store that is
	// not run (it neither heartbeats nor publishes), only asked for Usage.
	Bridge *bridge.Bridge
	// Licenses: this node's key files; nil shows the published grants only.
	Licenses *license.Watcher
	// Set is used when Licenses is nil: key files read once (the CLI).
	Set *license.Set
	// Enforcement per product, as configured (default hard).
	Enforcement map[string]bridge.Mode
	// Recorder answers peaks; nil: none recorded.
	Recorder *stats.Recorder
	// Overage answers the over-limit state; nil: always OK.
	Overage *overage.Machine
	// Rejections are this node's recent refusals; nil: none shown.
	Rejections *Rejections
}

// build is a view under construction.
type build struct {
	v   view.View
	src *Source
}

func (bd *build) mode(p string) view.Mode {
	if m := bd.src.Enforcement[p]; m != "" {
		return view.Mode(string(m))
	}
	return view.ModeHard
}

func (bd *build) get(p string) *view.Product { return bd.v.Product(p, bd.mode(p)) }

// Snapshot implements admin.Source. A running node whose store does not
// answer still gives a view: its key files and its own channels, with the
// store's error in view.Store (the page shows a banner, not a blank page).
func (s *Source) Snapshot(ctx context.Context) (view.View, error) {
	now := time.Now()
	b := s.Bridge
	if s.Node != nil {
		b = s.Node.Bridge()
	}
	bd := &build{src: s}
	bd.v = view.View{Node: b.Node(), Time: now, Usage: true, Products: []view.Product{}}
	us, err := b.Usage(ctx)
	if err != nil && s.Node == nil {
		return view.View{}, fmt.Errorf("usage: %w", err)
	}
	if s.Node != nil {
		bd.v.Store = storeOf(b)
		if err != nil {
			bd.v.Store.Available = false
			bd.v.Store.Error = err.Error()
			s.ownUse(bd, b)
		}
	}
	nodes := bd.addUsage(us)
	bd.v.AddKeyFiles(s.keyFiles(), bd.mode)
	s.addPassive(bd)
	s.addRejections(bd, now)
	s.addPeaksAndOverage(ctx, bd, now)
	bd.v.Sort()
	for nd := range nodes {
		bd.v.Nodes = append(bd.v.Nodes, nd)
	}
	slices.Sort(bd.v.Nodes)
	return bd.v, nil
}

// Counts implements bypass.Counter: every product's use (in use, total,
// passive, wire legs) from the store's totals, at a cost that does not grow
// with the cluster (no per-node detail, no keys, peaks or over-limit state).
// The bypass rule reads it every few seconds on every node.
func (s *Source) Counts(ctx context.Context) (view.View, error) { return s.counts(ctx, false) }

// MetricsView implements admin.MetricsSource: what the /metrics gauges read
// on every scrape, Counts plus this node's key files, the over-limit state,
// peaks and the names of the live nodes, without the per-node detail of
// Snapshot (which reads every product's whole state, for the page and show).
func (s *Source) MetricsView(ctx context.Context) (view.View, error) { return s.counts(ctx, true) }

func (s *Source) counts(ctx context.Context, full bool) (view.View, error) {
	now := time.Now()
	b := s.Bridge
	if s.Node != nil {
		b = s.Node.Bridge()
	}
	bd := &build{src: s}
	bd.v = view.View{Node: b.Node(), Time: now, Usage: true, Products: []view.Product{}}
	ts, err := b.AllTotals(ctx)
	if err == nil && full {
		bd.v.Nodes, err = liveNodes(ctx, b, ts)
	}
	if err != nil && s.Node == nil {
		return view.View{}, fmt.Errorf("usage: %w", err)
	}
	if s.Node != nil {
		bd.v.Store = storeOf(b)
		if err != nil {
			bd.v.Store.Available = false
			bd.v.Store.Error = err.Error()
			s.ownUse(bd, b)
			ts = nil
		}
	}
	bd.addTotals(ts)
	if full {
		bd.v.AddKeyFiles(s.keyFiles(), bd.mode)
		s.addPassive(bd)
		s.addRejections(bd, now)
		s.addPeaksAndOverage(ctx, bd, now)
	}
	bd.v.Sort()
	return bd.v, nil
}

// liveNodes names the nodes live for any product, sorted; as in Snapshot, a
// SIP monitor live only for the all-legs count is not one.
func liveNodes(ctx context.Context, b *bridge.Bridge, ts []bridge.Totals) ([]string, error) {
	set := map[string]bool{}
	for _, t := range ts {
		if t.Nodes == 0 || t.Product == bridge.WireLegs {
			continue
		}
		ns, err := b.LiveNodes(ctx, t.Product)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			set[n] = true
		}
	}
	out := sortedKeys(set)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// addTotals adds the store's per-product totals: the figures addUsage
// takes from the full usage, the same rules.
func (bd *build) addTotals(ts []bridge.Totals) {
	live := false
	for _, t := range ts {
		if t.Product == bridge.WireLegs {
			live = t.Nodes > 0
		}
	}
	for _, t := range ts {
		if t.Product == bridge.WireLegs {
			continue
		}
		ap := bd.get(t.Product)
		setFigures(ap, live, t.Total, t.InUse, t.Observed, t.Wire)
		if t.Expired {
			ap.Warnings = append(ap.Warnings, "a live node presents a key that has ended")
		}
	}
}

// setFigures sets a product's cluster figures, from either read of the store.
// A live wire monitor makes the per-product wire count meaningful (0 = seen
// none).
func setFigures(ap *view.Product, wireLive bool, total, inUse, passive, wire int) {
	if wireLive {
		ap.ObservedLegs = &wire
	}
	ap.Total, ap.InUse, ap.Passive = total, inUse, passive
	if inUse > total {
		// Calls admitted before a key went (removed, ended) keep counting:
		// the phase stays OK until a day closes over the limit, so say it now.
		ap.Warnings = append(ap.Warnings, fmt.Sprintf("in use %d over the total %d", inUse, total))
	}
}

// storeOf is the store's state from a running bridge: whether it is trusted,
// and the channels held that were admitted without it.
func storeOf(b *bridge.Bridge) *view.Store {
	st := &view.Store{Available: b.StoreAvailable()}
	for _, l := range b.Leases() {
		if l.Degraded {
			if st.AdmittedWithoutStore == nil {
				st.AdmittedWithoutStore = map[string]int{}
			}
			st.AdmittedWithoutStore[l.Product]++
		}
	}
	return st
}

// ownUse fills this node's own channels when the cluster cannot be read.
func (s *Source) ownUse(bd *build, b *bridge.Bridge) {
	for _, l := range b.Leases() {
		ap := bd.get(l.Product)
		ap.InUse++
		if ap.InUseByNode == nil {
			ap.InUseByNode = map[string]int{}
		}
		ap.InUseByNode[b.Node()]++
	}
}

func (s *Source) keyFiles() *license.Set {
	if s.Licenses != nil {
		return s.Licenses.Current()
	}
	return s.Set
}

// addUsage adds the store's per-product usage and returns the live nodes.
func (bd *build) addUsage(us []bridge.ProductUsage) map[string]bool {
	nodes := map[string]bool{}
	live := wireMonitorLive(us)
	for _, u := range us {
		if u.Product == bridge.WireLegs {
			// All legs on the wire, any codec: not a product; a live monitor
			// makes the per-product wire counts meaningful (0 = seen none).
			continue
		}
		ap := bd.get(u.Product)
		setFigures(ap, live, u.Total, u.InUse, u.Observed, u.Wire)
		ap.InUseByNode = map[string]int{}
		keys := map[string]*view.Key{}
		for _, nu := range u.Nodes {
			nodes[nu.Node] = true
			ap.InUseByNode[nu.Node] = nu.InUse
			for _, k := range nu.Keys {
				ak := keys[k.KeyID]
				if ak == nil {
					// A key only other nodes present: its file is not here.
					ak = &view.Key{ID: k.KeyID, Channels: k.Channels, Status: view.StatusValid, Binding: "remote"}
					keys[k.KeyID] = ak
				}
				ak.Nodes = append(ak.Nodes, nu.Node)
			}
		}
		for _, c := range u.Conflicts {
			ap.Warnings = append(ap.Warnings, fmt.Sprintf("key %s is presented by several live nodes (%s): it counts once", c.KeyID, strings.Join(c.Nodes, ", ")))
			if ak := keys[c.KeyID]; ak != nil {
				ak.Conflicts = c.Nodes
			}
		}
		if u.Expired {
			ap.Warnings = append(ap.Warnings, "a live node presents a key that has ended")
		}
		for _, id := range sortedKeys(keys) {
			ap.Keys = append(ap.Keys, *keys[id])
		}
	}
	return nodes
}

func sortedKeys[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// addPassive warns of the channels passive accounting (AMI) sees using a
// product without admission: this node's own view, not the wire's.
func (s *Source) addPassive(bd *build) {
	if s.Node == nil || s.Node.AMI() == nil {
		return
	}
	for _, o := range s.Node.ObservedNow() {
		ap := bd.get(o.Product)
		if o.Unadmitted > 0 {
			ap.Warnings = append(ap.Warnings, fmt.Sprintf("%d channel(s) use %s without admission", o.Unadmitted, o.Product))
		}
	}
}

func (s *Source) addRejections(bd *build, now time.Time) {
	if s.Rejections == nil {
		return
	}
	for p, byReason := range s.Rejections.Recent(now) {
		bd.get(p).Rejections = byReason
	}
}

func (s *Source) addPeaksAndOverage(ctx context.Context, bd *build, now time.Time) {
	for i := range bd.v.Products {
		ap := &bd.v.Products[i]
		p := ap.Name
		if s.Recorder != nil {
			if rep, err := s.Recorder.Last(ctx, p, now, stats.MaxDays); err == nil {
				ap.Peak14d = max(rep.Peak, ap.InUse)
			}
		}
		if s.Overage == nil {
			continue
		}
		if st, err := s.Overage.Status(ctx, p); err == nil {
			ap.Overage = view.Overage{Product: p, Mode: view.Mode(string(st.Mode)), Phase: view.Phase(string(st.Phase)),
				OverDays: st.OverDays, LocksIn: st.LocksIn, Since: st.Since, Peak: st.Peak}
			if w := st.Warning(); w != "" {
				ap.Warnings = append(ap.Warnings, w)
			}
		}
	}
}

// wireMonitorLive reports whether any SIP monitor node is live: it publishes
// the all-legs count under bridge.WireLegs.
func wireMonitorLive(us []bridge.ProductUsage) bool {
	for _, u := range us {
		if u.Product == bridge.WireLegs {
			return len(u.Nodes) > 0
		}
	}
	return false
}

// Stats implements admin.Source.
func (s *Source) Stats(ctx context.Context, product string, days int) (view.Report, error) {
	if s.Recorder == nil {
		return view.Report{}, fmt.Errorf("statistics are not recorded on this node: %w", view.ErrUnknownProduct)
	}
	r, err := s.Recorder.Last(ctx, product, time.Now(), days)
	if err != nil {
		return view.Report{}, err
	}
	out := view.Report{Product: r.Product, Zone: r.Zone, Peak: r.Peak, Windows: []view.Window{}, Days: []view.Day{}}
	for _, w := range r.Windows {
		out.Windows = append(out.Windows, view.Window{Start: w.Start, Peak: w.Peak, Nodes: w.Nodes})
	}
	for _, d := range r.Days {
		out.Days = append(out.Days, view.Day{Date: d.Date, Peak: d.Peak, Nodes: d.Nodes})
	}
	return out, nil
}
