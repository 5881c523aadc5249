package overage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/licbridge/licbridge/bridge/overage"
)

// clock is a settable clock shared by the machines of one test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// stores returns the two store implementations under test.
func stores(t *testing.T) map[string]func(t *testing.T) overage.Store {
	return map[string]func(t *testing.T) overage.Store{
		"memory": func(*testing.T) overage.Store { return overage.NewMemoryStore() },
		"redis": func(t *testing.T) overage.Store {
			rdb := redis.NewClient(&redis.Options{Addr: startRedis(t)})
			t.Cleanup(func() { rdb.Close() })
			return overage.NewRedisStore(rdb)
		},
	}
}

// paris has DST, and its days do not start at a UTC midnight: a test in UTC
// would not notice a machine that counts days in the wrong zone.
func paris(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatalf("tzdata: %v", err)
	}
	return loc
}

// day is one day of the scripted life of a product.
type day struct {
	total  int // licensed total that day
	demand int // peak demand that day
	// want, after the day's peak was recorded:
	phase    overage.Phase
	overDays int
	locksIn  int
	allow    bool   // the peak admission was admitted
	reason   string // its reason when refused
}

// TestGraceDayByDay walks 16 days and more: 3 days of grace, lockdown with a
// countdown, lock on day 14, a locked day whose demand still counts, a day
// within the limit that resets, a new run unlocked at once by more capacity.
func TestGraceDayByDay(t *testing.T) {
	const lic = 10
	script := []day{}
	for d := 1; d <= 3; d++ {
		script = append(script, day{lic, 12, overage.PhaseGrace, d, overage.LockDay - d, true, ""})
	}
	for d := 4; d <= 13; d++ {
		script = append(script, day{lic, 11 + d%3, overage.PhaseLockdown, d, overage.LockDay - d, true, ""})
	}
	script = append(script,
		day{lic, 12, overage.PhaseLocked, 14, 0, false, overage.ReasonLocked}, // day 14: locked, refused
		day{lic, 11, overage.PhaseLocked, 15, 0, false, overage.ReasonLocked}, // still demand over: stays locked
		day{lic, 10, overage.PhaseLocked, 15, 0, true, ""},                    // day 16 within the limit: resets when it ends
		day{lic, 13, overage.PhaseGrace, 1, 13, true, ""},                     // day 17 starts OK; a new run starts
		day{lic, 11, overage.PhaseGrace, 2, 12, true, ""},
		day{13, 12, overage.PhaseOK, 0, 0, true, ""}, // a 3-channel key added: total 13 >= peak 13, unlocked at once
	)
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			loc := paris(t)
			clk := &clock{}
			m := overage.New(overage.Options{Store: mk(t), Location: loc, Now: clk.Now,
				Modes: map[string]overage.Mode{"g729": overage.ModeGrace}})
			// Late March: the DST change (29 March 2026) falls inside the run.
			start := time.Date(2026, 3, 20, 0, 0, 0, 0, loc)
			prev := day{}
			for i, d := range script {
				date := start.AddDate(0, 0, i)
				t.Run(fmt.Sprintf("day%02d_%s", i+1, date.Format("01-02")), func(t *testing.T) {
					// Just after midnight: the run carries over only from an over-limit day.
					clk.Set(date.Add(time.Minute))
					st, err := m.Status(ctx, "g729")
					if err != nil {
						t.Fatal(err)
					}
					wantCarry := 0
					if prev.demand > prev.total {
						wantCarry = prev.overDays
					}
					if st.OverDays != wantCarry {
						t.Errorf("at 00:01: %d over days carried, want %d", st.OverDays, wantCarry)
					}
					// Morning: within the limit, nothing changes yet.
					clk.Set(date.Add(9 * time.Hour))
					dec, err := m.Decide(ctx, "g729", d.total-1, d.total)
					if err != nil || !dec.Allow {
						t.Fatalf("within-limit admission: %+v, %v", dec, err)
					}
					// Evening peak, one second before midnight in Paris.
					clk.Set(date.AddDate(0, 0, 1).Add(-time.Second))
					dec, err = m.Decide(ctx, "g729", d.demand, d.total)
					if err != nil {
						t.Fatal(err)
					}
					if dec.Allow != d.allow || dec.Reason != d.reason {
						t.Errorf("peak admission of %d/%d: allow=%v reason=%q, want %v %q", d.demand, d.total, dec.Allow, dec.Reason, d.allow, d.reason)
					}
					st, err = m.Status(ctx, "g729")
					if err != nil {
						t.Fatal(err)
					}
					if st.Phase != d.phase || st.OverDays != d.overDays || st.LocksIn != d.locksIn {
						t.Errorf("state %s over=%d locksIn=%d, want %s over=%d locksIn=%d", st.Phase, st.OverDays, st.LocksIn, d.phase, d.overDays, d.locksIn)
					}
					if st != dec.State {
						t.Errorf("Status %+v differs from Decide's state %+v", st, dec.State)
					}
					if (st.Phase == overage.PhaseOK) != (st.Warning() == "") {
						t.Errorf("warning %q for phase %s", st.Warning(), st.Phase)
					}
				})
				prev = d
			}
		})
	}
}

