package sipmon

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/licbridge/licbridge/sipmon/capture"
)

// callPlan shapes generated traffic: calls start every gap and last dur, so
// about dur/gap are up at once; perFile calls go in each capture file.
type callPlan struct {
	calls, perFile int
	gap, dur       time.Duration
}

// genMsg is one SIP message of a generated call.
type genMsg struct {
	at      time.Time
	payload []byte
}

// writeCalls writes the plan as raw-IPv4 pcap files in dir (a basic call
// each: INVITE, 200, ACK, BYE, 200), the files in time order like rotated
// captures. Messages of calls still up when a file's calls are done spill
// into the next file, so each file is in time order.
func writeCalls(tb testing.TB, dir string, p callPlan) {
	tb.Helper()
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	var carry []genMsg
	for f, first := 0, 0; first < p.calls; f, first = f+1, first+p.perFile {
		last := min(first+p.perFile, p.calls)
		msgs := carry
		carry = nil
		for i := first; i < last; i++ {
			msgs = append(msgs, genCall(i, t0.Add(time.Duration(i)*p.gap), p.dur)...)
		}
		slices.SortStableFunc(msgs, func(a, b genMsg) int { return a.at.Compare(b.at) })
		// What starts after this file's last INVITE goes to the next file.
		cut := t0.Add(time.Duration(last-1) * p.gap)
		if last < p.calls {
			n, _ := slices.BinarySearchFunc(msgs, cut, func(m genMsg, t time.Time) int {
				if m.at.After(t) {
					return 1
				}
				return -1
			})
			msgs, carry = msgs[:n], slices.Clone(msgs[n:])
		}
		writePcap(tb, filepath.Join(dir, fmt.Sprintf("calls-%06d.pcap", f)), msgs)
	}
}

func genCall(i int, start time.Time, dur time.Duration) []genMsg {
	id := "gen-" + strconv.Itoa(i) + "@10.0.0.1"
	// 500 number pairs and one From-tag: the parser's caches fill at once, so
	// they do not pass for growth with the calls read.
	caller, called := fmt.Sprintf("+1415%07d", i%500), fmt.Sprintf("+1650%07d", i%500)
	msg := func(first, toTag, cseq string) []byte {
		return []byte(first + "\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK" + cseq[:1] + id +
			"\r\nFrom: <sip:" + caller + "@10.0.0.1>;tag=a" +
			"\r\nTo: <sip:" + called + "@10.0.0.2>" + toTag +
			"\r\nCall-ID: " + id + "\r\nCSeq: " + cseq + "\r\nContent-Length: 0\r\n\r\n")
	}
	ruri := "sip:" + called + "@10.0.0.2 SIP/2.0"
	ms := time.Millisecond
	return []genMsg{
		{start, msg("INVITE "+ruri, "", "1 INVITE")},
		{start.Add(10 * ms), msg("SIP/2.0 200 OK", ";tag=b", "1 INVITE")},
		{start.Add(20 * ms), msg("ACK "+ruri, ";tag=b", "1 ACK")},
		{start.Add(dur), msg("BYE "+ruri, ";tag=b", "2 BYE")},
		{start.Add(dur + 10*ms), msg("SIP/2.0 200 OK", ";tag=b", "2 BYE")},
	}
}

