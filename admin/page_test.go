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
		"--virtual-time-budget=5000",
	}, extra...)
	args = append(args, url)
	cmd := exec.CommandContext(ctx, chromium(t), args...)
	// A zone away from UTC, so that the page's local times are checkable.
	cmd.Env = append(os.Environ(), "TZ="+pageZone)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, errb.String())
	}
	return out.String(), errb.String()
}

// pageZone is the browser's time zone in these tests: 15:04 UTC is 00:04
// the next day there.
const pageZone = "Asia/Tokyo"

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

// shoot loads url in headless Chromium once, returning the DOM, and writes
// the screenshot testdata/out/status-<name>.png (gitignored).
func shoot(t *testing.T, url, name string) (dom, log string) {
	t.Helper()
	out := filepath.Join("testdata", "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	shot, err := filepath.Abs(filepath.Join(out, "status-"+name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(shot)
	dom, log = runChromium(t, url, "--dump-dom", "--screenshot="+shot, "--window-size=1280,1400", "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	return dom, log
}

// pageState is one situation of the node, set up on the fake, and what the
// page must show for it.
type pageState struct {
	name  string
	setup func(f *fakeSource, o *admin.Options)
	check func(t *testing.T, dom string)
}

// cardState returns the data-state of a product's card.
func cardState(dom, product string) string {
	m := regexp.MustCompile(`<section id="` + regexp.QuoteMeta(product) + `" class="[^"]*" data-state="(\w+)"`).FindStringSubmatch(dom)
	if m == nil {
		return ""
	}
	return m[1]
}

func wantIn(t *testing.T, dom string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(dom, p) {
			t.Errorf("page does not show %q", p)
		}
	}
}

func wantNotIn(t *testing.T, dom string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(dom, p) {
			t.Errorf("page shows %q", p)
		}
	}
}

func health(cs ...admin.Component) admin.HealthFunc {
	return func(context.Context) []admin.Component { return cs }
}

