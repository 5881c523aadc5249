package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/licbridge/licbridge/license"
	"github.com/urfave/cli/v2"
)

func showCommand() *cli.Command {
	return &cli.Command{
		Name:  "show",
		Usage: "show licenses and usage",
		Subcommands: []*cli.Command{
			showLicensesCommand(),
		},
	}
}

func showLicensesCommand() *cli.Command {
	return &cli.Command{
		Name:  "licenses",
		Usage: "per product: each key (ID, channels, binding, end, status or reason) and the stacked total",
		Flags: append(append(licensesFlags(), clusterFlags()...),
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table", EnvVars: []string{"LICBRIDGE_JSON"}},
			nowFlag(),
		),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			nl, err := licensesSetup(c, cfg)
			if err != nil {
				return fmt.Errorf("show licenses: %w", err)
			}
			if nl.Options.Now, err = fixedClock(c); err != nil {
				return err
			}
			set, err := license.Load(c.Context, nl.Options)
			if err != nil {
				return fmt.Errorf("show licenses: %w", err)
			}
			v := newLicensesView(set, nl.HostIDNote)
			overrideString(c, "redis", &cfg.Store.Redis)
			overrideString(c, "redis-password", &cfg.Store.Password)
			if cfg.Store.Redis != "" {
				cv, err := clusterSnapshot(c.Context, cfg)
				if err != nil {
					return fmt.Errorf("show licenses: %w", err)
				}
				mergeCluster(&v, cv)
			}
			if c.Bool("json") {
				return renderLicensesJSON(c.App.Writer, v)
			}
			return renderLicensesText(c.App.Writer, v)
		},
	}
}

// licensesView is what show licenses prints. Later issues add cluster data (in
// use now, legs on the wire, peaks, overage) as more fields; the renderers print
// what is there.
type licensesView struct {
	HostID      string        `json:"host_id,omitempty"`
	HostIDNote  string        `json:"host_id_note,omitempty"`
	Domain      string        `json:"domain,omitempty"`
	EvaluatedAt time.Time     `json:"evaluated_at"`
	Products    []productView `json:"products"`
	// Unreadable lists files that did not parse (they have no product).
	Unreadable []keyView `json:"unreadable,omitempty"`
	// Problems are directory-level problems (a missing --licenses-dir, say).
	Problems []string `json:"problems,omitempty"`
	// ClusterNodes are the live nodes of the cluster (with --redis).
	ClusterNodes []string `json:"cluster_nodes,omitempty"`
}

type productView struct {
	Product       string    `json:"product"`
	TotalChannels int       `json:"total_channels"`
	Keys          []keyView `json:"keys"`
	// Cluster is what the shared store says (with --redis).
	Cluster *productCluster `json:"cluster,omitempty"`
}

type keyView struct {
	KeyID       string `json:"key_id,omitempty"`
	File        string `json:"file"`
	Channels    int    `json:"channels,omitempty"`
	Binding     string `json:"binding,omitempty"`
	Kind        string `json:"kind,omitempty"`
	AutoRenew   bool   `json:"auto_renew,omitempty"`
	Ends        string `json:"ends,omitempty"`
	CountsUntil string `json:"counts_until,omitempty"`
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
	Warning     string `json:"warning,omitempty"`
	// Nodes are the live nodes presenting the key (with --redis).
	Nodes []string `json:"nodes,omitempty"`
}

func newLicensesView(s *license.Set, hostIDNote string) licensesView {
	v := licensesView{
		HostID:      string(s.HostID()),
		HostIDNote:  hostIDNote,
		Domain:      s.Domain(),
		EvaluatedAt: s.EvaluatedAt().UTC(),
		Products:    []productView{},
		Problems:    s.Problems(),
	}
	for _, e := range s.KeysFor("") {
		v.Unreadable = append(v.Unreadable, keyViewOf(e))
	}
	for _, p := range s.Products() {
		pv := productView{Product: p, TotalChannels: s.Total(p), Keys: []keyView{}}
		for _, e := range s.KeysFor(p) {
			pv.Keys = append(pv.Keys, keyViewOf(e))
		}
		v.Products = append(v.Products, pv)
	}
	return v
}

