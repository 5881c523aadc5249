package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/licbridge/licbridge/view"
)

// Metrics are licbridge's Prometheus metrics, on a registry of their own (not
// the global one, so that tests and several servers in one process do not
// collide). All methods are safe for concurrent use and do nothing on a nil
// *Metrics, so a daemon without an admin server can still call them.
//
// Names follow the Prometheus conventions: counters end in _total and only
// counters do; gauges of channels end in a noun that says which channels.
type Metrics struct {
	reg         *prometheus.Registry
	inUse       *prometheus.GaugeVec
	licensed    *prometheus.GaugeVec
	observed    *prometheus.GaugeVec
	passive     *prometheus.GaugeVec
	unadmitted  *prometheus.GaugeVec
	peak        *prometheus.GaugeVec
	admissions  *prometheus.CounterVec
	rejections  *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	overDays    *prometheus.GaugeVec
	locksIn     *prometheus.GaugeVec
	phase       *prometheus.GaugeVec
	up          *prometheus.GaugeVec
	failOpen    prometheus.Gauge
	failOpenAdm *prometheus.GaugeVec
	bypass      *prometheus.GaugeVec
	excess      *prometheus.GaugeVec
	invalidKeys prometheus.Gauge
	nodeLive    *prometheus.GaugeVec
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "licbridge", Name: name, Help: help}, labels)
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "licbridge", Name: name, Help: help}, labels)
}

