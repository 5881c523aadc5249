package capture_test

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
)

var fuzzLinks = []capture.LinkType{capture.LinkEthernet, capture.LinkLinuxSLL, capture.LinkSLL2, capture.LinkRaw, capture.LinkNull, capture.LinkLoop}

// FuzzFrame feeds arbitrary frames (seeded with every frame of the hostile,
// fragmented, TCP, HEP, IPv6 and Linux-cooked fixtures) to the decoder under each
// link type, twice (as a retransmission would): it must never panic, and whatever
// it delivers must carry addresses and look like SIP.
func FuzzFrame(f *testing.F) {
	for _, name := range []string{"11a_hostile_udp_malformed.pcap", "11b_sip_over_tcp_segmented.pcap",
		"12b_hep3_plus_raw_sip.pcap", "14_ipv6_basic_call.pcap", "01b_basic_call_sipp_pcma_linux_sll.pcap"} {
		fh, err := os.Open(fixtures.Path(f, "sip", name))
		if err != nil {
			f.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			f.Fatal(err)
		}
		link := byte(0)
		if r.LinkType() == 113 {
			link = 1
		}
		for {
			data, _, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Fatal(err)
			}
			if len(data) <= 2000 { // the big hostile ones add little but slow the fuzzer
				f.Add(link, data)
			}
		}
		fh.Close()
	}
	f.Fuzz(func(t *testing.T, link byte, data []byte) {
		dec := capture.NewDecoder("f", func(m *capture.Message) error {
			if !m.Src.IsValid() || !m.Dst.IsValid() {
				t.Fatalf("message without addresses: %+v", m)
			}
			if !capture.LooksLikeSIP(m.Payload) {
				t.Fatalf("delivered a non-SIP payload %q", m.Payload)
			}
			return nil
		}, capture.DecoderOptions{})
		lt := fuzzLinks[int(link)%len(fuzzLinks)]
		now := time.Unix(1795386427, 0)
		for range 2 {
			if err := dec.Frame(lt, data, now); err != nil {
				t.Fatal(err)
			}
		}
		if err := dec.Flush(); err != nil {
			t.Fatal(err)
		}
	})
}
