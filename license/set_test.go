package license_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

func cand(file string, k *license.Key) license.Candidate {
	return license.Candidate{File: file, Key: k}
}

func evalAt(now time.Time, cands ...license.Candidate) *license.Set {
	return license.Evaluate(cands, license.EvalOptions{
		Trusted: license.NewTrusted(pubA),
		HostID:  thisHost,
		Domain:  "cluster-1",
		Now:     now,
	})
}

func entry(t *testing.T, s *license.Set, file string) license.Entry {
	t.Helper()
	for _, e := range s.Keys() {
		if e.File == file {
			return e
		}
	}
	t.Fatalf("no entry for %s", file)
	return license.Entry{}
}

func TestStacking(t *testing.T) {
	now := t0.Add(license.Day)
	tests := []struct {
		name   string
		cands  []license.Candidate
		totals map[string]int
		status map[string]license.Status // file → status
		reason map[string]string         // file → reason fragment
	}{
		{
			name:   "10 plus 5 stack to 15",
			cands:  []license.Candidate{cand("a", newKey(id("A"))), cand("b", newKey(id("B"), channels(5)))},
			totals: map[string]int{"g729": 15},
			status: map[string]license.Status{"a": license.StatusValid, "b": license.StatusValid},
		},
		{
			name: "products are counted apart",
			cands: []license.Candidate{cand("a", newKey(id("A"))), cand("h", newKey(id("H"), product("hpec"), channels(4))),
				cand("f", newKey(id("F"), product("fax"), channels(2))), cand("f2", newKey(id("F2"), product("fax"), channels(3)))},
			totals: map[string]int{"g729": 10, "hpec": 4, "fax": 5},
		},
		{
			name:   "ffa never stacks: first by key ID wins",
			cands:  []license.Candidate{cand("z", newKey(id("FFA-2"), product("ffa"), channels(1))), cand("y", newKey(id("FFA-1"), product("ffa"), channels(1)))},
			totals: map[string]int{"ffa": 1},
			status: map[string]license.Status{"y": license.StatusValid, "z": license.StatusIgnored},
			reason: map[string]string{"z": "only one ffa key is used per host: FFA-1 is in use"},
		},
		{
			name: "an invalid ffa key does not block a valid one",
			cands: []license.Candidate{cand("y", newKey(id("FFA-1"), product("ffa"), channels(1), ends(t0.Add(time.Hour)))),
				cand("z", newKey(id("FFA-2"), product("ffa"), channels(1)))},
			totals: map[string]int{"ffa": 1},
			status: map[string]license.Status{"y": license.StatusExpired, "z": license.StatusValid},
		},
		{
			name:   "renewed file replaces the older by key ID",
			cands:  []license.Candidate{cand("old", newKey(id("A"))), cand("new", newKey(id("A"), channels(20), ends(t0.AddDate(2, 0, 0))))},
			totals: map[string]int{"g729": 20},
			status: map[string]license.Status{"old": license.StatusIgnored, "new": license.StatusValid},
			reason: map[string]string{"old": "superseded by new (same key ID, ends 2028-11-22T00:00:00Z)"},
		},
		{
			name:   "an older expired copy is superseded, not counted",
			cands:  []license.Candidate{cand("old", newKey(id("A"), ends(t0.Add(time.Hour)))), cand("new", newKey(id("A")))},
			totals: map[string]int{"g729": 10},
			status: map[string]license.Status{"old": license.StatusIgnored, "new": license.StatusValid},
		},
		{
			name: "a renewal not yet valid does not displace the valid one",
			cands: []license.Candidate{cand("cur", newKey(id("A"))),
				cand("next", newKey(id("A"), func(k *license.Key) { k.Issued = t0.AddDate(1, 0, 0); k.Ends = t0.AddDate(2, 0, 0) }))},
			totals: map[string]int{"g729": 10},
			status: map[string]license.Status{"cur": license.StatusValid, "next": license.StatusIgnored},
		},
		{
			name: "a forged copy cannot supersede",
			cands: []license.Candidate{cand("real", newKey(id("A"))),
				cand("forged", func() *license.Key { k := newKey(id("A")); k.Ends = t0.AddDate(5, 0, 0); return k }())},
			totals: map[string]int{"g729": 10},
			status: map[string]license.Status{"real": license.StatusValid, "forged": license.StatusInvalid},
			reason: map[string]string{"forged": "bad signature"},
		},
		{
			name:   "another host's key",
			cands:  []license.Candidate{cand("a", newKey(id("A"))), cand("x", newKey(id("X"), func(k *license.Key) { k.Binding.HostID = "0000-0000-0001" }))},
			totals: map[string]int{"g729": 10},
			status: map[string]license.Status{"x": license.StatusInvalid},
			reason: map[string]string{"x": "is for another host ID (file: 0000-0000-0001, this host: A1B2-C3D4-E5F6)"},
		},
		{
			name: "domain keys",
			cands: []license.Candidate{
				cand("in", newKey(id("D1"), func(k *license.Key) { k.Binding = license.Binding{Type: license.BoundDomain, Domain: "cluster-1"} })),
				cand("out", newKey(id("D2"), func(k *license.Key) { k.Binding = license.Binding{Type: license.BoundDomain, Domain: "cluster-2"} })),
				cand("free", newKey(id("U"), unbound, channels(2))),
			},
			totals: map[string]int{"g729": 12},
			status: map[string]license.Status{"in": license.StatusValid, "out": license.StatusInvalid, "free": license.StatusValid},
			reason: map[string]string{"out": "is for domain cluster-2, this node is in cluster-1"},
		},
		{
			name:   "unknown product",
			cands:  []license.Candidate{cand("p", newKey(product("opus")))},
			totals: map[string]int{},
			status: map[string]license.Status{"p": license.StatusInvalid},
			reason: map[string]string{"p": "unknown product opus"},
		},
		{
			name:   "expired and not yet valid",
			cands:  []license.Candidate{cand("e", newKey(id("E"), ends(now))), cand("n", newKey(id("N"), func(k *license.Key) { k.Issued = now.Add(time.Second) }))},
			totals: map[string]int{},
			status: map[string]license.Status{"e": license.StatusExpired, "n": license.StatusInvalid},
			reason: map[string]string{"e": "expired on 2026-11-23T00:00:00Z", "n": "not yet valid (starts 2026-11-23T00:00:01Z)"},
		},
		{
			name:   "unparsable file",
			cands:  []license.Candidate{{File: "bad", Err: &license.ParseError{File: "bad", Line: 3, Msg: "boom"}}, cand("a", newKey())},
			totals: map[string]int{"g729": 10},
			status: map[string]license.Status{"bad": license.StatusInvalid},
			reason: map[string]string{"bad": "bad:3: boom"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := evalAt(now, tc.cands...)
			for _, p := range []string{"g729", "hpec", "fax", "ffa", "opus"} {
				if got := s.Total(p); got != tc.totals[p] {
					t.Errorf("Total(%s) = %d, want %d", p, got, tc.totals[p])
				}
			}
			for f, st := range tc.status {
				if e := entry(t, s, f); e.Status != st {
					t.Errorf("%s: status %s (%s), want %s", f, e.Status, e.Reason, st)
				}
			}
			for f, r := range tc.reason {
				if e := entry(t, s, f); !strings.Contains(e.Reason, r) {
					t.Errorf("%s: reason %q, want it to contain %q", f, e.Reason, r)
				}
			}
			if len(s.Keys()) != len(tc.cands) {
				t.Errorf("%d entries for %d files", len(s.Keys()), len(tc.cands))
			}
		})
	}
}

