package capture

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/licbridge/licbridge/sipmon/capture/hep"
)

// linkType is a pcap link-layer header type (LINKTYPE_* numbers).
type linkType uint16

// Link types the decoder understands.
const (
	linkNull     linkType = 0   // BSD loopback, host-order family
	linkEthernet linkType = 1   // Ethernet II, with 802.1Q / QinQ tags
	linkRawAlt12 linkType = 12  // DLT_RAW on some systems
	linkRawAlt14 linkType = 14  // DLT_RAW on others
	linkRaw      linkType = 101 // raw IPv4 or IPv6
	linkLoop     linkType = 108 // OpenBSD loopback, network-order family
	linkLinuxSLL linkType = 113 // Linux cooked capture v1
	linkIPv4     linkType = 228
	linkIPv6     linkType = 229
	linkSLL2     linkType = 276 // Linux cooked capture v2
)

const (
	etherTypeIPv4    = 0x0800
	etherTypeIPv6    = 0x86dd
	etherType8021Q   = 0x8100
	etherType8021AD  = 0x88a8
	etherTypeQinQOld = 0x9100
	maxVLANTags      = 4

	ipProtoTCP = 6
	ipProtoUDP = 17
)

// decoder turns link-layer frames into SIP messages for one input (one sensor). It
// keeps the state that spans packets: IP fragments being reassembled and TCP
// streams. It is not safe for concurrent use; all its buffers are reused, so the
// per-packet path does not allocate.
type decoder struct {
	sensor string
	// file and frame locate the current record for Message.File and Frame; a file
	// reader sets them (fileFrame true), otherwise frame follows Packets.
	file      string
	frame     int
	fileFrame bool
	h         Handler
	stats     Stats
	msg       Message
	hepPkt    hep.Packet
	frags     *defragmenter
	tcp       *assembler
	filter    *Filter
	fp        filterPacket // reused: a stack value would escape through the filter
}

// DecoderOptions bound the memory a decoder may hold. A zero field means its
// default.
type DecoderOptions struct {
	// MaxStreams caps the TCP streams tracked at once (default 16384); past it the
	// least recently active are evicted.
	MaxStreams int
	// MaxStreamBuffer caps the bytes buffered per TCP stream direction while a
	// message is incomplete (default 256 KiB).
	MaxStreamBuffer int
	// MaxBufferedBytes caps the bytes buffered across all TCP streams (default
	// 64 MiB); past it the least recently active streams are evicted.
	MaxBufferedBytes int
	// StreamIdle evicts TCP streams silent for this long in capture time
	// (default 5 minutes).
	StreamIdle time.Duration
	// MaxPendingDatagrams caps IPv4 datagrams being reassembled (default 256,
	// each holding up to 64 KiB).
	MaxPendingDatagrams int
	// FragmentTimeout gives up a datagram whose fragments have not all arrived
	// within this capture time (default 30 s, as Linux's ipfrag_time).
	FragmentTimeout time.Duration
	// Filter, when set, keeps only the UDP and TCP packets it matches (counted
	// in Stats.Filtered otherwise). Default: all.
	Filter *Filter
}

// newDecoder returns a decoder that hands the messages it finds to h, tagged with
// sensor.
func newDecoder(sensor string, h Handler, opt DecoderOptions) *decoder {
	d := &decoder{sensor: sensor, h: h, filter: opt.Filter}
	d.frags = newDefragmenter(opt.MaxPendingDatagrams, opt.FragmentTimeout)
	d.tcp = newAssembler(opt.MaxStreams, opt.MaxStreamBuffer, opt.MaxBufferedBytes, opt.StreamIdle)
	return d
}

// Stats returns the counts so far.
func (d *decoder) Stats() Stats { return d.stats }

// Flush ends every TCP stream, delivering the messages still held behind a hole
// and counting partial ones, and drops pending fragments; call it at the end of
// the input. The error is the handler's.
func (d *decoder) Flush() error {
	d.stats.FragmentsDropped += d.frags.reset()
	return d.tcp.flush(d)
}