// NewMetrics registers licbridge's metrics, and the Go and process
// collectors, on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg:        prometheus.NewRegistry(),
		inUse:      gaugeVec("channels_in_use", "Admitted licensed channels in use in the cluster.", "product"),
		licensed:   gaugeVec("channels_licensed", "Stacked cluster-wide total of valid license keys: the channels licensed.", "product"),
		observed:   gaugeVec("legs_observed", "Call legs of the product the SIP monitor sees on the wire now (absent without a monitor).", "product"),
		passive:    gaugeVec("channels_passive", "Channels AMI passive accounting sees using the product now, admitted or not.", "product"),
		unadmitted: gaugeVec("channels_unadmitted", "Channels seen using the product (wire legs or AMI passive, the larger) beyond those admitted.", "product"),
		peak:       gaugeVec("channels_peak_14d", "Highest cluster-wide use of the last 14 days.", "product"),
		admissions: counterVec("admissions_total", "Admission decisions by outcome (admitted, rejected, error).", "product", "outcome"),
		rejections: counterVec("rejections_total", "Rejected admissions by reason (OVER_LIMIT, NO_LICENSE, EXPIRED, LOCKED, STORE_UNAVAILABLE, BAD_REQUEST).", "product", "reason"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "licbridge", Name: "admission_duration_seconds",
			Help: "Time to decide an admission.",
			// From well under the 50 ms store deadline to well over it.
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1}}, []string{"product", "outcome"}),
		storeErrors: counterVec("store_errors_total", "Failed calls to the shared store, by operation.", "op"),
		// Counts of calendar days, not durations: named without the "days" unit
		// (Prometheus would want seconds, which a day count is not).
		overDays: gaugeVec("overage_day_streak", "Consecutive calendar days closed over the limit in the current run.", "product"),
		locksIn:  gaugeVec("overage_lock_countdown", "Over-limit calendar days left before a grace product locks (0 when OK or locked).", "product"),
		phase:    gaugeVec("overage_phase", "1 for the product's current over-limit phase (OK, GRACE, LOCKDOWN, LOCKED), 0 for the others.", "product", "phase"),
		up:       gaugeVec("up", "1 when the component (store, ami, ari, sipmon, ...) is connected and healthy, else 0.", "component"),
		failOpen: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "licbridge", Name: "fail_open",
			Help: "1 while this node holds channels it admitted without the shared store (fail-open), not yet written back; else 0."}),
		failOpenAdm: gaugeVec("fail_open_admitted_channels", "Channels this node holds that it admitted without the store (fail-open), not yet written back.", "product"),
		bypass:      gaugeVec("bypass", "1 while channels seen using the product have exceeded those admitted for longer than bypass.after, else 0.", "product"),
		excess:      gaugeVec("bypass_excess_channels", "Channels seen using the product beyond those admitted, as the bypass detector last saw them.", "product"),
		invalidKeys: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "licbridge", Name: "license_invalid_keys",
			Help: "Key files in this node's license directories that are invalid (tampered, unsigned, for another host, ...)."}),
		nodeLive: gaugeVec("cluster_node_live", "1 for each node of the cluster that is live (heartbeating) now; a lapsed node's series ends.", "node"),
	}
	m.reg.MustRegister(m.inUse, m.licensed, m.observed, m.passive, m.unadmitted, m.peak, m.admissions, m.rejections,
		m.latency, m.storeErrors, m.overDays, m.locksIn, m.phase, m.up, m.failOpen, m.failOpenAdm, m.bypass, m.excess, m.invalidKeys, m.nodeLive,
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

// SetUsage sets a product's gauges: in use, licensed total, and observed legs
// (nil: no monitor, the gauge is left out).
func (m *Metrics) SetUsage(product string, inUse, total int, observed *int) {
	if m == nil {
		return
	}
	m.inUse.WithLabelValues(product).Set(float64(inUse))
	m.licensed.WithLabelValues(product).Set(float64(total))
	if observed != nil {
		m.observed.WithLabelValues(product).Set(float64(*observed))
	}
}

// SetPassive sets what AMI passive accounting sees of a product, and the
// channels seen beyond those admitted (the larger of passive and wire legs,
// less in use; never below 0).
func (m *Metrics) SetPassive(product string, passive, inUse int, observed *int) {
	if m == nil {
		return
	}
	m.passive.WithLabelValues(product).Set(float64(passive))
	seen := passive
	if observed != nil {
		seen = max(seen, *observed)
	}
	m.unadmitted.WithLabelValues(product).Set(float64(max(0, seen-inUse)))
}

// SetBypass sets a product's bypass alert (the bypass detector's verdict) and
// the excess it last saw.
func (m *Metrics) SetBypass(product string, active bool, excess int) {
	if m == nil {
		return
	}
	v := 0.0
	if active {
		v = 1
	}
	m.bypass.WithLabelValues(product).Set(v)
	m.excess.WithLabelValues(product).Set(float64(excess))
}

// SetFailOpen says whether the node is admitting without the store.
func (m *Metrics) SetFailOpen(on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.failOpen.Set(v)
}

// SetInvalidKeys sets the count of invalid key files.
func (m *Metrics) SetInvalidKeys(n int) {
	if m == nil {
		return
	}
	m.invalidKeys.Set(float64(n))
}

// SetHealth sets licbridge_up for each component.
func (m *Metrics) SetHealth(cs []Component) {
	if m == nil {
		return
	}
	for _, c := range cs {
		v := 0.0
		if c.OK {
			v = 1
		}
		m.up.WithLabelValues(c.Name).Set(v)
	}
}

var phases = []view.Phase{view.PhaseOK, view.PhaseGrace, view.PhaseLockdown, view.PhaseLocked}

// SetOverage sets a product's over-limit gauges.
func (m *Metrics) SetOverage(product string, s view.Overage) {
	if m == nil {
		return
	}
	m.overDays.WithLabelValues(product).Set(float64(s.OverDays))
	m.locksIn.WithLabelValues(product).Set(float64(s.LocksIn))
	for _, p := range phases {
		v := 0.0
		if s.Phase == p || (s.Phase == "" && p == view.PhaseOK) {
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
	m.SetInvalidKeys(len(v.Invalid))
	if v.Usage || len(v.Nodes) > 0 {
		m.nodeLive.Reset()
		for _, n := range v.Nodes {
			m.nodeLive.WithLabelValues(n).Set(1)
		}
	}
	m.SetFailOpen(v.Store.FailOpen())
	if v.Store != nil {
		m.failOpenAdm.Reset()
		for p, n := range v.Store.AdmittedWithoutStore {
			m.failOpenAdm.WithLabelValues(p).Set(float64(n))
		}
	}
	for _, p := range v.Products {
		m.SetUsage(p.Name, p.InUse, p.Total, p.ObservedLegs)
		m.SetPassive(p.Name, p.Passive, p.InUse, p.ObservedLegs)
		m.peak.WithLabelValues(p.Name).Set(float64(p.Peak14d))
		m.SetOverage(p.Name, p.Overage)
	}
}

// MetricsSource is a Source that also gives the view the gauges need at a
// cost that does not grow with the cluster (every scrape of every node reads
// it): per-product totals and the live nodes' names, without the per-node
// detail of Snapshot. bridge/node.Source is one.
type MetricsSource interface {
	MetricsView(ctx context.Context) (view.View, error)
}

// metricsHandler refreshes the gauges from the Source (its MetricsView when
// it has one) and Health, then serves. A failed snapshot still serves the
// counters (and counts a store error).
func (s *Server) metricsHandler() http.Handler {
	h := s.opt.Metrics.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opt.Health != nil {
			s.opt.Metrics.SetHealth(s.opt.Health.Check(r.Context()))
		}
		if s.opt.Source != nil {
			snapshot := s.opt.Source.Snapshot
			if m, ok := s.opt.Source.(MetricsSource); ok {
				snapshot = m.MetricsView
			}
			if v, err := snapshot(r.Context()); err != nil {
				s.opt.Metrics.StoreError("snapshot")
				s.opt.Logger.Warn("admin: snapshot for metrics failed", "err", err)
			} else {
				s.opt.Metrics.Update(v)
			}
		}
		h.ServeHTTP(w, r)
	})
}
