package license_test

import (
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

func TestAssessBoundaries(t *testing.T) {
	const s = time.Second
	end := t0.AddDate(1, 0, 0)
	commercial := newKey()
	renew := newKey(func(k *license.Key) { k.AutoRenew = true })
	trial := newKey(unbound, func(k *license.Key) { k.Kind = license.KindTrial; k.Ends = t0.Add(10 * license.Day) })
	emergency := newKey(unbound, func(k *license.Key) { k.Kind = license.KindEmergency; k.Ends = t0.AddDate(1, 0, 0) })
	emergencyShort := newKey(unbound, func(k *license.Key) { k.Kind = license.KindEmergency; k.Ends = t0.Add(5 * license.Day) })
	def := license.Policy{}
	grace5 := license.Policy{RenewalGrace: 5 * license.Day}

	tests := []struct {
		name    string
		policy  license.Policy
		key     *license.Key
		at      time.Time
		phase   license.Phase
		inGrace bool
	}{
		{"commercial before issue", def, commercial, t0.Add(-s), license.NotYetValid, false},
		{"commercial at issue", def, commercial, t0, license.Active, false},
		{"commercial last second", def, commercial, end.Add(-s), license.Active, false},
		{"commercial at end", def, commercial, end, license.Ended, false},

		{"auto-renew before formal end", def, renew, end.Add(-s), license.Active, false},
		{"auto-renew at formal end: grace", def, renew, end, license.Active, true},
		{"auto-renew last second of grace", def, renew, end.Add(license.DefaultRenewalGrace - s), license.Active, true},
		{"auto-renew grace over", def, renew, end.Add(license.DefaultRenewalGrace), license.Ended, false},
		{"auto-renew 5-day grace last second", grace5, renew, end.Add(5*license.Day - s), license.Active, true},
		{"auto-renew 5-day grace over", grace5, renew, end.Add(5 * license.Day), license.Ended, false},
		{"grace does not apply without auto-renew", def, commercial, end.Add(s), license.Ended, false},

		{"trial before issue", def, trial, t0.Add(-s), license.NotYetValid, false},
		{"trial last second", def, trial, t0.Add(10*license.Day - s), license.Active, false},
		{"trial at end", def, trial, t0.Add(10 * license.Day), license.Ended, false},

		{"emergency last second of 30 days", def, emergency, t0.Add(license.EmergencyTerm - s), license.Active, false},
		{"emergency after 30 days despite later end", def, emergency, t0.Add(license.EmergencyTerm), license.Ended, false},
		{"emergency with earlier end: last second", def, emergencyShort, t0.Add(5*license.Day - s), license.Active, false},
		{"emergency with earlier end: at end", def, emergencyShort, t0.Add(5 * license.Day), license.Ended, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.policy.Assess(tc.key, tc.at)
			if got.Phase != tc.phase || got.InGrace != tc.inGrace {
				t.Fatalf("at %s: phase %d grace %v, want phase %d grace %v", tc.at.Format(license.TimeLayout), got.Phase, got.InGrace, tc.phase, tc.inGrace)
			}
			if tc.inGrace && !strings.Contains(got.Warning, "renewal grace") {
				t.Fatalf("in grace without a warning: %q", got.Warning)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	const s = time.Second
	k := newKey()
	end := k.Ends
	d := license.Day
	tests := []struct {
		at     time.Time
		within time.Duration
	}{
		{end.Add(-14*d - s), 0},
		{end.Add(-14 * d), 14 * d},
		{end.Add(-7*d - s), 14 * d},
		{end.Add(-7 * d), 7 * d},
		{end.Add(-1*d - s), 7 * d},
		{end.Add(-1 * d), 1 * d},
		{end.Add(-s), 1 * d},
	}
	for _, tc := range tests {
		t.Run(end.Sub(tc.at).String()+" before end", func(t *testing.T) {
			got := license.Policy{}.Assess(k, tc.at)
			if got.WarnWithin != tc.within || (tc.within == 0) != (got.Warning == "") {
				t.Fatalf("warn within %s (%q), want %s", got.WarnWithin, got.Warning, tc.within)
			}
			if tc.within != 0 && !strings.Contains(got.Warning, end.Format(license.TimeLayout)) {
				t.Fatalf("warning %q does not give the end", got.Warning)
			}
		})
	}
	t.Run("custom thresholds", func(t *testing.T) {
		p := license.Policy{WarnAhead: []time.Duration{30 * d}}
		if got := p.Assess(k, end.Add(-30*d)); got.WarnWithin != 30*d {
			t.Fatalf("got %s", got.WarnWithin)
		}
	})
	t.Run("auto-renew warns ahead of the grace end", func(t *testing.T) {
		r := newKey(func(k *license.Key) { k.AutoRenew = true })
		if got := (license.Policy{}).Assess(r, end.Add(-1*d)); got.Warning != "" {
			t.Fatalf("warned %q 1 day before the formal end of an auto-renew key", got.Warning)
		}
		got := license.Policy{}.Assess(r, end.Add(license.DefaultRenewalGrace-d))
		if got.WarnWithin != d || !got.InGrace {
			t.Fatalf("got %+v", got)
		}
	})
}

func TestNextChange(t *testing.T) {
	k := newKey()
	p := license.Policy{}
	d := license.Day
	steps := []time.Time{t0, k.Ends.Add(-14 * d), k.Ends.Add(-7 * d), k.Ends.Add(-d), k.Ends}
	now := t0.Add(-time.Hour)
	for _, want := range steps {
		got := p.NextChange(k, now)
		if !got.Equal(want) {
			t.Fatalf("after %s: next change %s, want %s", now, got, want)
		}
		// Nothing changes strictly between two steps.
		if a, b := p.Assess(k, got.Add(-time.Second)), p.Assess(k, now); a != b {
			t.Fatalf("assessment changed before the announced change: %+v vs %+v", a, b)
		}
		now = got
	}
	if got := p.NextChange(k, k.Ends); !got.IsZero() {
		t.Fatalf("after the end: %s", got)
	}
}
