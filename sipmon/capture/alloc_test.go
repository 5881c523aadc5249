package capture_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture"
	"github.com/licbridge/licbridge/sipmon/capture/hep"
)

// TestNoAllocsPerPacket checks the claim that the per-packet path does not
// allocate once warmed up: UDP SIP, RTP, HEP in UDP, and TCP segments carrying
// whole messages or halves of one.
func TestNoAllocsPerPacket(t *testing.T) {
	const runs = 200
	a, b := netip.MustParseAddrPort("10.0.0.1:5060"), netip.MustParseAddrPort("10.0.0.2:5060")
	inner := hep.Packet{Proto: hep.ProtoUDP, Src: a, Dst: b, Time: time.Unix(1795386427, 0), ProtoType: hep.ProtoTypeSIP, Payload: []byte(sipInvite)}
	hb, err := hep.Append(nil, &inner)
	if err != nil {
		t.Fatal(err)
	}
	eth := links[0]
	cases := []struct {
		name   string
		frames func() [][]byte
	}{
		{"udp sip", func() [][]byte { return [][]byte{eth.wrap(t, ipUDP(t, a, b, []byte(sipInvite)))} }},
		{"udp rtp", func() [][]byte { return [][]byte{eth.wrap(t, ipUDP(t, a, b, []byte("\x80\x00\x00\x01rtp-payload")))} }},
		{"hep in udp", func() [][]byte {
			return [][]byte{eth.wrap(t, ipUDP(t, a, netip.MustParseAddrPort("10.0.0.3:9060"), hb))}
		}},
		{"tcp whole messages", func() [][]byte {
			var fs [][]byte
			seq := uint32(1)
			for range runs + 2 {
				fs = append(fs, eth.wrap(t, ipTCP(t, a, b, seq, "", []byte(sipBig))))
				seq += uint32(len(sipBig))
			}
			return fs
		}},
		{"tcp halves", func() [][]byte {
			var fs [][]byte
			seq := uint32(1)
			half := len(sipBig) / 2
			for range runs/2 + 2 {
				fs = append(fs, eth.wrap(t, ipTCP(t, a, b, seq, "", []byte(sipBig[:half]))))
				fs = append(fs, eth.wrap(t, ipTCP(t, a, b, seq+uint32(half), "", []byte(sipBig[half:]))))
				seq += uint32(len(sipBig))
			}
			return fs
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frames := tc.frames()
			delivered := 0
			// A filter that keeps everything, to cover its cost too.
			flt, err := capture.ParseFilter("udp or tcp port 5060 or not ip6")
			if err != nil {
				t.Fatal(err)
			}
			dec := capture.NewDecoder("s", func(*capture.Message) error { delivered++; return nil }, capture.DecoderOptions{Filter: flt})
			now := time.Unix(1795386427, 0)
			i := 0
			next := func() {
				f := frames[min(i, len(frames)-1)] // UDP cases repeat their one frame
				i++
				if err := dec.Frame(capture.LinkEthernet, f, now); err != nil {
					t.Fatal(err)
				}
			}
			next() // warm up: the first TCP segment opens the stream
			next()
			if n := testing.AllocsPerRun(runs-10, next); n != 0 {
				t.Errorf("%.2f allocations per packet, want 0", n)
			}
			if tc.name != "udp rtp" && delivered == 0 {
				t.Error("nothing delivered")
			}
		})
	}
}
