package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/issuer"
	"github.com/licbridge/licbridge/license"
)

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

// TestIssuerUpdatesLive: a running node with issuer.url fetches its key's
// current file from a real issuer (HTTP API over SQLite) on its own, and the
// extended end date and channel upgrade count without a restart. With the
// issuer gone, an update is a WARN and the installed key keeps counting.
func TestIssuerUpdatesLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := license.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	st, err := issuer.Open(ctx, filepath.Join(t.TempDir(), "issuer.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := &issuer.Service{Store: st, Priv: priv, Catalog: cat, Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(issuer.Handler(svc, issuer.RateLimits{PerKey: 1e6, PerAddress: 1e6}))
	defer srv.Close()

	host, err := license.ParseHostID("A1B2C3D4E5F6")
	if err != nil {
		t.Fatal(err)
	}
	ent, err := svc.Entitle(ctx, issuer.EntitleParams{Product: "g729", Channels: 10})
	if err != nil {
		t.Fatal(err)
	}
	client := &issuer.Client{URL: srv.URL}
	data, err := client.Register(ctx, issuer.Request{KeyID: ent.KeyID, HostID: host})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := issuer.Install(dir, ent.KeyID, data); err != nil {
		t.Fatal(err)
	}

	s := settings(t, "no_asterisk: true\nagi: {listen: '127.0.0.1:0'}\nhttp: {listen: 'off'}\nissuer: {url: '"+srv.URL+"'}\n")
	s.Issuer.UpdateEvery = 20 * time.Millisecond // below the 1m that Validate allows: a test's pace
	var logs syncBuf
	d, err := New(ctx, Options{Settings: s, NodeID: "pbx1", Journal: "-", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Licenses: license.LoadOptions{Dirs: []license.Dir{{Path: dir}}, Trusted: license.NewTrusted(pub), HostID: host}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx, nil) }()
	defer func() { stop(); <-done }()
	if err := d.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.watcher.Current().Total("g729"); got != 10 {
		t.Fatalf("g729 total at start %d, want 10", got)
	}
	sets := make(chan *license.Set, 16)
	unsub := d.watcher.Subscribe(func(s *license.Set) {
		select {
		case sets <- s:
		default:
		}
	})
	defer unsub()

	newEnds := time.Now().UTC().AddDate(3, 0, 0).Truncate(time.Second)
	if _, err := st.UpdateEntitlement(ctx, ent.KeyID, func(e *issuer.Entitlement) error {
		e.Channels, e.Ends = 25, newEnds
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The node's own loop fetches the change; no call from here.
	for cur := d.watcher.Current(); cur.Total("g729") != 25; {
		select {
		case cur = <-sets:
		case <-ctx.Done():
			t.Fatalf("the node did not pick up the upgrade; log:\n%s", logs.String())
		}
	}
	if ks := d.watcher.Current().KeysFor("g729"); len(ks) != 1 || !ks[0].Ends.Equal(newEnds) {
		t.Fatalf("keys after the update: %+v, want one ending %s", ks, newEnds)
	}

	srv.Close()
	if n := d.UpdateKeys(ctx); n != 0 {
		t.Fatalf("%d files replaced with the issuer down", n)
	}
	if got := d.watcher.Current().Total("g729"); got != 25 {
		t.Fatalf("g729 total with the issuer down %d, want 25 (kept)", got)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "issuer unreachable") {
		t.Fatalf("no warning for the unreachable issuer:\n%s", out)
	}
	if strings.Contains(out, ent.KeyID) {
		t.Fatalf("the log holds the key ID (an activation code):\n%s", out)
	}
}
