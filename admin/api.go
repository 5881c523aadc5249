package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/licbridge/licbridge/bridge/overage"
	"github.com/licbridge/licbridge/bridge/stats"
)

// Source supplies what the admin server shows. The daemon implements it over
// the license set, the admission core, the SIP monitor's counts, the overage
// machine and the statistics recorder. Methods are called concurrently, once
// per request (and per /metrics scrape), so they should be quick.
type Source interface {
	// Snapshot returns the cluster as this node sees it now.
	Snapshot(ctx context.Context) (View, error)
	// Stats returns the product's hourly and daily peaks over the last days
	// calendar days, today included.
	Stats(ctx context.Context, product string, days int) (stats.Report, error)
}

// ErrUnknownProduct is what Source.Stats returns (wrapped) for a product it
// does not know; the API answers 404.
var ErrUnknownProduct = errors.New("unknown product")

// View is the whole cluster as seen from one node.
type View struct {
	// Node is this node's ID.
	Node string `json:"node"`
	// Time is when the view was taken.
	Time time.Time `json:"time"`
	// Nodes lists the live nodes of the cluster.
	Nodes []string `json:"nodes,omitempty"`
	// Products, in display order.
	Products []Product `json:"products"`
}

// Product is one licensed product in the View.
type Product struct {
	Name string `json:"name"`
	// Enforcement is hard, grace or monitor.
	Enforcement overage.Mode `json:"enforcement"`
	// Total is the stacked cluster-wide total of valid keys (each key once).
	Total int `json:"total"`
	// InUse is the count of channels in use in the cluster.
	InUse int `json:"in_use"`
	// InUseByNode splits InUse per live node.
	InUseByNode map[string]int `json:"in_use_by_node,omitempty"`
	// ObservedLegs is the count of legs the SIP monitor sees on the wire now;
	// nil when no monitor reports.
	ObservedLegs *int `json:"observed_legs,omitempty"`
	// Passive is what passive accounting (AMI) sees using the product on the
	// cluster's Asterisk nodes now, admitted or not.
	Passive int `json:"passive"`
	// Peak14d is the highest cluster-wide use of the last 14 days.
	Peak14d int `json:"peak_14d"`
	// Overage is the over-limit state and its countdown.
	Overage overage.State `json:"overage"`
	// Keys are the product's key files, valid or not.
	Keys []Key `json:"keys"`
	// Warnings are the product's warnings: overage, keys nearing their end
	// date, conflicts, invalid keys. Every surface prints them.
	Warnings []string `json:"warnings,omitempty"`
}

// Key is one license key as the cluster sees it.
type Key struct {
	// ID is the key ID (never the whole key).
	ID       string `json:"id"`
	Channels int    `json:"channels"`
	// Nodes are the live nodes presenting the key.
	Nodes []string `json:"nodes,omitempty"`
	// Binding is "host <id>", "domain <name>" or "unbound".
	Binding string `json:"binding"`
	// EndDate is the formal end date; zero for none.
	EndDate time.Time `json:"end_date,omitzero"`
	// Status is VALID, EXPIRING, GRACE (renewal grace), EXPIRED or INVALID.
	Status string `json:"status"`
	// Reason says why the key is not plainly valid ("bad signature", ...).
	Reason string `json:"reason,omitempty"`
	// Conflicts names nodes presenting the same key (a cloned VM, say).
	Conflicts []string `json:"conflicts,omitempty"`
	// EndsInDays is set when the end date is near (the warning thresholds).
	EndsInDays *int `json:"ends_in_days,omitempty"`
}

// Licenses is the body of /api/v1/licenses.
type Licenses struct {
	Node     string           `json:"node"`
	Time     time.Time        `json:"time"`
	Products []ProductLicense `json:"products"`
}

// ProductLicense is a product's keys and total.
type ProductLicense struct {
	Name        string       `json:"name"`
	Enforcement overage.Mode `json:"enforcement"`
	Total       int          `json:"total"`
	Keys        []Key        `json:"keys"`
	Warnings    []string     `json:"warnings,omitempty"`
}

// Channels is the body of /api/v1/channels.
type Channels struct {
	Node     string            `json:"node"`
	Time     time.Time         `json:"time"`
	Products []ProductChannels `json:"products"`
}

// ProductChannels is a product's use now.
type ProductChannels struct {
	Name         string         `json:"name"`
	Total        int            `json:"total"`
	InUse        int            `json:"in_use"`
	InUseByNode  map[string]int `json:"in_use_by_node,omitempty"`
	ObservedLegs *int           `json:"observed_legs,omitempty"`
	Peak14d      int            `json:"peak_14d"`
}

