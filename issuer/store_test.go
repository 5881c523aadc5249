package issuer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/pgtest"
	"github.com/licbridge/licbridge/license"
)

// backend opens a fresh, empty store.
type backend struct {
	name string
	open func(t *testing.T) Store
}

func sqliteBackend() backend {
	return backend{"sqlite", func(t *testing.T) Store {
		return openStore(t, filepath.Join(t.TempDir(), "issuer.db"))
	}}
}

func openStore(t *testing.T, dsn string) Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStores runs the store contract on SQLite and on a real PostgreSQL.
func TestStores(t *testing.T) {
	backends := []backend{sqliteBackend()}
	t.Run("postgres-start", func(t *testing.T) {
		pg := pgtest.Start(t)
		backends = append(backends, backend{"postgres", func(t *testing.T) Store { return openStore(t, pg.NewDB(t)) }})
		for _, b := range backends {
			runContract(t, b)
		}
	})
	if len(backends) == 1 {
		runContract(t, backends[0])
	}
}

func runContract(t *testing.T, b backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *Service)
	}{
		{"limit", testLimit},
		{"concurrent", testConcurrent},
		{"ffa", testFFA},
		{"fetch-revoke", testFetchRevoke},
		{"audit", testAudit},
	} {
		t.Run(b.name+"/"+tc.name, func(t *testing.T) { tc.fn(t, newService(t, b.open(t))) })
	}
}

