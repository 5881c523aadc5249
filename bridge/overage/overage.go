package overage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/licbridge/licbridge/license"
)

// Mode is a product's enforcement mode; its one home is package license.
type Mode = license.Mode

// Enforcement modes (see license.Mode).
const (
	ModeHard    = license.ModeHard
	ModeGrace   = license.ModeGrace
	ModeMonitor = license.ModeMonitor
)

// ParseMode reads a mode name as written in the config file; "" is ModeHard.
func ParseMode(s string) (Mode, error) { return license.ParseMode(s) }

// Phase is where a product stands in the over-limit cycle.
type Phase string

// Phases, in the order a product goes through them.
const (
	PhaseOK       Phase = "OK"
	PhaseGrace    Phase = "GRACE"
	PhaseLockdown Phase = "LOCKDOWN"
	PhaseLocked   Phase = "LOCKED"
)

// Thresholds of the cycle, in consecutive over-limit days.
const (
	// LockdownDay is the first over-limit day of LOCKDOWN (days 1-3 are GRACE).
	LockdownDay = 4
	// LockDay is the over-limit day from which over-limit admissions are refused.
	LockDay = 14
)

// Rejection reasons, as the dialplan sees them.
const (
	ReasonOverLimit = "OVER_LIMIT"
	ReasonLocked    = "LOCKED"
)

// State is a product's over-limit state, as every surface shows it.
type State struct {
	Product string `json:"product"`
	Mode    Mode   `json:"mode"`
	Phase   Phase  `json:"phase"`
	// OverDays counts the consecutive over-limit days of the current run,
	// today included when today is already over the limit.
	OverDays int `json:"over_days"`
	// LocksIn is how many more over-limit days lead to LOCKED (LockDay -
	// OverDays); 0 when OK or already LOCKED.
	LocksIn int `json:"locks_in"`
	// Since is the start (midnight, configured zone) of the run's first
	// over-limit day; zero when OK.
	Since time.Time `json:"since,omitzero"`
	// Peak is the highest demand seen on an over-limit day of the run: the
	// total that must be reached to unlock at once.
	Peak int `json:"peak,omitempty"`
}

// Warning is the one-line warning every surface prints for the state, or ""
// when there is nothing to say.
func (s State) Warning() string {
	switch s.Phase {
	case PhaseGrace:
		return fmt.Sprintf("%s over its licensed total for %d day(s) (grace); locks in %d days", s.Product, s.OverDays, s.LocksIn)
	case PhaseLockdown:
		return fmt.Sprintf("%s LOCKDOWN: over its licensed total for %d days; locks in %d days unless a day stays within %d channels or more capacity is added", s.Product, s.OverDays, s.LocksIn, s.Peak)
	case PhaseLocked:
		return fmt.Sprintf("%s LOCKED after %d over-limit days: over-limit admissions are refused until a day stays within the limit or the total reaches %d", s.Product, s.OverDays, s.Peak)
	}
	return ""
}

// phaseOf maps a count of consecutive over-limit days to its phase.
func phaseOf(days int) Phase {
	switch {
	case days <= 0:
		return PhaseOK
	case days < LockdownDay:
		return PhaseGrace
	case days < LockDay:
		return PhaseLockdown
	}
	return PhaseLocked
}

// record is what the store keeps per product. It describes the last day on
// which anything was recorded; later days are derived when read.
type record struct {
	// Day is the calendar day (YYYY-MM-DD, configured zone) the record is about.
	Day string `json:"day"`
	// Over tells whether Day has been over the limit.
	Over bool `json:"over"`
	// Run is the count of consecutive over-limit days ending on Day (Day
	// included when Over) — or, when Day is not over yet, ending the day before.
	Run int `json:"run"`
	// Since is the first day of the run.
	Since string `json:"since,omitempty"`
	// Peak is the highest demand seen on an over-limit day of the run.
	Peak int `json:"peak,omitempty"`
}

const dayLayout = "2006-01-02"

// rollTo brings the record forward to day today (a YYYY-MM-DD string) without
// new input: the run survives only if the record's day was over and is the day
// before today, or is today.
func (r record) rollTo(today string, loc *time.Location) record {
	if r.Day == today {
		return r
	}
	carry := r.Over && nextDay(r.Day, loc) == today
	if !carry {
		return record{Day: today}
	}
	return record{Day: today, Run: r.Run, Since: r.Since, Peak: r.Peak}
}