// Frame decodes one captured frame of the given link type and delivers the SIP
// messages it completes. A frame that is not SIP is counted and skipped; only the
// handler's error is returned.
func (d *decoder) Frame(link linkType, data []byte, ts time.Time) error {
	d.count(data)
	var etype uint16
	switch link {
	case linkEthernet:
		if len(data) < 14 {
			d.stats.Truncated++
			return nil
		}
		etype = binary.BigEndian.Uint16(data[12:14])
		data = data[14:]
		for i := 0; i < maxVLANTags && (etype == etherType8021Q || etype == etherType8021AD || etype == etherTypeQinQOld); i++ {
			if len(data) < 4 {
				d.stats.Truncated++
				return nil
			}
			etype = binary.BigEndian.Uint16(data[2:4])
			data = data[4:]
		}
	case linkLinuxSLL:
		if len(data) < 16 {
			d.stats.Truncated++
			return nil
		}
		etype = binary.BigEndian.Uint16(data[14:16])
		data = data[16:]
	case linkSLL2:
		if len(data) < 20 {
			d.stats.Truncated++
			return nil
		}
		etype = binary.BigEndian.Uint16(data[0:2])
		data = data[20:]
	case linkRaw, linkRawAlt12, linkRawAlt14, linkIPv4, linkIPv6:
		return d.ip(data, ts)
	case linkNull, linkLoop:
		if len(data) < 4 {
			d.stats.Truncated++
			return nil
		}
		// The family is in the capturing host's byte order (DLT_NULL) or network
		// order (DLT_LOOP); the values are small, so either reading works.
		fam := binary.LittleEndian.Uint32(data[:4])
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(data[:4])
		}
		data = data[4:]
		switch fam {
		case 2:
			etype = etherTypeIPv4
		case 24, 28, 30:
			etype = etherTypeIPv6
		}
	default:
		d.stats.NonIP++
		return nil
	}
	switch etype {
	case etherTypeIPv4:
		return d.ipv4(data, ts)
	case etherTypeIPv6:
		return d.ipv6(data, ts)
	}
	d.stats.NonIP++
	return nil
}

// count notes one input record in the stats and, unless a file reader numbers the
// frames, as the current frame.
func (d *decoder) count(data []byte) {
	d.stats.Packets++
	d.stats.Bytes += int64(len(data))
	if !d.fileFrame {
		d.frame = d.stats.Packets
	}
}

// IP decodes one bare IPv4 or IPv6 packet (the version nibble decides), counted
// as one packet, and delivers the SIP messages it completes.
func (d *decoder) IP(data []byte, ts time.Time) error {
	d.count(data)
	return d.ip(data, ts)
}

func (d *decoder) ip(data []byte, ts time.Time) error {
	if len(data) == 0 {
		d.stats.Truncated++
		return nil
	}
	switch data[0] >> 4 {
	case 4:
		return d.ipv4(data, ts)
	case 6:
		return d.ipv6(data, ts)
	}
	d.stats.NonIP++
	return nil
}

func (d *decoder) ipv4(b []byte, ts time.Time) error {
	if len(b) < 20 || b[0]>>4 != 4 {
		d.stats.Truncated++
		return nil
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total == 0 && len(b) > ihl {
		// Captured on the sending host before TCP segmentation offload, the
		// length is left 0; like Wireshark, take the captured length.
		total = len(b)
	}
	if ihl < 20 || total < ihl || total > len(b) {
		// total > len(b): cut by the snap length; the transport payload would be
		// incomplete, so it is not worth handing on.
		d.stats.Truncated++
		return nil
	}
	b = b[:total] // drop link-layer padding
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	proto := b[9]
	flagsOff := binary.BigEndian.Uint16(b[6:8])
	payload := b[ihl:]
	if flagsOff&0x3fff != 0 { // MF set or non-zero offset: a fragment
		d.stats.Fragments++
		id := binary.BigEndian.Uint16(b[4:6])
		whole, done, dropped := d.frags.add(fragKey{src: src.As16(), dst: dst.As16(), id: uint32(id), proto: proto},
			int(flagsOff&0x1fff)*8, flagsOff&0x2000 != 0, payload, ts)
		d.stats.FragmentsDropped += dropped
		if !done {
			return nil
		}
		d.stats.Reassembled++
		err := d.transport(proto, src, dst, whole, ts)
		d.frags.release(whole)
		return err
	}
	return d.transport(proto, src, dst, payload, ts)
}

// IPv6 extension headers skipped on the way to the transport header.
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6AH       = 51
	ip6DestOpts = 60
	maxIP6Ext   = 8
)

