package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/license"
	"github.com/licbridge/licbridge/view"
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
			&cli.StringFlag{Name: "state-dir", Usage: "the daemon's state dir, where it records its admin address (default " + defaultStateDir + "; config state_dir)", EnvVars: []string{"LICBRIDGE_STATE_DIR"}},
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
			v, err := licensesViewOf(c, cfg, set, nl.HostIDNote)
			if err != nil {
				return fmt.Errorf("show licenses: %w", err)
			}
			if c.Bool("json") {
				return renderLicensesJSON(c.App.Writer, v)
			}
			return renderLicensesText(c.App.Writer, v, nl.Options.Dirs)
		},
	}
}

// licensesViewOf is what show licenses prints: the cluster's view read from
// the shared store (--redis), else the running daemon's (found through its
// state dir), else this host's key files alone, saying that no daemon runs.
// The key files are always this command's own reading of them.
func licensesViewOf(c *cli.Context, cfg *Config, set *license.Set, hostIDNote string) (view.View, error) {
	overrideString(c, "redis", &cfg.Store.Redis)
	overrideString(c, "redis-password", &cfg.Store.Password)
	modeOf := func(p string) view.Mode { return view.Mode(cfg.Enforcement[p]) }
	if cfg.Store.Redis != "" {
		v, err := clusterSnapshot(c.Context, cfg)
		if err != nil {
			return view.View{}, err
		}
		v.From = "shared store " + redisstore.Redact(cfg.Store.Redis)
		v.AddKeyFiles(set, modeOf)
		v.HostIDNote = hostIDNote
		return v, nil
	}
	v, err := daemonView(c.Context, daemonStateDir(c, cfg), cfg.HTTP.Token)
	if err != nil {
		v = view.FromSet(set, hostIDNote)
		v.Note = err.Error()
		return v, nil
	}
	v.AddKeyFiles(set, modeOf)
	v.HostIDNote = hostIDNote
	return v, nil
}

