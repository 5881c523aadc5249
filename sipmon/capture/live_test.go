//go:build linux

package capture_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/internal/testkit/pcaptest"
	"github.com/licbridge/licbridge/sipmon/capture"
	"golang.org/x/net/bpf"
)

// realSIPDatagrams returns the SIP payloads of a real call (07, G.729).
func realSIPDatagrams(t *testing.T) [][]byte {
	var out [][]byte
	for _, dg := range pcaptest.UDPPayloads(t, fixtures.Path(t, "sip", "07_g729_call.pcap")) {
		if capture.LooksLikeSIP(dg.Payload) {
			out = append(out, dg.Payload)
		}
	}
	if len(out) != 7 {
		t.Fatalf("07: %d SIP datagrams, want 7", len(out))
	}
	return out
}

func udpPort(t *testing.T) (*net.UDPConn, int) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).Port
}

// portFilter is a BPF program (Ethernet framing, as on lo) that accepts only UDP
// over IPv4 to port, rendered as `tcpdump -ddd` prints it.
func portFilter(t *testing.T, port int) string {
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800, SkipFalse: 6},
		bpf.LoadAbsolute{Off: 23, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17, SkipFalse: 4},
		bpf.LoadMemShift{Off: 14},
		bpf.LoadIndirect{Off: 16, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipFalse: 1},
		bpf.RetConstant{Val: 262144},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%d\n", capture.RawBPFPrefix, len(prog))
	for _, ins := range prog {
		fmt.Fprintf(&b, "%d %d %d %d\n", ins.Op, ins.Jt, ins.Jf, ins.K)
	}
	return b.String()
}

// TestReadLiveLoopback captures on lo while real SIP datagrams (the 7 messages of
// the G.729 call fixture) are sent to a UDP socket on 127.0.0.1, once without a
// filter and once with a kernel BPF filter on the destination port that must
// keep out the same datagrams sent to another port.
func TestReadLiveLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (CAP_NET_RAW)")
	}
	payloads := realSIPDatagrams(t)
	// "address first" is an expression that starts with a digit: it was once
	// taken for a `tcpdump -ddd` program and refused.
	for _, mode := range []string{"none", "kernel", "expression", "address first"} {
		t.Run("filter="+mode, func(t *testing.T) {
			filtered := mode != "none"
			rx, port := udpPort(t)
			_, otherPort := udpPort(t) // bound, so sends to it raise no ICMP
			ch := make(chan string, 64)
			h := func(m *capture.Message) error {
				// Other tests on this machine use loopback too: keep ours only.
				if int(m.Dst.Port()) == port || int(m.Dst.Port()) == otherPort {
					if m.Transport != capture.UDP || m.Sensor != "lo-sensor" || m.Time.IsZero() {
						t.Errorf("message %+v", m)
					}
					ch <- fmt.Sprintf("%d|%s", m.Dst.Port(), m.Payload)
				}
				return nil
			}
			filter := ""
			switch mode {
			case "kernel":
				filter = portFilter(t, port)
			case "expression":
				filter = fmt.Sprintf("udp and dst port %d and host 127.0.0.1", port)
			case "address first":
				filter = fmt.Sprintf("127.0.0.1 and udp dst port %d", port)
			}
			var rec bytes.Buffer
			live, err := capture.NewLive("lo", filter, "lo-sensor", h, capture.LiveOptions{Record: &rec})
			if err != nil {
				t.Fatalf("NewLive: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- live.Run(ctx) }()

			tx, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			txOther, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: otherPort})
			if err != nil {
				t.Fatal(err)
			}
			defer txOther.Close()
			buf := make([]byte, 65535)
			for _, p := range payloads {
				if filtered {
					txOther.Write(p)
				}
				if _, err := tx.Write(p); err != nil {
					t.Fatal(err)
				}
				rx.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, _, err := rx.ReadFrom(buf); err != nil { // it went through lo
					t.Fatal(err)
				}
			}
			var got []string
			for len(got) < len(payloads) {
				select {
				case s := <-ch:
					got = append(got, s)
				case <-time.After(5 * time.Second):
					t.Fatalf("captured %d of %d messages", len(got), len(payloads))
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			// Anything still queued after Run returned was captured too.
			close(ch)
			for s := range ch {
				got = append(got, s)
			}
			want := map[string]int{}
			for _, p := range payloads {
				want[fmt.Sprintf("%d|%s", port, p)]++
			}
			for _, g := range got {
				want[g]--
			}
			for k, n := range want {
				if n != 0 {
					t.Errorf("message %.60q seen %d times more than sent", k, -n)
				}
			}
			st := live.Stats()
			if mode == "kernel" && st.Packets != len(payloads) {
				t.Errorf("with the kernel filter %d packets reached the decoder, want %d", st.Packets, len(payloads))
			}
			if (mode == "expression" || mode == "address first") && st.Filtered < len(payloads) {
				t.Errorf("the expression filtered %d packets, want at least the %d sent to the other port", st.Filtered, len(payloads))
			}
			// The recording reads back to the same messages.
			path := filepath.Join(t.TempDir(), "live.pcap")
			if err := os.WriteFile(path, rec.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			var back []string
			var opt capture.ReadOptions
			if mode == "expression" || mode == "address first" { // the recording has what the kernel passed
				if opt.Decoder.Filter, err = capture.ParseFilter(filter); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := capture.ReadPaths(context.Background(), []capture.Input{{Path: path, Sensor: "lo-sensor"}}, func(m *capture.Message) error {
				if int(m.Dst.Port()) == port || int(m.Dst.Port()) == otherPort {
					back = append(back, fmt.Sprintf("%d|%s", m.Dst.Port(), m.Payload))
				}
				return nil
			}, opt); err != nil {
				t.Fatal(err)
			}
			if strings.Join(back, "\n") != strings.Join(got, "\n") {
				t.Errorf("recording read back gives %d messages, live gave %d", len(back), len(got))
			}
		})
	}
}

func TestLiveFilterErrors(t *testing.T) {
	cases := []struct{ name, filter, want string }{
		{"count mismatch", "3\n6 0 0 0\n", "does not match"},
		{"bad number", "1\n6 0 x 0\n", "bad number"},
		{"jump out of range", "1\n21 300 0 0\n", "bad number"},
		{"three numbers", "1\n6 0 0\n", "want 4 numbers"},
	}
	if os.Geteuid() != 0 {
		t.Skip("opening a live capture needs root")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := capture.NewLive("lo", capture.RawBPFPrefix+tc.filter, "", func(*capture.Message) error { return nil }, capture.LiveOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("comma-separated program accepted", func(t *testing.T) {
		l, err := capture.NewLive("lo", "raw-bpf:1,6 0 0 262144", "", func(*capture.Message) error { return nil }, capture.LiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := l.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Run("unsupported expression", func(t *testing.T) {
		_, err := capture.NewLive("lo", "vlan 100", "", func(*capture.Message) error { return nil }, capture.LiveOptions{})
		if err == nil || !strings.Contains(err.Error(), "unknown primitive") {
			t.Errorf("err %v, want it to name the unknown primitive", err)
		}
	})
	t.Run("unknown interface", func(t *testing.T) {
		_, err := capture.NewLive("nosuch0", "", "", func(*capture.Message) error { return nil }, capture.LiveOptions{})
		if err == nil || !strings.Contains(err.Error(), "nosuch0") {
			t.Errorf("err %v, want it to name the interface", err)
		}
	})
}
