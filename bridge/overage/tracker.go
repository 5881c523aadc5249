package overage

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Tracker puts a Machine behind calls that never block: Observe queues use
// for a background worker, Locked answers from the last known state. It is
// what the admission path plugs in (the bridge's LockState and Observer
// seams), where no store round trip may be waited for.
//
// Queued observations are merged per product without losing what matters:
// the moment most over the limit (which decides whether the day is over, and
// its peak) and the latest one (which decides an unlock by more capacity).
type Tracker struct {
	m *Machine

	mu      sync.Mutex
	pending map[string]*pendingUse
	locked  map[string]bool
	known   map[string]bool
	kick    chan struct{}
}

type pendingUse struct {
	worst, latest [2]int // inUse, total
}

// RefreshInterval is how often Run re-reads every known product's state, so
// that a new day (and a lock that starts with it) shows without traffic: the
// lock an admission reads is never staler than this (plus one store read).
// Only grace-mode products cost a store read.
const RefreshInterval = time.Second

// NewTracker builds a Tracker over m; call Run to start its worker.
func NewTracker(m *Machine) *Tracker {
	return &Tracker{m: m, pending: map[string]*pendingUse{}, locked: map[string]bool{}, known: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// Observe queues that the product had inUse channels (in use, or demanded by
// an admission attempt) against total. It never blocks.
func (t *Tracker) Observe(product string, inUse, total int) {
	t.mu.Lock()
	p := t.pending[product]
	if p == nil {
		p = &pendingUse{worst: [2]int{inUse, total}}
		t.pending[product] = p
	} else if inUse-total > p.worst[0]-p.worst[1] {
		p.worst = [2]int{inUse, total}
	}
	p.latest = [2]int{inUse, total}
	t.known[product] = true
	t.mu.Unlock()
	t.wake()
}

// Locked reports whether an over-limit admission of the product is refused,
// as of the last refresh. A product never seen before reads as not locked
// (and is refreshed at once): admission fails open rather than wait.
func (t *Tracker) Locked(product string) bool {
	t.mu.Lock()
	locked, seen := t.locked[product], t.known[product]
	t.known[product] = true
	t.mu.Unlock()
	if !seen {
		t.wake()
	}
	return locked
}

// Prime reads the state of products now, before the first admission asks:
// a lock in force must hold from the first call after a start.
func (t *Tracker) Prime(ctx context.Context, products ...string) error {
	t.mu.Lock()
	for _, p := range products {
		t.known[p] = true
	}
	t.mu.Unlock()
	return t.Flush(ctx)
}

func (t *Tracker) wake() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Run processes queued observations and refreshes lock flags until ctx ends.
// Store errors go to onErr (may be nil) and do not stop it; the observations
// that failed are queued again.
func (t *Tracker) Run(ctx context.Context, onErr func(error)) error {
	tick := time.NewTicker(RefreshInterval)
	defer tick.Stop()
	for {
		if err := t.Flush(ctx); err != nil && onErr != nil && ctx.Err() == nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.kick:
		case <-tick.C:
		}
	}
}

// Flush records what is queued and refreshes the lock flag of every known
// product, now. Run calls it; tests may call it directly instead of Run.
func (t *Tracker) Flush(ctx context.Context) error {
	t.mu.Lock()
	pending := t.pending
	t.pending = map[string]*pendingUse{}
	products := make([]string, 0, len(t.known))
	for p := range t.known {
		products = append(products, p)
	}
	t.mu.Unlock()

	var errs []error
	for product, p := range pending {
		_, err := t.m.Observe(ctx, product, p.worst[0], p.worst[1])
		if err == nil && p.latest != p.worst {
			_, err = t.m.Observe(ctx, product, p.latest[0], p.latest[1])
		}
		if err != nil {
			errs = append(errs, err)
			t.requeue(product, p)
		}
	}
	for _, product := range products {
		locked, err := t.m.Locked(ctx, product)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.mu.Lock()
		t.locked[product] = locked
		t.mu.Unlock()
	}
	return errors.Join(errs...)
}

// requeue puts back an observation that could not be recorded, merged with
// anything queued since.
func (t *Tracker) requeue(product string, p *pendingUse) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.pending[product]
	if cur == nil {
		t.pending[product] = p
		return
	}
	if p.worst[0]-p.worst[1] > cur.worst[0]-cur.worst[1] {
		cur.worst = p.worst
	}
}
