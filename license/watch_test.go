package license_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

// startWatcher runs w until the test ends and waits until it is ready.
func startWatcher(t *testing.T, w *license.Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop after cancel")
		}
	})
	select {
	case <-w.Ready():
	case err := <-done:
		t.Fatalf("Run stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("watcher not ready")
	}
}

// waitTotal waits for a published Set whose g729 total is want.
func waitTotal(t *testing.T, sets <-chan *license.Set, want int) *license.Set {
	t.Helper()
	deadline := time.After(10 * time.Second) // a failure guard, not a synchronisation
	for {
		select {
		case s := <-sets:
			if s.Total("g729") == want {
				return s
			}
		case <-deadline:
			t.Fatalf("no Set with g729 total %d was published", want)
			return nil
		}
	}
}

func subscribe(w *license.Watcher) <-chan *license.Set {
	ch := make(chan *license.Set, 100)
	w.Subscribe(func(s *license.Set) { ch <- s })
	return ch
}

func TestWatcherDirectoryChanges(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.lic", newKey(id("A")))
	w := license.NewWatcher(loadOpts(license.Dir{Path: dir}), license.WatcherOptions{Debounce: 20 * time.Millisecond})
	sets := subscribe(w)
	startWatcher(t, w)
	if got := w.Current().Total("g729"); got != 10 {
		t.Fatalf("initial total %d", got)
	}
	waitTotal(t, sets, 10)

	writeKey(t, dir, "b.lic", newKey(id("B"), channels(5)))
	waitTotal(t, sets, 15)
	if w.Current().Total("g729") != 15 {
		t.Fatal("Current does not hold the published Set")
	}
	// A renewed file replacing the old one by key ID.
	writeKey(t, dir, "b-renewed.lic", newKey(id("B"), channels(7), ends(t0.AddDate(2, 0, 0))))
	waitTotal(t, sets, 17)
	if err := os.Remove(filepath.Join(dir, "a.lic")); err != nil {
		t.Fatal(err)
	}
	waitTotal(t, sets, 7)
}

func TestWatcherReload(t *testing.T) {
	dir := t.TempDir()
	w := license.NewWatcher(loadOpts(license.Dir{Path: dir}), license.WatcherOptions{})
	if w.Current() != nil {
		t.Fatal("a Set before any load")
	}
	calls := 0
	cancel := w.Subscribe(func(*license.Set) { calls++ })
	if _, err := w.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	writeKey(t, dir, "a.lic", newKey())
	s, err := w.Reload(context.Background())
	if err != nil || s.Total("g729") != 10 || w.Current() != s {
		t.Fatalf("reload: %v, total %d", err, s.Total("g729"))
	}
	// Nothing changed: no notification.
	if _, err := w.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("%d notifications, want 2 (first load, new key)", calls)
	}
	cancel()
	writeKey(t, dir, "b.lic", newKey(id("B")))
	if _, err := w.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatal("notified after unsubscribing")
	}
}

// TestWatcherAtomic: readers running during reloads only ever see whole Sets:
// one with the single key or one with both, each consistent with itself.
func TestWatcherAtomic(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.lic", newKey(id("A")))
	w := license.NewWatcher(loadOpts(license.Dir{Path: dir}), license.WatcherOptions{})
	if _, err := w.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := w.Current()
				sum := 0
				for _, e := range s.Keys() {
					if e.Status == license.StatusValid {
						sum += e.Channels
					}
				}
				n := len(s.Keys())
				if sum != s.Total("g729") || !((n == 1 && sum == 10) || (n == 2 && sum == 15)) {
					t.Errorf("half a set: %d files, sum %d, total %d", n, sum, s.Total("g729"))
					return
				}
			}
		})
	}
	b := filepath.Join(dir, "b.lic")
	for i := range 50 {
		if i%2 == 0 {
			writeKey(t, dir, "b.lic", newKey(id("B"), channels(5)))
		} else if err := os.Remove(b); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestWatcherClock: the Watcher re-evaluates when a key's time comes, without
// any file change.
func TestWatcherClock(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC()
	writeKey(t, dir, "a.lic", newKey(id("A")))
	writeKey(t, dir, "short.lic", newKey(id("S"), channels(5), func(k *license.Key) {
		k.Issued = now.Add(-time.Hour).Truncate(time.Second)
		k.Ends = now.Add(time.Second).Truncate(time.Second).Add(time.Second)
	}))
	opts := loadOpts(license.Dir{Path: dir})
	opts.Now = time.Now
	w := license.NewWatcher(opts, license.WatcherOptions{})
	sets := subscribe(w)
	startWatcher(t, w)
	waitTotal(t, sets, 15)
	s := waitTotal(t, sets, 10)
	if e := entry(t, s, filepath.Join(dir, "short.lic")); e.Status != license.StatusExpired {
		t.Fatalf("short key: %s %s", e.Status, e.Reason)
	}
}

// TestWatcherLateDirectory: a directory missing at start is read by the next
// Reload (SIGHUP) and watched from then on.
func TestWatcherLateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	w := license.NewWatcher(loadOpts(license.Dir{Path: dir}), license.WatcherOptions{Debounce: 20 * time.Millisecond})
	sets := subscribe(w)
	startWatcher(t, w)
	if p := w.Current().Problems(); len(p) != 1 {
		t.Fatalf("problems %q, want the missing directory", p)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeKey(t, dir, "a.lic", newKey(id("A")))
	if s, err := w.Reload(context.Background()); err != nil || s.Total("g729") != 10 || len(s.Problems()) != 0 {
		t.Fatalf("reload: %v", err)
	}
	writeKey(t, dir, "b.lic", newKey(id("B")))
	waitTotal(t, sets, 20)
}
