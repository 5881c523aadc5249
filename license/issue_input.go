package license

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// IssueInput is a key to mint as an operator writes it (the flags of
// licbridge license issue): text still to parse, and which of the optional
// settings were given at all (nil: not given). Its errors name the flags.
type IssueInput struct {
	Product   string
	Channels  int
	Kind      string
	AutoRenew bool
	ID        string
	// HostID, Domain and Unbound choose the binding: at most one.
	HostID, Domain *string
	Unbound        bool
	// Issued and Ends are TimeLayout or a date (ParseTime).
	Issued, Ends *string
}

// NewKey parses in and builds its unsigned key (NewKey), refusing ambiguous
// or contradictory settings with an error that names the flag at fault.
func (in IssueInput) NewKey(cat *Catalog, now time.Time) (*Key, error) {
	p := IssueParams{Product: in.Product, Channels: in.Channels, Kind: Kind(in.Kind), AutoRenew: in.AutoRenew, ID: in.ID}
	var err error
	if p.Binding, p.Bound, err = in.binding(); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		flag string
		in   *string
		dst  *time.Time
	}{{"issued", in.Issued, &p.Issued}, {"ends", in.Ends, &p.Ends}} {
		if t.in != nil {
			if *t.dst, err = ParseTime(*t.in); err != nil {
				return nil, fmt.Errorf("--%s: %w", t.flag, err)
			}
		}
	}
	k, err := NewKey(cat, p, now)
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		return nil, errors.New("--" + fe.Error())
	case errors.Is(err, ErrNoBinding):
		return nil, fmt.Errorf("%w: --host-id ID, --domain NAME or --unbound", err)
	}
	return k, err
}

// binding is the binding the input chose, and whether it chose one.
func (in IssueInput) binding() (Binding, bool, error) {
	var given []string
	for _, g := range []struct {
		flag string
		set  bool
	}{{"--host-id", in.HostID != nil}, {"--domain", in.Domain != nil}, {"--unbound", in.Unbound}} {
		if g.set {
			given = append(given, g.flag)
		}
	}
	switch {
	case len(given) > 1:
		return Binding{}, false, fmt.Errorf("%s exclude each other: choose one binding", strings.Join(given, " and "))
	case in.HostID != nil:
		id, err := ParseHostID(*in.HostID)
		if err != nil {
			return Binding{}, false, fmt.Errorf("--host-id: %w", err)
		}
		return Binding{Type: BoundHost, HostID: id}, true, nil
	case in.Domain != nil:
		d := strings.ToLower(*in.Domain)
		if !ValidDomain(d) {
			return Binding{}, false, fmt.Errorf("--domain %q: want 1 to 253 characters of a-z, 0-9, '.', '_' and '-'", d)
		}
		return Binding{Type: BoundDomain, Domain: d}, true, nil
	}
	return Binding{}, len(given) == 1, nil
}