// States is the body of /api/v1/state.
type States struct {
	Node     string          `json:"node"`
	Time     time.Time       `json:"time"`
	Products []overage.State `json:"products"`
}

type errorBody struct {
	Error string `json:"error"`
}

// MaxStatsDays is the most days /api/v1/stats serves: what is kept.
const MaxStatsDays = 14

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/view", s.viewHandler(func(v View) any { return v }))
	api.HandleFunc("GET /api/v1/licenses", s.viewHandler(licensesOf))
	api.HandleFunc("GET /api/v1/channels", s.viewHandler(channelsOf))
	api.HandleFunc("GET /api/v1/state", s.viewHandler(statesOf))
	api.HandleFunc("GET /api/v1/stats", s.statsHandler)
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: fmt.Sprintf("no API endpoint %s %s", r.Method, r.URL.Path)})
	})
	api.Handle("GET /metrics", s.metricsHandler())
	api.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "up"})
	})
	api.HandleFunc("GET /readyz", s.readyHandler)

	var data http.Handler = api
	if s.opt.Token != "" {
		data = s.requireToken(api)
	}
	root := http.NewServeMux()
	page := pageHandler()
	root.Handle("GET /{$}", page)
	root.Handle("GET /static/", page)
	root.Handle("/", data)
	return s.limitBody(securityHeaders(root))
}

// limitBody bounds what a handler may read of a request body and closes the
// connection after any request that has one. net/http would otherwise drain
// an unread body (up to 256 KB) after the answer, for as long as a client
// cares to trickle it (up to ReadTimeout); the connection is not reused, so
// nothing more need be read from it once the handler is done.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		// -1 (chunked, length unknown) comes here too.
		w.Header().Set("Connection", "close")
		r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes)
		next.ServeHTTP(w, r)
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	})
}

// securityHeaders: the page loads nothing from elsewhere, so the policy can
// say so, and no other site may frame it.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) (View, bool) {
	if s.opt.Source == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "no data source yet"})
		return View{}, false
	}
	v, err := s.opt.Source.Snapshot(r.Context())
	if err != nil {
		s.opt.Metrics.StoreError("snapshot")
		s.opt.Logger.Warn("admin: snapshot failed", "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "snapshot: " + err.Error()})
		return View{}, false
	}
	return v, true
}

func (s *Server) viewHandler(shape func(View) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v, ok := s.snapshot(w, r); ok {
			writeJSON(w, http.StatusOK, shape(v))
		}
	}
}

func licensesOf(v View) any {
	out := Licenses{Node: v.Node, Time: v.Time, Products: []ProductLicense{}}
	for _, p := range v.Products {
		out.Products = append(out.Products, ProductLicense{Name: p.Name, Enforcement: p.Enforcement, Total: p.Total, Keys: p.Keys, Warnings: p.Warnings})
	}
	return out
}

func channelsOf(v View) any {
	out := Channels{Node: v.Node, Time: v.Time, Products: []ProductChannels{}}
	for _, p := range v.Products {
		out.Products = append(out.Products, ProductChannels{Name: p.Name, Total: p.Total, InUse: p.InUse,
			InUseByNode: p.InUseByNode, ObservedLegs: p.ObservedLegs, Peak14d: p.Peak14d})
	}
	return out
}

func statesOf(v View) any {
	out := States{Node: v.Node, Time: v.Time, Products: []overage.State{}}
	for _, p := range v.Products {
		st := p.Overage
		st.Product = p.Name
		out.Products = append(out.Products, st)
	}
	return out
}

func (s *Server) statsHandler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	product := q.Get("product")
	if product == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "stats: the product parameter is required (e.g. ?product=g729)"})
		return
	}
	days := MaxStatsDays
	if d := q.Get("days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > MaxStatsDays {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("stats: days %q: want a whole number from 1 to %d", d, MaxStatsDays)})
			return
		}
		days = n
	}
	if s.opt.Source == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "no data source yet"})
		return
	}
	rep, err := s.opt.Source.Stats(r.Context(), product, days)
	switch {
	case errors.Is(err, ErrUnknownProduct):
		writeJSON(w, http.StatusNotFound, errorBody{Error: fmt.Sprintf("stats: %s: %v", product, err)})
	case err != nil:
		s.opt.Metrics.StoreError("stats")
		s.opt.Logger.Warn("admin: stats failed", "product", product, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "stats: " + err.Error()})
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(body)
}
