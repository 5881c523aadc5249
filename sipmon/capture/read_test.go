package capture_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"net/netip"

	"github.com/gopacket/gopacket/layers"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// TestReadDirTimeOrderAndBadFiles: a directory of rotated captures whose names sort
// opposite to their times, with a TCP message cut across the rotation, a
// gzip-compressed part, an empty capture, a text file and a truncated capture.
// Messages come in time order, the cut message is whole, and the bad files are
// named in the error while the good ones are fully read.
func TestReadDirTimeOrderAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Unix(1795386427, 0)
	eth := links[0]
	cut := len(sipBig) / 2
	// Part 1 (earliest), named "z": the INVITE over UDP, then half a TCP message.
	p1 := [][]byte{
		eth.wrap(t, ipUDP(t, cliUDP, srvUDP, []byte(sipInvite))),
		eth.wrap(t, ipTCP(t, cli, srv, 1000, "", []byte(sipBig[:cut]))),
	}
	formats[4].write(t, filepath.Join(dir, "z.pcap.gz"), layers.LinkTypeEthernet, p1, []time.Time{t0, t0.Add(time.Second)})
	// Part 2, named "a": the rest of the TCP message, then a 200 OK.
	p2 := [][]byte{
		eth.wrap(t, ipTCP(t, cli, srv, 1000+uint32(cut), "", []byte(sipBig[cut:]))),
		eth.wrap(t, ipUDP(t, srvUDP, cliUDP, []byte(sipOK))),
	}
	formats[0].write(t, filepath.Join(dir, "a.pcap"), layers.LinkTypeEthernet, p2, []time.Time{t0.Add(2 * time.Second), t0.Add(3 * time.Second)})
	formats[0].write(t, filepath.Join(dir, "m_empty.pcap"), layers.LinkTypeEthernet, nil, nil)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a capture\n"), 0o600)
	// A truncated capture: its first record is whole, the second cut short.
	formats[0].write(t, filepath.Join(dir, "b_trunc.pcap"), layers.LinkTypeEthernet, p2, []time.Time{t0.Add(10 * time.Second), t0.Add(11 * time.Second)})
	raw, _ := os.ReadFile(filepath.Join(dir, "b_trunc.pcap"))
	os.WriteFile(filepath.Join(dir, "b_trunc.pcap"), raw[:len(raw)-10], 0o600)

	var msgs []string
	var times []time.Time
	st, err := capture.ReadPaths(context.Background(), []capture.Input{{Sensor: "rot", Path: dir}}, func(m *capture.Message) error {
		msgs = append(msgs, string(m.Payload))
		times = append(times, m.Time)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "notes.txt") || !strings.Contains(err.Error(), "b_trunc.pcap") {
		t.Errorf("error %v: want notes.txt and b_trunc.pcap named", err)
	}
	// b_trunc's first record (a copy of the second half of the TCP message) is read
	// before the cut; for the shared TCP state it is a retransmission, dropped.
	want := []string{sipInvite, sipBig, sipOK}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", msgs, want)
	}
	if !slices.IsSortedFunc(times, func(x, y time.Time) int { return x.Compare(y) }) {
		t.Errorf("times not in order: %v", times)
	}
	if st.Files != 4 {
		t.Errorf("Files = %d, want 4 (z, a, the empty one, the truncated one)", st.Files)
	}
}

var (
	cliUDP = netipAP("10.0.0.1:5060")
	srvUDP = netipAP("10.0.0.2:5060")
)

// TestReadPathsTwoSensorsMerged reads the two sensors' captures of one call (10a)
// together: messages are merged in time order and keep their sensor.
func TestReadPathsTwoSensorsMerged(t *testing.T) {
	in := []capture.Input{
		capture.ParseInput("A=" + fixtures.Path(t, "sip", "10a_two_sensors_same_callid_sensorA.pcap")),
		capture.ParseInput("B=" + fixtures.Path(t, "sip", "10a_two_sensors_same_callid_sensorB.pcap")),
	}
	var times []time.Time
	per := map[string]int{}
	var order []string
	_, err := capture.ReadPaths(context.Background(), in, func(m *capture.Message) error {
		times = append(times, m.Time)
		per[m.Sensor]++
		if len(order) == 0 || order[len(order)-1] != m.Sensor {
			order = append(order, m.Sensor)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if per["A"] != 7 || per["B"] != 7 {
		t.Errorf("per sensor %v, want 7 each", per)
	}
	if !slices.IsSortedFunc(times, func(x, y time.Time) int { return x.Compare(y) }) {
		t.Error("messages not in time order")
	}
	if len(order) < 3 {
		t.Errorf("sensors not interleaved: %v", order)
	}
}

func TestReadProgress(t *testing.T) {
	paths := []string{fixtures.Path(t, "sip", perfFile), fixtures.Path(t, "sip", "07_g729_call.pcap")}
	var want int64
	var in []capture.Input
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want += fi.Size()
		in = append(in, capture.Input{Path: p})
	}
	var p capture.Progress
	var seen []int64
	n := 0
	_, err := capture.ReadPaths(context.Background(), in, func(*capture.Message) error {
		if n++; n%20000 == 0 {
			seen = append(seen, p.Read())
		}
		return nil
	}, capture.ReadOptions{Progress: &p})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total() != want || p.Read() != want {
		t.Errorf("progress %d / %d, want %d / %d", p.Read(), p.Total(), want, want)
	}
	// The reader runs a few MiB ahead of the messages, so only growth is checked.
	if len(seen) < 3 || !slices.IsSorted(seen) || seen[0] >= seen[len(seen)-1] || seen[0] >= want {
		t.Errorf("progress during the read %v does not grow towards %d", seen, want)
	}
}

func TestParseInput(t *testing.T) {
	cases := []struct{ in, sensor, path string }{
		{"a.pcap", "", "a.pcap"},
		{"edge1=/tmp/a.pcap", "edge1", "/tmp/a.pcap"},
		{"/tmp/x=y.pcap", "", "/tmp/x=y.pcap"},
		{"=/tmp/x=y.pcap", "", "/tmp/x=y.pcap"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got := capture.ParseInput(tc.in)
			if got.Sensor != tc.sensor || got.Path != tc.path {
				t.Errorf("ParseInput(%q) = %+v, want sensor %q path %q", tc.in, got, tc.sensor, tc.path)
			}
		})
	}
}

func TestReadStops(t *testing.T) {
	path := fixtures.Path(t, "sip", perfFile)
	t.Run("handler error", func(t *testing.T) {
		boom := errors.New("boom")
		n := 0
		_, err := capture.ReadPaths(context.Background(), []capture.Input{{Sensor: "", Path: path}}, func(*capture.Message) error {
			if n++; n == 10 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) || n != 10 {
			t.Errorf("err %v after %d messages, want boom after 10", err, n)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		st, err := capture.ReadPaths(ctx, []capture.Input{{Sensor: "", Path: path}}, func(*capture.Message) error { return nil })
		if !errors.Is(err, context.Canceled) || st.Packets >= 105000 {
			t.Errorf("err %v after %d packets, want context.Canceled early", err, st.Packets)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := capture.ReadPaths(context.Background(), []capture.Input{{Sensor: "", Path: filepath.Join(t.TempDir(), "nope.pcap")}}, func(*capture.Message) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "nope.pcap") {
			t.Errorf("err %v, want it to name nope.pcap", err)
		}
	})
}

func netipAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
