package issuer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// syncBuf is a log sink safe for the handler's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHTTPAPI(t *testing.T) {
	s := newService(t, openStore(t, filepath.Join(t.TempDir(), "issuer.db")))
	var logs syncBuf
	s.Log = slog.New(slog.NewTextHandler(&logs, nil))
	srv := httptest.NewServer(Handler(s, RateLimits{PerKey: 5, PerAddress: 1000}))
	defer srv.Close()
	c := &Client{URL: srv.URL}
	ctx := context.Background()
	key := entitle(t, s, "g729", 10)

	for i := 1; i <= 3; i++ {
		if _, err := c.Register(ctx, Request{KeyID: key, HostID: hostN(i)}); err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
	}
	_, err := c.Register(ctx, Request{KeyID: key, HostID: hostN(4)})
	var api *APIError
	if !errors.As(err, &api) || api.Status != http.StatusConflict || api.Code != "host_limit" || len(api.Hosts) != 3 ||
		!strings.Contains(api.Error(), "license deactivate") {
		t.Fatalf("fourth host: %v", err)
	}
	if _, err := c.Fetch(ctx, Request{KeyID: key, HostID: hostN(1)}); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	// Five attempts a minute for this key: the fifth was the fetch.
	_, err = c.Fetch(ctx, Request{KeyID: key, HostID: hostN(1)})
	if !errors.As(err, &api) || api.Status != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt on one key: %v", err)
	}
	// Another key is not limited by the first one's attempts.
	other := entitle(t, s, "g729", 1)
	if _, err := c.Register(ctx, Request{KeyID: other, HostID: hostN(1)}); err != nil {
		t.Fatalf("another key: %v", err)
	}
	resp, err := http.Post(srv.URL+PathRegister, "application/json", strings.NewReader(`{"key_id":"`+key+`","host_id":"nope"}`))
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad request: %v %v", resp, err)
	}
	resp.Body.Close()
	if strings.Contains(logs.String(), key) || strings.Contains(logs.String(), other) {
		t.Fatalf("the log holds a key ID:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), KeyHash(key)) {
		t.Fatalf("the log does not name the key by its hash:\n%s", logs.String())
	}
}

func TestHTTPRateLimitPerAddress(t *testing.T) {
	s := newService(t, openStore(t, filepath.Join(t.TempDir(), "issuer.db")))
	srv := httptest.NewServer(Handler(s, RateLimits{PerKey: 1000, PerAddress: 3}))
	defer srv.Close()
	c := &Client{URL: srv.URL}
	var api *APIError
	for i := range 4 {
		// Guessed key IDs: each unknown, all from one address.
		_, err := c.Register(context.Background(), Request{KeyID: "G729-GUESS" + string(rune('A'+i)), HostID: hostN(1)})
		want := http.StatusNotFound
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if !errors.As(err, &api) || api.Status != want {
			t.Fatalf("attempt %d: %v, want status %d", i+1, err, want)
		}
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := (&Client{URL: url}).Fetch(context.Background(), Request{KeyID: "K", HostID: hostN(1)})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("closed issuer: %v", err)
	}
}
