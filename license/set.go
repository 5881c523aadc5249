package license

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Status is the outcome for one key file.
type Status string

// The statuses of a key file.
const (
	// StatusValid: the key counts.
	StatusValid Status = "valid"
	// StatusInvalid: unparsable, bad signature, foreign binding, unknown product, not yet valid.
	StatusInvalid Status = "invalid"
	// StatusIgnored: authentic and in time, but not counted (superseded, or a
	// second key of a product that does not stack).
	StatusIgnored Status = "ignored"
	// StatusExpired: the key's window is over.
	StatusExpired Status = "expired"
)

// Entry is one key file and what became of it. Fields taken from the key are
// zero when the file did not parse.
type Entry struct {
	// File is the path the key was read from.
	File string
	// Key is the parsed key, nil when the file did not parse. Do not modify it.
	Key *Key

	KeyID     string
	Product   string
	Channels  int
	Binding   Binding
	Kind      Kind
	AutoRenew bool
	Issued    time.Time
	// Ends is the formal end date.
	Ends time.Time
	// CountsUntil is when the key stops counting (renewal grace and emergency term applied).
	CountsUntil time.Time

	Status Status
	// Reason says why the key is not valid; empty when valid.
	Reason string
	// Warning is set for valid keys nearing their end or in renewal grace.
	Warning string

	// belongs: authentic, of a known product and bound to this node (time aside).
	belongs bool
}

// Candidate is one key file to evaluate: its parsed key, or the error that
// prevented parsing.
type Candidate struct {
	File string
	Key  *Key
	Err  error
}

// EvalOptions are the node's facts the rules need.
type EvalOptions struct {
	// Trusted issuer keys. Empty: every key is untrusted.
	Trusted Trusted
	// HostID of this node; empty when it has none (host-bound keys are then invalid).
	HostID HostID
	// Domain (cluster name) of this node; empty for none.
	Domain string
	// Catalog of products. Nil: the built-in catalog.
	Catalog *Catalog
	// Policy holds the time rules.
	Policy Policy
	// Now is the instant of evaluation.
	Now time.Time
	// IgnoreBinding skips the host ID and domain checks (an issuer verifying keys
	// meant for other hosts).
	IgnoreBinding bool

	// sigs caches verified signatures across the loads of one Watcher.
	sigs *sigCache
}

// Set is the evaluated license keys of a node at one instant. A Set is immutable
// and safe for concurrent use.
type Set struct {
	entries  []Entry
	totals   map[string]int
	problems []string
	at       time.Time
	next     time.Time
	hostID   HostID
	domain   string
}

// Evaluate applies every rule to the candidates and returns the resulting Set.
func Evaluate(cands []Candidate, opts EvalOptions) *Set {
	if opts.Catalog == nil {
		opts.Catalog, _ = NewCatalog()
	}
	s := &Set{
		entries: make([]Entry, len(cands)),
		totals:  map[string]int{},
		at:      opts.Now,
		hostID:  opts.HostID,
		domain:  opts.Domain,
	}
	// The per-file checks (mostly signature verification) are independent: spread them.
	parallel(len(cands), func(i int) { s.entries[i] = checkOne(cands[i], opts) })

	supersede(s.entries)
	slices.SortFunc(s.entries, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Product, b.Product), cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.File, b.File))
	})
	// Non-stacking products: the first valid key by key ID counts (entries are sorted).
	used := map[string]string{}
	for i := range s.entries {
		e := &s.entries[i]
		if e.Status != StatusValid {
			continue
		}
		p, _ := opts.Catalog.Lookup(e.Product)
		if p.countsOne() {
			if first, ok := used[e.Product]; ok {
				e.Status = StatusIgnored
				e.Reason = fmt.Sprintf("only one %s key is used per host: %s is in use (first by key ID)", e.Product, first)
				e.Warning = ""
				continue
			}
			used[e.Product] = e.KeyID
		}
		s.totals[e.Product] += e.Channels
	}
	for i := range s.entries {
		if e := &s.entries[i]; e.Key != nil {
			if n := opts.Policy.NextChange(e.Key, opts.Now); !n.IsZero() && (s.next.IsZero() || n.Before(s.next)) {
				s.next = n
			}
		}
	}
	return s
}

