package bridge_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/license"
)

// One enforcement Mode: bridge's and overage's are the same type, so a mode
// passes from one to the other without a conversion (this does not compile
// with two types).
var _ overage.Mode = bridge.ModeGrace

// Every path that takes a product name accepts the same names. Before one
// grammar, the store accepted "g7.29" that key files and the dialplan refused,
// and the dialplan accepted "-g729" and "_x" that key files refused.
func TestProductNamesOneGrammar(t *testing.T) {
	ctx := context.Background()
	b, err := bridge.New(bridge.Options{Node: "pbx1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	paths := map[string]func(name string) bool{
		"license.ValidProductName": license.ValidProductName,
		"bridge.ValidProduct":      bridge.ValidProduct,
		"catalog": func(n string) bool {
			_, err := license.NewCatalog(license.Product{Name: n})
			return err == nil
		},
		"dialplan.Generate": func(n string) bool {
			return dialplan.Generate(io.Discard, dialplan.GenerateOptions{Products: []string{n}}) == nil
		},
		"bridge.Admit": func(n string) bool {
			return b.Admit(ctx, bridge.Request{Product: n, Channel: "1700000000.1"}).Reason != bridge.ReasonBadRequest
		},
	}
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"g729", true}, {"ffa", true}, {"my-prod_2", true}, {"9fax", true},
		{strings.Repeat("a", 32), true}, {strings.Repeat("a", 33), false},
		{"", false}, {"g7.29", false}, {"-g729", false}, {"_x", false}, {"a b", false}, {"fax/1", false},
	} {
		for path, accepts := range paths {
			if got := accepts(c.name); got != c.ok {
				t.Errorf("%s(%q) accepts %v, want %v", path, c.name, got, c.ok)
			}
		}
	}
}

// The dialplan prints a routine for every built-in product, ffa included.
func TestDialplanDefaultsAreTheBuiltins(t *testing.T) {
	var out strings.Builder
	if err := dialplan.Generate(&out, dialplan.GenerateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range license.BuiltinProductNames() {
		if !strings.Contains(out.String(), "["+"licbridge-"+p+"]") {
			t.Errorf("no [licbridge-%s] routine in the default dialplan", p)
		}
	}
}