func TestEvaluateNodeFacts(t *testing.T) {
	k := newKey()
	t.Run("no trusted issuer", func(t *testing.T) {
		s := license.Evaluate([]license.Candidate{cand("a", k)}, license.EvalOptions{HostID: thisHost, Now: t0})
		if e := entry(t, s, "a"); e.Status != license.StatusInvalid || !strings.Contains(e.Reason, "--issuer-pub") {
			t.Fatalf("got %s %q", e.Status, e.Reason)
		}
	})
	t.Run("untrusted issuer", func(t *testing.T) {
		s := license.Evaluate([]license.Candidate{cand("a", k)}, license.EvalOptions{Trusted: license.NewTrusted(pubB), HostID: thisHost, Now: t0})
		if e := entry(t, s, "a"); !strings.Contains(e.Reason, "does not trust") {
			t.Fatalf("got %q", e.Reason)
		}
	})
	t.Run("host without host ID", func(t *testing.T) {
		s := license.Evaluate([]license.Candidate{cand("a", k)}, license.EvalOptions{Trusted: license.NewTrusted(pubA), Now: t0})
		if e := entry(t, s, "a"); !strings.Contains(e.Reason, "this host has no host ID (pass --host-id)") {
			t.Fatalf("got %q", e.Reason)
		}
	})
	t.Run("ignore binding", func(t *testing.T) {
		s := license.Evaluate([]license.Candidate{cand("a", k)}, license.EvalOptions{Trusted: license.NewTrusted(pubA), Now: t0, IgnoreBinding: true})
		if s.Total("g729") != 10 {
			t.Fatal("binding was checked")
		}
	})
	t.Run("operator product that does not stack", func(t *testing.T) {
		cat, err := license.NewCatalog(license.Product{Name: "opus", Stacks: false})
		if err != nil {
			t.Fatal(err)
		}
		s := license.Evaluate([]license.Candidate{cand("a", newKey(id("A"), product("opus"))), cand("b", newKey(id("B"), product("opus")))},
			license.EvalOptions{Trusted: license.NewTrusted(pubA), HostID: thisHost, Now: t0, Catalog: cat})
		if s.Total("opus") != 10 || entry(t, s, "b").Status != license.StatusIgnored {
			t.Fatalf("total %d, b %s", s.Total("opus"), entry(t, s, "b").Status)
		}
	})
}

