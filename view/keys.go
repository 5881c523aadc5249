package view

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/licbridge/licbridge/license"
)

// KeyOf is a key file as every surface shows it: the one mapping from
// license's entries, so that a status or a binding reads the same on the CLI,
// the API and the page.
func KeyOf(e license.Entry, now time.Time) Key {
	k := Key{ID: e.KeyID, File: e.File, Status: statusOf(e, now), Reason: e.Reason, Warning: e.Warning}
	if k.ID == "" {
		k.ID = e.File
	}
	if e.Key == nil {
		return k
	}
	k.Channels, k.Binding = e.Channels, e.Binding.Short()
	k.Kind, k.AutoRenew = string(e.Kind), e.AutoRenew
	k.EndDate, k.CountsUntil = e.Ends, e.CountsUntil
	if k.Status == StatusExpiring || k.Status == StatusGrace {
		d := int(e.CountsUntil.Sub(now).Hours() / 24)
		k.EndsInDays = &d
	}
	return k
}

func statusOf(e license.Entry, now time.Time) string {
	switch e.Status {
	case license.StatusValid:
		switch {
		case e.Warning == "":
			return StatusValid
		case now.After(e.Ends):
			return StatusGrace
		}
		return StatusExpiring
	case license.StatusExpired:
		return StatusExpired
	case license.StatusIgnored:
		return StatusIgnored
	}
	return StatusInvalid
}

// FromSet is the view of this host's key files alone: keys and totals, no
// usage (Usage false). Every product is hard until a daemon says otherwise.
func FromSet(s *license.Set, hostIDNote string) View {
	v := View{Time: s.EvaluatedAt(), HostIDNote: hostIDNote, Products: []Product{}}
	v.AddKeyFiles(s, nil)
	for i := range v.Products {
		v.Products[i].Total = v.Products[i].LocalTotal
	}
	return v
}

// Find returns the named product, or nil.
func (v *View) Find(name string) *Product {
	for i := range v.Products {
		if v.Products[i].Name == name {
			return &v.Products[i]
		}
	}
	return nil
}

// Product returns the named product, adding it (in mode, hard when empty)
// when absent. The pointer is good until the next product is added.
func (v *View) Product(name string, mode Mode) *Product {
	if p := v.Find(name); p != nil {
		return p
	}
	if mode == "" {
		mode = ModeHard
	}
	v.Products = append(v.Products, Product{Name: name, Enforcement: mode, Keys: []Key{},
		Overage: Overage{Product: name, Mode: mode, Phase: PhaseOK}})
	return &v.Products[len(v.Products)-1]
}

// AddKeyFiles adds this host's key files to the view: its host facts, each
// product's local total, each key (replacing a key of the same ID that live
// nodes present, keeping those nodes) and a warning per invalid or ending
// key. mode gives a new product's enforcement (nil: hard). The products end
// sorted by name.
func (v *View) AddKeyFiles(s *license.Set, mode func(product string) Mode) {
	if s == nil {
		return
	}
	now := s.EvaluatedAt()
	v.HostID, v.Domain, v.Problems = string(s.HostID()), s.Domain(), s.Problems()
	v.Unreadable = nil
	for _, e := range s.KeysFor("") {
		v.Unreadable = append(v.Unreadable, KeyOf(e, now))
	}
	v.Invalid = nil
	for _, e := range s.Invalid() {
		v.Invalid = append(v.Invalid, KeyOf(e, now))
	}
	for _, name := range s.Products() {
		var m Mode
		if mode != nil {
			m = mode(name)
		}
		p := v.Product(name, m)
		p.LocalTotal = s.Total(name)
		for _, e := range s.KeysFor(name) {
			p.addKeyFile(e, now)
		}
	}
	v.Sort()
}

func (p *Product) addKeyFile(e license.Entry, now time.Time) {
	k := KeyOf(e, now)
	i := slices.IndexFunc(p.Keys, func(x Key) bool { return x.ID == e.KeyID && e.KeyID != "" && (x.File == "" || x.File == e.File) })
	if i >= 0 {
		k.Nodes, k.Conflicts = p.Keys[i].Nodes, p.Keys[i].Conflicts
		p.Keys[i] = k
	} else {
		p.Keys = append(p.Keys, k)
	}
	switch {
	case e.Status == license.StatusInvalid:
		p.Warn(fmt.Sprintf("%s: INVALID: %s", e.File, e.Reason))
	case e.Warning != "":
		p.Warn(fmt.Sprintf("key %s %s", e.KeyID, e.Warning))
	}
}

// Warn adds a warning once.
func (p *Product) Warn(w string) {
	if !slices.Contains(p.Warnings, w) {
		p.Warnings = append(p.Warnings, w)
	}
}

// Sort puts the products in name order.
func (v *View) Sort() {
	slices.SortStableFunc(v.Products, func(a, b Product) int { return strings.Compare(a.Name, b.Name) })
}
