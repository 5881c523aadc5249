package admin

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/licbridge/licbridge/bridge/overage"
)

// Metrics are licbridge's Prometheus metrics, on a registry of their own (not
// the global one, so that tests and several servers in one process do not
// collide). All methods are safe for concurrent use and do nothing on a nil
// *Metrics, so a daemon without an admin server can still call them.
type Metrics struct {
	reg         *prometheus.Registry
	inUse       *prometheus.GaugeVec
	total       *prometheus.GaugeVec
	observed    *prometheus.GaugeVec
	peak        *prometheus.GaugeVec
	admissions  *prometheus.CounterVec
	rejections  *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	overDays    *prometheus.GaugeVec
	locksIn     *prometheus.GaugeVec
	phase       *prometheus.GaugeVec
}

// NewMetrics registers licbridge's metrics, and the Go and process
// collectors, on a new registry.
func NewMetrics() *Metrics {
	product := []string{"product"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		inUse: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "licbridge", Name: "channels_in_use",
			Help: "Licensed channels in use in the cluster."}, product),
		total: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "licbridge", Name: "channels_total",
			Help: "Stacked cluster-wide total of valid license keys."}, product),
		observed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "licbridge", Name: "legs_observed",
			Help: "Call legs the SIP monitor sees on the wire now."}, product),
		peak: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "licbridge", Name: "channels_peak_14d",
			Help: "Highest cluster-wide use of the last 14 days."}, product),
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "licbridge", Name: "admissions_total",
			Help: "Admission decisions by outcome (admitted, rejected, error)."}, []string{"product", "outcome"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "licbridge", Name: "rejections_total",
			Help: "Rejected admissions by reason (OVER_LIMIT, NO_LICENSE, EXPIRED, LOCKED, STORE_UNAVAILABLE, BAD_REQUEST)."}, []string{"product", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "licbridge", Name: "admission_duration_seconds",
			Help: "Time to decide an admission.",
			// From well under the 50 ms store deadline to well over it.
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1}}, []string{"product", "outcome"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "licbridge", Name: "store_errors_total",
			Help: "Failed calls to the shared store, by operation."}, []string{"op"}),
		overDays: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "licbridge", Name: "overage_days",
			Help: "Consecutive over-limit days of the current run."}, product),
		locksIn: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "licbridge", Name: "overage_locks_in_days",
			Help: "Over-limit days left before the product locks (0 when OK or locked)."}, product),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "licbridge", Name: "overage_phase",
			Help: "1 for the product's current over-limit phase (OK, GRACE, LOCKDOWN, LOCKED), 0 for the others."}, []string{"product", "phase"}),
	}
	m.reg.MustRegister(m.inUse, m.total, m.observed, m.peak, m.admissions, m.rejections, m.latency,
		m.storeErrors, m.overDays, m.locksIn, m.phase,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry, to add collectors of other parts.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveAdmission records one admission decision: outcome is "admitted",
// "rejected" or "error"; reason is the rejection reason ("" when admitted).
func (m *Metrics) ObserveAdmission(product, outcome, reason string, d time.Duration) {
	if m == nil {
		return
	}
	m.admissions.WithLabelValues(product, outcome).Inc()
	if reason != "" {
		m.rejections.WithLabelValues(product, reason).Inc()
	}
	m.latency.WithLabelValues(product, outcome).Observe(d.Seconds())
}

// StoreError counts a failed store call; op names it ("admit", "release", "stats", ...).
func (m *Metrics) StoreError(op string) {
	if m == nil {
		return
	}
	m.storeErrors.WithLabelValues(op).Inc()
}

// SetUsage sets a product's gauges: in use, total, and observed legs (nil:
// no monitor, the gauge is left out).
func (m *Metrics) SetUsage(product string, inUse, total int, observed *int) {
	if m == nil {
		return
	}
	m.inUse.WithLabelValues(product).Set(float64(inUse))
	m.total.WithLabelValues(product).Set(float64(total))
	if observed != nil {
		m.observed.WithLabelValues(product).Set(float64(*observed))
	}
}

var phases = []overage.Phase{overage.PhaseOK, overage.PhaseGrace, overage.PhaseLockdown, overage.PhaseLocked}

// SetOverage sets a product's over-limit gauges.
func (m *Metrics) SetOverage(product string, s overage.State) {
	if m == nil {
		return
	}
	m.overDays.WithLabelValues(product).Set(float64(s.OverDays))
	m.locksIn.WithLabelValues(product).Set(float64(s.LocksIn))
	for _, p := range phases {
		v := 0.0
		if s.Phase == p || (s.Phase == "" && p == overage.PhaseOK) {
			v = 1
		}
		m.phase.WithLabelValues(product, string(p)).Set(v)
	}
}

// Update sets every gauge from a View. The server calls it on each scrape, so
// the gauges always match what the API shows.
func (m *Metrics) Update(v View) {
	if m == nil {
		return
	}
	for _, p := range v.Products {
		m.SetUsage(p.Name, p.InUse, p.Total, p.ObservedLegs)
		m.peak.WithLabelValues(p.Name).Set(float64(p.Peak14d))
		m.SetOverage(p.Name, p.Overage)
	}
}

// metricsHandler refreshes the gauges from the Source, then serves. A failed
// snapshot still serves the counters (and counts a store error).
func (s *Server) metricsHandler() http.Handler {
	h := s.opt.Metrics.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opt.Source != nil {
			if v, err := s.opt.Source.Snapshot(r.Context()); err != nil {
				s.opt.Metrics.StoreError("snapshot")
				s.opt.Logger.Warn("admin: snapshot for metrics failed", "err", err)
			} else {
				s.opt.Metrics.Update(v)
			}
		}
		h.ServeHTTP(w, r)
	})
}
