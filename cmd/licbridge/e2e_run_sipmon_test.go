package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture/hep"
)

// TestE2ERunSIPMonitor runs the built daemon with its built-in SIP side
// monitor receiving HEP, sends it the HEPv3 datagrams Asterisk's res_hep sent
// for a G.729 call relayed as a B2BUA (fixture B), and reads the node's own
// view through the admin API: while both legs are up the G.729 legs on the
// wire are the manifest's, nothing is admitted and the 14-day peak (admitted
// use) stays 0; after the BYEs the wire count goes back to 0.
func TestE2ERunSIPMonitor(t *testing.T) {
	const file = "B_g729_passthrough_via_asterisk_hep.pcap"
	entry := manifestFile(t, []string{"sip", "asterisk"}, file)
	expected := entry["expected"].(map[string]any)
	wantG729 := 0
	for _, c := range expected["codec"].(map[string]any) {
		if c == "G729" {
			wantG729++
		}
	}
	if wantG729 == 0 {
		t.Fatalf("%s: the manifest names no G.729 leg", file)
	}
	all := hepDatagrams(t, fixtures.Path(t, "sip", "asterisk", file))
	firstBye := -1
	for i, d := range all {
		var p hep.Packet
		if err := hep.Decode(d, &p); err != nil {
			t.Fatalf("fixture datagram %d: %v", i, err)
		}
		if bytes.HasPrefix(p.Payload, []byte("BYE ")) {
			firstBye = i
			break
		}
	}
	if firstBye <= 0 {
		t.Fatalf("%s: no datagram before a BYE", file)
	}

	k := newKeyring(t)
	k.add(t, "G729-TEN", "g729", 10)
	addr := freePort(t)
	d := startDaemon(t, k, "--no-asterisk", "--sipmon-hep", addr, "--sipmon-interval", "20ms")
	if in := d.readyLine["sipmon"]; in == nil || !strings.Contains(in.(string), "HEP udp "+addr) {
		t.Errorf("the ready line names the monitor's inputs as %v, want HEP udp %s", in, addr)
	}
	// A live monitor publishes 0 before it has seen anything: "none on the
	// wire" is news, unlike no monitor at all (observed_legs absent).
	d.waitUsage(t, "g729", "a wire count of 0", func(u productUse) bool { return u.ObservedLegs != nil && *u.ObservedLegs == 0 })

	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(ds [][]byte) {
		for _, dg := range ds {
			if _, err := conn.Write(dg); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(all[:firstBye])
	u := d.waitUsage(t, "g729", "the legs up on the wire", func(u productUse) bool {
		return u.ObservedLegs != nil && *u.ObservedLegs == wantG729
	})
	if u.InUse != 0 || u.Total != 10 || u.Peak14d != 0 {
		t.Errorf("with %d G.729 legs on the wire: %+v; want nothing admitted, a total of 10, no 14-day peak", wantG729, u)
	}
	send(all[firstBye:])
	d.waitUsage(t, "g729", "the legs gone from the wire", func(u productUse) bool { return u.ObservedLegs != nil && *u.ObservedLegs == 0 })

	resp, err := apiClient.Get("http://" + d.http + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rd struct {
		Ready      bool `json:"ready"`
		Components []struct {
			Name, Detail string
			OK           bool
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rd); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range rd.Components {
		if c.Name == "sipmon" {
			found = true
			if !c.OK || !strings.Contains(c.Detail, "HEP tcp "+addr) {
				t.Errorf("readyz sipmon component %+v, want OK with its inputs", c)
			}
		}
	}
	if !found || !rd.Ready || resp.StatusCode != 200 {
		t.Errorf("readyz: status %d, %+v; want ready with a sipmon component", resp.StatusCode, rd)
	}
}

// TestRunSIPMonitorStartErrors checks that an input the built-in monitor
// cannot open stops the start with an error that names it.
func TestRunSIPMonitorStartErrors(t *testing.T) {
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	k := newKeyring(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"HEP port taken", []string{"--sipmon-hep", taken.LocalAddr().String()}, "sipmon HEP udp " + taken.LocalAddr().String()},
		{"no such interface", []string{"--sipmon-interface", "nosuch0"}, "sipmon interface nosuch0"},
		{"filter without interface", []string{"--sipmon-filter", "port 5060"}, "sipmon filter: set without an interface"},
		{"bad interval", []string{"--sipmon-hep", "127.0.0.1:0", "--sipmon-interval", "-1s"}, "--sipmon-interval -1s: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--no-asterisk", "--agi-listen", "127.0.0.1:0", "--http-listen", "off",
				"--state-dir", t.TempDir(), "--no-default-dirs", "--licenses-dir", k.dir, "--issuer-pub", k.pub}, tc.args...)
			cmd := exec.Command(licbridgeBin(t), args...)
			cmd.Env = cleanEnv()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("run started with %v:\n%s", tc.args, stderr.String())
				}
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("run with %v did not stop:\n%s", tc.args, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}