// nextDay returns the day after day (YYYY-MM-DD); "" for a malformed day.
func nextDay(day string, loc *time.Location) string {
	t, err := time.ParseInLocation(dayLayout, day, loc)
	if err != nil {
		return ""
	}
	// AddDate on the date, not +24h, so that DST days of 23 or 25 hours count once.
	return t.AddDate(0, 0, 1).Format(dayLayout)
}

// apply records demand against total on the (already rolled) record.
func (r record) apply(today string, demand, total int) record {
	if r.Run > 0 && total >= r.Peak {
		// More capacity: the run is forgiven at once, today included.
		r = record{Day: today}
	}
	if demand > total {
		if !r.Over {
			r.Over = true
			r.Run++
			if r.Run == 1 {
				r.Since = today
			}
		}
		r.Peak = max(r.Peak, demand)
	}
	return r
}

// state renders a record (rolled to today) as a State.
func (r record) state(product string, mode Mode, loc *time.Location) State {
	s := State{Product: product, Mode: mode, OverDays: r.Run, Phase: phaseOf(r.Run)}
	if s.Phase == PhaseOK {
		return s
	}
	s.Peak = r.Peak
	if r.Run < LockDay {
		s.LocksIn = LockDay - r.Run
	}
	if t, err := time.ParseInLocation(dayLayout, r.Since, loc); err == nil {
		s.Since = t
	}
	return s
}

// Store keeps one opaque record per product, shared by the cluster.
// Implementations must be safe for concurrent use.
type Store interface {
	// Get returns the product's record, or nil when there is none.
	Get(ctx context.Context, product string) ([]byte, error)
	// CompareAndSet replaces the record with next if it still equals prev (nil
	// prev: if there is none) and reports whether it did.
	CompareAndSet(ctx context.Context, product string, prev, next []byte) (bool, error)
}

// ErrContention is returned when the record kept changing under us.
var ErrContention = errors.New("overage: too much contention on the state record")

