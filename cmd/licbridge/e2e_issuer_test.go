package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/pgtest"
	"github.com/licbridge/licbridge/license"
)

// TestE2EIssuerSQLite runs the activation story (issue 15) with the built
// binary against the embedded SQLite activation database.
func TestE2EIssuerSQLite(t *testing.T) {
	issuerStory(t, filepath.Join(t.TempDir(), "db", "issuer.db"))
}

// TestE2EIssuerPostgres is the same story on a private PostgreSQL server.
func TestE2EIssuerPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	issuerStory(t, pg.NewDB(t))
}

// issuerWorld is an issuer key pair, a running issuer service and this host's
// licence directory.
type issuerWorld struct {
	db, key, pub, url, lic string
	serve                  *daemon
}

func newIssuerWorld(t *testing.T, db string) *issuerWorld {
	root := t.TempDir()
	w := &issuerWorld{db: db, key: filepath.Join(root, "issuer", "issuer.key"), pub: filepath.Join(root, "issuer", "issuer.pub"),
		lic: filepath.Join(root, "licenses")}
	mustRun(t, nil, "license", "keygen", "--out", filepath.Join(root, "issuer"))
	w.serve = startCommand(t, "--log-format", "json", "issuer", "serve", "--issuer-key", w.key, "--db", db, "--listen", "127.0.0.1:0")
	m := w.serve.waitLog(t, "licbridge issuer ready", 20*time.Second)
	addr, _ := m["listen"].(string)
	w.url = "http://" + addr
	return w
}

// entitle records an entitlement and returns its key ID.
func (w *issuerWorld) entitle(t *testing.T, product string, channels int) string {
	t.Helper()
	id := strings.TrimSpace(mustRun(t, nil, "issuer", "entitle", "--db", w.db, "--product", product, "--channels", fmt.Sprint(channels)))
	if !license.ValidKeyID(id) || len(id) < 24 {
		t.Fatalf("entitle printed %q, not a key ID", id)
	}
	return id
}

// host runs a host-side license command as host (with its own licence dir).
func (w *issuerWorld) host(t *testing.T, host, lic string, args ...string) result {
	t.Helper()
	full := append([]string{"license"}, args...)
	full = append(full, "--issuer-pub", w.pub, "--host-id", host, "--no-default-dirs", "--licenses-dir", lic)
	return licbridge(t, nil, full...)
}

// offline registers keyID for host through a request file and issuer answer.
func (w *issuerWorld) offline(t *testing.T, keyID, host string) result {
	t.Helper()
	dir := t.TempDir()
	req, lic := filepath.Join(dir, "req.json"), filepath.Join(dir, "key.lic")
	mustRun(t, nil, "license", "request", keyID, "--out", req, "--host-id", host)
	return licbridge(t, nil, "issuer", "answer", req, "--out", lic, "--db", w.db, "--issuer-key", w.key)
}