// writePcap writes messages as UDP in raw IPv4 frames, 10.0.0.1 to 10.0.0.2.
func writePcap(tb testing.TB, path string, msgs []genMsg) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		tb.Fatal(err)
	}
	var frame []byte
	for _, m := range msgs {
		frame = udpFrame(frame[:0], m.payload)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: m.at, CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
			tb.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

func udpFrame(b, payload []byte) []byte {
	total := 20 + 8 + len(payload)
	b = append(b, 0x45, 0, byte(total>>8), byte(total), 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[10:], ^uint16(sum))
	ulen := 8 + len(payload)
	b = append(b, 0x13, 0xc4, 0x13, 0xc4, byte(ulen>>8), byte(ulen), 0, 0)
	return append(b, payload...)
}

// readDirPeakHeap reads dir as `sipmon read --json` does (legs streamed out,
// here discarded) and returns the report and the largest live heap seen
// after a GC every gcEvery messages.
func readDirPeakHeap(tb testing.TB, dir string, gcEvery int) (*Report, uint64) {
	tb.Helper()
	js := NewJSONStream(io.Discard)
	mon := New(Config{LegSink: js.Leg})
	var peak uint64
	var ms runtime.MemStats
	n := 0
	h := func(m *capture.Message) error {
		if n++; n%gcEvery == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return mon.Handle(m)
	}
	if _, err := capture.ReadPaths(context.Background(), []capture.Input{{Path: dir}}, h); err != nil {
		tb.Fatal(err)
	}
	mon.Flush()
	r := mon.Report()
	if err := js.Finish(r); err != nil {
		tb.Fatal(err)
	}
	return r, peak
}

// TestMemoryFlatInCalls reads a directory of N calls and one of 4N (about 20
// up at once, in files of 500 calls) and compares the live heap: counted legs
// stream out, so the heap must not grow with the calls read. Keeping every
// leg (as once) grows it by about 1-2 KB per call; the bound allows 100 B.
// SIPMON_SCALE_CALLS sets N (1000000 / 4 for the full-size check by hand).
func TestMemoryFlatInCalls(t *testing.T) {
	n := 2000
	if s := os.Getenv("SIPMON_SCALE_CALLS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("SIPMON_SCALE_CALLS=%q: want a positive count", s)
		}
		n = v
	}
	peaks := make([]uint64, 2)
	for i, calls := range []int{n, 4 * n} {
		dir := t.TempDir()
		writeCalls(t, dir, callPlan{calls: calls, perFile: 500, gap: 100 * time.Millisecond, dur: 2 * time.Second})
		// Ten samples in each read, so that both have the same chance to
		// catch a passing peak.
		r, peak := readDirPeakHeap(t, dir, calls*5/10)
		if r.LegsAnswered != calls || r.PeakConcurrentLegs < 15 || r.PeakConcurrentLegs > 25 {
			t.Fatalf("%d calls: answered %d, peak %d; want all, about 20", calls, r.LegsAnswered, r.PeakConcurrentLegs)
		}
		peaks[i] = peak
	}
	growth := int64(peaks[1]) - int64(peaks[0])
	t.Logf("live heap: %d calls %.1f MB, %d calls %.1f MB", n, float64(peaks[0])/(1<<20), 4*n, float64(peaks[1])/(1<<20))
	if limit := int64(3*n) * 100; growth > limit {
		t.Errorf("the heap grew %d bytes for %d more calls (limit %d): memory grows with the calls read", growth, 3*n, limit)
	}
}

// TestGenerateCalls writes generated captures for measuring by hand, when
// SIPMON_GEN_DIR is set: SIPMON_GEN_CALLS calls (default 1000000), a new one
// every SIPMON_GEN_GAP (default 1ms) lasting SIPMON_GEN_DUR (default 2s).
// 100,000 legs up at once: SIPMON_GEN_CALLS=100000 SIPMON_GEN_DUR=200s.
func TestGenerateCalls(t *testing.T) {
	dir := os.Getenv("SIPMON_GEN_DIR")
	if dir == "" {
		t.Skip("SIPMON_GEN_DIR not set")
	}
	p := callPlan{calls: 1_000_000, perFile: 10_000, gap: time.Millisecond, dur: 2 * time.Second}
	if s := os.Getenv("SIPMON_GEN_CALLS"); s != "" {
		p.calls, _ = strconv.Atoi(s)
	}
	for env, dst := range map[string]*time.Duration{"SIPMON_GEN_GAP": &p.gap, "SIPMON_GEN_DUR": &p.dur} {
		if s := os.Getenv(env); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				t.Fatalf("%s: %v", env, err)
			}
			*dst = d
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeCalls(t, dir, p)
}

