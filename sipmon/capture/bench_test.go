package capture_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/licbridge/licbridge/internal/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

const perfFile = "13_perf_15000_calls.pcap.gz"

// benchReport sets the custom metrics every benchmark of this file reports.
func benchReport(b *testing.B, msgs, bytesRead int64) {
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msg/s")
	b.SetBytes(bytesRead / int64(b.N))
}

// BenchmarkPerfBaselinePcapgo is the baseline: gunzip the perf capture and read
// its records with pcapgo (ZeroCopyReadPacketData), doing nothing with them.
func BenchmarkPerfBaselinePcapgo(b *testing.B) {
	path := fixtures.Path(b, "sip", perfFile)
	var recs, n int64
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
		if err != nil {
			b.Fatal(err)
		}
		r, err := pcapgo.NewReader(bufio.NewReaderSize(gz, 1<<20))
		if err != nil {
			b.Fatal(err)
		}
		for {
			data, _, err := r.ZeroCopyReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			recs++
			n += int64(len(data))
		}
		f.Close()
	}
	benchReport(b, recs, n)
}

// BenchmarkPerfReadFile decodes the gzip-compressed perf capture to SIP messages.
func BenchmarkPerfReadFile(b *testing.B) {
	benchReadFile(b, fixtures.Path(b, "sip", perfFile))
}

// BenchmarkPerfReadFileUncompressed decodes the same capture stored uncompressed
// (written to a temporary file first).
func BenchmarkPerfReadFileUncompressed(b *testing.B) {
	raw := gunzip(b, fixtures.Read(b, "sip", perfFile))
	path := filepath.Join(b.TempDir(), "perf.pcap")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	benchReadFile(b, path)
}

func benchReadFile(b *testing.B, path string) {
	var msgs, n int64
	b.ReportAllocs()
	for b.Loop() {
		st, err := capture.ReadFile(context.Background(), path, "", func(*capture.Message) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		msgs += int64(st.Messages)
		n += st.Bytes
	}
	benchReport(b, msgs, n)
}

func gunzip(tb testing.TB, b []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
