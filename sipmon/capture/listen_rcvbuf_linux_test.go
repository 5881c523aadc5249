//go:build linux

package capture

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestHEPUDPReadBuffer: the HEP UDP socket gets a receive buffer of what was
// asked (DefaultHEPReadBuffer when unset) or, where the kernel caps it at
// net.core.rmem_max, at least that; and a shortfall is logged at WARN. The
// buffer is read back from the socket itself, not from the server's account
// (before: the kernel's default, about 208 KiB, was kept).
func TestHEPUDPReadBuffer(t *testing.T) {
	rmemMax := readSysctl(t, "/proc/sys/net/core/rmem_max")
	for _, tc := range []struct {
		name  string
		asked int // 0: the default
	}{
		{"default", 0},
		{"one_mib", 1 << 20},
		{"beyond_rmem_max", 2*rmemMax + 1<<20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			s, err := NewHEPServer("udp", "127.0.0.1:0", "", nil, HEPOptions{ReadBuffer: tc.asked,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer s.pc.Close()
			asked := tc.asked
			if asked == 0 {
				asked = DefaultHEPReadBuffer
			}
			got := socketReadBuffer(t, s.pc) / 2 // Linux reports twice the size granted
			t.Logf("asked %d, rmem_max %d, granted %d (reported by the server: %d)", asked, rmemMax, got, s.ReadBuffer())
			if floor := min(asked, rmemMax); got < floor {
				t.Errorf("UDP receive buffer %d, want at least %d (asked %d, rmem_max %d)", got, floor, asked, rmemMax)
			}
			if s.ReadBuffer() != got {
				t.Errorf("ReadBuffer() = %d, the socket has %d", s.ReadBuffer(), got)
			}
			warned := strings.Contains(logs.String(), "level=WARN")
			if short := got < asked; short != warned {
				t.Errorf("granted %d of %d, WARN logged: %v\n%s", got, asked, warned, logs.String())
			}
		})
	}
}

// TestHEPUDPReadBufferCapped: without SO_RCVBUFFORCE (a process without
// CAP_NET_ADMIN) a request beyond net.core.rmem_max is capped there, and the
// shortfall is logged at WARN, naming the sysctl.
func TestHEPUDPReadBufferCapped(t *testing.T) {
	rmemMax := readSysctl(t, "/proc/sys/net/core/rmem_max")
	var logs bytes.Buffer
	s, err := NewHEPServer("udp", "127.0.0.1:0", "", nil, HEPOptions{ReadBuffer: 1 << 16, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.pc.Close()
	asked := 2 * rmemMax
	got := s.setReadBuffer(asked, false)
	t.Logf("asked %d without force, rmem_max %d: granted %d", asked, rmemMax, got)
	if got != rmemMax || socketReadBuffer(t, s.pc)/2 != got {
		t.Errorf("granted %d, socket %d; want rmem_max %d", got, socketReadBuffer(t, s.pc)/2, rmemMax)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "rmem_max") || !strings.Contains(l, "granted="+strconv.Itoa(got)) {
		t.Errorf("no WARN naming the shortfall and rmem_max:\n%s", l)
	}
}

func socketReadBuffer(t *testing.T, pc net.PacketConn) int {
	t.Helper()
	rc, err := pc.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return n
}

func readSysctl(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}
