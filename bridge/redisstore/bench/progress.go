package bench

import (
	"fmt"
	"time"
)

// progressEvery is how often a long phase reports how far it has got.
const progressEvery = 5 * time.Second

// say writes one line of progress, when the run has somewhere to write it.
// A phase's reports come from a goroutine of their own, hence the lock.
func (r *run) say(format string, a ...any) {
	if r.cfg.Progress != nil {
		r.sayMu.Lock()
		defer r.sayMu.Unlock()
		fmt.Fprintf(r.cfg.Progress, "bench: "+format+"\n", a...)
	}
}

// phase announces a phase and, until the returned stop is called, reports
// every progressEvery how many of total (0: open-ended) it has done.
func (r *run) phase(what string, total int64, done func() int64) (stop func()) {
	r.say("%s", what)
	if r.cfg.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	ended := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(ended)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			n := done()
			if total > 0 {
				r.say("  %d of %d (%.0f%%), %s", n, total, 100*float64(n)/float64(total), time.Since(start).Round(time.Second))
			} else {
				r.say("  %d so far, %s", n, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(quit); <-ended }
}
