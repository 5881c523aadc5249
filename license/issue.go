package license

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// IssueParams describe a key to mint (licbridge license issue).
type IssueParams struct {
	Product   string
	Channels  int
	Kind      Kind // empty: commercial
	AutoRenew bool
	// Binding is the chosen binding; Bound says one was chosen (a commercial
	// key needs one: the issuer's own host is rarely the target).
	Binding Binding
	Bound   bool
	// Issued is the start of validity (zero: now); Ends the formal end
	// (zero: a year after Issued, 30 days for trial and emergency keys).
	Issued, Ends time.Time
	// ID is the key ID (empty: PRODUCT-<8 random hex digits>).
	ID string
}

// ErrNoBinding: a commercial key names its binding (host ID, domain or
// unbound): the issuer's own host is rarely the target, so there is no default.
var ErrNoBinding = errors.New("choose the binding of a commercial key")

// FieldError is a refused IssueParams field; Field is its name as a flag
// (channels, kind, ends, key-id, auto-renew).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Msg }

// NewKey builds the unsigned key of p against the catalog, refusing
// contradictory or out-of-rule parameters; now is the default issue time.
func NewKey(cat *Catalog, p IssueParams, now time.Time) (*Key, error) {
	k := &Key{Product: p.Product, Channels: p.Channels, AutoRenew: p.AutoRenew, Kind: p.Kind, Binding: p.Binding, ID: p.ID}
	if k.Kind == "" {
		k.Kind = KindCommercial
	}
	if err := checkIssueKind(cat, k); err != nil {
		return nil, err
	}
	if !p.Bound && k.Kind == KindCommercial {
		return nil, ErrNoBinding
	}
	if !p.Bound {
		k.Binding = Binding{Type: Unbound}
	}
	if err := issueTerm(k, p, now); err != nil {
		return nil, err
	}
	if k.ID == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		k.ID = strings.ToUpper(k.Product + "-" + hex.EncodeToString(b[:]))
	}
	if !ValidKeyID(k.ID) {
		return nil, &FieldError{"key-id", fmt.Sprintf("%q: want 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'", k.ID)}
	}
	return k, nil
}

// checkIssueKind checks the product, channels, kind and auto-renewal.
func checkIssueKind(cat *Catalog, k *Key) error {
	prod, ok := cat.Lookup(k.Product)
	if !ok {
		return fmt.Errorf("unknown product %q (known: %s)", k.Product, strings.Join(cat.Names(), ", "))
	}
	if err := CheckIssue(prod, k.Channels); err != nil {
		return &FieldError{"channels", fmt.Sprintf("%d: %v", k.Channels, err)}
	}
	switch k.Kind {
	case KindCommercial, KindTrial, KindEmergency:
	default:
		return &FieldError{"kind", fmt.Sprintf("%q: want commercial, trial or emergency", k.Kind)}
	}
	if k.AutoRenew && k.Kind != KindCommercial {
		return &FieldError{"auto-renew", fmt.Sprintf("is for commercial keys, not %s keys", k.Kind)}
	}
	return nil
}

// issueTerm sets the issue and end times: defaults by kind, an end after the
// start, an emergency key at most EmergencyTerm.
func issueTerm(k *Key, p IssueParams, now time.Time) error {
	k.Issued = p.Issued
	if k.Issued.IsZero() {
		k.Issued = now.UTC().Truncate(time.Second)
	}
	k.Ends = p.Ends
	switch {
	case !k.Ends.IsZero():
	case k.Kind == KindCommercial:
		k.Ends = k.Issued.AddDate(1, 0, 0)
	default:
		k.Ends = k.Issued.Add(EmergencyTerm)
	}
	if !k.Ends.After(k.Issued) {
		return &FieldError{"ends", fmt.Sprintf("%s is not after the issue time %s", k.Ends.Format(TimeLayout), k.Issued.Format(TimeLayout))}
	}
	if limit := k.Issued.Add(EmergencyTerm); k.Kind == KindEmergency && k.Ends.After(limit) {
		return &FieldError{"ends", fmt.Sprintf("%s: an emergency key lasts at most 30 days from issue (%s)", k.Ends.Format(TimeLayout), limit.Format(TimeLayout))}
	}
	return nil
}
