package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// API paths. Every call is a POST of a JSON Request, so that the key ID (the
// activation code) never appears in a URL or an access log.
const (
	PathRegister   = "/v1/register"
	PathDeactivate = "/v1/deactivate"
	PathFetch      = "/v1/fetch"
)

// Response is the JSON answer of every call.
type Response struct {
	KeyFile string `json:"key_file,omitempty"`
	Error   string `json:"error,omitempty"`
	// Code classifies an error: bad_request, unknown_key, revoked,
	// not_activated, host_limit, one_per_host, rate_limited, internal.
	Code string `json:"code,omitempty"`
	// Hosts are the hosts holding the key, with a host_limit error.
	Hosts []string `json:"hosts,omitempty"`
}

// RateLimits bounds attempts per key and per client address (per minute; the
// same number is the burst). Zero means the default.
type RateLimits struct {
	PerKey, PerAddress float64
}

// Default rate limits: a host registers a key a few times in its life; a
// guesser of activation codes tries many.
const (
	DefaultPerKey     = 20
	DefaultPerAddress = 120
)

// Handler serves the issuer API over s.
func Handler(s *Service, rl RateLimits) http.Handler {
	if rl.PerKey <= 0 {
		rl.PerKey = DefaultPerKey
	}
	if rl.PerAddress <= 0 {
		rl.PerAddress = DefaultPerAddress
	}
	h := &handler{s: s, keys: newLimiters(rl.PerKey), addrs: newLimiters(rl.PerAddress)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathRegister, h.serve(s.Register))
	mux.HandleFunc("POST "+PathFetch, h.serve(s.Fetch))
	mux.HandleFunc("POST "+PathDeactivate, h.serve(func(ctx context.Context, r Request, addr string) ([]byte, error) {
		return nil, s.Deactivate(ctx, r, addr)
	}))
	return mux
}

type handler struct {
	s           *Service
	keys, addrs *limiters
}

func (h *handler) serve(call func(context.Context, Request, string) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		addr := clientAddr(r)
		if !h.addrs.allow(addr) {
			writeJSON(w, http.StatusTooManyRequests, Response{Code: "rate_limited", Error: "too many attempts from this address: wait a minute"})
			return
		}
		req, err := ParseRequest(http.MaxBytesReader(w, r.Body, MaxRequestSize+1))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, Response{Code: "bad_request", Error: err.Error()})
			return
		}
		if !h.keys.allow(KeyHash(req.KeyID)) {
			writeJSON(w, http.StatusTooManyRequests, Response{Code: "rate_limited", Error: "too many attempts for this key: wait a minute"})
			return
		}
		file, err := call(r.Context(), req, addr)
		if err != nil {
			status, resp := errorResponse(err)
			if status == http.StatusInternalServerError {
				h.s.log().Error("issuer request failed", "path", r.URL.Path, "key", KeyHash(req.KeyID), "err", err)
			}
			writeJSON(w, status, resp)
			return
		}
		writeJSON(w, http.StatusOK, Response{KeyFile: string(file)})
	}
}

func errorResponse(err error) (int, Response) {
	var lim *LimitError
	var one *OnePerHostError
	switch {
	case errors.As(err, &lim):
		hosts := make([]string, len(lim.Hosts))
		for i, a := range lim.Hosts {
			hosts[i] = string(a.HostID)
		}
		return http.StatusConflict, Response{Code: "host_limit", Error: err.Error(), Hosts: hosts}
	case errors.As(err, &one):
		return http.StatusConflict, Response{Code: "one_per_host", Error: err.Error()}
	case errors.Is(err, ErrUnknownKey):
		return http.StatusNotFound, Response{Code: "unknown_key", Error: err.Error()}
	case errors.Is(err, ErrRevoked):
		return http.StatusGone, Response{Code: "revoked", Error: err.Error()}
	case errors.Is(err, ErrNotActivated):
		return http.StatusNotFound, Response{Code: "not_activated", Error: err.Error()}
	}
	return http.StatusInternalServerError, Response{Code: "internal", Error: "internal error of the issuer (see its log)"}
}

func writeJSON(w http.ResponseWriter, status int, v Response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// clientAddr is the peer's IP. A proxy's X-Forwarded-For is not trusted: it
// would let a client pick its own rate-limit bucket.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiters is a token bucket per name. The map is bounded: past maxBuckets it
// starts afresh, which at worst forgives some clients once.
type limiters struct {
	mu    sync.Mutex
	m     map[string]*rate.Limiter
	limit rate.Limit
	burst int
}

const maxBuckets = 100_000

func newLimiters(perMinute float64) *limiters {
	return &limiters{m: map[string]*rate.Limiter{}, limit: rate.Limit(perMinute / 60), burst: max(1, int(perMinute))}
}

func (l *limiters) allow(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[name]
	if !ok {
		if len(l.m) >= maxBuckets {
			l.m = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[name] = lim
	}
	return lim.AllowN(time.Now(), 1)
}
