package capture_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/licbridge/licbridge/internal/testkit/pcaptest"
	"github.com/licbridge/licbridge/sipmon/capture"
	"github.com/licbridge/licbridge/sipmon/capture/hep"
)

const (
	sipInvite = "INVITE sip:+15550001@10.0.0.2 SIP/2.0\r\nCall-ID: a@b\r\nContent-Length: 4\r\n\r\nv=0\n"
	sipOK     = "SIP/2.0 200 OK\r\ni: a@b\r\nl:   0\r\n\r\n"
)

var (
	v4a = netip.MustParseAddr("10.0.0.1")
	v4b = netip.MustParseAddr("10.0.0.2")
	v6a = netip.MustParseAddr("2001:db8::1")
	v6b = netip.MustParseAddr("2001:db8::2")
)

// ipUDP builds an IPv4 or IPv6 UDP packet with gopacket's serialization layers.
func ipUDP(t testing.TB, src, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	return pcaptest.Serialize(t, ipLayer(src.Addr(), dst.Addr(), layers.IPProtocolUDP), udp, gopacket.Payload(payload))
}

// ipTCP builds a TCP segment (ACK|PSH, plus extra flags) with gopacket.
func ipTCP(t testing.TB, src, dst netip.AddrPort, seq uint32, flags string, payload []byte) []byte {
	t.Helper()
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, ACK: true, PSH: len(payload) > 0, Window: 65535}
	for _, f := range flags {
		switch f {
		case 'S':
			tcp.SYN, tcp.ACK = true, false
		case 'F':
			tcp.FIN = true
		case 'R':
			tcp.RST = true
		}
	}
	return pcaptest.Serialize(t, ipLayer(src.Addr(), dst.Addr(), layers.IPProtocolTCP), tcp, gopacket.Payload(payload))
}

func ipLayer(src, dst netip.Addr, proto layers.IPProtocol) gopacket.SerializableLayer {
	if src.Is4() {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, Id: 1,
			SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
}

// link wraps an IP packet in a link-layer header. Ethernet and 802.1Q tags are
// built by gopacket; the Linux cooked and BSD loopback headers by hand, checked
// by decoding them back with gopacket (TestLinkHeadersDecodeWithGopacket).
type link struct {
	name string
	typ  layers.LinkType
	wrap func(t testing.TB, ip []byte) []byte
}

func etherType(ip []byte) layers.EthernetType {
	if ip[0]>>4 == 6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

var links = []link{
	{"ethernet", layers.LinkTypeEthernet, func(t testing.TB, ip []byte) []byte {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: etherType(ip)}
		return pcaptest.Serialize(t, eth, gopacket.Payload(ip))
	}},
	{"vlan", layers.LinkTypeEthernet, func(t testing.TB, ip []byte) []byte {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: layers.EthernetTypeDot1Q}
		return pcaptest.Serialize(t, eth, &layers.Dot1Q{VLANIdentifier: 42, Type: etherType(ip)}, gopacket.Payload(ip))
	}},
	{"qinq", layers.LinkTypeEthernet, func(t testing.TB, ip []byte) []byte {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: layers.EthernetTypeQinQ}
		return pcaptest.Serialize(t, eth, &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 42, Type: etherType(ip)}, gopacket.Payload(ip))
	}},
	{"linux_sll", layers.LinkTypeLinuxSLL, func(_ testing.TB, ip []byte) []byte {
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 0)   // packet to us
		binary.BigEndian.PutUint16(h[2:], 772) // ARPHRD_LOOPBACK
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], uint16(etherType(ip)))
		return append(h, ip...)
	}},
	{"linux_sll2", layers.LinkTypeLinuxSLL2, func(_ testing.TB, ip []byte) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], uint16(etherType(ip)))
		binary.BigEndian.PutUint32(h[4:], 1)   // interface index
		binary.BigEndian.PutUint16(h[8:], 772) // ARPHRD_LOOPBACK
		h[10], h[11] = 0, 6
		return append(h, ip...)
	}},
	{"raw_101", layers.LinkTypeRaw, func(_ testing.TB, ip []byte) []byte { return ip }},
	{"raw_12", layers.LinkType(12), func(_ testing.TB, ip []byte) []byte { return ip }},
	{"null", layers.LinkTypeNull, func(_ testing.TB, ip []byte) []byte {
		fam := uint32(2)
		if ip[0]>>4 == 6 {
			fam = 30 // AF_INET6 on macOS
		}
		return append(binary.LittleEndian.AppendUint32(nil, fam), ip...)
	}},
	{"loop", layers.LinkTypeLoop, func(_ testing.TB, ip []byte) []byte {
		fam := uint32(2)
		if ip[0]>>4 == 6 {
			fam = 24
		}
		return append(binary.BigEndian.AppendUint32(nil, fam), ip...)
	}},
}