// checkOne applies the per-file rules: form, signature, product, binding, time.
func checkOne(c Candidate, opts EvalOptions) Entry {
	e := Entry{File: c.File, Key: c.Key, Status: StatusInvalid}
	if c.Err != nil || c.Key == nil {
		e.Reason = "unreadable"
		if c.Err != nil {
			e.Reason = c.Err.Error()
		}
		return e
	}
	k := c.Key
	e.KeyID, e.Product, e.Channels, e.Binding = k.ID, k.Product, k.Channels, k.Binding
	e.Kind, e.AutoRenew, e.Issued, e.Ends = k.Kind, k.AutoRenew, k.Issued, k.Ends
	e.CountsUntil = opts.Policy.CountsUntil(k)

	if len(opts.Trusted) == 0 {
		e.Reason = errNoTrusted.Error()
		return e
	}
	if err := opts.sigs.verify(opts.Trusted, k); err != nil {
		e.Reason = err.Error()
		return e
	}
	if _, ok := opts.Catalog.Lookup(k.Product); !ok {
		e.Reason = fmt.Sprintf("unknown product %s (add it to products: in the config)", k.Product)
		return e
	}
	if !opts.IgnoreBinding {
		if reason := bindingReason(k.Binding, opts.HostID, opts.Domain); reason != "" {
			e.Reason = reason
			return e
		}
	}
	e.belongs = true
	t := opts.Policy.Assess(k, opts.Now)
	switch t.Phase {
	case NotYetValid:
		e.Reason = "not yet valid (starts " + k.Issued.UTC().Format(TimeLayout) + ")"
	case Ended:
		e.Status = StatusExpired
		e.Reason = "expired on " + t.CountsUntil.UTC().Format(TimeLayout)
		if k.AutoRenew && k.Kind == KindCommercial {
			e.Reason += " (formal end " + k.Ends.UTC().Format(TimeLayout) + " plus renewal grace)"
		}
	case Active:
		e.Status = StatusValid
		e.Warning = t.Warning
	}
	return e
}

// bindingReason says why a key bound to b does not belong on this node, or "".
func bindingReason(b Binding, host HostID, domain string) string {
	switch b.Type {
	case BoundHost:
		if host == "" {
			return fmt.Sprintf("is for host ID %s, and this host has no host ID (pass --host-id)", b.HostID)
		}
		if b.HostID != host {
			return fmt.Sprintf("is for another host ID (file: %s, this host: %s)", b.HostID, host)
		}
	case BoundDomain:
		if domain == "" {
			return fmt.Sprintf("is for domain %s, this node has no domain (set domain in the config)", b.Domain)
		}
		if b.Domain != domain {
			return fmt.Sprintf("is for domain %s, this node is in %s", b.Domain, domain)
		}
	}
	return ""
}

// supersede keeps one file per key ID among the authentic, bound-here ones: an
// active one before an inactive one, then the latest end date, then the latest
// issue, then the first file name. The others are reported as superseded.
func supersede(entries []Entry) {
	byID := map[string][]int{}
	for i, e := range entries {
		if e.belongs {
			byID[e.KeyID] = append(byID[e.KeyID], i)
		}
	}
	for _, idx := range byID {
		if len(idx) < 2 {
			continue
		}
		win := idx[0]
		for _, i := range idx[1:] {
			if better(entries[i], entries[win]) {
				win = i
			}
		}
		for _, i := range idx {
			if i == win {
				continue
			}
			e := &entries[i]
			e.Status = StatusIgnored
			e.Reason = fmt.Sprintf("superseded by %s (same key ID, ends %s)", entries[win].File, entries[win].Ends.UTC().Format(TimeLayout))
			e.Warning = ""
		}
	}
}