var pageStates = []pageState{
	{name: "normal", check: func(t *testing.T, dom string) {
		// g729 is in LOCKDOWN: amber; fax is fine.
		if g, f := cardState(dom, "g729"), cardState(dom, "fax"); g != "warn" || f != "ok" {
			t.Errorf("cards g729 %q, fax %q; want warn, ok", g, f)
		}
		wantNotIn(t, dom, `class="banner`, `id="g729-bypass"`, `id="fax-over"`)
		// Local time in the browser's zone, to the second; no RFC 3339.
		shown := between(dom, `<time id="updated"`, "</time>")
		if !strings.Contains(shown, ">as of Nov 23, 2026, 00:04:00 GMT+9") {
			t.Errorf("view time shown as %q, want local time (00:04:00 GMT+9)", shown)
		}
		// Key kinds.
		wantIn(t, dom, "<td>trial</td>", "<td>commercial, auto-renew</td>")
		// The peak is in the caption, not inside the chart by the dashed line.
		if svg := between(dom, `id="g729-svg"`, "</svg>"); strings.Contains(svg, "chart-peak") || strings.Contains(svg, "<text") && strings.Contains(svg, ">41<") {
			t.Errorf("the chart's peak sits inside the chart: %s", svg)
		}
		wantIn(t, dom, `<line id="g729-limit" class="limit"`)
	}},
	{name: "over_total", setup: func(f *fakeSource, o *admin.Options) {
		// Fax at 4 of 2 after a fail-open outage, phase still OK.
		fax := &f.view.Products[1]
		fax.Total, fax.InUse, fax.InUseByNode = 2, 4, map[string]int{"pbx-a": 4}
	}, check: func(t *testing.T, dom string) {
		if s := cardState(dom, "fax"); s != "over" {
			t.Errorf("fax at 4 of 2: card %q, want over", s)
		}
		wantIn(t, dom, `id="fax-over" class="alert"`, "Over the licensed total: 4 in use, 2 licensed.")
	}},
	{name: "ami_down", setup: func(f *fakeSource, o *admin.Options) {
		o.Health = health(admin.Component{Name: "store", OK: true}, admin.Component{Name: "ami", OK: false, Detail: "dial tcp 127.0.0.1:5038: connection refused"})
	}, check: func(t *testing.T, dom string) {
		wantIn(t, dom, `id="banner-ami" class="banner bad"`, "AMI is down: dial tcp 127.0.0.1:5038: connection refused")
		wantNotIn(t, dom, `id="banner-store"`)
	}},
	{name: "ari_down", setup: func(f *fakeSource, o *admin.Options) {
		o.Health = health(admin.Component{Name: "ari", OK: false, Detail: "websocket closed"})
	}, check: func(t *testing.T, dom string) {
		wantIn(t, dom, `id="banner-ari" class="banner bad"`, "ARI is down: websocket closed")
	}},
	{name: "store_down_fail_open", setup: func(f *fakeSource, o *admin.Options) {
		f.view.Store = &view.Store{Available: false, Error: "usage: redis: connection refused",
			AdmittedWithoutStore: map[string]int{"g729": 3, "fax": 1}}
		o.Health = health(admin.Component{Name: "store", OK: false})
	}, check: func(t *testing.T, dom string) {
		wantIn(t, dom, `id="banner-store" class="banner bad"`, "The shared store (Redis) is down: usage: redis: connection refused. Admissions follow the outage policy",
			`id="banner-failopen" class="banner warn"`, "Fail-open: this node admitted channels without the store")
		if got := number(t, dom, "failopen-g729"); got != "3" {
			t.Errorf("fail-open g729 %s, want 3", got)
		}
		// The products are still there: no blank page.
		wantIn(t, dom, `id="g729-in_use"`)
	}},
	{name: "store_unreadable", setup: func(f *fakeSource, o *admin.Options) {
		f.fail(fmt.Errorf("snapshot: usage: bridge: usage: %w", errStore))
	}, check: func(t *testing.T, dom string) {
		if !strings.Contains(dom, `data-status="error"`) {
			t.Errorf("page status is not error")
		}
		wantIn(t, dom, "This node cannot show its view right now (the shared store may be down).")
	}},
	{name: "bypass_rejections", setup: func(f *fakeSource, o *admin.Options) {
		g := &f.view.Products[0]
		g.Total, g.InUse, g.ObservedLegs, g.Passive = 15, 5, intp(20), 5
		g.InUseByNode = map[string]int{"pbx-a": 5}
		g.Bypass = &view.Bypass{Observed: 20, Admitted: 5, Source: "wire", Since: time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)}
		g.Rejections = map[string]int{"OVER_LIMIT": 7, "STORE_UNAVAILABLE": 2}
	}, check: func(t *testing.T, dom string) {
		wantIn(t, dom, `id="g729-bypass" class="alert"`, "legs on the wire against", "since Nov 22, 2026, 23:30:00")
		for id, want := range map[string]string{"g729-bypass-observed": "20", "g729-bypass-admitted": "5", "g729-observed_legs": "20",
			"g729-in_use": "5", "g729-passive": "5", "g729-rej-OVER_LIMIT": "7", "g729-rej-STORE_UNAVAILABLE": "2"} {
			if got := number(t, dom, id); got != want {
				t.Errorf("%s = %s, want %s", id, got, want)
			}
		}
		wantIn(t, dom, `<span id="fax-rejections">none</span>`)
	}},
}

// TestStatusPageStates loads the page in headless Chromium for each state
// of the node and checks what it shows; a screenshot per state lands in
// testdata/out.
func TestStatusPageStates(t *testing.T) {
	chromium(t)
	for _, st := range pageStates {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			o := admin.Options{Listen: "127.0.0.1:0", Source: f}
			if st.setup != nil {
				st.setup(f, &o)
			}
			_, base := serve(t, o)
			dom, log := shoot(t, base+"/", st.name)
			for _, l := range consoleLines(log) {
				// A 503 the page handles is logged by Chromium; nothing else may be.
				if !strings.Contains(l, "503") {
					t.Errorf("console: %s", l)
				}
			}
			if st.setup == nil {
				// Loopback, no token, nothing wrong: every figure as the API says.
				checkPage(t, dom, base, "")
			}
			st.check(t, dom)
		})
	}
}
