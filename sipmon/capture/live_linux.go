//go:build linux

package capture

import (
	"errors"
	"net"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/net/bpf"
)

// afpacketSource reads an AF_PACKET ring (TPACKET_V3) through gopacket's pure-Go
// afpacket package: no libpcap, no cgo.
type afpacketSource struct{ tp *afpacket.TPacket }

// Ring sizing: frames up to 64 KiB (loopback's MTU), 16 blocks of 1 MiB.
const (
	liveFrameSize = liveSnaplen
	liveBlockSize = 1 << 20
	liveNumBlocks = 16
	livePoll      = 100 * time.Millisecond
)

func openLive(iface string) (liveSource, linkType, error) {
	opts := []any{
		afpacket.OptFrameSize(liveFrameSize), afpacket.OptBlockSize(liveBlockSize),
		afpacket.OptNumBlocks(liveNumBlocks), afpacket.OptPollTimeout(livePoll),
		afpacket.OptBlockTimeout(10 * time.Millisecond),
	}
	link := linkEthernet
	if iface == "" || iface == "any" {
		// All interfaces: their link headers differ, so take packets cooked
		// (network layer first).
		opts = append(opts, afpacket.SocketDgram)
		link = linkRaw
	} else {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return nil, 0, err
		}
		opts = append(opts, afpacket.OptInterface(iface))
		// Ethernet and loopback interfaces give Ethernet frames; others (tun,
		// ppp, ...) are read cooked.
		if ifc.Flags&net.FlagLoopback == 0 && len(ifc.HardwareAddr) != 6 {
			opts = append(opts, afpacket.SocketDgram)
			link = linkRaw
		}
	}
	tp, err := afpacket.NewTPacket(opts...)
	if err != nil {
		return nil, 0, err
	}
	return &afpacketSource{tp: tp}, link, nil
}

func (s *afpacketSource) next() ([]byte, time.Time, error) {
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	if errors.Is(err, afpacket.ErrTimeout) {
		return nil, time.Time{}, errLiveTimeout
	}
	return data, ci.Timestamp, err
}

func (s *afpacketSource) setBPF(prog []bpf.RawInstruction) error { return s.tp.SetBPF(prog) }

func (s *afpacketSource) close() { s.tp.Close() }
