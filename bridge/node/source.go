package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/license"
)

var _ admin.Source = (*Source)(nil)

// Source is the admin server's view of a node: the cluster's usage from the
// bridge, this node's key files from the license watcher, passive accounting,
// and the statistics recorder's peaks.
type Source struct {
	// Node is the running node, or nil for a read-only view of the cluster
	// (licbridge show licenses --redis), which then needs Bridge.
	Node *Node
	// Bridge is used when Node is nil: a bridge on the shared store that is
	// not run (it neither heartbeats nor publishes), only asked for Usage.
	Bridge *bridge.Bridge
	// Licenses: this node's key files; nil shows the published grants only.
	Licenses *license.Watcher
	// Enforcement per product, as configured (default hard).
	Enforcement map[string]bridge.Mode
	// Recorder answers peaks; nil: none recorded.
	Recorder *stats.Recorder
	// Overage answers the over-limit state; nil: always OK.
	Overage *overage.Machine
}

// Snapshot implements admin.Source.
func (s *Source) Snapshot(ctx context.Context) (admin.View, error) {
	now := time.Now()
	b := s.Bridge
	if s.Node != nil {
		b = s.Node.Bridge()
	}
	us, err := b.Usage(ctx)
	if err != nil {
		return admin.View{}, fmt.Errorf("usage: %w", err)
	}
	v := admin.View{Node: b.Node(), Time: now.UTC()}
	var set *license.Set
	if s.Licenses != nil {
		set = s.Licenses.Current()
	}
	byName := map[string]*admin.Product{}
	order := []string{}
	get := func(p string) *admin.Product {
		if ap := byName[p]; ap != nil {
			return ap
		}
		mode := overage.ModeHard
		if m := s.Enforcement[p]; m != "" {
			mode = overage.Mode(m)
		}
		ap := &admin.Product{Name: p, Enforcement: mode, Overage: overage.State{Product: p, Mode: mode, Phase: overage.PhaseOK}}
		byName[p] = ap
		order = append(order, p)
		return ap
	}
	nodes := map[string]bool{}
	for _, u := range us {
		if u.Product == bridge.WireLegs {
			// All legs on the wire, any codec: not a product; a live monitor
			// makes the per-product wire counts meaningful (0 = seen none).
			continue
		}
		ap := get(u.Product)
		if wireMonitorLive(us) {
			wire := u.Wire
			ap.ObservedLegs = &wire
		}
		ap.Total, ap.InUse, ap.Passive = u.Total, u.InUse, u.Observed
		if u.InUse > u.Total {
			// Calls admitted before a key went (removed, ended) keep counting:
			// the phase stays OK until a day closes over the limit, so say it now.
			ap.Warnings = append(ap.Warnings, fmt.Sprintf("in use %d over the total %d", u.InUse, u.Total))
		}
		ap.InUseByNode = map[string]int{}
		keys := map[string]*admin.Key{}
		for _, nu := range u.Nodes {
			nodes[nu.Node] = true
			ap.InUseByNode[nu.Node] = nu.InUse
			for _, k := range nu.Keys {
				ak := keys[k.KeyID]
				if ak == nil {
					ak = &admin.Key{ID: k.KeyID, Channels: k.Channels, Status: "VALID", Binding: "published"}
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
		ids := make([]string, 0, len(keys))
		for id := range keys {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			ap.Keys = append(ap.Keys, *keys[id])
		}
	}
	if set != nil {
		for _, p := range set.Products() {
			ap := get(p)
			for _, e := range set.KeysFor(p) {
				k := keyOf(e, now)
				if i := slices.IndexFunc(ap.Keys, func(x admin.Key) bool { return x.ID == e.KeyID && e.KeyID != "" }); i >= 0 {
					k.Nodes, k.Conflicts = ap.Keys[i].Nodes, ap.Keys[i].Conflicts
					ap.Keys[i] = k
				} else {
					ap.Keys = append(ap.Keys, k)
				}
				switch {
				case e.Status == license.StatusInvalid:
					ap.Warnings = append(ap.Warnings, fmt.Sprintf("%s: INVALID: %s", e.File, e.Reason))
				case e.Warning != "":
					ap.Warnings = append(ap.Warnings, fmt.Sprintf("key %s %s", e.KeyID, e.Warning))
				}
			}
		}
	}
	if s.Node != nil && s.Node.AMI() != nil {
		// Passive accounting (AMI) is this node's own view of channels using a
		// feature; the wire count above is the SIP monitor's. Only the channels
		// that bypassed admission are news to the admin.
		for _, o := range s.Node.ObservedNow() {
			ap := get(o.Product)
			if o.Unadmitted > 0 {
				ap.Warnings = append(ap.Warnings, fmt.Sprintf("%d channel(s) use %s without admission", o.Unadmitted, o.Product))
			}
		}
	}
	if s.Recorder != nil {
		for _, p := range order {
			rep, err := s.Recorder.Last(ctx, p, now, stats.MaxDays)
			if err == nil {
				byName[p].Peak14d = max(rep.Peak, byName[p].InUse)
			}
		}
	}
	if s.Overage != nil {
		for _, p := range order {
			if st, err := s.Overage.Status(ctx, p); err == nil {
				byName[p].Overage = st
				if w := st.Warning(); w != "" {
					byName[p].Warnings = append(byName[p].Warnings, w)
				}
			}
		}
	}
	slices.Sort(order)
	for _, p := range order {
		v.Products = append(v.Products, *byName[p])
	}
	for nd := range nodes {
		v.Nodes = append(v.Nodes, nd)
	}
	slices.Sort(v.Nodes)
	return v, nil
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
func (s *Source) Stats(ctx context.Context, product string, days int) (stats.Report, error) {
	if s.Recorder == nil {
		return stats.Report{}, fmt.Errorf("statistics are not recorded on this node: %w", admin.ErrUnknownProduct)
	}
	return s.Recorder.Last(ctx, product, time.Now(), days)
}

func keyOf(e license.Entry, now time.Time) admin.Key {
	k := admin.Key{ID: e.KeyID, Channels: e.Channels, Reason: e.Reason}
	if k.ID == "" {
		k.ID = e.File
	}
	switch e.Binding.Type {
	case license.BoundHost:
		k.Binding = "host " + string(e.Binding.HostID)
	case license.BoundDomain:
		k.Binding = "domain " + e.Binding.Domain
	default:
		k.Binding = "unbound"
	}
	if e.Key != nil {
		k.EndDate = e.Ends
	}
	switch e.Status {
	case license.StatusValid:
		k.Status = "VALID"
		if e.Warning != "" {
			k.Status = "EXPIRING"
			if now.After(e.Ends) {
				k.Status = "GRACE"
			}
			d := int(e.CountsUntil.Sub(now).Hours() / 24)
			k.EndsInDays = &d
		}
	case license.StatusExpired:
		k.Status = "EXPIRED"
	default:
		k.Status = "INVALID"
	}
	return k
}
