package bridge

import (
	"context"
	"errors"
	"fmt"
	"github.com/licbridge/licbridge/backoff"
	"sort"
	"time"
)

// Backoff bounds for reconnecting to the store.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
)

// Run heartbeats every Options.HeartbeatEvery and resyncs what needs it; while
// the store is unavailable it probes it with exponential backoff and jitter,
// and once it answers writes this node's holdings back (the fail-open
// journal's leases among them) and truncates the journal. Run blocks until ctx
// ends and then returns nil, or returns a *NodeIDTakenError when another live
// process is found holding this node's ID.
func (b *Bridge) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	delay := backoffMin
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-b.wake:
		}
		next := b.opt.HeartbeatEvery
		if !b.StoreAvailable() {
			if err := b.recover(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				var taken *NodeIDTakenError
				if errors.As(err, &taken) {
					return err
				}
				next = backoff.Jitter(delay)
				b.log.Debug("store still unavailable", "err", err, "retry_in", next)
				delay = min(delay*2, backoffMax)
			} else {
				delay = backoffMin
				b.log.Info("store available again; holdings written back")
				// Leases kept while the recovery ran are marked dirty: write them now.
				if err := b.Heartbeat(ctx); err != nil && ctx.Err() == nil {
					b.log.Warn("heartbeat after recovery failed", "err", err)
				}
			}
		} else if err := b.Heartbeat(ctx); err != nil && ctx.Err() == nil {
			var taken *NodeIDTakenError
			if errors.As(err, &taken) {
				return err // two processes under one ID: this one stops
			}
			// Heartbeat has marked the store down if it was the store.
			b.log.Warn("heartbeat failed", "err", err)
			next = backoff.Jitter(delay)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// Heartbeat keeps this node live in the store for every product it uses and
// resyncs the products that need it (lapsed, or changed while the store was
// away). Its store cost depends on the number of products, not channels.
func (b *Bridge) Heartbeat(ctx context.Context) error {
	if err := b.ensureRestored(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	if b.down {
		b.mu.Unlock()
		return ErrStoreUnavailable
	}
	products := make([]string, 0, len(b.products))
	for p := range b.products {
		products = append(products, p)
	}
	b.mu.Unlock()
	sort.Strings(products)
	now := b.clock.Now()
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	if err := b.renewClaim(ctx); err != nil {
		var taken *NodeIDTakenError
		if errors.As(err, &taken) {
			return err
		}
		b.markDown(err)
		return fmt.Errorf("bridge: heartbeat: %w", err)
	}
	lapsed, err := b.store.Heartbeat(ctx, b.opt.Node, products, now, now.Add(b.opt.Lapse))
	if err != nil {
		b.markDown(err)
		return fmt.Errorf("bridge: heartbeat: %w", err)
	}
	b.mu.Lock()
	for p, at := range b.undecided {
		if time.Since(at) > b.opt.Lapse {
			delete(b.undecided, p)
		} else {
			b.dirty[p] = true // an abandoned admission may have landed since
		}
	}
	for _, p := range lapsed {
		if b.hasLocalLocked(p) {
			b.log.Warn("this node had lapsed; writing its holdings back", "product", p)
			b.dirty[p] = true
		}
	}
	dirty := b.dirtyList()
	b.mu.Unlock()
	for _, p := range dirty {
		if err := b.resync(ctx, p); err != nil {
			b.markDown(err)
			return err
		}
	}
	b.storeAnswered()
	b.truncateJournalIfWritten()
	return nil
}

// truncateJournalIfWritten empties the journal once the store holds
// everything in it: nothing dirty, no lease still unwritten.
func (b *Bridge) truncateJournalIfWritten() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.journaled || b.journal == nil || b.down || len(b.dirty) > 0 {
		return
	}
	for _, h := range b.room {
		if len(h.unsynced) > 0 {
			return
		}
	}
	if err := b.journal.truncate(); err != nil {
		b.log.Warn("cannot truncate the journal", "err", err)
		return
	}
	b.journaled = false
}

func (b *Bridge) dirtyList() []string {
	out := make([]string, 0, len(b.dirty))
	for p := range b.dirty {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// recover checks that the store answers within the admission deadline, then
// writes back every product this node holds and truncates the journal.
// Admissions wait while it writes (it holds syncMu), so that none is missed.
func (b *Bridge) recover(ctx context.Context) error {
	// A slow store that answers is not down: probe with a realistic bound,
	// not the admission deadline.
	pctx, cancel := context.WithTimeout(ctx, b.opt.ProbeTimeout)
	err := b.store.Ping(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("bridge: ping store: %w", err)
	}
	if _, err := b.Restore(ctx); err != nil {
		return err
	}
	if err := b.renewClaim(ctx); err != nil {
		return err
	}
	ctx, cancel = context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	b.mu.Lock()
	products := make([]string, 0, len(b.products))
	for p := range b.products {
		products = append(products, p)
	}
	b.mu.Unlock()
	sort.Strings(products)
	now := b.clock.Now()
	if _, err := b.store.Heartbeat(ctx, b.opt.Node, products, now, now.Add(b.opt.Lapse)); err != nil {
		return fmt.Errorf("bridge: heartbeat: %w", err)
	}
	for _, p := range products {
		if _, err := b.resyncLocked(ctx, p); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.journal != nil {
		if err := b.journal.truncate(); err != nil {
			// The holdings are in the store; a stale journal only repeats them.
			b.log.Warn("cannot truncate the journal", "err", err)
		}
	}
	b.down = false
	b.answeredLocked()
	b.journaled = false
	return nil
}

// Restore takes back what the store records under this node's ID from an
// earlier run that was still live (a restart within the lapse): those
// channels keep counting, and the first resync cannot wipe them before
// Asterisk has been asked which are still up. Call it once, before Run and
// before the first PublishKeys or admission; it returns how many channels it
// took back. With the store away it marks it down (the outage policy then
// applies) and returns the error.
func (b *Bridge) Restore(ctx context.Context) (int, error) {
	b.restoreMu.Lock()
	defer b.restoreMu.Unlock()
	if b.restored.Load() {
		return 0, nil
	}
	n, err := b.restore(ctx)
	if err == nil {
		b.restored.Store(true)
	}
	return n, err
}

// ensureRestored runs Restore once before the first thing that writes this
// node's holdings (an admission, a resync, a heartbeat, a key publication):
// whichever comes first, nothing can wipe an earlier run's record unread.
func (b *Bridge) ensureRestored(ctx context.Context) error {
	if b.restored.Load() {
		return nil
	}
	_, err := b.Restore(ctx)
	return err
}

func (b *Bridge) restore(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opt.SyncTimeout)
	defer cancel()
	products, err := b.store.Products(ctx)
	if err != nil {
		b.markDown(err)
		return 0, fmt.Errorf("bridge: restore: %w", err)
	}
	now := b.clock.Now()
	n := 0
	for _, p := range products {
		if !licensable(p) {
			continue
		}
		holds, err := b.store.Holdings(ctx, b.opt.Node, p, now)
		if err != nil {
			b.markDown(err)
			return n, fmt.Errorf("bridge: restore: %w", err)
		}
		if len(holds) == 0 {
			continue
		}
		b.mu.Lock()
		m := b.leases[p]
		if m == nil {
			m = map[string]*Lease{}
			b.leases[p] = m
		}
		for _, h := range holds {
			if m[h.Channel] != nil {
				continue
			}
			call := h.Unit // a unit that is not the channel alone is its call
			m[h.Channel] = &Lease{ID: p + ":" + h.Channel, Product: p, Channel: h.Channel, Call: call,
				Node: b.opt.Node, Unit: h.Unit, At: now}
			n++
		}
		b.products[p] = true
		b.mu.Unlock()
	}
	if n > 0 {
		b.log.Info("holdings of this node's earlier run taken back from the store", "channels", n)
	}
	return n, nil
}
