package license

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long a Watcher waits after the last directory change
// before reloading, so that a copy of many files is one reload.
const DefaultDebounce = 200 * time.Millisecond

// WatcherOptions tune a Watcher. A zero value means the defaults.
type WatcherOptions struct {
	// Logger for reloads and watch problems. Nil: discard.
	Logger *slog.Logger
	// Debounce after directory changes. Zero: DefaultDebounce.
	Debounce time.Duration
}

// Watcher keeps a node's current Set: it loads once when Run starts, then again
// on Reload (the caller wires SIGHUP or an admin command to it), on changes in the
// license directories (fsnotify, debounced), and when a key's time comes (a key
// starts, ends, or crosses a warning threshold). The current Set is swapped
// atomically: readers see the old Set or the new one, never a mix. All methods
// are safe for concurrent use.
type Watcher struct {
	opts      LoadOptions
	log       *slog.Logger
	wait      time.Duration
	cur       atomic.Pointer[Set]
	ready     chan struct{}
	readyOnce sync.Once

	mu   sync.Mutex // serialises reloads and notifications
	subs map[int]func(*Set)
	nsub int

	changed chan struct{} // a reload happened: Run re-arms its time trigger

	// fw and watched exist while Run runs; guarded by mu.
	fw      *fsnotify.Watcher
	watched map[string]bool
}

// NewWatcher returns a Watcher over opts; nothing is read until Run or Reload.
func NewWatcher(opts LoadOptions, wo WatcherOptions) *Watcher {
	w := &Watcher{
		opts:    opts,
		log:     wo.Logger,
		wait:    wo.Debounce,
		ready:   make(chan struct{}),
		subs:    map[int]func(*Set){},
		changed: make(chan struct{}, 1),
	}
	w.opts.sigs = &sigCache{}
	if w.log == nil {
		w.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	w.log = w.log.With("component", "license")
	if w.wait <= 0 {
		w.wait = DefaultDebounce
	}
	return w
}

// Current returns the current Set, or nil before the first load.
func (w *Watcher) Current() *Set { return w.cur.Load() }

// Ready is closed once the first Set is loaded and the directories are watched.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Subscribe calls fn with every new Set that differs from the one before it (the
// first Set included), in order, from the goroutine that reloaded. fn must not
// call Reload. The returned func unsubscribes.
func (w *Watcher) Subscribe(fn func(*Set)) (cancel func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id := w.nsub
	w.nsub++
	w.subs[id] = fn
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.subs, id)
	}
}

// Reload loads the directories now and publishes the result. While Run is
// running, Reload also starts watching any directory that has appeared since.
func (w *Watcher) Reload(ctx context.Context) (*Set, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Watch before reading, so that no change falls between the two.
	w.watchDirsLocked()
	s, err := Load(ctx, w.opts)
	if err != nil {
		return nil, err
	}
	old := w.cur.Swap(s)
	select {
	case w.changed <- struct{}{}:
	default:
	}
	if !s.Equal(old) {
		invalid := s.Invalid()
		w.log.Info("licenses loaded", "files", len(s.entries), "totals", s.totals,
			"problems", len(s.problems)+len(invalid), "invalid_keys", len(invalid))
		w.logNewProblems(s, old)
		for _, fn := range w.subs {
			fn(s)
		}
	}
	return s, nil
}

// watchDirsLocked adds the directories not yet watched. w.mu is held.
func (w *Watcher) watchDirsLocked() {
	if w.fw == nil {
		return
	}
	for _, d := range w.opts.Dirs {
		p := filepath.Clean(d.Path)
		if w.watched[p] {
			continue
		}
		if err := w.fw.Add(p); err == nil {
			w.watched[p] = true
		}
	}
}

// Run loads the Set, watches the directories and reloads as described on Watcher
// until ctx ends. Call it once. It returns nil when ctx ends, or an error if
// watching cannot start. A directory that does not exist yet is watched from the
// first reload after it appears (Reload, or a key's time).
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("license: watch directories: %w", err)
	}
	w.mu.Lock()
	w.fw, w.watched = fw, map[string]bool{}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.fw = nil
		w.mu.Unlock()
		fw.Close()
	}()
	if _, err := w.Reload(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	w.readyOnce.Do(func() { close(w.ready) })

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	clock := time.NewTimer(time.Hour)
	clock.Stop()
	arm := func() {
		clock.Stop()
		if s := w.cur.Load(); s != nil && !s.next.IsZero() {
			clock.Reset(max(s.next.Sub(w.opts.now()), 0))
		}
	}
	arm()
	reload := func(why string) {
		w.log.Debug("reloading licenses", "why", why)
		if _, err := w.Reload(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("reload licenses", "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			name := filepath.Clean(ev.Name)
			w.mu.Lock()
			if w.watched[name] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				// The directory itself went away: watch it again once it is back.
				delete(w.watched, name)
			}
			dirEvent := w.watched[name]
			w.mu.Unlock()
			if strings.HasSuffix(name, FileSuffix) || dirEvent {
				debounce.Reset(w.wait)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			w.log.Warn("watch licenses directories", "err", err)
			debounce.Reset(w.wait)
		case <-debounce.C:
			reload("directory changed")
		case <-clock.C:
			reload("a key's time came")
		case <-w.changed:
			arm()
		}
	}
}

// logNewProblems warns of each invalid key file and each directory problem of
// s that old did not have (with the same reason): once per change, not on
// every reload, so a bad file left in place does not flood the log.
func (w *Watcher) logNewProblems(s, old *Set) {
	seen := map[string]bool{}
	if old != nil {
		for _, e := range old.Invalid() {
			seen[e.File+"\x00"+e.Reason] = true
		}
		for _, p := range old.problems {
			seen[p] = true
		}
	}
	for _, e := range s.Invalid() {
		if !seen[e.File+"\x00"+e.Reason] {
			// The reason names the fault, never the key's content.
			w.log.Warn("invalid license key file: it counts for nothing", "file", e.File, "reason", e.Reason)
		}
	}
	for _, p := range s.problems {
		if !seen[p] {
			w.log.Warn("licenses problem", "problem", p)
		}
	}
}
