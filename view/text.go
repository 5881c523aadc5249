package view

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/licbridge/licbridge/license"
)

// WriteText prints the view as aligned tables, one per product, in the
// spirit of Asterisk's "g729 show licenses": keys, then use, peak and state.
// searched are the directories the key files were looked for in (named when
// none is found). It is what licbridge show licenses prints.
func WriteText(w io.Writer, v View, searched []license.Dir) error {
	var b strings.Builder
	writeHeader(&b, v, searched)
	for _, p := range v.Products {
		if err := writeProduct(&b, v, p); err != nil {
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

func writeHeader(b *strings.Builder, v View, searched []license.Dir) {
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
		fmt.Fprintf(b, "Cluster: %s live (%s)\n", Plural(len(v.Nodes), "node"), strings.Join(v.Nodes, ", "))
	}
}

// noKeysText says that no key file was found, and where it was looked for.
func noKeysText(searched []license.Dir) string {
	if len(searched) == 0 {
		return "No license key files found (no licenses directory searched)."
	}
	return fmt.Sprintf("No license key files (*%s) found in %s.", license.FileSuffix, DirList(searched))
}

func prefixed(pre, s string) string {
	if s == "" {
		return ""
	}
	return pre + s
}

// writeProduct prints one product: a title line, the key table, the key
// warnings, then (with usage) what is in use and the state.
func writeProduct(b *strings.Builder, v View, p Product) error {
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
		fmt.Fprintf(b, "\n%s: %s licensed in the cluster (this host: %s, %d of %s valid)\n", p.Name, Plural(p.Total, "channel"), Plural(p.LocalTotal, "channel"), valid, Plural(local, "key"))
	} else {
		fmt.Fprintf(b, "\n%s: %s licensed (%d of %s valid)\n", p.Name, Plural(p.Total, "channel"), valid, Plural(local, "key"))
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
		writeUsage(b, p)
		return nil
	}
	for _, k := range p.Keys {
		if k.Warning != "" {
			fmt.Fprintf(b, "  warning: %s %s\n", k.ID, k.Warning)
		}
	}
	return nil
}

func keyLine(k Key, nodes bool) string {
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
	line := fmt.Sprintf("  %s\t%d\t%s\t%s\t%s\t%s\t%s", k.ID, k.Channels, k.Binding, kind, ends, file, StatusText(k))
	if nodes {
		n := "-"
		if len(k.Nodes) > 0 {
			n = strings.Join(k.Nodes, ",")
		}
		line += "\t" + n
	}
	return line
}

// writeUsage prints a product's use, peak and state under its keys.
func writeUsage(b *strings.Builder, p Product) {
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
		fmt.Fprintf(b, ", %s over the limit", Plural(st.OverDays, "day"))
	}
	if st.LocksIn > 0 && st.Phase != PhaseLocked {
		fmt.Fprintf(b, ", locks in %s", Plural(st.LocksIn, "day"))
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

// StatusText is a key's status as the CLI words it (from Key.Status, the one
// status every surface shows).
func StatusText(k Key) string {
	switch k.Status {
	case StatusValid, StatusExpiring:
		return "valid"
	case StatusGrace:
		return "valid, in renewal grace"
	case StatusExpired:
		return "EXPIRED" + strings.TrimPrefix(k.Reason, "expired")
	case StatusIgnored:
		return "ignored: " + k.Reason
	}
	return "INVALID: " + k.Reason
}

// Plural writes "1 channel", "2 channels".
func Plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// DirList is the licence directories' paths, comma-separated.
func DirList(dirs []license.Dir) string {
	s := make([]string, len(dirs))
	for i, d := range dirs {
		s[i] = d.Path
	}
	return strings.Join(s, ", ")
}
