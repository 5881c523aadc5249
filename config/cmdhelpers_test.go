package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

// TestCheckIntervalFlag: a zero --sipmon-interval is refused only when the
// embedded monitor runs (an input is set) and the flag was given.
func TestCheckIntervalFlag(t *testing.T) {
	zero, five := time.Duration(0), 5*time.Second
	cases := []struct {
		name  string
		sc    SIPMonConfig
		given *time.Duration
		err   bool
	}{
		{"no input, zero flag", SIPMonConfig{}, &zero, false},
		{"interface, no flag", SIPMonConfig{Interface: "any"}, nil, false},
		{"interface, zero flag", SIPMonConfig{Interface: "any"}, &zero, true},
		{"hep, zero flag", SIPMonConfig{HEPListen: "127.0.0.1:9060"}, &zero, true},
		{"hep, positive flag", SIPMonConfig{HEPListen: "127.0.0.1:9060"}, &five, false},
	}
	for _, tc := range cases {
		err := tc.sc.CheckIntervalFlag(tc.given)
		if (err != nil) != tc.err || (err != nil && !strings.Contains(err.Error(), "--sipmon-interval")) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestProductNames: the built-in products, then the file's, as written.
func TestProductNames(t *testing.T) {
	c := Default()
	if got := c.ProductNames(); !slices.Equal(got, license.BuiltinProductNames()) {
		t.Fatalf("defaults: %v", got)
	}
	c.Products = []ProductConfig{{Name: "amr"}, {Name: "Bad Name"}}
	want := append(license.BuiltinProductNames(), "amr", "Bad Name")
	if got := c.ProductNames(); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
