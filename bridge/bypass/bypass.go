package bypass

import (
	"sync"
	"time"
)

// DefaultAfter is how long observed use must exceed admitted use before the
// alert is raised: long enough for a call's legs to appear on the wire before
// its admission lands (or to linger after its release), short enough to catch
// a trunk that never asks.
const DefaultAfter = time.Minute

// Change is what an observation did to a product's alert.
type Change int

// The changes.
const (
	Unchanged Change = iota
	Raised
	Cleared
)

// Verdict is a product's bypass state after an observation.
type Verdict struct {
	Product            string
	Observed, Admitted int
	// Excess is Observed-Admitted, never below 0.
	Excess int
	// Since is when observed use went over admitted use (this spell); zero
	// when it is not over.
	Since time.Time
	// Alert: over for longer than the Detector's After.
	Alert bool
	// Change is what this observation did.
	Change Change
}

// Detector holds each product's spell over admitted use. Safe for concurrent
// use.
type Detector struct {
	after time.Duration
	mu    sync.Mutex
	state map[string]*Verdict
}

// NewDetector returns a Detector raising alerts after the given time (0 or
// less: DefaultAfter).
func NewDetector(after time.Duration) *Detector {
	if after <= 0 {
		after = DefaultAfter
	}
	return &Detector{after: after, state: map[string]*Verdict{}}
}

// After is the time observed use must exceed admitted use before an alert.
func (d *Detector) After() time.Duration { return d.after }

// Observe records the use of a product at now and returns its verdict.
func (d *Detector) Observe(product string, observed, admitted int, now time.Time) Verdict {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.state[product]
	if st == nil {
		st = &Verdict{Product: product}
		d.state[product] = st
	}
	st.Observed, st.Admitted, st.Excess, st.Change = observed, admitted, max(0, observed-admitted), Unchanged
	switch {
	case observed <= admitted:
		st.Since = time.Time{}
		if st.Alert {
			st.Alert, st.Change = false, Cleared
		}
	case st.Since.IsZero() || now.Before(st.Since):
		// A new spell (or a clock stepped back: start again rather than alert early).
		st.Since = now
	}
	if !st.Since.IsZero() && !st.Alert && now.Sub(st.Since) >= d.after {
		st.Alert, st.Change = true, Raised
	}
	return *st
}

// Current returns the product's last verdict (Change Unchanged), if any.
func (d *Detector) Current(product string) (Verdict, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.state[product]
	if !ok {
		return Verdict{}, false
	}
	v := *st
	v.Change = Unchanged
	return v, true
}
