package sipmon

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// perfFixture is the large capture the performance target is stated on.
var perfFixture = []string{"sip", "13_perf_15000_calls.pcap.gz"}

// measureTshark runs the peer tool on the same file, `tshark -r FILE -Y sip -T
// fields -e sip.Call-ID`, and returns its SIP messages per second (lines out /
// wall time). It skips the benchmark when tshark is not installed.
func measureTshark(b *testing.B, path string) float64 {
	b.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		b.Skip("tshark not installed: no baseline")
	}
	cmd := exec.Command(bin, "-r", path, "-Y", "sip", "-T", "fields", "-e", "sip.Call-ID")
	var out bytes.Buffer
	cmd.Stdout = &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("tshark: %v", err)
	}
	elapsed := time.Since(start)
	lines := 0
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		lines++
	}
	return float64(lines) / elapsed.Seconds()
}

var tsharkOnce struct {
	sync.Once
	rate float64
}

// BenchmarkPerfRead reads the 15,000-call capture through capture.ReadPaths into a
// Monitor and its Report, as `licbridge sipmon read` does, and reports SIP
// messages per second, the ratio to tshark measured in the same run (x_tshark),
// and the peak Go heap of the read (peak_heap_MB).
func BenchmarkPerfRead(b *testing.B) {
	path := fixtures.Path(b, perfFixture...)
	tsharkOnce.Do(func() { tsharkOnce.rate = measureTshark(b, path) })
	var msgs int64
	var peak uint64
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		stop := sampleHeap(&peak)
		mon := New(Config{})
		if _, err := capture.ReadPaths(context.Background(), []capture.Input{{Path: path}}, mon.Handle); err != nil {
			b.Fatal(err)
		}
		mon.Flush()
		r := mon.Report()
		stop()
		msgs += r.SIPMessages
	}
	rate := float64(msgs) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msg/s")
	b.ReportMetric(tsharkOnce.rate, "tshark_msg/s")
	b.ReportMetric(rate/tsharkOnce.rate, "x_tshark")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MB")
}

// BenchmarkHandle measures the SIP side alone: parsing and leg tracking of the
// capture's messages, already decoded into memory.
func BenchmarkHandle(b *testing.B) {
	path := fixtures.Path(b, perfFixture...)
	var msgs []capture.Message
	_, err := capture.ReadPaths(context.Background(), []capture.Input{{Path: path}}, func(m *capture.Message) error {
		c := *m
		c.Payload = bytes.Clone(m.Payload)
		msgs = append(msgs, c)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		mon := New(Config{})
		for i := range msgs {
			_ = mon.Handle(&msgs[i])
		}
	}
	b.ReportMetric(float64(len(msgs)*b.N)/b.Elapsed().Seconds(), "msg/s")
}

// sampleHeap records the largest live heap seen until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > *peak {
			*peak = v
		}
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