// liveLegsHeap feeds n calls that are all up at once (INVITE, 200, ACK each,
// Asterisk-like Call-IDs and tags) into a new Monitor and returns the live
// heap it holds with them up.
func liveLegsHeap(t *testing.T, n int) uint64 {
	t.Helper()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	mon := New(Config{LegSink: func(LegRecord) {}})
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	var buf []byte
	msg := capture.Message{Transport: capture.UDP}
	send := func(at time.Time, parts ...string) {
		buf = buf[:0]
		for _, p := range parts {
			buf = append(buf, p...)
		}
		msg.Time, msg.Payload = at, buf
		if err := mon.Handle(&msg); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		id := fmt.Sprintf("%032x@10.0.0.1", i*7919)
		tag := fmt.Sprintf("as%08x", i)
		caller, called := fmt.Sprintf("+1415%07d", i), fmt.Sprintf("+1650%07d", i)
		from := "\r\nFrom: <sip:" + caller + "@10.0.0.1>;tag=" + tag + "\r\nTo: <sip:" + called + "@10.0.0.2>"
		rest := "\r\nCall-ID: " + id + "\r\nCSeq: 1 "
		at := t0.Add(time.Duration(i) * time.Millisecond)
		send(at, "INVITE sip:", called, "@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK", tag, from, rest, "INVITE\r\nContent-Length: 0\r\n\r\n")
		send(at.Add(10*time.Millisecond), "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK", tag, from, ";tag=b", tag, rest, "INVITE\r\nContent-Length: 0\r\n\r\n")
		send(at.Add(20*time.Millisecond), "ACK sip:", called, "@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKack", tag, from, ";tag=b", tag, rest, "ACK\r\nContent-Length: 0\r\n\r\n")
	}
	if a := mon.Active(); a.Legs != n {
		t.Fatalf("%d legs up, want %d", a.Legs, n)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(mon)
	return ms.HeapAlloc - min(before, ms.HeapAlloc)
}

// TestMemoryPerLiveLeg holds N and then 4N legs up at once and measures the
// live heap per leg: the dialog state kept per live leg is what bounds the
// memory of 100,000 concurrent legs (a Call-ID, a From-tag and two numbers
// of the usual lengths). It was about 580 bytes (a 448-byte dialog holding
// a whole Leg, five strings of their own); it is about 300 now (a 192-byte
// dialog, one string, the table's entry). The bound, 400, leaves room for
// the map's growth steps and measuring noise, and fails if it grows back.
func TestMemoryPerLiveLeg(t *testing.T) {
	const n, bound = 10_000, 400
	small := liveLegsHeap(t, n)
	large := liveLegsHeap(t, 4*n)
	perSmall, perLarge := float64(small)/n, float64(large)/(4*n)
	perMore := (float64(large) - float64(small)) / (3 * n)
	t.Logf("live heap per live leg: %.0f B with %d up, %.0f B with %d up, %.0f B per leg more", perSmall, n, perLarge, 4*n, perMore)
	if perLarge > bound || perMore > bound {
		t.Errorf("%.0f B per live leg (%.0f B per leg more from %d to %d), bound %d: the per-leg state grew", perLarge, perMore, n, 4*n, bound)
	}
}

// TestFinishedLegsNotHeld: with one sensor and no correlation header nothing
// can merge, so a finished leg goes out as soon as every leg that started
// before it has: the report does not also hold, as records, the legs of the
// calls that ended while later ones are still up (it held about a minute of
// them here, and with 100,000 legs up at once as much again as the dialogs).
func TestFinishedLegsNotHeld(t *testing.T) {
	const calls = 2000
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	var msgs []genMsg
	for i := range calls {
		// A call every 100 ms for 60 s: about 600 up at once.
		msgs = append(msgs, genCall(i, t0.Add(time.Duration(i)*100*time.Millisecond), time.Minute)...)
	}
	slices.SortStableFunc(msgs, func(a, b genMsg) int { return a.at.Compare(b.at) })
	mon := New(Config{LegSink: func(LegRecord) {}})
	held := 0
	for _, m := range msgs {
		if err := mon.Handle(&capture.Message{Time: m.at, Payload: m.payload, Transport: capture.UDP}); err != nil {
			t.Fatal(err)
		}
		held = max(held, len(mon.rep.queue))
	}
	mon.Flush()
	if r := mon.Report(); r.LegsAnswered != calls {
		t.Fatalf("answered %d, want %d", r.LegsAnswered, calls)
	}
	if held > 10 {
		t.Errorf("the report held up to %d finished legs waiting to be counted; want none beyond the batch of one advance", held)
	}
}

// TestFinishingLegsAllocatesNoRecords: the legs of dialogs still in the table
// when the input ends (every call of a capture shorter than the linger) are
// counted and streamed out without a record allocated per leg: the finalized
// dialog is the pending leg, and records are reused once counted. A record
// of its own per leg (about 400 bytes each, all fresh memory at the end of
// the read) was a tenth of reading the 15,000-call capture.
func TestFinishingLegsAllocatesNoRecords(t *testing.T) {
	const calls = 2000
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	var msgs []genMsg
	for i := range calls {
		// A call every 5 ms, 2 s long: all of them end within the linger.
		msgs = append(msgs, genCall(i, t0.Add(time.Duration(i)*5*time.Millisecond), 2*time.Second)...)
	}
	slices.SortStableFunc(msgs, func(a, b genMsg) int { return a.at.Compare(b.at) })
	for _, tc := range []struct {
		name string
		sink func(LegRecord)
	}{
		{"streamed", func(LegRecord) {}},
		{"kept", nil}, // the report keeps the legs: a LegRecord each, no record
	} {
		t.Run(tc.name, func(t *testing.T) {
			mon := New(Config{LegSink: tc.sink})
			for _, m := range msgs {
				if err := mon.Handle(&capture.Message{Time: m.at, Payload: m.payload, Transport: capture.UDP}); err != nil {
					t.Fatal(err)
				}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			mon.Flush()
			runtime.ReadMemStats(&after)
			if r := mon.Report(); r.LegsAnswered != calls {
				t.Fatalf("answered %d, want %d", r.LegsAnswered, calls)
			}
			perLeg := float64(after.Mallocs-before.Mallocs) / calls
			limit := 0.1
			if tc.sink == nil {
				limit = 3.1 // the kept LegRecord's Call-IDs, sensors and answer time
			}
			t.Logf("%.2f allocations per leg finished", perLeg)
			if perLeg > limit {
				t.Errorf("finishing %d legs took %.2f allocations per leg, want at most %.1f: a record (or more) per leg", calls, perLeg, limit)
			}
		})
	}
}
