package sipmon

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run with -update to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestReportGolden(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		inputs func(t *testing.T) []capture.Input
	}{
		{"fax_t38", Config{}, func(t *testing.T) []capture.Input {
			return []capture.Input{{Path: fixtures.Path(t, "sip", "08_fax_t38_reinvite.pcap")}}
		}},
		{"two_sensors_sbc", Config{}, func(t *testing.T) []capture.Input {
			return []capture.Input{
				{Sensor: "edge", Path: fixtures.Path(t, "sip", "10b_two_sensors_sbc_sensorA.pcap")},
				{Sensor: "core", Path: fixtures.Path(t, "sip", "10b_two_sensors_sbc_sensorB.pcap")},
			}
		}},
		{"asterisk_g729_xcid", Config{CorrelationHeader: "X-CID"}, func(t *testing.T) []capture.Input {
			return []capture.Input{
				{Sensor: "g729", Path: fixtures.Path(t, "sip", "asterisk", "B_g729_passthrough_via_asterisk.pcap")},
				{Sensor: "xcid", Path: fixtures.Path(t, "sip", "asterisk", "D_xcid_correlation_via_asterisk.pcap")},
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := readInputs(t, tc.cfg, tc.inputs(t)...)
			var text bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".txt", text.Bytes())
			js, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".json", append(js, '\n'))
		})
	}
}
