package capture_test

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
	"github.com/licbridge/licbridge/sipmon/capture"
	"github.com/licbridge/licbridge/sipmon/capture/hep"
)

// feeder drives a Decoder with raw-IP frames, collecting what it delivers.
type feeder struct {
	t    testing.TB
	dec  *capture.Decoder
	msgs []string
	now  time.Time
}

func newFeeder(t testing.TB, opt capture.DecoderOptions) *feeder {
	f := &feeder{t: t, now: time.Unix(1795386427, 0)}
	f.dec = capture.NewDecoder("s", func(m *capture.Message) error {
		f.msgs = append(f.msgs, string(m.Payload))
		return nil
	}, opt)
	return f
}

func (f *feeder) ip(b []byte) {
	f.t.Helper()
	f.now = f.now.Add(time.Millisecond)
	if err := f.dec.Frame(capture.LinkRaw, b, f.now); err != nil {
		f.t.Fatal(err)
	}
}

var (
	cli = netip.MustParseAddrPort("10.0.0.1:40000")
	srv = netip.MustParseAddrPort("10.0.0.2:5060")
)

const (
	sdpBody = "v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\n" // 28 bytes
	sipBig  = "INVITE sip:+15550001@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:40000;branch=z9hG4bK1\r\n" +
		"Call-ID: tcp-1@10.0.0.1\r\nContent-Type: application/sdp\r\nContent-Length:   28\r\n\r\n" + sdpBody
	sipAck = "ACK sip:+15550001@10.0.0.2 SIP/2.0\r\nCall-ID: tcp-1@10.0.0.1\r\nl: 0\r\n\r\n"
	sipBye = "BYE sip:+15550001@10.0.0.2 SIP/2.0\r\nCall-ID: tcp-1@10.0.0.1\r\ncontent-LENGTH : 0\r\n\r\n"
)

