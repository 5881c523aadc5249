package admin_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/admin"
	"github.com/licbridge/licbridge/view"
)

// chromium returns the path of Debian's chromium. The page test must run
// where the status page is built, so a missing browser fails the test (CI
// installs the chromium package; locally: apt-get install -y chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("headless Chromium is required for the status page test and was not found in PATH: install Debian's chromium package (apt-get install -y chromium); .ci/run installs it")
	return ""
}

// runChromium loads url in a fresh headless Chromium and returns the DOM
// after the page's scripts ran, and the browser's log (console messages
// appear there as lines containing "CONSOLE").
func runChromium(t *testing.T, url string, extra ...string) (dom, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr", "--v=0",
		// Virtual time lets the page's fetches and rendering finish, then
		// Chromium dumps; no wall-clock wait in the test.
		"--virtual-time-budget=10000",
	}, extra...)
	args = append(args, url)
	cmd := exec.CommandContext(ctx, chromium(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, errb.String())
	}
	return out.String(), errb.String()
}

// consoleLines returns the console messages in a Chromium log.
func consoleLines(log string) []string {
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, ":CONSOLE") {
			lines = append(lines, l)
		}
	}
	return lines
}

// number returns the text of the element with the given id when it is a number.
func number(t *testing.T, dom, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>(-?\d+)<`).FindStringSubmatch(dom)
	if m == nil {
		t.Errorf("page has no number with id %q", id)
		return ""
	}
	return m[1]
}

// checkPage compares what the page shows with what the API returns.
func checkPage(t *testing.T, dom, base, token string) {
	t.Helper()
	if !strings.Contains(dom, `data-status="ready"`) {
		t.Fatalf("page did not reach ready:\n%s", dom)
	}
	_, b := get(t, base+"/api/v1/view", token)
	vw := decode[admin.View](t, b)
	for _, p := range vw.Products {
		want := map[string]int{
			p.Name + "-in_use":   p.InUse,
			p.Name + "-total":    p.Total,
			p.Name + "-peak_14d": p.Peak14d,
			p.Name + "-passive":  p.Passive,
		}
		if p.ObservedLegs != nil {
			want[p.Name+"-observed_legs"] = *p.ObservedLegs
		}
		if p.Overage.LocksIn > 0 {
			want[p.Name+"-locks_in"] = p.Overage.LocksIn
		}
		for n, c := range p.InUseByNode {
			want[p.Name+"-node-"+n] = c
		}
		for id, v := range want {
			if got := number(t, dom, id); got != fmt.Sprint(v) {
				t.Errorf("page shows %s = %s, API says %d", id, got, v)
			}
		}
		if !strings.Contains(dom, `id="`+p.Name+`-phase" class="badge phase-`+string(p.Overage.Phase)+`">`+string(p.Overage.Phase)+"<") {
			t.Errorf("page does not show %s phase %s", p.Name, p.Overage.Phase)
		}
		for _, k := range p.Keys {
			if !strings.Contains(dom, `id="`+p.Name+`-key-`+k.ID+`"`) {
				t.Errorf("page does not list key %s", k.ID)
			}
		}
		for _, w := range p.Warnings {
			if !strings.Contains(dom, htmlEscape(w)) {
				t.Errorf("page does not show warning %q", w)
			}
		}
		// The chart: one bar per non-empty hourly window, labelled with the peak.
		_, b := get(t, base+"/api/v1/stats?product="+url.QueryEscape(p.Name)+"&days=14", token)
		rep := decode[view.Report](t, b)
		bars := 0
		for _, w := range rep.Windows {
			if w.Peak > 0 {
				bars++
			}
		}
		svg := between(dom, `id="`+p.Name+`-svg"`, "</svg>")
		if got := strings.Count(svg, `<rect class="win`); got != bars || bars == 0 {
			t.Errorf("%s chart has %d bars, stats have %d non-empty windows", p.Name, got, bars)
		}
		if got := number(t, dom, p.Name+"-chart-peak"); got != fmt.Sprint(rep.Peak) {
			t.Errorf("%s chart peak label %s, stats say %d", p.Name, got, rep.Peak)
		}
	}
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	in, _, _ := strings.Cut(after, to)
	return in
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// TestStatusPageInChromium loads the status page in a real headless Chromium
// against a server with a fake Source and checks that it loads without
// console errors and shows the API's numbers; it writes a screenshot.
func TestStatusPageInChromium(t *testing.T) {
	chromium(t)
	// First prove that console errors and uncaught exceptions are captured,
	// since the other cases claim "no console errors" from their absence.
	t.Run("console_capture_works", func(t *testing.T) {
		_, log := runChromium(t, `data:text/html,<script>console.error("probe-1"); null.x;</script>`, "--dump-dom")
		if c := strings.Join(consoleLines(log), "\n"); !strings.Contains(c, "probe-1") || !strings.Contains(c, "Uncaught") {
			t.Fatalf("console messages not captured from the Chromium log:\n%s", log)
		}
	})
	t.Run("loopback_without_token", func(t *testing.T) {
		_, base := serve(t, admin.Options{Listen: "127.0.0.1:0", Source: newFake(t)})
		dom, log := runChromium(t, base+"/", "--dump-dom")
		if c := consoleLines(log); len(c) > 0 {
			t.Errorf("console messages:\n%s", strings.Join(c, "\n"))
		}
		checkPage(t, dom, base, "")

		out := filepath.Join("testdata", "out")
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		shot, err := filepath.Abs(filepath.Join(out, "status-page.png"))
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(shot)
		runChromium(t, base+"/", "--screenshot="+shot, "--window-size=1280,1000", "--hide-scrollbars")
		png, err := os.ReadFile(shot)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("no screenshot at %s: %v", shot, err)
		}
		t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	})
	t.Run("token_in_fragment", func(t *testing.T) {
		const token = "page-token-8c21"
		_, base := serve(t, admin.Options{Listen: "127.0.0.1:0", Token: token, Source: newFake(t)})
		dom, log := runChromium(t, base+"/#token="+token, "--dump-dom")
		if c := consoleLines(log); len(c) > 0 {
			t.Errorf("console messages:\n%s", strings.Join(c, "\n"))
		}
		checkPage(t, dom, base, token)
	})
	t.Run("token_missing_asks_for_it", func(t *testing.T) {
		_, base := serve(t, admin.Options{Listen: "127.0.0.1:0", Token: "page-token-8c21", Source: newFake(t)})
		dom, log := runChromium(t, base+"/", "--dump-dom")
		if !strings.Contains(dom, `data-status="login"`) || strings.Contains(dom, `<form id="login" hidden`) {
			t.Errorf("page without token does not ask for it:\n%s", dom)
		}
		if strings.Contains(dom, "G729-7F3A") {
			t.Error("page shows data without the token")
		}
		// A refused fetch is no script error: the page handles it.
		for _, l := range consoleLines(log) {
			if !strings.Contains(l, "401") {
				t.Errorf("unexpected console message: %s", l)
			}
		}
	})
}
