package pcaptest

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Datagram is one UDP payload from a capture, with its addresses and time.
type Datagram struct {
	Time     time.Time
	Src, Dst *net.UDPAddr
	Payload  []byte
}

// UDPPayloads reads a classic pcap with pcapgo and returns its UDP datagrams as
// gopacket decodes them (unfragmented ones only).
func UDPPayloads(tb testing.TB, path string) []Datagram {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var out []Datagram
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil {
			continue
		}
		var src, dst net.IP
		switch ip := p.NetworkLayer().(type) {
		case *layers.IPv4:
			src, dst = ip.SrcIP, ip.DstIP
		case *layers.IPv6:
			src, dst = ip.SrcIP, ip.DstIP
		}
		out = append(out, Datagram{
			Time:    ci.Timestamp,
			Src:     &net.UDPAddr{IP: src, Port: int(udp.SrcPort)},
			Dst:     &net.UDPAddr{IP: dst, Port: int(udp.DstPort)},
			Payload: append([]byte(nil), udp.Payload...),
		})
	}
}

// Serialize builds a packet from gopacket layers, computing lengths and checksums.
func Serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, l := range ls {
		if n, ok := l.(gopacket.NetworkLayer); ok {
			for _, t := range ls {
				switch tr := t.(type) {
				case *layers.UDP:
					_ = tr.SetNetworkLayerForChecksum(n)
				case *layers.TCP:
					_ = tr.SetNetworkLayerForChecksum(n)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}