func TestSetViews(t *testing.T) {
	s := evalAt(t0,
		cand("b", newKey(id("B"))), cand("a", newKey(id("A"))), cand("f", newKey(id("F"), product("fax"))),
		license.Candidate{File: "bad", Err: errors.New("bad: broken")})
	if got := strings.Join(s.Products(), ","); got != "fax,g729" {
		t.Fatalf("Products() = %s", got)
	}
	var ids []string
	for _, e := range s.KeysFor("g729") {
		ids = append(ids, e.KeyID)
	}
	if strings.Join(ids, ",") != "A,B" {
		t.Fatalf("KeysFor(g729) = %v", ids)
	}
	if len(s.KeysFor("")) != 1 {
		t.Fatal("unparsable file not listed under product \"\"")
	}
	if tot := s.Totals(); tot["g729"] != 20 || tot["fax"] != 10 || len(tot) != 2 {
		t.Fatalf("Totals() = %v", tot)
	}
	// Views are copies: a caller cannot change the Set.
	s.Keys()[0].Status = "mangled"
	s.Totals()["g729"] = 0
	if s.Keys()[0].Status == "mangled" || s.Total("g729") != 20 {
		t.Fatal("Set changed through a view")
	}
	if !s.EvaluatedAt().Equal(t0) || s.HostID() != thisHost || s.Domain() != "cluster-1" {
		t.Fatal("node facts not kept")
	}
	if !s.Equal(evalAt(t0.Add(time.Second), cand("a", newKey(id("A"))), cand("b", newKey(id("B"))), cand("f", newKey(id("F"), product("fax"))),
		license.Candidate{File: "bad", Err: errors.New("bad: broken")})) {
		t.Fatal("same files, same outcome: not Equal")
	}
	if s.Equal(evalAt(t0, cand("a", newKey(id("A"))))) {
		t.Fatal("different sets Equal")
	}
}
