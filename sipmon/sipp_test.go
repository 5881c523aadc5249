package sipmon

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture"
)

// The SIPp run's parameters. Expectations derive from them and from SIPp's own
// statistics, never from constants of their own.
const (
	sippCalls    = 30   // -m: calls the UAC places
	sippLimit    = 10   // -l: at most this many simultaneous calls
	sippRate     = 50   // -r: calls per second while under the limit
	sippDuration = 1000 // -d: ms between the ACK and the BYE
)

// TestSIPpLoopback runs SIPp's built-in UAS and UAC on loopback, captures the
// run live on lo with capture.NewLive, and checks that the monitor counts the
// calls SIPp reports as successful and reaches the concurrency SIPp was limited
// to.
//
// The concurrency is exact, not approximate: a leg ends at the 200 to BYE, which
// SIPp's UAC must receive before that call ends and another may start under -l,
// so the capture can never show more than -l legs up; and with -r*d well above -l
// (every call of the first wave starts in l/r = 0.2 s and lasts at least d = 1 s)
// the first wave is up at once, so it shows exactly -l.
func TestSIPpLoopback(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp (Debian package sip-tester) not installed")
	}
	if sippRate*sippDuration/1000 <= sippLimit {
		t.Fatal("parameters do not fill the limit; the exact-peak argument needs r*d > l")
	}
	uasPort, uacPort := freeUDPPort(t), freeUDPPort(t)
	dir := t.TempDir()

	mon := New(Config{})
	sentinel := fmt.Sprintf("sipmon-test-end-%d", uasPort)
	seen := make(chan struct{})
	var once sync.Once
	// Other tests may use lo at the same time: keep only this run's traffic.
	handler := func(m *capture.Message) error {
		if int(m.Src.Port()) != uasPort && int(m.Dst.Port()) != uasPort {
			return nil
		}
		if bytes.Contains(m.Payload, []byte(sentinel)) {
			once.Do(func() { close(seen) })
			return nil
		}
		return mon.Handle(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	live, err := capture.NewLive("lo", "", "lo", handler, capture.LiveOptions{})
	if err != nil {
		t.Skipf("live capture on lo not possible here (needs CAP_NET_RAW): %v", err)
	}
	liveDone := make(chan error, 1)
	go func() { liveDone <- live.Run(ctx) }()

	common := []string{"-i", "127.0.0.1", "-nostdin", "-timeout", "50s", "-timeout_error", "-trace_stat", "-fd", "1"}
	uas := exec.CommandContext(ctx, sipp, append([]string{"-sn", "uas", "-p", strconv.Itoa(uasPort), "-mp", strconv.Itoa(freeUDPPort(t)),
		"-m", strconv.Itoa(sippCalls), "-stf", filepath.Join(dir, "uas.csv")}, common...)...)
	uac := exec.CommandContext(ctx, sipp, append([]string{"-sn", "uac", fmt.Sprintf("127.0.0.1:%d", uasPort), "-p", strconv.Itoa(uacPort), "-mp", strconv.Itoa(freeUDPPort(t)),
		"-m", strconv.Itoa(sippCalls), "-l", strconv.Itoa(sippLimit), "-r", strconv.Itoa(sippRate), "-d", strconv.Itoa(sippDuration),
		"-stf", filepath.Join(dir, "uac.csv")}, common...)...)
	var uasOut, uacOut bytes.Buffer
	uas.Stdout, uas.Stderr = &uasOut, &uasOut
	uac.Stdout, uac.Stderr = &uacOut, &uacOut
	uas.Dir, uac.Dir = dir, dir
	if err := uas.Start(); err != nil {
		t.Fatalf("start sipp uas: %v", err)
	}
	t.Cleanup(func() {
		_ = uas.Process.Kill()
		_ = uas.Wait()
	})
	waitUDPBound(t, ctx, uasPort)
	if err := uac.Run(); err != nil {
		t.Fatalf("sipp uac: %v\n%s", err, tail(uacOut.String()))
	}
	if err := uas.Wait(); err != nil {
		t.Fatalf("sipp uas: %v\n%s", err, tail(uasOut.String()))
	}

	// A last datagram marks the end: once the capture delivers it, it has
	// delivered everything before it.
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", uasPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for waiting := true; waiting; {
		if _, err := fmt.Fprintf(conn, "OPTIONS sip:%s@127.0.0.1 SIP/2.0\r\nCall-ID: %s\r\n\r\n", sentinel, sentinel); err != nil {
			t.Fatal(err)
		}
		select {
		case <-seen:
			waiting = false
		case err := <-liveDone:
			t.Fatalf("live capture ended: %v", err)
		case <-ctx.Done():
			t.Fatal("the capture never delivered the end marker")
		case <-time.After(100 * time.Millisecond): // a UDP datagram may be lost: resend
		}
	}
	cancel()
	<-liveDone

	stats := sippStats(t, filepath.Join(dir, "uac.csv"))
	successful, failed, created := stats["SuccessfulCall(C)"], stats["FailedCall(C)"], stats["OutgoingCall(C)"]
	if successful != sippCalls || failed != 0 {
		t.Fatalf("SIPp itself reports %d successful, %d failed calls of %d: the run is not the one asked for\n%s", successful, failed, sippCalls, tail(uacOut.String()))
	}
	mon.Flush()
	r := mon.Report()
	if r.LegsAnswered != successful || r.LegsAttempted != created {
		t.Errorf("legs answered/attempted = %d/%d, SIPp successful/created %d/%d", r.LegsAnswered, r.LegsAttempted, successful, created)
	}
	if r.PeakConcurrentLegs != sippLimit {
		t.Errorf("peak concurrent legs = %d, SIPp limit -l %d", r.PeakConcurrentLegs, sippLimit)
	}
	if r.Malformed != 0 || r.OrphanMessages != 0 {
		t.Errorf("malformed %d, orphans %d: want none from SIPp", r.Malformed, r.OrphanMessages)
	}
	// SIPp schedules its pause on a millisecond clock it reads once per loop, so a
	// 1000 ms pause measures as little as ~998.8 ms in capture time; 20 ms of
	// slack keeps the check about the leg's times, not about SIPp's timer.
	const sippClockSlack = 20 * time.Millisecond
	for _, l := range r.Legs {
		if got := l.End.Sub(*l.Answer); got < sippDuration*time.Millisecond-sippClockSlack {
			t.Errorf("leg %v lasted %v after its answer, SIPp holds calls %d ms", l.CallIDs, got, sippDuration)
		}
	}
}

// sippStats reads the last line of a SIPp -trace_stat CSV into counter values.
func sippStats(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("SIPp statistics: %v", err)
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("SIPp statistics %s: %v (%d rows)", path, err, len(rows))
	}
	head, last := rows[0], rows[len(rows)-1]
	out := map[string]int{}
	for i, name := range head {
		if i < len(last) {
			if n, err := strconv.Atoi(strings.TrimSpace(last[i])); err == nil {
				out[strings.TrimSpace(name)] = n
			}
		}
	}
	return out
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// waitUDPBound waits until a socket is bound to the loopback UDP port (SIPp's UAS
// is ready), watching /proc/net/udp rather than probing the port, which could
// steal it from SIPp.
func waitUDPBound(t *testing.T, ctx context.Context, port int) {
	t.Helper()
	want := fmt.Sprintf("0100007F:%04X ", port)
	for {
		b, err := os.ReadFile("/proc/net/udp")
		if err != nil {
			t.Fatalf("cannot tell when sipp is ready: %v", err)
		}
		if bytes.Contains(b, []byte(want)) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("sipp uas never bound its port")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
