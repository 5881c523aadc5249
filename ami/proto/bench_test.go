package proto

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// eventStream is the recorded events session of a full Local call, minus banner.
func eventStream(b *testing.B) ([]byte, int) {
	raw := fixtures.Read(b, "asterisk", "ami_call_local_dial_events.rx.raw")
	raw = raw[bytes.IndexByte(raw, '\n')+1:]
	return raw, bytes.Count(raw, []byte("\r\n\r\n"))
}

// BenchmarkParseEvents decodes the stream into Messages; compare with
// BenchmarkBaselineScanLines, which only splits the same bytes into lines.
func BenchmarkParseEvents(b *testing.B) {
	raw, n := eventStream(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(bytes.NewReader(raw), Limits{})
		got := 0
		for {
			_, err := rd.ReadMessage()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("%d messages, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkBaselineScanLines(b *testing.B) {
	raw, n := eventStream(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		sc := bufio.NewScanner(bytes.NewReader(raw))
		got := 0
		for sc.Scan() {
			if len(sc.Bytes()) == 0 {
				got++
			}
		}
		if got != n {
			b.Fatalf("%d messages, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func parseAll(b *testing.B, raw []byte) int {
	rd := NewReader(bytes.NewReader(raw), Limits{})
	n := 0
	for {
		_, err := rd.ReadMessage()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

func scanAll(raw []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	n := 0
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			n++
		}
	}
	return n
}

// BenchmarkParseVsBaseline alternates both on every iteration, so that load
// from other processes hits them alike, and reports the median per-iteration
// cost ratio (parse ÷ line scan) and the parser's median messages per second.
func BenchmarkParseVsBaseline(b *testing.B) {
	raw, n := eventStream(b)
	var ratios, rates []float64
	for b.Loop() {
		t0 := time.Now()
		if parseAll(b, raw) != n {
			b.Fatal("parse count")
		}
		t1 := time.Now()
		if scanAll(raw) != n {
			b.Fatal("scan count")
		}
		t2 := time.Now()
		ratios = append(ratios, float64(t1.Sub(t0))/float64(t2.Sub(t1)))
		rates = append(rates, float64(n)/t1.Sub(t0).Seconds())
	}
	slices.Sort(ratios)
	slices.Sort(rates)
	b.ReportMetric(ratios[len(ratios)/2], "x-baseline-cost")
	b.ReportMetric(rates[len(rates)/2], "parse-msgs/s")
}