func (d *decoder) ipv6(b []byte, ts time.Time) error {
	if len(b) < 40 || b[0]>>4 != 6 {
		d.stats.Truncated++
		return nil
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if 40+plen > len(b) || plen == 0 { // plen 0 is a jumbogram: not SIP
		d.stats.Truncated++
		return nil
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	next, payload, frag, ok := ip6Extensions(b[6], b[40:40+plen])
	if !ok {
		d.stats.Truncated++
		return nil
	}
	if frag == nil {
		return d.transport(next, src, dst, payload, ts)
	}
	// A fragment: frag is the fragment header, payload what follows it.
	offFlags := binary.BigEndian.Uint16(frag[2:4])
	off, more := int(offFlags>>3)*8, offFlags&1 != 0
	if off == 0 && !more { // an atomic fragment (RFC 6946): the whole datagram
		return d.transport(next, src, dst, payload, ts)
	}
	d.stats.Fragments++
	whole, done, dropped := d.frags.add(fragKey{src: src.As16(), dst: dst.As16(), id: binary.BigEndian.Uint32(frag[4:8]), proto: next},
		off, more, payload, ts)
	d.stats.FragmentsDropped += dropped
	if !done {
		return nil
	}
	d.stats.Reassembled++
	var err error
	if next, payload, frag, ok = ip6Extensions(next, whole); !ok || frag != nil {
		d.stats.Truncated++ // a fragment header inside a reassembled datagram
	} else {
		err = d.transport(next, src, dst, payload, ts)
	}
	d.frags.release(whole)
	return err
}

// ip6Extensions skips IPv6 extension headers from next over b, stopping at the
// transport header or at a fragment header. It returns the next header type, the
// bytes after the headers skipped and, when it stopped at a fragment header, that
// 8-byte header (the returned type is then the fragment header's next header).
func ip6Extensions(next uint8, b []byte) (uint8, []byte, []byte, bool) {
	for range maxIP6Ext {
		switch next {
		case ip6HopByHop, ip6Routing, ip6DestOpts, ip6AH:
			if len(b) < 8 {
				return 0, nil, nil, false
			}
			n := (int(b[1]) + 1) * 8
			if next == ip6AH {
				n = (int(b[1]) + 2) * 4
			}
			if n > len(b) {
				return 0, nil, nil, false
			}
			next, b = b[0], b[n:]
		case ip6Fragment:
			if len(b) < 8 {
				return 0, nil, nil, false
			}
			return b[0], b[8:], b[:8], true
		default:
			return next, b, nil, true
		}
	}
	return 0, nil, nil, false
}

func (d *decoder) transport(proto uint8, src, dst netip.Addr, b []byte, ts time.Time) error {
	switch proto {
	case ipProtoUDP:
		if len(b) < 8 {
			d.stats.Truncated++
			return nil
		}
		ulen := int(binary.BigEndian.Uint16(b[4:6]))
		if ulen < 8 || ulen > len(b) {
			d.stats.Truncated++
			return nil
		}
		sport, dport := binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
		if d.filter != nil && !d.keep(proto, src, dst, sport, dport) {
			return nil
		}
		return d.datagram(netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport), b[8:ulen], ts)
	case ipProtoTCP:
		if len(b) < 20 {
			d.stats.Truncated++
			return nil
		}
		off := int(b[12]>>4) * 4
		if off < 20 || off > len(b) {
			d.stats.Truncated++
			return nil
		}
		sport, dport := binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
		if d.filter != nil && !d.keep(proto, src, dst, sport, dport) {
			return nil
		}
		seg := segment{
			src:   netip.AddrPortFrom(src, sport),
			dst:   netip.AddrPortFrom(dst, dport),
			seq:   binary.BigEndian.Uint32(b[4:8]),
			flags: b[13],
			data:  b[off:],
			ts:    ts,
		}
		return d.tcp.segment(d, &seg)
	}
	d.stats.OtherProto++
	return nil
}

// keep applies the filter, counting what it drops.
func (d *decoder) keep(proto uint8, src, dst netip.Addr, sport, dport uint16) bool {
	d.fp = filterPacket{proto: proto, src: src, dst: dst, srcPort: sport, dstPort: dport}
	if d.filter.match(&d.fp) {
		return true
	}
	d.stats.Filtered++
	return false
}

// Datagram handles one UDP payload received from src to dst (by a UDP socket,
// say), counted as one packet: HEPv3 is decapsulated, SIP delivered, the rest
// counted.
func (d *decoder) Datagram(src, dst netip.AddrPort, payload []byte, ts time.Time) error {
	d.count(payload)
	return d.datagram(src, dst, payload, ts)
}

func (d *decoder) datagram(src, dst netip.AddrPort, payload []byte, ts time.Time) error {
	if len(payload) == 0 {
		d.stats.Empty++
		return nil
	}
	if hep.IsHEP3(payload) {
		return d.hepMessage(payload, ts)
	}
	if !looksLikeSIP(payload) {
		d.stats.NotSIP++
		return nil
	}
	return d.deliver(src, dst, UDP, false, payload, ts)
}

// hepMessage decodes one HEPv3 message and delivers its SIP payload with the inner
// addresses, transport and time (the capture time when HEP has none).
func (d *decoder) hepMessage(b []byte, ts time.Time) error {
	p := &d.hepPkt
	if err := hep.Decode(b, p); err != nil {
		d.stats.HEPErrors++
		return nil
	}
	if p.ProtoType != hep.ProtoTypeSIP {
		d.stats.HEPNotSIP++
		return nil
	}
	if !looksLikeSIP(p.Payload) {
		d.stats.NotSIP++
		return nil
	}
	if !p.Time.IsZero() {
		ts = p.Time
	}
	tr := UDP
	if p.Proto == hep.ProtoTCP {
		tr = TCP
	}
	d.msg.CorrelationID = p.CorrelationID
	d.msg.CaptureID = p.CaptureID
	err := d.deliver(p.Src, p.Dst, tr, true, p.Payload, ts)
	d.msg.CorrelationID = nil
	d.msg.CaptureID = 0
	return err
}

func (d *decoder) deliver(src, dst netip.AddrPort, tr Transport, isHEP bool, payload []byte, ts time.Time) error {
	d.stats.Messages++
	if isHEP {
		d.stats.HEPMessages++
	}
	m := &d.msg
	m.Time = ts
	m.Sensor = d.sensor
	m.Src = src
	m.Dst = dst
	m.Transport = tr
	m.HEP = isHEP
	m.Payload = payload
	m.File = d.file
	m.Frame = d.frame
	return d.h(m)
}

// HEP handles one HEPv3 message received directly (from a HEP listener rather
// than inside a capture); ts is used when the message carries no timestamp.
// Anything that is not HEPv3 is counted in HEPErrors.
func (d *decoder) HEP(b []byte, ts time.Time) error {
	d.count(b)
	if !hep.IsHEP3(b) {
		d.stats.HEPErrors++
		return nil
	}
	return d.hepMessage(b, ts)
}
