package node

import (
	"strings"
	"testing"
)

func TestParseLease(t *testing.T) {
	for _, tc := range []struct {
		in, product, channel string
		ok                   bool
	}{
		{"g729:1795386360.29", "g729", "1795386360.29", true},
		{"fax:1.2", "fax", "1.2", true},
		{"", "", "", false},
		{"g729", "", "", false},
		{":1.2", "", "", false},
		{"g729:", "", "", false},
		{"G 729:1.2", "", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, c, ok := parseLease(tc.in)
			if p != tc.product || c != tc.channel || ok != tc.ok {
				t.Fatalf("parseLease(%q) = %q %q %v", tc.in, p, c, ok)
			}
		})
	}
}

func TestProductOfFormat(t *testing.T) {
	n := &Node{opt: Options{Passive: Passive{Codecs: map[string]string{"g729": "g729"}}}}
	for in, want := range map[string]string{
		"(g729)":      "g729",
		"(ulaw|g729)": "g729",
		"(G729)":      "g729",
		"(ulaw)":      "",
		"":            "",
		"(g7291)":     "",
	} {
		if got := n.productOfFormat(in); got != want {
			t.Errorf("productOfFormat(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseLease(f *testing.F) {
	for _, s := range []string{"g729:1795386360.29", "", ":", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, c, ok := parseLease(s)
		if ok && (p+":"+c != s || p == "" || c == "") {
			t.Fatalf("parseLease(%q) = %q %q", s, p, c)
		}
	})
}

func FuzzProductOfFormat(f *testing.F) {
	n := &Node{opt: Options{Passive: Passive{Codecs: map[string]string{"g729": "g729"}}}}
	for _, s := range []string{"(g729)", "(ulaw|g729)", "", "((|))"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p := n.productOfFormat(s); p != "" && !strings.Contains(strings.ToLower(s), "g729") {
			t.Fatalf("productOfFormat(%q) = %q", s, p)
		}
	})
}
