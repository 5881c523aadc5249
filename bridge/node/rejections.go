package node

import (
	"sync"
	"time"
)

// RejectionWindow is how far back the view's recent rejections reach.
const RejectionWindow = time.Hour

// maxRejections bounds the refusals kept: a refusal storm costs no memory
// beyond it (the oldest go first; the counts then cover less than the window).
const maxRejections = 4096

// Rejections keeps this node's recent refusals, for the view's per-reason
// counts. Safe for concurrent use; the zero value is ready.
type Rejections struct {
	mu   sync.Mutex
	ring []rejection
	next int
}

type rejection struct {
	at              time.Time
	product, reason string
}

// Record notes a refusal of product for reason at a time.
func (r *Rejections) Record(at time.Time, product, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := rejection{at: at, product: product, reason: reason}
	if len(r.ring) < maxRejections {
		r.ring = append(r.ring, e)
		return
	}
	r.ring[r.next] = e
	r.next = (r.next + 1) % maxRejections
}

// Recent counts the refusals of the last RejectionWindow before now, per
// product and reason.
func (r *Rejections) Recent(now time.Time) map[string]map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]map[string]int{}
	for _, e := range r.ring {
		if now.Sub(e.at) > RejectionWindow || e.at.After(now) {
			continue
		}
		if out[e.product] == nil {
			out[e.product] = map[string]int{}
		}
		out[e.product][e.reason]++
	}
	return out
}
