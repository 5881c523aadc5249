package issuer

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/licbridge/licbridge/license"
)

// Summary is the entitlement in one line, as the issuer commands print it:
// product, channels, kind, formal end, and whether it is revoked.
func (e Entitlement) Summary() string {
	s := fmt.Sprintf("%s, %s, %s, ends %s", e.Product, channels(e.Channels), e.Kind, e.Ends.Format(license.TimeLayout))
	if !e.Revoked.IsZero() {
		s += ", revoked"
	}
	return s
}

// WriteList writes the entitlements as a table (licbridge issuer list): one
// line each, with its host count of the hosts allowed and whether it is revoked.
func WriteList(w io.Writer, ents []Listed) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tPRODUCT\tCHANNELS\tKIND\tENDS\tHOSTS\tSTATE\tCUSTOMER")
	for _, e := range ents {
		state := "active"
		if !e.Revoked.IsZero() {
			state = "revoked " + e.Revoked.Format("2006-01-02")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d/%d\t%s\t%s\n", e.KeyID, e.Product, e.Channels, e.Kind,
			e.Ends.Format("2006-01-02"), e.Hosts, e.MaxHosts, state, e.Customer)
	}
	return tw.Flush()
}

// WriteActivations writes a key's activations as a table (licbridge issuer
// activations): the hosts, their domain and address, and when.
func WriteActivations(w io.Writer, acts []Activation) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST ID\tDOMAIN\tADDRESS\tACTIVATED")
	for _, a := range acts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.HostID, a.Domain, a.Address, a.At.Format(license.TimeLayout))
	}
	return tw.Flush()
}

// WriteUpdates writes what Update did, a line per installed file (licbridge
// license update), and returns how many files it could not update.
func WriteUpdates(w io.Writer, res []UpdateResult) (failed int) {
	for _, r := range res {
		msg := "unchanged"
		switch {
		case r.Err != nil: // unreachable, refused or unusable: the installed file stays
			failed++
			msg = fmt.Sprintf("kept as it is: %v", r.Err)
		case r.Changed():
			msg = fmt.Sprintf("updated: %s, ends %s (was %s, ends %s)", channels(r.New.Channels), r.New.Ends.Format(license.TimeLayout),
				channels(r.Key.Channels), r.Key.Ends.Format(license.TimeLayout))
		}
		fmt.Fprintf(w, "%s: %s\n", r.Path, msg)
	}
	return failed
}

// channels is n channels in words.
func channels(n int) string {
	if n == 1 {
		return "1 channel"
	}
	return fmt.Sprintf("%d channels", n)
}