func TestTCPReassembly(t *testing.T) {
	stream := sipBig + sipAck + sipBye
	type seg struct {
		off   int // offset into stream (relative sequence)
		n     int // bytes
		flags string
	}
	cases := []struct {
		name  string
		opt   capture.DecoderOptions
		syn   bool
		segs  []seg
		want  []string
		check func(t *testing.T, st capture.Stats)
	}{
		{name: "one segment, three messages", syn: true,
			segs: []seg{{0, len(stream), ""}}, want: []string{sipBig, sipAck, sipBye}},
		{name: "message over three segments cut inside a header and before the body", syn: true,
			segs: []seg{{0, 50, ""}, {50, len(sipBig) - len(sdpBody) - 50, ""}, {len(sipBig) - len(sdpBody), len(stream) - len(sipBig) + len(sdpBody), ""}},
			want: []string{sipBig, sipAck, sipBye}},
		{name: "byte by byte", syn: true, segs: func() []seg {
			var s []seg
			for i := range len(stream) {
				s = append(s, seg{i, 1, ""})
			}
			return s
		}(), want: []string{sipBig, sipAck, sipBye}},
		{name: "retransmission dropped", syn: true,
			segs: []seg{{0, 100, ""}, {0, 100, ""}, {100, len(stream) - 100, ""}, {100, len(stream) - 100, ""}},
			want: []string{sipBig, sipAck, sipBye},
			check: func(t *testing.T, st capture.Stats) {
				if st.TCPRetransmits != 2 {
					t.Errorf("TCPRetransmits = %d, want 2", st.TCPRetransmits)
				}
			}},
		{name: "overlap keeps only new bytes", syn: true,
			segs: []seg{{0, 100, ""}, {60, len(stream) - 60, ""}}, want: []string{sipBig, sipAck, sipBye}},
		{name: "no SYN: picked up at a message boundary",
			segs: []seg{{len(sipBig), len(stream) - len(sipBig), ""}}, want: []string{sipAck, sipBye}},
		{name: "no SYN: picked up mid-message resynchronises on the next start line",
			segs: []seg{{30, len(stream) - 30, ""}}, want: []string{sipAck, sipBye}},
		{name: "gap drops the partial message, later messages survive", syn: true,
			segs: []seg{{0, 40, ""}, {60, len(sipBig) - 60, ""}, {len(sipBig), len(stream) - len(sipBig), ""}},
			want: []string{sipAck, sipBye},
			check: func(t *testing.T, st capture.Stats) {
				if st.TCPGaps != 1 {
					t.Errorf("TCPGaps = %d, want 1", st.TCPGaps)
				}
			}},
		{name: "reordered segments are put back in order", syn: true,
			segs: []seg{{0, 50, ""}, {100, len(stream) - 100, ""}, {50, 50, ""}},
			want: []string{sipBig, sipAck, sipBye},
			check: func(t *testing.T, st capture.Stats) {
				if st.TCPGaps != 0 || st.TCPRetransmits != 0 {
					t.Errorf("stats %+v: want no gap, no retransmission", st)
				}
			}},
		{name: "hole never filled: given up at FIN, the messages behind it delivered", syn: true,
			segs: []seg{{0, 40, ""}, {len(sipBig), len(sipAck), ""}, {len(sipBig) + len(sipAck), len(sipBye), "F"}},
			want: []string{sipAck, sipBye}},
		{name: "hole given up when too many segments wait behind it", syn: true,
			segs: func() []seg {
				s := []seg{{0, 40, ""}}
				for i := len(sipBig); i < len(stream); i++ {
					s = append(s, seg{i, 1, ""})
				}
				return s
			}(),
			want: []string{sipAck, sipBye}},
		{name: "FIN with a partial message counts it incomplete", syn: true,
			segs: []seg{{0, len(sipBig) + 10, "F"}}, want: []string{sipBig},
			check: func(t *testing.T, st capture.Stats) {
				if st.TCPIncomplete != 1 {
					t.Errorf("TCPIncomplete = %d, want 1", st.TCPIncomplete)
				}
			}},
		{name: "buffer bound drops an oversized message", syn: true,
			opt:  capture.DecoderOptions{MaxStreamBuffer: 64},
			segs: []seg{{0, 60, ""}, {60, 60, ""}, {120, len(sipBig) - 120, ""}, {len(sipBig), len(stream) - len(sipBig), ""}},
			want: []string{sipAck, sipBye},
			check: func(t *testing.T, st capture.Stats) {
				if st.TCPOverflow == 0 {
					t.Errorf("TCPOverflow = 0, want > 0 (stats %+v)", st)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeeder(t, tc.opt)
			const isn = 0xfffffff0 // wraps around inside the stream
			if tc.syn {
				f.ip(ipTCP(t, cli, srv, isn, "S", nil))
			}
			for _, s := range tc.segs {
				f.ip(ipTCP(t, cli, srv, isn+1+uint32(s.off), s.flags, []byte(stream[s.off:s.off+s.n])))
			}
			if err := f.dec.Flush(); err != nil {
				t.Fatal(err)
			}
			if strings.Join(f.msgs, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %d messages %q\nwant %d %q", len(f.msgs), f.msgs, len(tc.want), tc.want)
			}
			if tc.check != nil {
				tc.check(t, f.dec.Stats())
			}
		})
	}
}

func TestTCPSegmentationOffloadLengthZero(t *testing.T) {
	// A large segment captured on the sender before TSO has IPv4 length 0.
	pkt := ipTCP(t, cli, srv, 1, "", []byte(sipBig+sipAck))
	pkt[2], pkt[3] = 0, 0
	f := newFeeder(t, capture.DecoderOptions{})
	f.ip(pkt)
	if len(f.msgs) != 2 {
		t.Errorf("got %d messages, want 2", len(f.msgs))
	}
}

func TestTCPStreamCap(t *testing.T) {
	f := newFeeder(t, capture.DecoderOptions{MaxStreams: 4})
	// 10 connections each leave half a message; the cap evicts the oldest.
	for i := range 10 {
		c := netip.AddrPortFrom(cli.Addr(), uint16(41000+i))
		f.ip(ipTCP(t, c, srv, 1, "", []byte(sipBig[:40])))
	}
	// The most recent connection still completes its message.
	last := netip.AddrPortFrom(cli.Addr(), 41009)
	f.ip(ipTCP(t, last, srv, 41, "", []byte(sipBig[40:])))
	st := f.dec.Stats()
	if st.TCPEvicted < 6 {
		t.Errorf("TCPEvicted = %d, want at least 6 of 10 with a cap of 4", st.TCPEvicted)
	}
	if len(f.msgs) != 1 || f.msgs[0] != sipBig {
		t.Errorf("got %q, want the last connection's message", f.msgs)
	}
}

func TestTCPTotalBufferBound(t *testing.T) {
	f := newFeeder(t, capture.DecoderOptions{MaxBufferedBytes: 200})
	// Each connection leaves 40 bytes of a message: past 200 bytes in all, the
	// oldest connections are evicted.
	for i := range 20 {
		c := netip.AddrPortFrom(cli.Addr(), uint16(42000+i))
		f.ip(ipTCP(t, c, srv, 1, "", []byte(sipBig[:40])))
	}
	last := netip.AddrPortFrom(cli.Addr(), 42019)
	f.ip(ipTCP(t, last, srv, 41, "", []byte(sipBig[40:])))
	st := f.dec.Stats()
	if st.TCPEvicted < 15 {
		t.Errorf("TCPEvicted = %d, want at least 15 of 20 with room for 5", st.TCPEvicted)
	}
	if len(f.msgs) != 1 || f.msgs[0] != sipBig {
		t.Errorf("got %q, want the last connection's message", f.msgs)
	}
}

func TestTCPIdleStreamsExpire(t *testing.T) {
	f := newFeeder(t, capture.DecoderOptions{StreamIdle: time.Second})
	f.ip(ipTCP(t, cli, srv, 1, "", []byte(sipBig[:40])))
	f.now = f.now.Add(5 * time.Second)
	other := netip.MustParseAddrPort("10.0.0.3:5060")
	f.ip(ipTCP(t, other, srv, 1, "", []byte(sipAck)))
	if st := f.dec.Stats(); st.TCPEvicted != 1 || st.TCPIncomplete != 1 {
		t.Errorf("stats %+v: want the idle stream evicted with its partial message", st)
	}
}

// realSIPStream returns SIP messages exactly as they were on the wire in real
// captures (SIPp over TCP in 11b, compact headers in 15), for the reassembly fuzz.
func realSIPStream(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, name := range []string{"11b_sip_over_tcp_segmented.pcap", "15_compact_headers_via_kamailio_to_baresip.pcap"} {
		if _, err := capture.ReadPaths(context.Background(), []capture.Input{{Sensor: "", Path: fixtures.Path(tb, "sip", name)}}, func(m *capture.Message) error {
			out = append(out, string(m.Payload))
			return nil
		}); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// FuzzTCPReassembly cuts a stream of real SIP messages into segments at places
// the fuzzer picks, retransmits some, swaps some neighbours, and checks that
// exactly the original messages come out, in order.
func FuzzTCPReassembly(f *testing.F) {
	msgs := realSIPStream(f)
	stream := strings.Join(msgs, "")
	f.Add(uint64(1), []byte{10, 200, 3})
	f.Add(uint64(7), []byte{1})
	f.Add(uint64(99), []byte{255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, seed uint64, cuts []byte) {
		r := rand.New(rand.NewPCG(seed, uint64(len(cuts))))
		fd := newFeeder(t, capture.DecoderOptions{})
		isn := r.Uint32()
		fd.ip(ipTCP(t, cli, srv, isn, "S", nil))
		var pkts [][]byte
		off, i := 0, 0
		for off < len(stream) {
			n := 1 + r.IntN(1500)
			if i < len(cuts) {
				n = 1 + int(cuts[i])*int(cuts[i])%3000
			}
			i++
			n = min(n, len(stream)-off)
			seg := []byte(stream[off : off+n])
			pkts = append(pkts, ipTCP(t, cli, srv, isn+1+uint32(off), "", seg))
			if r.IntN(8) == 0 { // a retransmission, possibly of a larger span
				back := r.IntN(off + 1)
				pkts = append(pkts, ipTCP(t, cli, srv, isn+1+uint32(back), "", []byte(stream[back:off+n])))
			}
			off += n
		}
		// Reorder: swap some neighbours, as a network may.
		for j := 0; j+1 < len(pkts); j++ {
			if r.IntN(6) == 0 {
				pkts[j], pkts[j+1] = pkts[j+1], pkts[j]
				j++
			}
		}
		for _, p := range pkts {
			fd.ip(p)
		}
		if err := fd.dec.Flush(); err != nil {
			t.Fatal(err)
		}
		if len(fd.msgs) != len(msgs) {
			t.Fatalf("got %d messages, want %d", len(fd.msgs), len(msgs))
		}
		for k := range msgs {
			if fd.msgs[k] != msgs[k] {
				t.Fatalf("message %d differs:\n got %q\nwant %q", k, fd.msgs[k], msgs[k])
			}
		}
	})
}

// TestTCPCarryingHEP: HEPv3 over TCP found inside a capture (heplify and Kamailio
// can send HEP over TCP) is framed by the HEP length field and decapsulated, even
// when a HEP message straddles segments.
func TestTCPCarryingHEP(t *testing.T) {
	var stream []byte
	var want []string
	for i, payload := range []string{sipBig, sipAck} {
		p := hep.Packet{Proto: hep.ProtoUDP, Src: netip.MustParseAddrPort("192.0.2.1:5060"), Dst: netip.MustParseAddrPort("192.0.2.2:5060"),
			Time: time.Unix(1795386427, int64(i)*1000), ProtoType: hep.ProtoTypeSIP, Payload: []byte(payload)}
		var err error
		if stream, err = hep.Append(stream, &p); err != nil {
			t.Fatal(err)
		}
		want = append(want, payload)
	}
	f := newFeeder(t, capture.DecoderOptions{})
	hepSrv := netip.MustParseAddrPort("10.0.0.9:9060")
	f.ip(ipTCP(t, cli, hepSrv, 100, "S", nil))
	cut := len(stream) / 3
	f.ip(ipTCP(t, cli, hepSrv, 101, "", stream[:cut]))
	f.ip(ipTCP(t, cli, hepSrv, 101+uint32(cut), "", stream[cut:]))
	if strings.Join(f.msgs, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", f.msgs, want)
	}
	if st := f.dec.Stats(); st.HEPMessages != 2 {
		t.Errorf("HEPMessages = %d, want 2", st.HEPMessages)
	}
}
