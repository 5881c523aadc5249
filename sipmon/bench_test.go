package sipmon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/gzip"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
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

// BenchmarkPerfReadJSON is `sipmon read --json` without the command: the
// perf capture read into a Monitor whose legs stream into a JSONStream
// (discarded), beside the read floor measured in the same run: inflating the
// capture and walking its frames, doing nothing with them. x_floor is the
// read's time over the floor's (ns/op counts both).
func BenchmarkPerfReadJSON(b *testing.B) {
	path := fixtures.Path(b, perfFixture...)
	// The floor is timed in the same loop as the read, alternating, so that
	// both see the same machine (testing.Benchmark cannot nest).
	var msgs int64
	var floor, read time.Duration
	for b.Loop() {
		start := time.Now()
		walkFloor(b, path)
		floor += time.Since(start)
		start = time.Now()
		js := NewJSONStream(io.Discard)
		mon := New(Config{LegSink: js.Leg})
		if _, err := capture.ReadPaths(context.Background(), []capture.Input{{Path: path}}, mon.Handle); err != nil {
			b.Fatal(err)
		}
		mon.Flush()
		r := mon.Report()
		if err := js.Finish(r); err != nil {
			b.Fatal(err)
		}
		msgs += r.SIPMessages
		read += time.Since(start)
	}
	b.ReportMetric(float64(msgs)/read.Seconds(), "msg/s")
	b.ReportMetric(floor.Seconds()/float64(b.N)*1e3, "floor_ms/op")
	b.ReportMetric(read.Seconds()/float64(b.N)*1e3, "read_ms/op")
	b.ReportMetric(read.Seconds()/floor.Seconds(), "x_floor")
}

// walkFloor is the read floor: inflate the capture (with the inflater
// ReadPaths uses) and walk its frames.
func walkFloor(b *testing.B, path string) (frames int) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		b.Fatal(err)
	}
	r, err := pcapgo.NewReader(bufio.NewReaderSize(gz, 1<<20))
	if err != nil {
		b.Fatal(err)
	}
	for {
		if _, _, err := r.ZeroCopyReadPacketData(); err != nil {
			if errors.Is(err, io.EOF) {
				return frames
			}
			b.Fatal(err)
		}
		frames++
	}
}