func keyViewOf(e license.Entry) keyView {
	kv := keyView{File: e.File, Status: string(e.Status), Reason: e.Reason, Warning: e.Warning}
	if e.Key != nil {
		kv.KeyID, kv.Channels, kv.Binding = e.KeyID, e.Channels, e.Binding.String()
		kv.Kind, kv.AutoRenew = string(e.Kind), e.AutoRenew
		kv.Ends = e.Ends.UTC().Format(license.TimeLayout)
		kv.CountsUntil = e.CountsUntil.UTC().Format(license.TimeLayout)
	}
	return kv
}

func renderLicensesJSON(w io.Writer, v licensesView) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// renderLicensesText prints the view as aligned tables, one per product, in the
// spirit of Asterisk's "g729 show licenses".
func renderLicensesText(w io.Writer, v licensesView) error {
	var b strings.Builder
	host := v.HostID
	if host == "" {
		host = "(none)"
	}
	fmt.Fprintf(&b, "Host ID: %s", host)
	if v.Domain != "" {
		fmt.Fprintf(&b, "   Domain: %s", v.Domain)
	}
	fmt.Fprintf(&b, "   At: %s\n", v.EvaluatedAt.Format(license.TimeLayout))
	if v.HostIDNote != "" {
		fmt.Fprintf(&b, "note: %s\n", v.HostIDNote)
	}
	for _, p := range v.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	if len(v.Products) == 0 && len(v.Unreadable) == 0 {
		b.WriteString("\nNo license key files found.\n")
	}
	if len(v.ClusterNodes) > 0 {
		fmt.Fprintf(&b, "Cluster: %s live (%s)\n", plural(len(v.ClusterNodes), "node"), strings.Join(v.ClusterNodes, ", "))
	}
	for _, p := range v.Products {
		valid := 0
		for _, k := range p.Keys {
			if k.Status == string(license.StatusValid) {
				valid++
			}
		}
		if p.Cluster != nil {
			fmt.Fprintf(&b, "\n%s: %s licensed in the cluster (this host: %s, %d of %s valid)\n", p.Product, plural(p.Cluster.Total, "channel"), plural(p.TotalChannels, "channel"), valid, plural(len(p.Keys), "key"))
		} else {
			fmt.Fprintf(&b, "\n%s: %s licensed (%d of %s valid)\n", p.Product, plural(p.TotalChannels, "channel"), valid, plural(len(p.Keys), "key"))
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		if p.Cluster != nil {
			fmt.Fprintln(tw, "  KEY ID\tCHANNELS\tBINDING\tKIND\tENDS\tFILE\tSTATUS\tNODES")
		} else {
			fmt.Fprintln(tw, "  KEY ID\tCHANNELS\tBINDING\tKIND\tENDS\tFILE\tSTATUS")
		}
		for _, k := range p.Keys {
			file := "-"
			if k.File != "" {
				file = filepath.Base(k.File)
			}
			line := fmt.Sprintf("  %s\t%d\t%s\t%s\t%s\t%s\t%s", k.KeyID, k.Channels, strings.Replace(k.Binding, "host-id ", "host ", 1), kindText(k), shortTime(k.Ends), file, keyStatusText(k))
			if p.Cluster != nil {
				nodes := "-"
				if len(k.Nodes) > 0 {
					nodes = strings.Join(k.Nodes, ",")
				}
				line += "\t" + nodes
			}
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, k := range p.Keys {
			if k.Warning != "" {
				fmt.Fprintf(&b, "  warning: %s %s\n", k.KeyID, k.Warning)
			}
		}
		if p.Cluster != nil {
			renderClusterText(&b, p.Cluster)
		}
	}
	if len(v.Unreadable) > 0 {
		b.WriteString("\nUnreadable key files:\n")
		for _, k := range v.Unreadable {
			fmt.Fprintf(&b, "  INVALID: %s\n", k.Reason)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func kindText(k keyView) string {
	if k.AutoRenew {
		return k.Kind + ", auto-renew"
	}
	return k.Kind
}

// shortTime prints a key-file instant as a bare date when it is midnight.
func shortTime(s string) string {
	if d, ok := strings.CutSuffix(s, "T00:00:00Z"); ok {
		return d
	}
	return s
}

func keyStatusText(k keyView) string {
	switch license.Status(k.Status) {
	case license.StatusValid:
		return "valid"
	case license.StatusExpired:
		return "EXPIRED" + strings.TrimPrefix(k.Reason, "expired")
	case license.StatusIgnored:
		return "ignored: " + k.Reason
	}
	return "INVALID: " + k.Reason
}

// statusText is one entry's status for line-oriented output (license verify).
func statusText(e license.Entry) string {
	return keyStatusText(keyViewOf(e))
}
