package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runSipmon(ctx context.Context, out, errOut io.Writer, args ...string) error {
	app := newApp()
	app.Writer, app.ErrWriter = out, errOut
	return app.RunContext(ctx, append([]string{"licbridge", "sipmon"}, args...))
}

// sipmonJSON runs `licbridge sipmon read --json ARGS...` and decodes the report.
func sipmonJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := runSipmon(context.Background(), &out, &errOut, append([]string{"read", "--json"}, args...)...); err != nil {
		t.Fatalf("sipmon read %v: %v\n%s", args, err, errOut.String())
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	return r
}

func num(r map[string]any, key string) int {
	f, _ := r[key].(float64)
	return int(f)
}

// manifestExpect reads expected figures of one fixture from its manifest.
func manifestExpect(t *testing.T, set []string, file string) map[string]any {
	t.Helper()
	var m struct {
		Files []struct {
			File     string         `json:"file"`
			Expected map[string]any `json:"expected"`
		} `json:"files"`
	}
	if err := json.Unmarshal(fixtures.Read(t, append(set, "manifest.json")...), &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if f.File == file {
			return f.Expected
		}
	}
	t.Fatalf("%s not in the manifest", file)
	return nil
}

func TestSipmonReadJSON(t *testing.T) {
	sip := func(f string) string { return fixtures.Path(t, "sip", f) }
	ast := []string{"sip", "asterisk"}
	d := "D_xcid_correlation_via_asterisk.pcap"
	dPath := fixtures.Path(t, "sip", "asterisk", d)
	dWant := manifestExpect(t, ast, d)
	g729 := manifestExpect(t, []string{"sip"}, "07_g729_call.pcap")

	cases := []struct {
		name     string
		args     []string
		answered any
		peak     any
		merged   int
	}{
		{"two sensors 10a dedup to one leg", []string{"A=" + sip("10a_two_sensors_same_callid_sensorA.pcap"), "B=" + sip("10a_two_sensors_same_callid_sensorB.pcap")}, 1.0, 1.0, 1},
		{"two sensors 10b dedup to one leg", []string{"A=" + sip("10b_two_sensors_sbc_sensorA.pcap"), "B=" + sip("10b_two_sensors_sbc_sensorB.pcap")}, 1.0, 1.0, 1},
		{"asterisk B2BUA is two legs without correlation", []string{dPath}, dWant["legs_answered"], dWant["peak_concurrent_legs"], 0},
		{"asterisk B2BUA with X-CID correlation is one leg", []string{"--correlation-header", "X-CID", dPath}, dWant["legs_answered_with_x_cid_correlation"], dWant["peak_concurrent_legs_with_x_cid_correlation"], 0},
		{"g729", []string{sip("07_g729_call.pcap")}, g729["legs_answered"], g729["peak_concurrent_legs"], 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := sipmonJSON(t, tc.args...)
			if r["legs_answered"] != tc.answered || r["peak_concurrent_legs"] != tc.peak || num(r, "duplicates_merged") != tc.merged {
				t.Errorf("legs_answered %v peak %v duplicates_merged %v; want %v %v %d", r["legs_answered"], r["peak_concurrent_legs"], r["duplicates_merged"], tc.answered, tc.peak, tc.merged)
			}
			for _, key := range []string{"sip_messages", "malformed", "legs_attempted", "by_product", "windows", "legs"} {
				if _, ok := r[key]; !ok {
					t.Errorf("report has no %q", key)
				}
			}
			legs, _ := r["legs"].([]any)
			if len(legs) != num(r, "legs_attempted") {
				t.Errorf("%d leg objects for %d attempted legs", len(legs), num(r, "legs_attempted"))
			}
			for _, l := range legs {
				leg := l.(map[string]any)
				for _, key := range []string{"call_ids", "sensors", "caller", "called", "invite", "end", "answered", "codec", "fax"} {
					if _, ok := leg[key]; !ok {
						t.Errorf("leg has no %q: %v", key, leg)
					}
				}
				if _, err := time.Parse(time.RFC3339Nano, leg["invite"].(string)); err != nil {
					t.Errorf("invite time: %v", err)
				}
			}
		})
	}
	t.Run("g729 by product", func(t *testing.T) {
		r := sipmonJSON(t, sip("07_g729_call.pcap"))
		bp := r["by_product"].(map[string]any)["g729"].(map[string]any)
		if bp["legs"] != g729["legs_answered"] || bp["peak_concurrent_legs"] != g729["peak_concurrent_legs"] {
			t.Errorf("by_product.g729 = %v, want the manifest's legs %v", bp, g729["legs_answered"])
		}
	})
}

