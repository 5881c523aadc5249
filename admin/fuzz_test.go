package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/admin"
)

// FuzzAuthorization: whatever the Authorization header, the server never
// fails, and only the exact token (any case of "Bearer", surrounding spaces
// trimmed) gets through.
func FuzzAuthorization(f *testing.F) {
	const token = "f-token-1"
	for _, s := range []string{"", "Bearer f-token-1", "bearer f-token-1", "Bearer  f-token-1 ", "Bearer", "Bearer ", "Basic f-token-1", "Bearer f-token-", "Bearer f-token-12", "\x00", "Bearer\tf-token-1"} {
		f.Add(s)
	}
	s, err := admin.New(admin.Options{Listen: "0.0.0.0:0", Token: token})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, header string) {
		// /readyz: behind the token (/healthz is open to probes).
		req := httptest.NewRequest("GET", "/readyz", nil)
		req.Header["Authorization"] = []string{header}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		scheme, rest, _ := strings.Cut(header, " ")
		right := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(rest) == token
		switch {
		case right && rec.Code != http.StatusOK:
			t.Fatalf("%q: %d, want 200", header, rec.Code)
		case !right && rec.Code != http.StatusUnauthorized:
			t.Fatalf("%q: %d, want 401", header, rec.Code)
		}
	})
}

// FuzzStatsQuery: any query string gets a JSON answer of 200, 400 or 404,
// never a failure.
func FuzzStatsQuery(f *testing.F) {
	for _, s := range []string{"product=g729", "product=g729&days=3", "days=0", "product=&days=-1", "product=g729&days=99999999999999999999", "product=%zz", "product=opus"} {
		f.Add(s)
	}
	s, err := admin.New(admin.Options{Listen: "127.0.0.1:0", Source: newFake(f)})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, q string) {
		u := &url.URL{Path: "/api/v1/stats", RawQuery: q}
		req := httptest.NewRequest("GET", "/", nil)
		req.URL = u
		req.RequestURI = u.RequestURI()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 404:
		default:
			t.Fatalf("%q: %d %s", q, rec.Code, rec.Body)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%q: content type %q", q, rec.Header().Get("Content-Type"))
		}
	})
}