// sample is the synthetic traffic every format test writes and expects back.
type sample struct {
	ips  [][]byte
	want []got
}

func makeSample(t testing.TB, base time.Time) sample {
	var s sample
	add := func(ip []byte) { s.ips = append(s.ips, ip) }
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Millisecond) }
	a := netip.AddrPortFrom(v4a, 5060)
	b := netip.AddrPortFrom(v4b, 5070)
	a6 := netip.AddrPortFrom(v6a, 5062)
	b6 := netip.AddrPortFrom(v6b, 5064)

	add(ipUDP(t, a, b, []byte(sipInvite)))
	s.want = append(s.want, got{a.String(), b.String(), capture.UDP, false, at(0), sipInvite, "s"})
	add(ipUDP(t, b6, a6, []byte(sipOK)))
	s.want = append(s.want, got{b6.String(), a6.String(), capture.UDP, false, at(1), sipOK, "s"})
	add(ipUDP(t, a, b, []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xd5, 0xd5})) // RTP: skipped
	inner := hep.Packet{Proto: hep.ProtoTCP, Src: netip.MustParseAddrPort("192.0.2.1:5061"), Dst: netip.MustParseAddrPort("192.0.2.2:5061"),
		Time: base.Add(-time.Second), ProtoType: hep.ProtoTypeSIP, CaptureID: 9, Payload: []byte(sipInvite)}
	hb, err := hep.Append(nil, &inner)
	if err != nil {
		t.Fatal(err)
	}
	add(ipUDP(t, a, netip.AddrPortFrom(v4b, 9060), hb))
	s.want = append(s.want, got{"192.0.2.1:5061", "192.0.2.2:5061", capture.TCP, true, inner.Time, sipInvite, "s"})
	// Two messages in one TCP segment (picked up mid-connection: no SYN).
	add(ipTCP(t, a6, b6, 1000, "", []byte(sipInvite+sipOK)))
	s.want = append(s.want,
		got{a6.String(), b6.String(), capture.TCP, false, at(4), sipInvite, "s"},
		got{a6.String(), b6.String(), capture.TCP, false, at(4), sipOK, "s"})
	return s
}

type format struct {
	name  string
	nanos bool
	write func(t testing.TB, path string, lt layers.LinkType, frames [][]byte, ts []time.Time)
}

func gzipFile(t testing.TB, path string, inner func(string)) {
	tmp := path + ".plain"
	inner(tmp)
	raw, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(raw)
	zw.Close()
	// The name says nothing: detection is by content.
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(tmp)
}