func TestSipmonReadText(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runSipmon(context.Background(), &out, &errOut, "read", fixtures.Path(t, "sip", "08_fax_t38_reinvite.pcap")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"answered               1", "fax    1     1", "Hour (UTC)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if errOut.Len() != 0 {
		t.Errorf("a short read printed progress: %q", errOut.String())
	}
}

func TestSipmonReadRejects(t *testing.T) {
	notCapture := t.TempDir() + "/notes.txt"
	if err := os.WriteFile(notCapture, []byte("not a capture"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := fixtures.Path(t, "sip", "07_g729_call.pcap")
	// A named pipe used to hang the read (and SIGTERM with it).
	fifo := t.TempDir() + "/live.pcap"
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		args     []string
		code     int
		mentions string
	}{
		{"no path", []string{"read"}, 2, "PATH"},
		{"missing file", []string{"read", "/nonexistent/x.pcap"}, 2, "/nonexistent/x.pcap"},
		{"bad timeout", []string{"read", "--dialog-timeout", "-1s", good}, 2, "--dialog-timeout"},
		{"named pipe", []string{"read", good, fifo}, 2, fifo + ": not a regular file"},
		{"not a capture, the good input still counted", []string{"read", "--json", good, notCapture}, 1, "notes.txt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := runSipmon(context.Background(), &out, &errOut, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if exitCode(err) != tc.code || !strings.Contains(err.Error(), tc.mentions) {
				t.Errorf("error %q (exit %d), want exit %d naming %q", err, exitCode(err), tc.code, tc.mentions)
			}
			if tc.code == 1 && !strings.Contains(out.String(), `"legs_answered": 1`) {
				t.Errorf("the readable input was not reported:\n%s", out.String())
			}
		})
	}
}

// hepDatagrams returns the UDP payloads of a HEP capture, decoded by gopacket.
func hepDatagrams(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && bytes.HasPrefix(udp.Payload, []byte("HEP3")) {
			out = append(out, bytes.Clone(udp.Payload))
		}
	}
}

// freePort picks a loopback port free for both UDP and TCP right now.
func freePort(t *testing.T) string {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if pc, err := net.ListenPacket("udp", addr); err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no free port")
	return ""
}

// TestSipmonHEP runs `sipmon hep`, sends it the HEPv3 datagrams Asterisk's res_hep
// sent in fixture A, waits for its periodic line to show them all, stops it and
// reads its final report.
func TestSipmonHEP(t *testing.T) {
	file := "A_basic_pcmu_via_asterisk_hep.pcap"
	want := manifestExpect(t, []string{"sip", "asterisk"}, file)
	dgrams := hepDatagrams(t, fixtures.Path(t, "sip", "asterisk", file))
	addr := freePort(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runSipmon(ctx, &out, &errOut, "hep", "--listen", addr, "--network", "udp", "--interval", "20ms", "--json", "--sensor", "ast")
	}()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sent := false
	wantLine := fmt.Sprintf("SIP messages %d ", len(dgrams))
	for !strings.Contains(out.String(), wantLine) {
		select {
		case err := <-done:
			t.Fatalf("hep command ended early: %v\n%s\n%s", err, out.String(), errOut.String())
		case <-ctx.Done():
			t.Fatalf("the command never counted %d messages:\n%s", len(dgrams), out.String())
		case <-time.After(20 * time.Millisecond):
		}
		// Send once the listener answers for itself in the periodic line, i.e. is up.
		if !sent && strings.Contains(out.String(), "legs up") {
			for _, d := range dgrams {
				if _, err := conn.Write(d); err != nil {
					t.Fatal(err)
				}
			}
			sent = true
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("hep command: %v", err)
	}
	report := out.String()[strings.Index(out.String(), "{"):]
	var r map[string]any
	if err := json.Unmarshal([]byte(report), &r); err != nil {
		t.Fatalf("final report: %v\n%s", err, report)
	}
	if r["legs_answered"] != want["legs_answered"] || r["peak_concurrent_legs"] != want["peak_concurrent_legs"] {
		t.Errorf("legs_answered %v peak %v, manifest %v %v", r["legs_answered"], r["peak_concurrent_legs"], want["legs_answered"], want["peak_concurrent_legs"])
	}
}

// udpDstPortFilter is the kernel filter "ip and udp dst port P, not a fragment"
// for an Ethernet-framed interface (lo), in the `tcpdump -ddd` form that
// `sipmon live --filter` takes: tcpdump itself is not needed to compile it.
func udpDstPortFilter(t *testing.T, port int) string {
	t.Helper()
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},                          // ethertype
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800, SkipFalse: 8},  // IPv4
		bpf.LoadAbsolute{Off: 23, Size: 1},                          // protocol
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17, SkipFalse: 6},      // UDP
		bpf.LoadAbsolute{Off: 20, Size: 2},                          // flags, fragment offset
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 4}, // not a later fragment
		bpf.LoadMemShift{Off: 14},                                   // X = IP header length
		bpf.LoadIndirect{Off: 16, Size: 2},                          // UDP destination port
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipFalse: 1},
		bpf.RetConstant{Val: 262144},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%d", capture.RawBPFPrefix, len(prog))
	for _, in := range prog {
		fmt.Fprintf(&b, ",%d %d %d %d", in.Op, in.Jt, in.Jf, in.K)
	}
	return b.String()
}

