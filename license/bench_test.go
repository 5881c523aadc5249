package license_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licbridge/licbridge/license"
)

const benchFiles = 10_000

// BenchmarkLoad10000 loads a directory of 10,000 signed key files. The baseline,
// measured in the same run on the same files, is only reading their bytes
// (read-bytes); load reports ns/file and its ratio to the baseline (x-read).
func BenchmarkLoad10000(b *testing.B) {
	dir := b.TempDir()
	for i := range benchFiles {
		k := newKey(id(fmt.Sprintf("G729-%08d", i)), channels(1+i%30))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("k%05d.lic", i)), encode(b, k), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	readAll := func(b *testing.B) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range entries {
			if _, err := os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
				b.Fatal(err)
			}
		}
	}
	opts := loadOpts(license.Dir{Path: dir})
	b.Run("read-bytes", func(b *testing.B) {
		for b.Loop() {
			readAll(b)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchFiles, "ns/file")
	})
	b.Run("load", func(b *testing.B) {
		var base time.Duration
		for b.Loop() {
			b.StopTimer()
			start := time.Now()
			readAll(b)
			base += time.Since(start)
			b.StartTimer()
			s, err := license.Load(context.Background(), opts)
			if err != nil || len(s.Keys()) != benchFiles || s.Total("g729") == 0 {
				b.Fatalf("load: %v, %d keys", err, len(s.Keys()))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchFiles, "ns/file")
		b.ReportMetric(float64(b.Elapsed())/float64(base), "x-read")
	})
	// A Watcher's reload of the same unchanged files: signatures verified by the
	// previous load are not verified again.
	b.Run("watcher-reload", func(b *testing.B) {
		w := license.NewWatcher(opts, license.WatcherOptions{})
		if _, err := w.Reload(context.Background()); err != nil {
			b.Fatal(err)
		}
		var base time.Duration
		for b.Loop() {
			b.StopTimer()
			start := time.Now()
			readAll(b)
			base += time.Since(start)
			b.StartTimer()
			s, err := w.Reload(context.Background())
			if err != nil || len(s.Keys()) != benchFiles || s.Total("g729") == 0 {
				b.Fatalf("reload: %v", err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchFiles, "ns/file")
		b.ReportMetric(float64(b.Elapsed())/float64(base), "x-read")
	})
}
