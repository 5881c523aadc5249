//go:build linux

package capture_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture"
)

// freeUDPPort finds a free UDP port on 127.0.0.1 for SIPp to bind.
func freeUDPPort(t *testing.T) int {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

var sippSent = regexp.MustCompile(`(?m)^UDP message sent`)

// TestReadLiveSIPp captures a real SIPp run on lo (SIPp's built-in uac and uas
// scenarios, several calls) and checks that every SIP message SIPp says it sent
// (its -trace_msg logs, retransmissions included) is captured exactly once, with
// the number of Call-IDs SIPp was told to make.
func TestReadLiveSIPp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (CAP_NET_RAW)")
	}
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp (Debian package sip-tester) is not installed")
	}
	const calls = 5
	dir := t.TempDir()
	uasPort, uacPort := freeUDPPort(t), freeUDPPort(t)
	ports := map[uint16]bool{uint16(uasPort): true, uint16(uacPort): true}

	msgs := make(chan string, 1024)
	live, err := capture.NewLive("lo", "", "sipp", func(m *capture.Message) error {
		if ports[m.Src.Port()] && ports[m.Dst.Port()] {
			msgs <- string(m.Payload)
		}
		return nil
	}, capture.LiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- live.Run(ctx) }()

	uasLog, uacLog := filepath.Join(dir, "uas.log"), filepath.Join(dir, "uac.log")
	uas := exec.CommandContext(ctx, sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-m", strconv.Itoa(calls), "-nostdin", "-trace_msg", "-message_file", uasLog)
	uas.Dir = dir
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	// The UAC retransmits its INVITE until the UAS answers, so it needs no wait
	// for the UAS to be up.
	uac := exec.CommandContext(ctx, sipp, "-sn", "uac", "127.0.0.1:"+strconv.Itoa(uasPort),
		"-i", "127.0.0.1", "-p", strconv.Itoa(uacPort), "-m", strconv.Itoa(calls), "-r", "20",
		"-nostdin", "-trace_msg", "-message_file", uacLog, "-timeout", "20s")
	uac.Dir = dir
	if out, err := uac.CombinedOutput(); err != nil {
		t.Fatalf("sipp uac: %v\n%s", err, out)
	}
	// The UAS exits by itself after its last call, once its message log is
	// flushed: killing it could lose the log's tail (seen under load).
	uasDone := make(chan error, 1)
	go func() { uasDone <- uas.Wait() }()
	select {
	case err := <-uasDone:
		if err != nil {
			t.Fatalf("sipp uas: %v", err)
		}
	case <-time.After(20 * time.Second):
		uas.Process.Kill()
		t.Fatal("sipp uas did not finish its calls")
	}

	want := 0
	for _, p := range []string{uasLog, uacLog} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want += len(sippSent.FindAll(b, -1))
	}
	if want < calls*6 {
		t.Fatalf("SIPp logs show %d messages sent for %d calls", want, calls)
	}
	var got []string
	for len(got) < want {
		select {
		case m := <-msgs:
			got = append(got, m)
		case <-time.After(10 * time.Second):
			t.Fatalf("captured %d of the %d messages SIPp sent", len(got), want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(msgs)
	for m := range msgs {
		got = append(got, m)
	}
	if len(got) != want {
		t.Errorf("captured %d messages, SIPp sent %d", len(got), want)
	}
	callIDs := map[string]bool{}
	for _, m := range got {
		if mm := callIDRe.FindStringSubmatch(m); mm != nil {
			callIDs[mm[1]] = true
		}
	}
	if len(callIDs) != calls {
		t.Errorf("%d Call-IDs captured, SIPp made %d calls", len(callIDs), calls)
	}
}

var callIDRe = regexp.MustCompile(`(?mi)^(?:call-id|i)[ \t]*:[ \t]*(\S+)\r?$`)
