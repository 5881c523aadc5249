package bypass

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/licbridge/licbridge/view"
)

// DefaultEvery is how often Run takes a view when nothing else asks for one.
const DefaultEvery = 5 * time.Second

// Metrics receives each product's verdict (admin.Metrics does).
type Metrics interface {
	SetBypass(product string, active bool, excess int)
}

// Options configure a Source. A zero value is usable.
type Options struct {
	// After: see NewDetector. Default DefaultAfter.
	After time.Duration
	// Every is Run's interval. Default DefaultEvery.
	Every time.Duration
	// Logger gets a WARN when an alert is raised, an INFO when it clears.
	// Default: discard.
	Logger *slog.Logger
	// Metrics, if set, gets every verdict.
	Metrics Metrics
}

// Views is what Wrap wraps: a source of views and statistics (the admin
// API's Source is one). Declared here so that bypass, a rule of the bridge,
// does not import the HTTP layer that shows its verdicts.
type Views interface {
	Snapshot(ctx context.Context) (view.View, error)
	Stats(ctx context.Context, product string, days int) (view.Report, error)
}

// Counter is a Views that also gives a cheap view: every product's admitted
// and observed use (InUse, Passive, ObservedLegs) from the store's totals,
// without the per-node detail a Snapshot reads. Run uses it when the wrapped
// source has it (bridge/node.Source does).
type Counter interface {
	Counts(ctx context.Context) (view.View, error)
}

// MetricsViews is a Views that also gives the view the /metrics gauges need,
// cheaper than a Snapshot (bridge/node.Source has it).
type MetricsViews interface {
	MetricsView(ctx context.Context) (view.View, error)
}

// Source is a Views whose views carry the bypass verdicts: every
// Snapshot feeds the Detector with each product's observed and admitted use
// and marks the products in bypass (Product.Bypass, and a warning).
type Source struct {
	Views
	det   *Detector
	every time.Duration
	log   *slog.Logger
	met   Metrics
}

// Wrap returns a Source over src.
func Wrap(src Views, o Options) *Source {
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Source{Views: src, det: NewDetector(o.After), every: o.Every,
		log: o.Logger.With("component", "bypass"), met: o.Metrics}
}

// Detector returns the Source's detector.
func (s *Source) Detector() *Detector { return s.det }

// Snapshot takes the wrapped source's view and applies the rule to it.
func (s *Source) Snapshot(ctx context.Context) (view.View, error) {
	return s.judge(s.Views.Snapshot(ctx))
}

func (s *Source) judge(v view.View, err error) (view.View, error) {
	if err != nil {
		return v, err
	}
	now := v.Time
	if now.IsZero() {
		now = time.Now()
	}
	for i := range v.Products {
		s.apply(&v.Products[i], now)
	}
	return v, nil
}

// Counts takes the wrapped source's cheap view (its Snapshot when it has
// none, see Counter) and applies the rule to it.
func (s *Source) Counts(ctx context.Context) (view.View, error) {
	if c, ok := s.Views.(Counter); ok {
		return s.judge(c.Counts(ctx))
	}
	return s.Snapshot(ctx)
}

// MetricsView takes the wrapped source's view for the metrics (its Snapshot
// when it has none, see MetricsViews) and applies the rule to it.
func (s *Source) MetricsView(ctx context.Context) (view.View, error) {
	if m, ok := s.Views.(MetricsViews); ok {
		return s.judge(m.MetricsView(ctx))
	}
	return s.Snapshot(ctx)
}

// Observed is a product's observed use and what saw it: the larger of the
// wire legs ("wire") and AMI passive accounting ("ami").
func Observed(p view.Product) (int, string) {
	if p.ObservedLegs != nil && *p.ObservedLegs >= p.Passive {
		return *p.ObservedLegs, "wire"
	}
	return p.Passive, "ami"
}

func (s *Source) apply(p *view.Product, now time.Time) {
	observed, from := Observed(*p)
	vd := s.det.Observe(p.Name, observed, p.InUse, now)
	if s.met != nil {
		s.met.SetBypass(p.Name, vd.Alert, vd.Excess)
	}
	switch vd.Change {
	case Raised:
		s.log.Warn("bypass: more use observed than admitted", "product", p.Name, "observed", vd.Observed,
			"source", from, "admitted", vd.Admitted, "excess", vd.Excess, "since", vd.Since, "after", s.det.After())
	case Cleared:
		s.log.Info("bypass cleared: observed use is back within admitted use", "product", p.Name,
			"observed", vd.Observed, "admitted", vd.Admitted)
	}
	// Only the rule's verdict reaches the surfaces: a spell shorter than
	// After (legs on the wire before their admission lands) is no news.
	if !vd.Alert {
		p.Bypass = nil
		return
	}
	p.Bypass = &view.Bypass{Observed: vd.Observed, Admitted: vd.Admitted, Source: from, Since: vd.Since,
		Alert: true, Excess: vd.Excess}
	p.Warn(fmt.Sprintf("BYPASS: %d %s in use seen (%s) against %d admitted, for over %s",
		vd.Observed, p.Name, from, vd.Admitted, s.det.After()))
}

// Run takes a view every interval until ctx ends, so that alerts are raised
// and cleared (and logged) whether or not anyone looks: the cheap one (Counts)
// when the wrapped source has it, as every node does this. A failed view is
// skipped: the store being away is reported elsewhere.
func (s *Source) Run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		if _, err := s.Counts(ctx); err != nil {
			s.log.Debug("bypass: view failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