// TestLockedSeam checks Locked, the bridge's grace-mode seam, around day 14:
// the first over-limit admission of day 14 is refused, so Locked is already
// true on the morning of day 14 once 13 over-limit days are behind.
func TestLockedSeam(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	m := overage.New(overage.Options{Now: clk.Now, Modes: map[string]overage.Mode{"fax": overage.ModeGrace, "hpec": overage.ModeMonitor}})
	start := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 13 {
		clk.Set(start.AddDate(0, 0, i))
		if locked, err := m.Locked(ctx, "fax"); err != nil || locked {
			t.Fatalf("day %d: Locked=%v, %v before the 13th over day", i+1, locked, err)
		}
		if _, err := m.Decide(ctx, "fax", 6, 5); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Observe(ctx, "hpec", 6, 5); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(start.AddDate(0, 0, 13).Add(-11 * time.Hour)) // day 14, 01:00
	if locked, err := m.Locked(ctx, "fax"); err != nil || !locked {
		t.Fatalf("day 14: Locked=%v, %v; want true", locked, err)
	}
	st, _ := m.Status(ctx, "fax")
	if st.Phase != overage.PhaseLockdown || st.LocksIn != 1 {
		t.Errorf("day 14 before any overage: %+v, want LOCKDOWN locking in 1 day", st)
	}
	// Monitor mode counts the same days but never refuses.
	dec, err := m.Decide(ctx, "hpec", 9, 5)
	if err != nil || !dec.Allow || dec.State.Phase != overage.PhaseLocked {
		t.Errorf("monitor on day 14: %+v, %v; want allowed and reported LOCKED", dec, err)
	}
	if locked, _ := m.Locked(ctx, "hpec"); locked {
		t.Error("monitor mode reported Locked")
	}
	// Hard mode refuses beyond the total, records nothing.
	dec, _ = m.Decide(ctx, "g729", 3, 2)
	if dec.Allow || dec.Reason != overage.ReasonOverLimit {
		t.Errorf("hard mode over the limit: %+v", dec)
	}
	// A quiet day (no input at all) is a day within the limit.
	clk.Set(start.AddDate(0, 0, 15))
	if st, _ := m.Status(ctx, "fax"); st.Phase != overage.PhaseOK {
		t.Errorf("after a day with no traffic: %+v, want OK", st)
	}
}

// TestTwoNodesAgree runs two Machines (two nodes) over one redis-server: each
// node sees part of the traffic, both report the same state every day, and
// the lock set by one is enforced by the other.
func TestTwoNodesAgree(t *testing.T) {
	ctx := context.Background()
	addr := startRedis(t)
	clk := &clock{}
	node := func() *overage.Machine {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { rdb.Close() })
		return overage.New(overage.Options{Store: overage.NewRedisStore(rdb), Now: clk.Now,
			Modes: map[string]overage.Mode{"g729": overage.ModeGrace}})
	}
	a, b := node(), node()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 16 {
		clk.Set(start.AddDate(0, 0, i).Add(10 * time.Hour))
		// Alternate which node pushes the product over the limit; both go over
		// at once on some days (concurrent compare-and-set).
		var wg sync.WaitGroup
		for j, m := range []*overage.Machine{a, b} {
			if i%3 == j || i%3 == 2 {
				wg.Go(func() {
					if _, err := m.Decide(ctx, "g729", 21+j, 20); err != nil {
						t.Error(err)
					}
				})
			}
		}
		wg.Wait()
		sa, err := a.Status(ctx, "g729")
		if err != nil {
			t.Fatal(err)
		}
		sb, err := b.Status(ctx, "g729")
		if err != nil {
			t.Fatal(err)
		}
		if sa != sb {
			t.Fatalf("day %d: nodes disagree: %+v vs %+v", i+1, sa, sb)
		}
		if sa.OverDays != i+1 {
			t.Fatalf("day %d: %d over days, want %d", i+1, sa.OverDays, i+1)
		}
	}
	// Day 16: the other node refuses too.
	for _, m := range []*overage.Machine{a, b} {
		dec, err := m.Decide(ctx, "g729", 21, 20)
		if err != nil || dec.Allow || dec.Reason != overage.ReasonLocked {
			t.Fatalf("locked product admitted on a node: %+v, %v", dec, err)
		}
	}
	// Node b gets a new key: the total now covers the peak, both nodes unlock.
	if _, err := b.Observe(ctx, "g729", 18, 25); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*overage.Machine{a, b} {
		if st, _ := m.Status(ctx, "g729"); st.Phase != overage.PhaseOK {
			t.Fatalf("after more capacity: %+v, want OK", st)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want overage.Mode
		err  bool
	}{{"", overage.ModeHard, false}, {"grace", overage.ModeGrace, false}, {"monitor", overage.ModeMonitor, false}, {"soft", "", true}} {
		t.Run("mode_"+tc.in, func(t *testing.T) {
			got, err := overage.ParseMode(tc.in)
			if got != tc.want || (err != nil) != tc.err {
				t.Errorf("ParseMode(%q) = %q, %v", tc.in, got, err)
			}
		})
	}
}

// TestCorruptRecord: a garbled record in the store does not wedge admission.
func TestCorruptRecord(t *testing.T) {
	ctx := context.Background()
	s := overage.NewMemoryStore()
	if ok, _ := s.CompareAndSet(ctx, "g729", nil, []byte("{garbage")); !ok {
		t.Fatal("seed")
	}
	m := overage.New(overage.Options{Store: s, Modes: map[string]overage.Mode{"g729": overage.ModeGrace}})
	if _, err := m.Status(ctx, "g729"); err == nil {
		t.Error("Status on a corrupt record: no error")
	}
	dec, err := m.Decide(ctx, "g729", 3, 2)
	if err != nil || !dec.Allow || dec.State.OverDays != 1 {
		t.Errorf("Decide over a corrupt record: %+v, %v", dec, err)
	}
}

// FuzzStoredRecord: whatever bytes the store holds for a product, admission
// keeps working (a corrupt record starts afresh) and nothing panics.
func FuzzStoredRecord(f *testing.F) {
	for _, s := range []string{`{"day":"2026-01-02","over":true,"run":13,"since":"2025-12-21","peak":12}`, `{}`, `{"day":"x","run":-5}`, `null`, `{"run":1e99}`, `[`, ``, `{"day":"2026-01-03","over":true,"run":-5}`, `{"day":"2026-01-03","over":true}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		s := overage.NewMemoryStore()
		s.CompareAndSet(ctx, "g729", nil, b)
		now := time.Date(2026, 1, 3, 12, 0, 0, 0, time.UTC)
		m := overage.New(overage.Options{Store: s, Now: func() time.Time { return now }, Modes: map[string]overage.Mode{"g729": overage.ModeGrace}})
		m.Status(ctx, "g729")
		m.Locked(ctx, "g729")
		if _, err := m.Decide(ctx, "g729", 5, 10); err != nil {
			t.Fatalf("Decide within the limit over %q: %v", b, err)
		}
		d, err := m.Decide(ctx, "g729", 11, 10)
		if err != nil {
			t.Fatalf("Decide over the limit over %q: %v", b, err)
		}
		if d.State.OverDays < 1 {
			t.Fatalf("over-limit admission over %q left %d over days", b, d.State.OverDays)
		}
	})
}
