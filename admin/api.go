package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/licbridge/licbridge/view"
)

// Source supplies what the admin server shows. The daemon implements it
// (bridge/node.Source). Methods are called concurrently, once per request (and
// per /metrics scrape), so they should be quick.
type Source interface {
	// Snapshot returns the cluster as this node sees it now.
	Snapshot(ctx context.Context) (view.View, error)
	// Stats returns the product's hourly and daily peaks over the last days
	// calendar days, today included.
	Stats(ctx context.Context, product string, days int) (view.Report, error)
}

// ErrUnknownProduct is what Source.Stats returns (wrapped) for a product it
// does not know; the API answers 404.
var ErrUnknownProduct = view.ErrUnknownProduct

// The view's types under their old names here, for callers not yet moved to
// package view.
type (
	View    = view.View
	Product = view.Product
	Key     = view.Key
)

// Licenses is the body of /api/v1/licenses.
type Licenses struct {
	Node     string           `json:"node"`
	Time     time.Time        `json:"time"`
	Products []ProductLicense `json:"products"`
}

// ProductLicense is a product's keys and total.
type ProductLicense struct {
	Name        string    `json:"name"`
	Enforcement view.Mode `json:"enforcement"`
	Total       int       `json:"total"`
	Keys        []Key     `json:"keys"`
	Warnings    []string  `json:"warnings,omitempty"`
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
	Node     string         `json:"node"`
	Time     time.Time      `json:"time"`
	Products []view.Overage `json:"products"`
}

type errorBody struct {
	Error string `json:"error"`
}

// MaxStatsDays is the most days /api/v1/stats serves: what is kept.
const MaxStatsDays = 14

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/view", func(w http.ResponseWriter, r *http.Request) {
		if v, ok := s.snapshot(w, r); ok {
			writeJSON(w, http.StatusOK, s.withHealth(r.Context(), v))
		}
	})
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

// withHealth adds the node's health to the view: the page shows a banner per
// part that is down.
func (s *Server) withHealth(ctx context.Context, v View) View {
	if s.opt.Health != nil && v.Health == nil {
		v.Health = s.opt.Health.Check(ctx)
	}
	return v
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
	out := States{Node: v.Node, Time: v.Time, Products: []view.Overage{}}
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
