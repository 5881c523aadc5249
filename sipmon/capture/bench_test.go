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
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

const perfFile = "13_perf_15000_calls.pcap.gz"

// benchReport sets the custom metrics every benchmark of this file reports.
func benchReport(b *testing.B, msgs, bytesRead int64) {
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msg/s")
	b.SetBytes(bytesRead / int64(b.N))
}

// eachRecord reads the pcap records of src with pcapgo's zero-copy reader and
// hands each to fn (data is only valid during the call).
func eachRecord(b *testing.B, src io.Reader, fn func(layers.LinkType, []byte, gopacket.CaptureInfo)) {
	b.Helper()
	r, err := pcapgo.NewReader(src)
	if err != nil {
		b.Fatal(err)
	}
	for {
		data, ci, err := r.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
		fn(r.LinkType(), data, ci)
	}
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
		eachRecord(b, bufio.NewReaderSize(gz, 1<<20), func(_ layers.LinkType, data []byte, _ gopacket.CaptureInfo) {
			recs++
			n += int64(len(data))
		})
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
		st, err := capture.ReadPaths(context.Background(), []capture.Input{{Sensor: "", Path: path}}, func(*capture.Message) error { return nil })
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

// BenchmarkPerfGopacketDLP is the road not taken: the same uncompressed capture
// through gopacket's DecodingLayerParser (preallocated layers, no per-packet
// allocation) down to the UDP payload and the SIP test, without TCP or fragment
// handling. It shows what the hand-written decoder saves.
func BenchmarkPerfGopacketDLP(b *testing.B) {
	raw := gunzip(b, fixtures.Read(b, "sip", perfFile))
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		ip6     layers.IPv6
		udp     layers.UDP
		tcp     layers.TCP
		payload gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &udp, &tcp, &payload)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	var msgs, n int64
	b.ReportAllocs()
	for b.Loop() {
		eachRecord(b, bytes.NewReader(raw), func(_ layers.LinkType, data []byte, _ gopacket.CaptureInfo) {
			n += int64(len(data))
			if err := parser.DecodeLayers(data, &decoded); err != nil {
				return
			}
			for _, lt := range decoded {
				if lt == layers.LayerTypeUDP && capture.LooksLikeSIP(udp.Payload) {
					msgs++
				}
			}
		})
	}
	benchReport(b, msgs, n)
}

// BenchmarkPerfBaselineUncompressed reads the uncompressed capture's records with
// pcapgo from memory, doing nothing with them: the floor for the decoders above.
func BenchmarkPerfBaselineUncompressed(b *testing.B) {
	raw := gunzip(b, fixtures.Read(b, "sip", perfFile))
	var recs, n int64
	for b.Loop() {
		eachRecord(b, bytes.NewReader(raw), func(_ layers.LinkType, data []byte, _ gopacket.CaptureInfo) {
			recs++
			n += int64(len(data))
		})
	}
	benchReport(b, recs, n)
}

// BenchmarkPerfDecoderInMemory runs the hand-written decoder over the uncompressed
// records read from memory, to compare with BenchmarkPerfGopacketDLP on equal terms.
func BenchmarkPerfDecoderInMemory(b *testing.B) {
	raw := gunzip(b, fixtures.Read(b, "sip", perfFile))
	var msgs, n int64
	b.ReportAllocs()
	for b.Loop() {
		dec := capture.NewDecoder("", func(*capture.Message) error { return nil }, capture.DecoderOptions{})
		eachRecord(b, bytes.NewReader(raw), func(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) {
			if err := dec.Frame(capture.LinkType(lt), data, ci.Timestamp); err != nil {
				b.Fatal(err)
			}
		})
		st := dec.Stats()
		msgs += int64(st.Messages)
		n += st.Bytes
	}
	benchReport(b, msgs, n)
}

// BenchmarkInflate inflates the perf capture with compress/gzip and with
// klauspost/compress/gzip (what ReadPaths uses), alternating in one loop so
// that both see the same machine, from a *bufio.Reader as ReadPaths gives
// it. x_std is the standard library's time over klauspost's.
func BenchmarkInflate(b *testing.B) {
	raw, err := os.ReadFile(fixtures.Path(b, "sip", perfFile))
	if err != nil {
		b.Fatal(err)
	}
	inflate := func(newReader func(io.Reader) (io.Reader, error)) time.Duration {
		start := time.Now()
		r, err := newReader(bufio.NewReaderSize(bytes.NewReader(raw), 64<<10))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var std, kp time.Duration
	for b.Loop() {
		std += inflate(func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) })
		kp += inflate(func(r io.Reader) (io.Reader, error) { return kgzip.NewReader(r) })
	}
	b.ReportMetric(std.Seconds()/float64(b.N)*1e3, "std_ms/op")
	b.ReportMetric(kp.Seconds()/float64(b.N)*1e3, "klauspost_ms/op")
	b.ReportMetric(std.Seconds()/kp.Seconds(), "x_std")
}
