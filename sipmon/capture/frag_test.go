package capture_test

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/sipmon/capture"
)

// fragments splits an IPv4 packet built by gopacket into fragments whose payloads
// are at most size bytes (a multiple of 8), fixing each header's flags, offset,
// length and checksum.
func fragments(t *testing.T, pkt []byte, size int) [][]byte {
	t.Helper()
	ihl := int(pkt[0]&0x0f) * 4
	hdr, data := pkt[:ihl], pkt[ihl:]
	var out [][]byte
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		f := append(append([]byte(nil), hdr...), data[off:end]...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		fl := uint16(off / 8)
		if end < len(data) {
			fl |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], fl)
		f[10], f[11] = 0, 0
		var sum uint32
		for i := 0; i < ihl; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(f[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(f[10:], ^uint16(sum))
		out = append(out, f)
	}
	return out
}

func TestIPv4Fragments(t *testing.T) {
	big := "INVITE sip:+15550004444@10.0.0.2 SIP/2.0\r\nCall-ID: frag@x\r\nX-Pad: " + strings.Repeat("p", 3900) + "\r\nContent-Length: 0\r\n\r\n"
	a := netip.MustParseAddrPort("10.0.0.1:5060")
	b := netip.MustParseAddrPort("10.0.0.2:5060")
	pkt := ipUDP(t, a, b, []byte(big))
	frs := fragments(t, pkt, 1480)
	if len(frs) != 3 {
		t.Fatalf("%d fragments, want 3", len(frs))
	}
	other := ipUDP(t, b, a, []byte(sipOK))
	cases := []struct {
		name    string
		order   [][]byte
		want    []string
		dropped int
	}{
		{"in order", [][]byte{frs[0], frs[1], frs[2]}, []string{big}, 0},
		{"reversed, interleaved with other traffic", [][]byte{frs[2], other, frs[1], frs[0]}, []string{sipOK, big}, 0},
		{"duplicated fragment", [][]byte{frs[0], frs[0], frs[1], frs[2]}, []string{big}, 0},
		{"missing fragment: nothing, dropped at the end", [][]byte{frs[0], frs[2]}, nil, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeeder(t, capture.DecoderOptions{})
			for _, p := range tc.order {
				f.ip(p)
			}
			if err := f.dec.Flush(); err != nil {
				t.Fatal(err)
			}
			if strings.Join(f.msgs, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %d messages, want %d", len(f.msgs), len(tc.want))
			}
			st := f.dec.Stats()
			if st.FragmentsDropped != tc.dropped {
				t.Errorf("FragmentsDropped = %d, want %d", st.FragmentsDropped, tc.dropped)
			}
		})
	}
	t.Run("bounded pending datagrams", func(t *testing.T) {
		f := newFeeder(t, capture.DecoderOptions{MaxPendingDatagrams: 8})
		for i := range 100 { // 100 first fragments of different datagrams
			p := append([]byte(nil), frs[0]...)
			binary.BigEndian.PutUint16(p[4:], uint16(i))
			f.ip(p)
		}
		if st := f.dec.Stats(); st.FragmentsDropped != 92 {
			t.Errorf("FragmentsDropped = %d, want 92 (cap of 8 pending)", st.FragmentsDropped)
		}
	})
	t.Run("fragment beyond 64 KiB", func(t *testing.T) {
		f := newFeeder(t, capture.DecoderOptions{})
		p := append([]byte(nil), frs[1]...)
		binary.BigEndian.PutUint16(p[6:], 0x2000|8190) // offset 65520
		f.ip(p)
		if st := f.dec.Stats(); st.FragmentsDropped != 1 {
			t.Errorf("FragmentsDropped = %d, want 1", st.FragmentsDropped)
		}
	})
}

// fragments6 splits an IPv6 packet without extension headers into fragments with
// payloads of at most size bytes (a multiple of 8), as a sending host does.
func fragments6(t *testing.T, pkt []byte, size int, id uint32) [][]byte {
	t.Helper()
	hdr, data := pkt[:40], pkt[40:]
	next := hdr[6]
	var out [][]byte
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		f := append([]byte(nil), hdr...)
		f[6] = 44 // fragment header
		fh := make([]byte, 8)
		fh[0] = next
		of := uint16(off/8) << 3
		if end < len(data) {
			of |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], of)
		binary.BigEndian.PutUint32(fh[4:], id)
		f = append(append(f, fh...), data[off:end]...)
		binary.BigEndian.PutUint16(f[4:], uint16(len(f)-40))
		out = append(out, f)
	}
	return out
}

func TestIPv6Fragments(t *testing.T) {
	big := "INVITE sip:+15550004444@[2001:db8::2] SIP/2.0\r\nCall-ID: frag6@x\r\nX-Pad: " + strings.Repeat("q", 3000) + "\r\nContent-Length: 0\r\n\r\n"
	a := netip.MustParseAddrPort("[2001:db8::1]:5060")
	b := netip.MustParseAddrPort("[2001:db8::2]:5060")
	frs := fragments6(t, ipUDP(t, a, b, []byte(big)), 1232, 77)
	if len(frs) != 3 {
		t.Fatalf("%d fragments, want 3", len(frs))
	}
	for _, tc := range []struct {
		name  string
		order [][]byte
	}{
		{"in order", [][]byte{frs[0], frs[1], frs[2]}},
		{"reversed", [][]byte{frs[2], frs[1], frs[0]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeeder(t, capture.DecoderOptions{})
			for _, p := range tc.order {
				f.ip(p)
			}
			if len(f.msgs) != 1 || f.msgs[0] != big {
				t.Errorf("got %d messages, want the reassembled INVITE", len(f.msgs))
			}
			if st := f.dec.Stats(); st.Fragments != 3 || st.Reassembled != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
	t.Run("atomic fragment", func(t *testing.T) {
		f := newFeeder(t, capture.DecoderOptions{})
		f.ip(fragments6(t, ipUDP(t, a, b, []byte(sipOK)), 2000, 1)[0])
		if len(f.msgs) != 1 || f.msgs[0] != sipOK {
			t.Errorf("got %q", f.msgs)
		}
	})
}
