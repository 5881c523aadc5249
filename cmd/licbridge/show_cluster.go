package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/node"
	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/urfave/cli/v2"
)

// productCluster is what the shared store adds to a product of show licenses.
type productCluster struct {
	// Total is the stacked cluster-wide total: every valid key presented by a
	// live node, each key once.
	Total int `json:"total_channels"`
	// InUse is the channels held now in the cluster, and per live node.
	InUse       int            `json:"in_use"`
	InUseByNode map[string]int `json:"in_use_by_node,omitempty"`
	// WireLegs is what the SIP monitors see on the wire now; absent when none runs.
	WireLegs *int `json:"wire_legs,omitempty"`
	// Peak14d is the highest cluster-wide use of the last 14 days.
	Peak14d int `json:"peak_14d"`
	// Overage is the over-limit state and its countdown.
	Overage  overage.State `json:"overage"`
	Warnings []string      `json:"warnings,omitempty"`
}

func clusterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "redis", Usage: "shared store (redis://HOST:PORT, or host:port[,host:port...] for Cluster/Sentinel): adds the cluster's usage", EnvVars: []string{"LICBRIDGE_REDIS"}},
		&cli.StringFlag{Name: "redis-password", Usage: "Redis password (never printed)", EnvVars: []string{"LICBRIDGE_REDIS_PASSWORD"}},
	}
}

// clusterSnapshot reads the cluster's state from the shared store with a bridge
// that is never run: it neither registers nor heartbeats, it only reads.
func clusterSnapshot(ctx context.Context, cfg *Config) (admin.View, error) {
	rs, err := dialStore(ctx, cfg.Store, slog.Default())
	if err != nil {
		return admin.View{}, err
	}
	defer rs.Close()
	loc := time.UTC
	if cfg.TimeZone != "" {
		if loc, err = time.LoadLocation(cfg.TimeZone); err != nil {
			return admin.View{}, fmt.Errorf("time zone %q: %w", cfg.TimeZone, err)
		}
	}
	modes := map[string]bridge.Mode{}
	omodes := map[string]overage.Mode{}
	for p, m := range cfg.Enforcement {
		modes[p], omodes[p] = bridge.Mode(m), overage.Mode(m)
	}
	b, err := bridge.New(bridge.Options{Store: rs, Node: "show-" + hostNodeName(), Enforcement: modes})
	if err != nil {
		return admin.View{}, err
	}
	defer b.Close()
	src := &node.Source{
		Bridge:      b,
		Enforcement: modes,
		Recorder:    stats.New(stats.Options{Store: stats.NewRedisStore(rs.Client()), Location: loc}),
		Overage:     overage.New(overage.Options{Store: overage.NewRedisStore(rs.Client()), Modes: omodes, Location: loc}),
	}
	sctx, cancel := context.WithTimeout(ctx, storeDialTimeout)
	defer cancel()
	v, err := src.Snapshot(sctx)
	if err != nil {
		return admin.View{}, fmt.Errorf("shared store %s: %w", redisstore.Redact(cfg.Store.Redis), err)
	}
	return v, nil
}

// mergeCluster adds the cluster's view to the local one: cluster figures per
// product, the nodes presenting each key, and keys that only other nodes hold.
func mergeCluster(v *licensesView, cv admin.View) {
	// The reading bridge never registers, so the nodes are the live ones only.
	v.ClusterNodes = cv.Nodes
	for _, cp := range cv.Products {
		i := slices.IndexFunc(v.Products, func(p productView) bool { return p.Product == cp.Name })
		if i < 0 {
			v.Products = append(v.Products, productView{Product: cp.Name, Keys: []keyView{}})
			i = len(v.Products) - 1
		}
		pv := &v.Products[i]
		pc := &productCluster{Total: cp.Total, InUse: cp.InUse, InUseByNode: cp.InUseByNode, WireLegs: cp.ObservedLegs,
			Peak14d: cp.Peak14d, Overage: cp.Overage}
		// The read-only view is built without this host's key files (they are
		// printed from the local set), so its warnings are all the cluster's.
		pc.Warnings = cp.Warnings
		pv.Cluster = pc
		for _, ck := range cp.Keys {
			if len(ck.Nodes) == 0 {
				continue
			}
			j := slices.IndexFunc(pv.Keys, func(k keyView) bool { return k.KeyID == ck.ID })
			if j < 0 {
				pv.Keys = append(pv.Keys, keyView{KeyID: ck.ID, Channels: ck.Channels, Binding: "(remote)", Kind: "-", Ends: "-",
					Status: "valid", Nodes: ck.Nodes})
				continue
			}
			pv.Keys[j].Nodes = ck.Nodes
		}
	}
	slices.SortFunc(v.Products, func(a, b productView) int { return strings.Compare(a.Product, b.Product) })
}

// renderClusterText prints a product's cluster figures under its key table.
func renderClusterText(b *strings.Builder, pc *productCluster) {
	var nodes []string
	for n, c := range pc.InUseByNode {
		nodes = append(nodes, fmt.Sprintf("%s %d", n, c))
	}
	slices.Sort(nodes)
	fmt.Fprintf(b, "  cluster: %d of %d in use now", pc.InUse, pc.Total)
	if len(nodes) > 0 {
		fmt.Fprintf(b, " (%s)", strings.Join(nodes, ", "))
	}
	if pc.WireLegs != nil {
		fmt.Fprintf(b, ", %d legs on the wire", *pc.WireLegs)
	} else {
		b.WriteString(", no SIP monitor reporting")
	}
	fmt.Fprintf(b, ", 14-day peak %d\n", pc.Peak14d)
	st := pc.Overage
	fmt.Fprintf(b, "  enforcement: %s, state %s", st.Mode, st.Phase)
	if st.OverDays > 0 {
		fmt.Fprintf(b, ", %s over the limit", plural(st.OverDays, "day"))
	}
	if st.LocksIn > 0 && st.Phase != overage.PhaseLocked {
		fmt.Fprintf(b, ", locks in %s", plural(st.LocksIn, "day"))
	}
	b.WriteString("\n")
	for _, w := range pc.Warnings {
		fmt.Fprintf(b, "  warning: %s\n", w)
	}
}
