package capture

import (
	"context"
	"testing"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// benchReadahead reads the gzip-compressed perf capture with the inflating
// readahead goroutine on or off, with a handler that does work per message
// (a stand-in for SIP parsing, so that inflating can overlap with it) or none.
func benchReadahead(b *testing.B, on bool, work int) {
	path := fixtures.Path(b, "sip", "13_perf_15000_calls.pcap.gz")
	old := useReadahead
	useReadahead = on
	defer func() { useReadahead = old }()
	sink := 0
	msgs := 0
	for b.Loop() {
		st, err := ReadPaths(context.Background(), []Input{{Sensor: "", Path: path}}, func(m *Message) error {
			for i := range work {
				sink += int(m.Payload[i%len(m.Payload)])
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		msgs += st.Messages
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msg/s")
	_ = sink
}

func BenchmarkGzipReadaheadOn(b *testing.B)         { benchReadahead(b, true, 0) }
func BenchmarkGzipReadaheadOff(b *testing.B)        { benchReadahead(b, false, 0) }
func BenchmarkGzipReadaheadOnHandler(b *testing.B)  { benchReadahead(b, true, 300) }
func BenchmarkGzipReadaheadOffHandler(b *testing.B) { benchReadahead(b, false, 300) }
