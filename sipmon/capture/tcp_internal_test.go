package capture

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// FuzzAssemblerBounds drives the TCP assembler with random segments (random
// connections, sequence numbers, flags, cuts of real-looking SIP) under small
// bounds, checking after every segment that the byte accounting is exact and the
// bounds hold.
func FuzzAssemblerBounds(f *testing.F) {
	f.Add(uint64(1), uint16(300), uint8(4))
	f.Add(uint64(42), uint16(2000), uint8(2))
	f.Fuzz(func(t *testing.T, seed uint64, maxTotal uint16, maxStreams uint8) {
		r := rand.New(rand.NewPCG(seed, 7))
		d := NewDecoder("", func(*Message) error { return nil }, DecoderOptions{
			MaxStreams: int(maxStreams%16) + 1, MaxStreamBuffer: 512, MaxBufferedBytes: int(maxTotal) + 1,
			StreamIdle: time.Second,
		})
		a := d.tcp
		msg := []byte("INVITE sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 10\r\n\r\n0123456789")
		now := time.Unix(1795386427, 0)
		seqs := map[uint16]uint32{}
		for range 300 {
			port := uint16(r.IntN(24))
			off := r.IntN(len(msg))
			n := r.IntN(len(msg) - off + 1)
			seg := segment{
				src:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), 40000+port),
				dst:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 2}), 5060),
				seq:   seqs[port],
				flags: uint8(r.IntN(8)) & (tcpFIN | tcpSYN | tcpRST) & uint8(r.IntN(2)*7),
				data:  msg[off : off+n],
				ts:    now,
			}
			switch r.IntN(5) {
			case 0: // a retransmission or overlap
			case 1: // ahead: a hole
				seqs[port] += uint32(n + r.IntN(50))
			default:
				seqs[port] += uint32(n)
			}
			now = now.Add(time.Duration(r.IntN(300)) * time.Millisecond)
			if err := a.segment(d, &seg); err != nil {
				t.Fatal(err)
			}
			sum := 0
			for _, st := range a.streams {
				held := 0
				for _, o := range st.ooo {
					held += len(o.data)
				}
				if held != st.oooBytes {
					t.Fatalf("stream accounts %d held bytes, holds %d", st.oooBytes, held)
				}
				sum += len(st.buf) + held
				if len(st.buf) > a.maxBuf || held > a.maxBuf || len(st.ooo) > maxOutOfOrder {
					t.Fatalf("stream holds %d + %d bytes in %d segments, bounds %d / %d", len(st.buf), held, len(st.ooo), a.maxBuf, maxOutOfOrder)
				}
			}
			if sum != a.buffered {
				t.Fatalf("accounted %d buffered bytes, streams hold %d", a.buffered, sum)
			}
			if a.buffered > a.maxTotal || len(a.streams) > a.maxStreams {
				t.Fatalf("%d bytes in %d streams exceed the bounds %d / %d", a.buffered, len(a.streams), a.maxTotal, a.maxStreams)
			}
		}
	})
}