// TestSipmonLive runs `sipmon live` on lo, sends it one call over UDP, waits for
// its periodic line to count the call's messages, stops it and reads the report.
func TestSipmonLive(t *testing.T) {
	sink, err := net.ListenPacket("udp", "127.0.0.1:0") // receives the call, so no ICMP
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	port := sink.LocalAddr().(*net.UDPAddr).Port
	callID := fmt.Sprintf("sipmon-live-%d@127.0.0.1", port)
	hdr := func(first, to string, cseq string) string {
		return first + "\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK" + cseq[:1] + "\r\nFrom: <sip:+14155559001@127.0.0.1>;tag=a\r\nTo: <sip:+14155559002@127.0.0.1>" + to +
			"\r\nCall-ID: " + callID + "\r\nCSeq: " + cseq + "\r\nContent-Length: 0\r\n\r\n"
	}
	call := []string{
		hdr("INVITE sip:+14155559002@127.0.0.1 SIP/2.0", "", "1 INVITE"),
		hdr("SIP/2.0 200 OK", ";tag=b", "1 INVITE"),
		hdr("ACK sip:+14155559002@127.0.0.1 SIP/2.0", ";tag=b", "1 ACK"),
		hdr("BYE sip:+14155559002@127.0.0.1 SIP/2.0", ";tag=b", "2 BYE"),
		hdr("SIP/2.0 200 OK", ";tag=b", "2 BYE"),
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runSipmon(ctx, &out, &errOut, "live", "--interface", "lo", "--filter", udpDstPortFilter(t, port), "--interval", "20ms", "--json")
	}()
	send, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	sent := false
	wantLine := fmt.Sprintf("SIP messages %d ", len(call))
	for !strings.Contains(out.String(), wantLine) {
		select {
		case err := <-done:
			if err != nil && strings.Contains(err.Error(), "operation not permitted") {
				t.Skipf("live capture needs CAP_NET_RAW: %v", err)
			}
			t.Fatalf("live command ended early: %v\n%s", err, out.String())
		case <-ctx.Done():
			t.Fatalf("the command never counted the call:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
		// The capture is open before the first periodic line is printed.
		if !sent && strings.Contains(out.String(), "legs up") {
			for _, m := range call {
				if _, err := send.WriteTo([]byte(m), sink.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			}
			sent = true
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("live command: %v", err)
	}
	var r struct {
		LegsAnswered int `json:"legs_answered"`
		Legs         []struct {
			CallIDs        []string `json:"call_ids"`
			Caller, Called string
			Answered       bool
		} `json:"legs"`
	}
	report := out.String()[strings.Index(out.String(), "{"):]
	if err := json.Unmarshal([]byte(report), &r); err != nil {
		t.Fatalf("final report: %v\n%s", err, report)
	}
	if r.LegsAnswered != 1 || len(r.Legs) != 1 || r.Legs[0].CallIDs[0] != callID || r.Legs[0].Caller != "+14155559001" || !r.Legs[0].Answered {
		t.Errorf("report = %+v, want the one answered call %s", r, callID)
	}
}
