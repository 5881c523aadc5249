package sipmon

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// TestJSONStreamMatchesMarshal: the report streamed leg by leg (LegSink into a
// JSONStream) decodes to the same value as json.Marshal of the whole Report,
// and an empty report still has its "legs" array.
func TestJSONStreamMatchesMarshal(t *testing.T) {
	inputs := []capture.Input{
		{Sensor: "g729", Path: fixtures.Path(t, "sip", "asterisk", "B_g729_passthrough_via_asterisk.pcap")},
		{Sensor: "xcid", Path: fixtures.Path(t, "sip", "asterisk", "D_xcid_correlation_via_asterisk.pcap")},
		{Sensor: "edge", Path: fixtures.Path(t, "sip", "10b_two_sensors_sbc_sensorA.pcap")},
		{Sensor: "core", Path: fixtures.Path(t, "sip", "10b_two_sensors_sbc_sensorB.pcap")},
		{Sensor: "edge", Path: fixtures.Path(t, "sip", "11a_hostile_udp_malformed.pcap")},
	}
	whole := readInputs(t, Config{CorrelationHeader: "X-CID"}, inputs...)
	want, err := json.Marshal(whole)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	js := NewJSONStream(&out)
	mon := New(Config{CorrelationHeader: "X-CID", LegSink: js.Leg})
	if _, err := capture.ReadPaths(t.Context(), inputs, mon.Handle); err != nil {
		t.Fatal(err)
	}
	mon.Flush()
	r := mon.Report()
	if len(r.Legs) != 0 {
		t.Errorf("with a LegSink the report kept %d legs", len(r.Legs))
	}
	if err := js.Finish(r); err != nil {
		t.Fatal(err)
	}
	var got, exp any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("streamed report: %v\n%s", err, out.Bytes())
	}
	if err := json.Unmarshal(want, &exp); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("streamed report differs from json.Marshal:\n%s\nwant\n%s", out.Bytes(), want)
	}

	out.Reset()
	if err := WriteJSON(&out, &Report{}); err != nil {
		t.Fatal(err)
	}
	var empty map[string]any
	if err := json.Unmarshal(out.Bytes(), &empty); err != nil || empty["legs"] == nil {
		t.Errorf("empty report: %v, legs %v\n%s", err, empty["legs"], out.Bytes())
	}
}

// TestAppendLegEscapes: odd bytes in a leg come out as encoding/json writes them.
func TestAppendLegEscapes(t *testing.T) {
	a := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	lr := LegRecord{CallIDs: []string{"a\"b<c>\x01\xff", "é"}, Sensors: []string{}, Caller: "&", Invite: a, Answer: &a, End: a, EndedBy: EndBye}
	want, _ := json.MarshalIndent(lr, "    ", "  ")
	got := appendLeg(nil, &lr)
	if !bytes.Equal(got, append([]byte("    "), want...)) {
		t.Errorf("got\n%s\nwant\n    %s", got, want)
	}
}

// FuzzAppendTime: the hand-made format is time.RFC3339Nano's, for any time
// in UTC or elsewhere.
func FuzzAppendTime(f *testing.F) {
	for _, s := range [][2]int64{{0, 0}, {1795338000, 10_000_000}, {1795338000, 123456789}, {-62135596800, 1}, {253402300799, 999999999}, {253402300800, 0}, {-62135596801, 5}} {
		f.Add(s[0], s[1], false)
	}
	f.Fuzz(func(t *testing.T, sec, nsec int64, local bool) {
		tm := time.Unix(sec, nsec%1e9).UTC()
		if local {
			tm = tm.In(time.FixedZone("X", 3600))
		}
		want := tm.AppendFormat(nil, time.RFC3339Nano)
		if got := appendTime(nil, tm); string(got) != string(want) {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	})
}