func newService(t *testing.T, st Store) *Service {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := license.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Store: st, Priv: priv, Catalog: cat, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func hostN(i int) license.HostID {
	id, err := license.ParseHostID(fmt.Sprintf("%012X", 0xA00000000000+i))
	if err != nil {
		panic(err)
	}
	return id
}

func entitle(t *testing.T, s *Service, product string, channels int) string {
	t.Helper()
	e, err := s.Entitle(context.Background(), EntitleParams{Product: product, Channels: channels})
	if err != nil {
		t.Fatal(err)
	}
	return e.KeyID
}

func testLimit(t *testing.T, s *Service) {
	ctx := context.Background()
	key := entitle(t, s, "g729", 10)
	for i := 1; i <= 3; i++ {
		file, err := s.Register(ctx, Request{KeyID: key, HostID: hostN(i)}, "127.0.0.1")
		if err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
		k, err := license.ParseBytes(file, "reply")
		if err != nil || k.Binding.HostID != hostN(i) || k.Channels != 10 {
			t.Fatalf("host %d file: %v %+v", i, err, k)
		}
	}
	// Again on a host that holds it: not a new host.
	if _, err := s.Register(ctx, Request{KeyID: key, HostID: hostN(2)}, "x"); err != nil {
		t.Fatalf("re-register: %v", err)
	}
	_, err := s.Register(ctx, Request{KeyID: key, HostID: hostN(4)}, "x")
	var lim *LimitError
	if !errors.As(err, &lim) || len(lim.Hosts) != 3 {
		t.Fatalf("fourth host: %v", err)
	}
	for i := 1; i <= 3; i++ {
		if !strings.Contains(err.Error(), string(hostN(i))) {
			t.Errorf("refusal does not name host %s: %v", hostN(i), err)
		}
	}
	if err := s.Deactivate(ctx, Request{KeyID: key, HostID: hostN(2)}, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, Request{KeyID: key, HostID: hostN(4)}, "x"); err != nil {
		t.Fatalf("fourth host after a deactivation: %v", err)
	}
	if _, err := s.Register(ctx, Request{KeyID: "G729-NOPE", HostID: hostN(1)}, "x"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
}

// testConcurrent: 50 hosts register one key at once; exactly 3 get it.
func testConcurrent(t *testing.T, s *Service) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := entitle(t, s, "g729", 5)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	var other []error
	start := make(chan struct{})
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.Register(ctx, Request{KeyID: key, HostID: hostN(100 + i)}, "x")
			var lim *LimitError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.As(err, &lim):
				refused++
			default:
				other = append(other, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok != 3 || refused != 47 || len(other) > 0 {
		t.Fatalf("50 concurrent hosts: %d activated, %d refused, other errors %v; want 3 and 47", ok, refused, other)
	}
	acts, err := s.Store.Activations(ctx, key)
	if err != nil || len(acts) != 3 {
		t.Fatalf("stored activations: %d, %v", len(acts), err)
	}
}

func testFFA(t *testing.T, s *Service) {
	ctx := context.Background()
	if _, err := s.Entitle(ctx, EntitleParams{Product: "ffa", Channels: 3}); err == nil {
		t.Fatal("ffa with 3 channels was entitled")
	}
	a, b := entitle(t, s, "ffa", 1), entitle(t, s, "ffa", 1)
	if _, err := s.Register(ctx, Request{KeyID: a, HostID: hostN(1)}, "x"); err != nil {
		t.Fatal(err)
	}
	var lim *LimitError
	if _, err := s.Register(ctx, Request{KeyID: a, HostID: hostN(2)}, "x"); !errors.As(err, &lim) || lim.Max != 1 {
		t.Fatalf("ffa on a second host: %v", err)
	}
	var one *OnePerHostError
	_, err := s.Register(ctx, Request{KeyID: b, HostID: hostN(1)}, "x")
	if !errors.As(err, &one) {
		t.Fatalf("second ffa key on one host: %v", err)
	}
	if strings.Contains(err.Error(), a) {
		t.Fatalf("refusal names the other key's activation code: %v", err)
	}
	if _, err := s.Register(ctx, Request{KeyID: b, HostID: hostN(2)}, "x"); err != nil {
		t.Fatalf("second ffa key on another host: %v", err)
	}
}

func testFetchRevoke(t *testing.T, s *Service) {
	ctx := context.Background()
	key := entitle(t, s, "g729", 2)
	r := Request{KeyID: key, HostID: hostN(1)}
	if _, err := s.Fetch(ctx, r, "x"); !errors.Is(err, ErrNotActivated) {
		t.Fatalf("fetch before register: %v", err)
	}
	first, err := s.Register(ctx, r, "x")
	if err != nil {
		t.Fatal(err)
	}
	same, err := s.Fetch(ctx, r, "x")
	if err != nil || string(same) != string(first) {
		t.Fatalf("fetch of an unchanged key differs: %v", err)
	}
	ends := time.Now().UTC().Truncate(time.Second).AddDate(2, 0, 0)
	if _, err := s.Store.UpdateEntitlement(ctx, key, func(e *Entitlement) error { e.Ends, e.Channels = ends, 4; return nil }); err != nil {
		t.Fatal(err)
	}
	file, err := s.Fetch(ctx, r, "x")
	if err != nil {
		t.Fatal(err)
	}
	k, err := license.ParseBytes(file, "fetched")
	if err != nil || !k.Ends.Equal(ends) || k.Channels != 4 {
		t.Fatalf("fetched after extension: %v %+v", err, k)
	}
	if _, err := s.Store.UpdateEntitlement(ctx, key, func(e *Entitlement) error { e.Revoked = time.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(ctx, r, "x"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("fetch of a revoked key: %v", err)
	}
	if _, err := s.Register(ctx, Request{KeyID: key, HostID: hostN(2)}, "x"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("register of a revoked key: %v", err)
	}
}

func testAudit(t *testing.T, s *Service) {
	ctx := context.Background()
	key := entitle(t, s, "ffa", 1)
	_, _ = s.Register(ctx, Request{KeyID: key, HostID: hostN(1)}, "192.0.2.1")
	_, _ = s.Register(ctx, Request{KeyID: key, HostID: hostN(2)}, "192.0.2.2")
	_ = s.Deactivate(ctx, Request{KeyID: key, HostID: hostN(1)}, "192.0.2.1")
	log, err := s.Store.AuditLog(ctx, 10)
	if err != nil || len(log) != 3 {
		t.Fatalf("audit: %d rows, %v", len(log), err)
	}
	want := []struct{ action, outcome, addr string }{
		{"deactivate", "ok", "192.0.2.1"}, {"register", "refused", "192.0.2.2"}, {"register", "ok", "192.0.2.1"},
	}
	for i, w := range want {
		e := log[i]
		if e.Action != w.action || !strings.HasPrefix(e.Outcome, w.outcome) || e.Address != w.addr || e.KeyHash != KeyHash(key) || e.At.IsZero() {
			t.Errorf("audit row %d = %+v, want %v", i, e, w)
		}
		if strings.Contains(fmt.Sprint(e), key) {
			t.Errorf("audit row %d holds the key ID", i)
		}
	}
}
