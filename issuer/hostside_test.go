package issuer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

// TestHostUpdate: Get/Update License installs what changed and works here,
// and keeps the installed file byte for byte when the issuer is down or
// answers with a file this host would not count.
func TestHostUpdate(t *testing.T) {
	ctx := context.Background()
	s, h, dir, srv := newHostSide(t)
	h.InstallDir = ""
	key := entitle(t, s, "g729", 10)
	data, err := h.Client.Register(ctx, h.Request(key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Check(data, "answer"); err != nil {
		t.Fatal(err)
	}
	path, err := Install(dir, key, data)
	if err != nil {
		t.Fatal(err)
	}
	one := func() UpdateResult {
		t.Helper()
		res := h.Update(ctx)
		if len(res) != 1 || res[0].Path != path {
			t.Fatalf("update results %+v", res)
		}
		return res[0]
	}
	if r := one(); r.Err != nil || r.Changed() {
		t.Fatalf("nothing changed: %+v", r)
	}

	if _, err := s.Modify(ctx, key, ModifyParams{Channels: ptr(20)}); err != nil {
		t.Fatal(err)
	}
	if r := one(); r.Err != nil || !r.Changed() || r.New.Channels != 20 || r.Key.Channels != 10 {
		t.Fatalf("upgrade: %+v", r)
	}
	upgraded, _ := os.ReadFile(path)

	// The issuer signs with a key this host does not trust (a rotated key
	// not yet given to the nodes): the new file is refused, the old kept.
	other := newService(t, s.Store)
	s.Priv = other.Priv
	if _, err := s.Modify(ctx, key, ModifyParams{Channels: ptr(30)}); err != nil {
		t.Fatal(err)
	}
	var nv *NotValidError
	if r := one(); !errors.As(r.Err, &nv) || r.Changed() {
		t.Fatalf("untrusted answer: %+v", r)
	}
	srv.Close()
	if r := one(); !errors.Is(r.Err, ErrUnreachable) || r.Changed() {
		t.Fatalf("issuer down: %+v", r)
	}
	if now, _ := os.ReadFile(path); string(now) != string(upgraded) {
		t.Fatal("a failed update altered the installed file")
	}
	h.Options.Now = func() time.Time { return time.Now().AddDate(5, 0, 0) }
	if _, err := h.Check(upgraded, "later"); !errors.As(err, &nv) || nv.Entry.Status != license.StatusExpired {
		t.Fatalf("check five years on: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// newHostSide is an issuer service on a fresh SQLite database behind a test
// HTTP server (closed at the test's end), and host 1's side of it installing
// into and loading from dir.
func newHostSide(t *testing.T) (*Service, *Host, string, *httptest.Server) {
	t.Helper()
	s := newService(t, openStore(t, filepath.Join(t.TempDir(), "issuer.db")))
	srv := httptest.NewServer(Handler(s, RateLimits{PerKey: 1e6, PerAddress: 1e6}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	h := &Host{Client: &Client{URL: srv.URL}, InstallDir: dir, Options: license.LoadOptions{Dirs: []license.Dir{{Path: dir}},
		Trusted: license.NewTrusted(s.Priv.Public().(ed25519.PublicKey)), HostID: hostN(1), Catalog: s.Catalog}}
	return s, h, dir, srv
}