func renderLicensesJSON(w io.Writer, v view.View) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// renderLicensesText prints the view as aligned tables, one per product, in the
// spirit of Asterisk's "g729 show licenses": keys, then use, peak and state.
// searched are the directories the key files were looked for in (named when
// none is found).
func renderLicensesText(w io.Writer, v view.View, searched []license.Dir) error {
	var b strings.Builder
	renderHeader(&b, v, searched)
	for _, p := range v.Products {
		if err := renderProductText(&b, v, p); err != nil {
			return err
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

func renderHeader(b *strings.Builder, v view.View, searched []license.Dir) {
	host := v.HostID
	if host == "" {
		host = "(none)"
	}
	fmt.Fprintf(b, "Host ID: %s", host)
	if v.Domain != "" {
		fmt.Fprintf(b, "   Domain: %s", v.Domain)
	}
	fmt.Fprintf(b, "   At: %s\n", v.Time.UTC().Format(license.TimeLayout))
	if v.HostIDNote != "" {
		fmt.Fprintf(b, "note: %s\n", v.HostIDNote)
	}
	for _, p := range v.Problems {
		fmt.Fprintf(b, "problem: %s\n", p)
	}
	switch {
	case v.Usage && v.From != "":
		fmt.Fprintf(b, "Usage from the %s\n", v.From)
	case v.Note != "":
		fmt.Fprintf(b, "%s: keys and totals only\n", v.Note)
	}
	if v.Store != nil && !v.Store.Available {
		fmt.Fprintf(b, "warning: the shared store is down%s\n", prefixed(": ", v.Store.Error))
	}
	if len(v.Products) == 0 && len(v.Unreadable) == 0 {
		b.WriteString("\n" + noKeysText(searched) + "\n")
	}
	if len(v.Nodes) > 0 {
		fmt.Fprintf(b, "Cluster: %s live (%s)\n", plural(len(v.Nodes), "node"), strings.Join(v.Nodes, ", "))
	}
}

// noKeysText says that no key file was found, and where it was looked for.
func noKeysText(searched []license.Dir) string {
	if len(searched) == 0 {
		return "No license key files found (no licenses directory searched)."
	}
	return fmt.Sprintf("No license key files (*%s) found in %s.", license.FileSuffix, dirList(searched))
}

func prefixed(pre, s string) string {
	if s == "" {
		return ""
	}
	return pre + s
}

// renderProductText prints one product: a title line, the key table, the
// key warnings, then (with usage) what is in use and the state.
func renderProductText(b *strings.Builder, v view.View, p view.Product) error {
	valid, local := 0, 0
	for _, k := range p.Keys {
		if k.File == "" {
			continue
		}
		local++
		if k.Counts() {
			valid++
		}
	}
	if cluster := v.Usage && len(v.Nodes) > 1 || p.Total != p.LocalTotal; v.Usage && cluster {
		fmt.Fprintf(b, "\n%s: %s licensed in the cluster (this host: %s, %d of %s valid)\n", p.Name, plural(p.Total, "channel"), plural(p.LocalTotal, "channel"), valid, plural(local, "key"))
	} else {
		fmt.Fprintf(b, "\n%s: %s licensed (%d of %s valid)\n", p.Name, plural(p.Total, "channel"), valid, plural(local, "key"))
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	head := "  KEY ID\tCHANNELS\tBINDING\tKIND\tENDS\tFILE\tSTATUS"
	if v.Usage {
		head += "\tNODES"
	}
	fmt.Fprintln(tw, head)
	for _, k := range p.Keys {
		fmt.Fprintln(tw, keyLine(k, v.Usage))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.Usage {
		// The product's warnings include the keys'.
		renderUsageText(b, p)
		return nil
	}
	for _, k := range p.Keys {
		if k.Warning != "" {
			fmt.Fprintf(b, "  warning: %s %s\n", k.ID, k.Warning)
		}
	}
	return nil
}

func keyLine(k view.Key, nodes bool) string {
	file, kind, ends := "-", "-", "-"
	if k.File != "" {
		file = filepath.Base(k.File)
	}
	if k.Kind != "" {
		kind = k.Kind
		if k.AutoRenew {
			kind += ", auto-renew"
		}
	}
	if !k.EndDate.IsZero() {
		ends = shortTime(k.EndDate.UTC().Format(license.TimeLayout))
	}
	line := fmt.Sprintf("  %s\t%d\t%s\t%s\t%s\t%s\t%s", k.ID, k.Channels, k.Binding, kind, ends, file, keyStatusText(k))
	if nodes {
		n := "-"
		if len(k.Nodes) > 0 {
			n = strings.Join(k.Nodes, ",")
		}
		line += "\t" + n
	}
	return line
}

// renderUsageText prints a product's use, peak and state under its keys.
func renderUsageText(b *strings.Builder, p view.Product) {
	var nodes []string
	for n, c := range p.InUseByNode {
		nodes = append(nodes, fmt.Sprintf("%s %d", n, c))
	}
	slices.Sort(nodes)
	fmt.Fprintf(b, "  in use: %d of %d now", p.InUse, p.Total)
	if len(nodes) > 0 {
		fmt.Fprintf(b, " (%s)", strings.Join(nodes, ", "))
	}
	if p.ObservedLegs != nil {
		fmt.Fprintf(b, ", %d legs on the wire", *p.ObservedLegs)
	} else {
		b.WriteString(", no SIP monitor reporting")
	}
	fmt.Fprintf(b, ", %d seen by AMI, 14-day peak %d\n", p.Passive, p.Peak14d)
	st := p.Overage
	fmt.Fprintf(b, "  enforcement: %s, state %s", p.Enforcement, st.Phase)
	if st.OverDays > 0 {
		fmt.Fprintf(b, ", %s over the limit", plural(st.OverDays, "day"))
	}
	if st.LocksIn > 0 && st.Phase != view.PhaseLocked {
		fmt.Fprintf(b, ", locks in %s", plural(st.LocksIn, "day"))
	}
	b.WriteString("\n")
	for _, w := range p.Warnings {
		fmt.Fprintf(b, "  warning: %s\n", w)
	}
}

// shortTime prints a key-file instant as a bare date when it is midnight.
func shortTime(s string) string {
	if d, ok := strings.CutSuffix(s, "T00:00:00Z"); ok {
		return d
	}
	return s
}

// keyStatusText is a key's status as the CLI words it (from view.Key.Status,
// the one status every surface shows).
func keyStatusText(k view.Key) string {
	switch k.Status {
	case view.StatusValid, view.StatusExpiring:
		return "valid"
	case view.StatusGrace:
		return "valid, in renewal grace"
	case view.StatusExpired:
		return "EXPIRED" + strings.TrimPrefix(k.Reason, "expired")
	case view.StatusIgnored:
		return "ignored: " + k.Reason
	}
	return "INVALID: " + k.Reason
}

// statusText is one entry's status for line-oriented output (license verify).
func statusText(e license.Entry) string {
	return keyStatusText(view.KeyOf(e, time.Now()))
}
