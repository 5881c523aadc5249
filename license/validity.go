package license

import (
	"fmt"
	"time"
)

// Day is 24 hours; license time rules count days as fixed 24-hour spans in UTC.
const Day = 24 * time.Hour

// Defaults of the time rules.
const (
	// DefaultRenewalGrace is how long an auto-renew key keeps counting after its formal end.
	DefaultRenewalGrace = 20 * Day
	// EmergencyTerm is how long an emergency key lasts from issue.
	EmergencyTerm = 30 * Day
)

// DefaultWarnAhead are the warning thresholds before a key stops counting.
var DefaultWarnAhead = []time.Duration{14 * Day, 7 * Day, 1 * Day}

// Policy holds the time rules. A zero field means its default.
type Policy struct {
	// RenewalGrace for auto-renew keys. Default DefaultRenewalGrace.
	RenewalGrace time.Duration
	// WarnAhead lists the warning thresholds. Default DefaultWarnAhead.
	WarnAhead []time.Duration
}

func (p Policy) grace() time.Duration {
	if p.RenewalGrace <= 0 {
		return DefaultRenewalGrace
	}
	return p.RenewalGrace
}

func (p Policy) warnAhead() []time.Duration {
	if len(p.WarnAhead) == 0 {
		return DefaultWarnAhead
	}
	return p.WarnAhead
}

// CountsUntil is the instant (exclusive) at which k stops counting under p.
func (p Policy) CountsUntil(k *Key) time.Time {
	switch {
	case k.Kind == KindEmergency:
		end := k.Issued.Add(EmergencyTerm)
		if k.Ends.Before(end) {
			return k.Ends
		}
		return end
	case k.Kind == KindCommercial && k.AutoRenew:
		return k.Ends.Add(p.grace())
	}
	return k.Ends
}

// Phase is where a key stands in time.
type Phase int

// The phases.
const (
	// NotYetValid: now is before Issued.
	NotYetValid Phase = iota
	// Active: the key counts.
	Active
	// Ended: the key's window is over.
	Ended
)

// Timing is the time assessment of one key at one instant.
type Timing struct {
	Phase Phase
	// CountsUntil is when the key stops counting (exclusive).
	CountsUntil time.Time
	// InGrace: an auto-renew key past its formal end, within the renewal grace window.
	InGrace bool
	// Warning is set when the key is active and ends within a warning threshold.
	Warning string
	// WarnWithin is the threshold crossed (14, 7 or 1 days by default); 0 with no warning.
	WarnWithin time.Duration
}

// Assess applies the time rules to k at now.
func (p Policy) Assess(k *Key, now time.Time) Timing {
	t := Timing{CountsUntil: p.CountsUntil(k)}
	switch {
	case now.Before(k.Issued):
		t.Phase = NotYetValid
		return t
	case !now.Before(t.CountsUntil):
		t.Phase = Ended
		return t
	}
	t.Phase = Active
	t.InGrace = k.AutoRenew && k.Kind == KindCommercial && !now.Before(k.Ends)
	left := t.CountsUntil.Sub(now)
	// The smallest threshold that the remaining time is within.
	for _, w := range p.warnAhead() {
		if left <= w && (t.WarnWithin == 0 || w < t.WarnWithin) {
			t.WarnWithin = w
		}
	}
	if t.WarnWithin > 0 {
		t.Warning = fmt.Sprintf("stops counting on %s (within %s)", t.CountsUntil.UTC().Format(TimeLayout), days(t.WarnWithin))
	}
	if t.InGrace {
		grace := fmt.Sprintf("formal end %s passed, counting through the renewal grace window until %s",
			k.Ends.UTC().Format(TimeLayout), t.CountsUntil.UTC().Format(TimeLayout))
		if t.Warning != "" {
			t.Warning = grace + "; " + t.Warning
		} else {
			t.Warning = grace
		}
	}
	return t
}

// NextChange is the first instant after now at which Assess(k, ·) may give a
// different answer (a start, an end, the end of the formal term, a warning
// threshold), or the zero time when nothing changes any more.
func (p Policy) NextChange(k *Key, now time.Time) time.Time {
	until := p.CountsUntil(k)
	cands := []time.Time{k.Issued, until, k.Ends}
	for _, w := range p.warnAhead() {
		cands = append(cands, until.Add(-w))
	}
	var next time.Time
	for _, c := range cands {
		if c.After(now) && (next.IsZero() || c.Before(next)) {
			next = c
		}
	}
	return next
}

func days(d time.Duration) string {
	n := int(d / Day)
	if d%Day == 0 {
		if n == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", n)
	}
	return d.String()
}