func issuerStory(t *testing.T, db string) {
	const here, h2, h3, h4 = e2eHost, "0000-0000-0002", "0000-0000-0003", "0000-0000-0004"
	w := newIssuerWorld(t, db)
	ten, five := w.entitle(t, "g729", 10), w.entitle(t, "g729", 5)
	for _, id := range []string{ten, five} {
		if r := w.host(t, here, w.lic, "register", "--issuer", w.url, id); r.code != 0 {
			t.Fatalf("register: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	var v showJSON
	// An empty state dir: no daemon's view, only this host's files.
	showOut := mustRun(t, nil, "show", "licenses", "--json", "--no-default-dirs", "--licenses-dir", w.lic, "--host-id", here, "--issuer-pub", w.pub,
		"--state-dir", t.TempDir())
	if err := json.Unmarshal([]byte(showOut), &v); err != nil || v.total("g729") != 15 {
		t.Fatalf("show licenses after registering 10 + 5: %v\n%s", err, showOut)
	}

	// Two more hosts through offline requests; the third more is a fourth host.
	for _, h := range []string{h2, h3} {
		if r := w.offline(t, ten, h); r.code != 0 {
			t.Fatalf("offline answer for %s: exit %d\n%s%s", h, r.code, r.stdout, r.stderr)
		}
	}
	r := w.offline(t, ten, h4)
	if r.code == 0 || !strings.Contains(r.stderr, "3 of 3 hosts") {
		t.Fatalf("fourth host: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range []string{here, h2, h3} {
		if !strings.Contains(r.stderr, h) {
			t.Errorf("the refusal does not name %s:\n%s", h, r.stderr)
		}
	}
	// Host 2 installs its answer, then moves away: deactivate frees the slot.
	lic2 := t.TempDir()
	if r := w.offline(t, ten, h2); r.code != 0 { // again: the same host, no new slot
		t.Fatalf("offline answer again for %s: exit %d\n%s", h2, r.code, r.stderr)
	}
	if r := w.host(t, h2, lic2, "register", "--issuer", w.url, ten); r.code != 0 {
		t.Fatalf("register on host 2: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.host(t, h2, lic2, "deactivate", "--issuer", w.url, ten); r.code != 0 || !strings.Contains(r.stdout, "removed") {
		t.Fatalf("deactivate on host 2: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := w.offline(t, ten, h4); r.code != 0 {
		t.Fatalf("fourth host after a deactivation: exit %d\n%s", r.code, r.stderr)
	}

	ffaStory(t, w)
	updateStory(t, w, five)
}

func ffaStory(t *testing.T, w *issuerWorld) {
	if r := licbridge(t, nil, "issuer", "entitle", "--db", w.db, "--product", "ffa", "--channels", "3"); r.code == 0 {
		t.Fatalf("ffa with 3 channels entitled:\n%s", r.stdout)
	}
	f1, f2 := w.entitle(t, "ffa", 1), w.entitle(t, "ffa", 1)
	if r := w.host(t, e2eHost, w.lic, "register", "--issuer", w.url, f1); r.code != 0 {
		t.Fatalf("ffa register: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.offline(t, f1, "0000-0000-0009"); r.code == 0 || !strings.Contains(r.stderr, "1 of 1 hosts") {
		t.Fatalf("ffa on a second host: exit %d\n%s", r.code, r.stderr)
	}
	r := w.host(t, e2eHost, w.lic, "register", "--issuer", w.url, f2)
	if r.code == 0 || !strings.Contains(r.stderr, "already holds a ffa key") || strings.Contains(r.stderr, f1) {
		t.Fatalf("second ffa key on one host: exit %d\n%s", r.code, r.stderr)
	}
}

// updateStory: the issuer renews and upgrades a key; license update installs it
// and the running node counts it; with the issuer down the node keeps counting.
func updateStory(t *testing.T, w *issuerWorld, five string) {
	d := startDaemon(t, &keyring{dir: w.lic, pub: w.pub}, "--no-asterisk")
	d.waitUsage(t, "g729", "total 15", func(u productUse) bool { return u.Total == 15 })
	ends := time.Now().UTC().AddDate(3, 0, 0).Format("2006-01-02")
	mustRun(t, nil, "issuer", "modify", five, "--db", w.db, "--ends", ends, "--channels", "7")
	r := w.host(t, e2eHost, w.lic, "update", "--issuer", w.url)
	if r.code != 0 || strings.Count(r.stdout, "updated:") != 1 || !strings.Contains(r.stdout, "unchanged") {
		t.Fatalf("license update: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	k, err := license.ReadFile(filepath.Join(w.lic, five+license.FileSuffix))
	if err != nil || k.Ends.Format("2006-01-02") != ends || k.Channels != 7 {
		t.Fatalf("updated file: %v %+v", err, k)
	}
	d.waitUsage(t, "g729", "total 17 after the update", func(u productUse) bool { return u.Total == 17 })

	w.serve.signal(t, syscall.SIGTERM)
	if err := w.serve.wait(t, 10*time.Second); err != nil {
		t.Fatalf("issuer serve did not stop cleanly: %v", err)
	}
	before, _ := os.ReadFile(filepath.Join(w.lic, five+license.FileSuffix))
	r = w.host(t, e2eHost, w.lic, "update", "--issuer", w.url)
	if r.code == 0 || !strings.Contains(r.stdout, "kept as it is") {
		t.Fatalf("update with the issuer down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	after, _ := os.ReadFile(filepath.Join(w.lic, five+license.FileSuffix))
	if string(before) != string(after) {
		t.Fatal("an unreachable issuer changed an installed key file")
	}
	if u := d.usage(t, "g729"); u.Total != 17 {
		t.Fatalf("total %d with the issuer down, want 17", u.Total)
	}
}