func writePcap(nanos bool) func(t testing.TB, path string, lt layers.LinkType, frames [][]byte, ts []time.Time) {
	return func(t testing.TB, path string, lt layers.LinkType, frames [][]byte, ts []time.Time) {
		var b bytes.Buffer
		w := pcapgo.NewWriter(&b)
		if nanos {
			w = pcapgo.NewWriterNanos(&b)
		}
		if err := w.WriteFileHeader(65535, lt); err != nil {
			t.Fatal(err)
		}
		for i, f := range frames {
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts[i], CaptureLength: len(f), Length: len(f)}, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// writePcapBigEndian writes a classic pcap in big-endian byte order (as written on
// SPARC or PowerPC), which pcapgo's writer does not produce.
func writePcapBigEndian(t testing.TB, path string, lt layers.LinkType, frames [][]byte, ts []time.Time) {
	be := binary.BigEndian
	b := be.AppendUint32(nil, 0xa1b2c3d4)
	b = be.AppendUint16(b, 2)
	b = be.AppendUint16(b, 4)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, 65535)
	b = be.AppendUint32(b, uint32(lt))
	for i, f := range frames {
		b = be.AppendUint32(b, uint32(ts[i].Unix()))
		b = be.AppendUint32(b, uint32(ts[i].Nanosecond()/1000))
		b = be.AppendUint32(b, uint32(len(f)))
		b = be.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writePcapng(t testing.TB, path string, lt layers.LinkType, frames [][]byte, ts []time.Time) {
	var b bytes.Buffer
	// Two interfaces, the packets on the second: the link type is per interface.
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "dummy", LinkType: layers.LinkTypeNull, SnapLength: 65535, TimestampResolution: 9}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := w.AddInterface(pcapgo.NgInterface{Name: "cap0", LinkType: lt, SnapLength: 65535, TimestampResolution: 9})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts[i], CaptureLength: len(f), Length: len(f), InterfaceIndex: id}, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writePcapngOneInterface writes pcapng as dumpcap and Wireshark do: one
// interface, index 0, which carries the packets.
func writePcapngOneInterface(t testing.TB, path string, lt layers.LinkType, frames [][]byte, ts []time.Time) {
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "eth0", LinkType: lt, SnapLength: 262144, TimestampResolution: 9}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts[i], CaptureLength: len(f), Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

var formats = []format{
	{"pcap_usec", false, writePcap(false)},
	{"pcap_nsec", true, writePcap(true)},
	{"pcap_big_endian", false, writePcapBigEndian},
	{"pcapng", true, writePcapng},
	{"pcap_gzip", false, func(t testing.TB, path string, lt layers.LinkType, frames [][]byte, ts []time.Time) {
		gzipFile(t, path, func(p string) { writePcap(false)(t, p, lt, frames, ts) })
	}},
	{"pcapng_gzip", true, func(t testing.TB, path string, lt layers.LinkType, frames [][]byte, ts []time.Time) {
		gzipFile(t, path, func(p string) { writePcapng(t, p, lt, frames, ts) })
	}},
	// Packets on interface 0: every packet was taken for BSD loopback (the
	// link type pcapgo reports when it reads interfaces as they come).
	{"pcapng_one_interface", true, writePcapngOneInterface},
}

// TestFormatsAndLinks writes the same synthetic traffic (IPv4 and IPv6 UDP SIP,
// RTP, HEP inside UDP, two SIP messages in one TCP segment) in every file format
// and link type and checks that exactly the same messages come back, with their
// times at the file's resolution.
func TestFormatsAndLinks(t *testing.T) {
	base := time.Unix(1795386427, 123456789)
	dir := t.TempDir()
	for _, f := range formats {
		for _, l := range links {
			t.Run(f.name+"/"+l.name, func(t *testing.T) {
				s := makeSample(t, base)
				var frames [][]byte
				var ts []time.Time
				for i, ip := range s.ips {
					frames = append(frames, l.wrap(t, ip))
					ts = append(ts, base.Add(time.Duration(i)*time.Millisecond))
				}
				path := filepath.Join(dir, f.name+"_"+l.name)
				f.write(t, path, l.typ, frames, ts)
				var all []got
				st, err := capture.ReadPaths(context.Background(), []capture.Input{{Sensor: "s", Path: path}}, func(m *capture.Message) error {
					all = append(all, copyMsg(m))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(all) != len(s.want) {
					t.Fatalf("got %d messages, want %d: %+v (stats %+v)", len(all), len(s.want), all, st)
				}
				for i := range s.want {
					w := s.want[i]
					if !f.nanos || w.hep { // HEP carries microseconds
						w.time = w.time.Truncate(time.Microsecond)
					}
					if all[i].time.Equal(w.time) {
						all[i].time = w.time // compare instants, not locations
					}
					if all[i] != w {
						t.Errorf("message %d:\n got %+v\nwant %+v", i, all[i], w)
					}
				}
				if st.NotSIP != 1 || st.Packets != len(frames) || st.HEPMessages != 1 {
					t.Errorf("stats %+v: want 1 not-SIP, %d packets, 1 HEP", st, len(frames))
				}
			})
		}
	}
}

// TestLinkHeadersDecodeWithGopacket checks the hand-built link headers of the
// tests against gopacket's own decoders, so the format test is not checking the
// decoder against itself.
func TestLinkHeadersDecodeWithGopacket(t *testing.T) {
	ip := ipUDP(t, netip.AddrPortFrom(v4a, 5060), netip.AddrPortFrom(v4b, 5060), []byte(sipOK))
	for _, l := range links {
		if l.typ == layers.LinkType(12) {
			continue // gopacket has no decoder registered for 12
		}
		t.Run(l.name, func(t *testing.T) {
			p := gopacket.NewPacket(l.wrap(t, ip), l.typ, gopacket.Default)
			udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if udp == nil || string(udp.Payload) != sipOK {
				t.Errorf("gopacket does not find the UDP payload: %v", p)
			}
		})
	}
}