func better(a, b Entry) bool {
	if (a.Status == StatusValid) != (b.Status == StatusValid) {
		return a.Status == StatusValid
	}
	if !a.Ends.Equal(b.Ends) {
		return a.Ends.After(b.Ends)
	}
	if !a.Issued.Equal(b.Issued) {
		return a.Issued.After(b.Issued)
	}
	return a.File < b.File
}

// parallel runs fn(0..n-1) on up to GOMAXPROCS goroutines, in chunks.
func parallel(n int, fn func(int)) {
	const chunk = 64
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					fn(i)
				}
			}
		})
	}
	wg.Wait()
}

// Entries, totals and other views of a Set.

// Keys returns every key file, sorted by product, key ID and file. Unparsable
// files have an empty Product and sort first.
func (s *Set) Keys() []Entry { return slices.Clone(s.entries) }

// KeysFor returns the key files of one product ("" for unparsable files).
func (s *Set) KeysFor(product string) []Entry {
	var out []Entry
	for _, e := range s.entries {
		if e.Product == product {
			out = append(out, e)
		}
	}
	return out
}

// Products lists the products that have at least one key file that belongs
// here (authentic, of a known product, bound to this node; in time or not),
// sorted. An invalid key names no product: a tampered "Product:" line would
// otherwise invent one. Unparsable files (product "") are not listed either;
// see KeysFor("") and Invalid.
func (s *Set) Products() []string {
	var out []string
	for _, e := range s.entries {
		if e.belongs && e.Product != "" && !slices.Contains(out, e.Product) {
			out = append(out, e.Product)
		}
	}
	return out
}

// Invalid returns the key files that are invalid on this node (unparsable,
// tampered, unsigned, for another host or domain, of an unknown product, not
// yet valid), each with its Reason, sorted like Keys.
func (s *Set) Invalid() []Entry {
	var out []Entry
	for _, e := range s.entries {
		if e.Status == StatusInvalid {
			out = append(out, e)
		}
	}
	return out
}

// Total is the stacked channel total of product: the sum of its valid keys.
func (s *Set) Total(product string) int { return s.totals[product] }

// Totals returns every product's stacked total (products without valid keys are absent).
func (s *Set) Totals() map[string]int {
	out := make(map[string]int, len(s.totals))
	for k, v := range s.totals {
		out[k] = v
	}
	return out
}

// Problems lists what went wrong outside key files: missing or unreadable
// directories, and *.lic names that are not regular files (pipes, devices,
// sockets). Invalid key files are listed by Invalid.
func (s *Set) Problems() []string { return slices.Clone(s.problems) }

// EvaluatedAt is the instant the rules were applied at.
func (s *Set) EvaluatedAt() time.Time { return s.at }

// NextChange is the first instant after EvaluatedAt at which re-evaluating the
// same files could give a different Set (a key starts, ends or crosses a warning
// threshold); zero when none. A Watcher re-evaluates then.
func (s *Set) NextChange() time.Time { return s.next }

// HostID is the host ID the keys were checked against.
func (s *Set) HostID() HostID { return s.hostID }

// Domain is the domain the keys were checked against.
func (s *Set) Domain() string { return s.domain }

// Equal reports whether two sets give the same outcome for every file (ignoring
// the evaluation instant), so that subscribers are told only of real changes.
func (s *Set) Equal(o *Set) bool {
	if s == nil || o == nil {
		return s == o
	}
	if len(s.entries) != len(o.entries) || !slices.Equal(s.problems, o.problems) {
		return false
	}
	for i := range s.entries {
		a, b := s.entries[i], o.entries[i]
		if a.File != b.File || a.Status != b.Status || a.Reason != b.Reason || a.Warning != b.Warning ||
			!sameKey(a.Key, b.Key) {
			return false
		}
	}
	return true
}

func sameKey(a, b *Key) bool {
	if a == nil || b == nil {
		return a == b
	}
	return string(a.Canonical()) == string(b.Canonical()) && string(a.Signature) == string(b.Signature)
}

// errNoTrusted is reported when the node trusts no issuer at all.
var errNoTrusted = errors.New("no trusted issuer public key (pass --issuer-pub or set issuer_pub)")
