package sipmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/licbridge/licbridge/backoff"
)

// Input is one source of messages a Monitor supervises: a live interface or a
// HEP listener. Open binds it (so that a taken port or a missing interface
// shows at start-up) and returns the loop that feeds the Monitor until ctx
// ends or the input fails.
type Input struct {
	Name string
	Open func() (run func(context.Context) error, err error)
}

// SuperviseOptions tune Supervise. A zero field means its default.
type SuperviseOptions struct {
	// MinBackoff and MaxBackoff bound the wait before reopening a failed input
	// (doubling, with jitter). Defaults 1s and 1m.
	MinBackoff, MaxBackoff time.Duration
	// Stable is how long an input must have run before its failure counts as
	// a new one: the backoff starts over only then, so an input that opens and
	// fails at once is retried ever more slowly, not every MinBackoff. Default
	// 1m.
	Stable time.Duration
	// Logger receives the inputs' failures and recoveries. Default: discard.
	Logger *slog.Logger

	// now and sleep are the clock (tests replace them).
	now   func() time.Time
	sleep func(context.Context, time.Duration) bool
}

func (o SuperviseOptions) withDefaults() SuperviseOptions {
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Minute, o.MinBackoff)
	}
	if o.Stable <= 0 {
		o.Stable = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.sleep == nil {
		o.sleep = backoff.Sleep
	}
	return o
}

// Supervisor keeps a Monitor's inputs running: each one that fails is
// reopened with backoff while the others go on counting.
type Supervisor struct {
	inputs []Input
	runs   []func(context.Context) error
	opt    SuperviseOptions

	mu   sync.Mutex
	down map[string]string // input name → why it is not capturing now
}

// Supervise opens every input; an input that cannot open is an error naming
// it (and those opened before are not run). Run then keeps them up.
func Supervise(inputs []Input, opt SuperviseOptions) (*Supervisor, error) {
	s := &Supervisor{inputs: inputs, opt: opt.withDefaults(), down: map[string]string{}}
	for _, in := range inputs {
		run, err := in.Open()
		if err != nil {
			return nil, fmt.Errorf("sipmon %s: %w", in.Name, err)
		}
		s.runs = append(s.runs, run)
		s.opt.Logger.Info("SIP side monitor input open", "input", in.Name)
	}
	return s, nil
}

// Run runs every input until ctx ends.
func (s *Supervisor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i, in := range s.inputs {
		wg.Go(func() { s.keep(ctx, in, s.runs[i]) })
	}
	wg.Wait()
}

// keep runs one input, reopening it after a failure. The backoff grows with
// each failure and starts over only after the input ran for opt.Stable.
func (s *Supervisor) keep(ctx context.Context, in Input, run func(context.Context) error) {
	attempt := 0
	for {
		started := s.opt.now()
		err := run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("input ended")
		}
		if s.opt.now().Sub(started) >= s.opt.Stable {
			attempt = 0
		}
		s.setDown(in.Name, err.Error())
		s.opt.Logger.Error("SIP side monitor input failed; reopening", "input", in.Name, "err", err)
		for {
			if !s.opt.sleep(ctx, backoff.Delay(attempt, s.opt.MinBackoff, s.opt.MaxBackoff)) {
				return
			}
			attempt++
			if run, err = in.Open(); err == nil {
				break
			}
			s.setDown(in.Name, err.Error())
			s.opt.Logger.Warn("SIP side monitor input still failing", "input", in.Name, "err", err)
		}
		s.setDown(in.Name, "")
		s.opt.Logger.Info("SIP side monitor input open again", "input", in.Name)
	}
}

func (s *Supervisor) setDown(name, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if why == "" {
		delete(s.down, name)
	} else {
		s.down[name] = why
	}
}

// Health says whether every input is capturing: when so, the inputs' names;
// else each input down with why.
func (s *Supervisor) Health() (ok bool, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for _, in := range s.inputs {
		if len(s.down) == 0 {
			parts = append(parts, in.Name)
		} else if why, down := s.down[in.Name]; down {
			parts = append(parts, in.Name+": "+why)
		}
	}
	if len(s.down) == 0 {
		return true, strings.Join(parts, ", ")
	}
	return false, strings.Join(parts, "; ")
}