// Options configure a Machine. A zero value is usable: hard mode for every
// product, UTC, the wall clock and an in-memory store.
type Options struct {
	// Store holds the shared records. Default: a new MemoryStore (single node).
	Store Store
	// Modes is the enforcement mode per product. Default ModeHard.
	Modes map[string]Mode
	// Location is the time zone in which days are counted. Default UTC.
	Location *time.Location
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Machine applies the over-limit policy. It is safe for concurrent use; its
// state is in the Store, so several Machines (one per node) over one shared
// store agree.
type Machine struct {
	store Store
	modes map[string]Mode
	loc   *time.Location
	now   func() time.Time
}

// New builds a Machine.
func New(o Options) *Machine {
	m := &Machine{store: o.Store, modes: o.Modes, loc: o.Location, now: o.Now}
	if m.store == nil {
		m.store = NewMemoryStore()
	}
	if m.loc == nil {
		m.loc = time.UTC
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Mode returns the product's enforcement mode.
func (m *Machine) Mode(product string) Mode {
	if md, ok := m.modes[product]; ok && md != "" {
		return md
	}
	return ModeHard
}

// Decision is the outcome of Decide.
type Decision struct {
	// Allow is whether the admission may go ahead.
	Allow bool
	// Reason is "" when allowed, else ReasonOverLimit or ReasonLocked.
	Reason string
	// State is the product's state after the admission was recorded.
	State State
}

// Decide records an admission attempt that would bring the product to
// inUseAfter channels against a total of total, and says whether to admit.
// Within the total it always admits. Beyond it: hard refuses (OVER_LIMIT)
// without recording anything, grace admits unless this makes the run reach
// LockDay (LOCKED), monitor always admits. Grace and monitor record the
// demand even when refused.
func (m *Machine) Decide(ctx context.Context, product string, inUseAfter, total int) (Decision, error) {
	mode := m.Mode(product)
	if mode == ModeHard {
		if inUseAfter > total {
			return Decision{Reason: ReasonOverLimit, State: State{Product: product, Mode: mode, Phase: PhaseOK}}, nil
		}
		return Decision{Allow: true, State: State{Product: product, Mode: mode, Phase: PhaseOK}}, nil
	}
	st, err := m.record(ctx, product, inUseAfter, total)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Allow: true, State: st}
	if inUseAfter > total && mode == ModeGrace && st.Phase == PhaseLocked {
		d.Allow, d.Reason = false, ReasonLocked
	}
	return d, nil
}

// Observe records the product's use (channels in use, or legs seen on the
// wire) against the total without deciding anything: observations count
// toward over-limit days whatever the state. A no-op in hard mode.
func (m *Machine) Observe(ctx context.Context, product string, inUse, total int) (State, error) {
	if m.Mode(product) == ModeHard {
		return State{Product: product, Mode: ModeHard, Phase: PhaseOK}, nil
	}
	return m.record(ctx, product, inUse, total)
}

// Locked reports whether an over-limit admission of the product would now be
// refused with LOCKED: the product is in grace mode and its run already
// counts LockDay days, or counts LockDay-1 and today is not over yet (the
// first over-limit admission of day 14 is refused). It writes nothing.
func (m *Machine) Locked(ctx context.Context, product string) (bool, error) {
	if m.Mode(product) != ModeGrace {
		return false, nil
	}
	r, err := m.load(ctx, product)
	if err != nil {
		return false, err
	}
	r = r.rollTo(m.today(), m.loc)
	days := r.Run
	if !r.Over {
		days++
	}
	return days >= LockDay, nil
}

// Status returns the product's state now. It writes nothing.
func (m *Machine) Status(ctx context.Context, product string) (State, error) {
	mode := m.Mode(product)
	if mode == ModeHard {
		return State{Product: product, Mode: mode, Phase: PhaseOK}, nil
	}
	r, err := m.load(ctx, product)
	if err != nil {
		return State{}, err
	}
	return r.rollTo(m.today(), m.loc).state(product, mode, m.loc), nil
}

func (m *Machine) today() string { return m.now().In(m.loc).Format(dayLayout) }

func (m *Machine) load(ctx context.Context, product string) (record, error) {
	b, err := m.store.Get(ctx, product)
	if err != nil {
		return record{}, fmt.Errorf("overage: read %s state: %w", product, err)
	}
	return decode(product, b)
}

func decode(product string, b []byte) (record, error) {
	var r record
	if b == nil {
		return r, nil
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, fmt.Errorf("overage: decode %s state %q: %w", product, b, err)
	}
	if err := r.check(); err != nil {
		return record{}, fmt.Errorf("overage: %s state %q: %w", product, b, err)
	}
	return r, nil
}

// check rejects a record that the machine cannot have written.
func (r record) check() error {
	if r.Run < 0 || r.Peak < 0 {
		return errors.New("negative count")
	}
	if r.Over && r.Run == 0 {
		return errors.New("over-limit day outside a run")
	}
	for _, d := range []string{r.Day, r.Since} {
		if d == "" {
			continue
		}
		if _, err := time.Parse(dayLayout, d); err != nil {
			return fmt.Errorf("bad day %q", d)
		}
	}
	return nil
}

// maxAttempts bounds the compare-and-set loop; a record changes at most a few
// times a day, so contention past this means something is wrong.
const maxAttempts = 16

// record applies one input under compare-and-set. Writes happen only when the
// input changes what the stored record implies (the first over-limit moment
// of a day, a higher peak, an unlock), so the common call is one read.
func (m *Machine) record(ctx context.Context, product string, demand, total int) (State, error) {
	today := m.today()
	for range maxAttempts {
		prev, err := m.store.Get(ctx, product)
		if err != nil {
			return State{}, fmt.Errorf("overage: read %s state: %w", product, err)
		}
		old, err := decode(product, prev)
		if err != nil {
			// A corrupt record must not wedge admission: start afresh.
			old = record{}
		}
		rolled := old.rollTo(today, m.loc)
		next := rolled.apply(today, demand, total)
		st := next.state(product, m.Mode(product), m.loc)
		if next == rolled {
			// Nothing new: the stored record already implies this state.
			return st, nil
		}
		b, _ := json.Marshal(next) // cannot fail: plain struct
		ok, err := m.store.CompareAndSet(ctx, product, prev, b)
		if err != nil {
			return State{}, fmt.Errorf("overage: write %s state: %w", product, err)
		}
		if ok {
			return st, nil
		}
		if err := ctx.Err(); err != nil {
			return State{}, err
		}
	}
	return State{}, fmt.Errorf("overage: %s: %w", product, ErrContention)
}
