package proto

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/licbridge/licbridge/internal/fixtures"
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
