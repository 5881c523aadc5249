package license

import (
	"fmt"
	"slices"
	"sort"
)

// Product describes how the keys of one licensed product are counted.
type Product struct {
	// Name is the product name used in key files (g729, hpec, fax, ffa, ...).
	Name string
	// Stacks: the channels of several valid keys add up. When false, only the
	// first valid key by key ID counts.
	Stacks bool
	// MaxHosts is how many distinct host IDs one key may be activated on.
	MaxHosts int
	// OnePerHost: only one key of this product may be used on a host (ffa).
	OnePerHost bool
	// Description is a human name for listings.
	Description string
}

// DefaultMaxHosts is how many host IDs a key may be activated on unless its product says otherwise.
const DefaultMaxHosts = 3

// Catalog is the set of known products, by name. It is data: build it with
// NewCatalog (built-ins) and Add. A Catalog is not safe for concurrent Add; read it
// freely once built.
type Catalog struct {
	products map[string]Product
}

// BuiltinProducts are the products every catalog starts with.
func BuiltinProducts() []Product {
	return []Product{
		{Name: "g729", Stacks: true, MaxHosts: DefaultMaxHosts, Description: "G.729 transcoding"},
		{Name: "hpec", Stacks: true, MaxHosts: DefaultMaxHosts, Description: "HPEC echo cancellation"},
		{Name: "fax", Stacks: true, MaxHosts: DefaultMaxHosts, Description: "commercial fax"},
		{Name: "ffa", Stacks: false, MaxHosts: 1, OnePerHost: true, Description: "free fax (one key per host)"},
	}
}

// BuiltinProductNames lists the names of BuiltinProducts, in their order.
func BuiltinProductNames() []string {
	var out []string
	for _, p := range BuiltinProducts() {
		out = append(out, p.Name)
	}
	return out
}

// productNameRule is the grammar of product names, as error messages state it.
const productNameRule = "want 1 to 32 characters of a-z, 0-9, '_' and '-', starting with a letter or digit"

// ValidProductName reports whether name can be a product: the one grammar of
// product names for key files, the catalog, the store's key names, the
// dialplan's context names and AGI URLs, and Stasis() arguments.
func ValidProductName(name string) bool {
	if len(name) == 0 || len(name) > 32 || !isLowerAlnum(name[0]) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isLowerAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// CheckProductName is ValidProductName with an error naming the name and the rule.
func CheckProductName(name string) error {
	if !ValidProductName(name) {
		return fmt.Errorf("product %q: %s", name, productNameRule)
	}
	return nil
}

// NewCatalog returns the built-in catalog plus extra products. An extra product
// with a built-in name replaces the built-in.
func NewCatalog(extra ...Product) (*Catalog, error) {
	c := &Catalog{products: map[string]Product{}}
	for _, p := range BuiltinProducts() {
		c.products[p.Name] = p
	}
	for _, p := range extra {
		if err := c.Add(p); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Add adds or replaces a product. A zero MaxHosts means DefaultMaxHosts.
func (c *Catalog) Add(p Product) error {
	if err := CheckProductName(p.Name); err != nil {
		return err
	}
	if p.MaxHosts < 0 {
		return fmt.Errorf("product %s: max hosts %d is negative", p.Name, p.MaxHosts)
	}
	if p.MaxHosts == 0 {
		p.MaxHosts = DefaultMaxHosts
	}
	if c.products == nil {
		c.products = map[string]Product{}
	}
	c.products[p.Name] = p
	return nil
}

// Lookup returns the product named name.
func (c *Catalog) Lookup(name string) (Product, bool) {
	if c == nil {
		return Product{}, false
	}
	p, ok := c.products[name]
	return p, ok
}

// Products lists the catalog sorted by name.
func (c *Catalog) Products() []Product {
	out := make([]Product, 0, len(c.products))
	for _, p := range c.products {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the product names, sorted.
func (c *Catalog) Names() []string {
	out := make([]string, 0, len(c.products))
	for n := range c.products {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// countsOne reports whether only one key of p may count (no stacking).
func (p Product) countsOne() bool { return !p.Stacks || p.OnePerHost }
