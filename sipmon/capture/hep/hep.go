package hep

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Magic opens every HEPv3 message.
var Magic = []byte("HEP3")

// HeaderLen is the length of the fixed header: magic and total length.
const HeaderLen = 6

const chunkHeaderLen = 6

// Chunk types of the generic vendor (0) that this package reads or writes.
const (
	ChunkIPFamily      = 0x01
	ChunkIPProto       = 0x02
	ChunkIPv4Src       = 0x03
	ChunkIPv4Dst       = 0x04
	ChunkIPv6Src       = 0x05
	ChunkIPv6Dst       = 0x06
	ChunkSrcPort       = 0x07
	ChunkDstPort       = 0x08
	ChunkTimeSec       = 0x09
	ChunkTimeUsec      = 0x0a
	ChunkProtoType     = 0x0b
	ChunkCaptureID     = 0x0c
	ChunkKeepAlive     = 0x0d
	ChunkAuthKey       = 0x0e
	ChunkPayload       = 0x0f
	ChunkCompressed    = 0x10
	ChunkCorrelationID = 0x11
	ChunkVLAN          = 0x12
)

// Protocol families and protocols as HEP carries them.
const (
	FamilyIPv4 = 2
	FamilyIPv6 = 10
	ProtoUDP   = 17
	ProtoTCP   = 6
	// ProtoTypeSIP is the payload type (chunk 0x0b) of SIP.
	ProtoTypeSIP = 1
)

// MaxDecompressed bounds what a compressed payload chunk may inflate to, so that a
// hostile sender cannot make the decoder allocate without limit.
const MaxDecompressed = 1 << 20

// Errors callers may branch on.
var (
	// ErrNotHEP3 means the bytes do not start with the HEP3 magic.
	ErrNotHEP3 = errors.New("hep: not a HEPv3 message (no HEP3 magic)")
	// ErrShort means fewer bytes than the header or the total length announces.
	ErrShort = errors.New("hep: message shorter than its length")
)

// Packet is one decoded HEPv3 message. Payload and CorrelationID point into the
// decoded buffer (or into a decompression buffer): copy them to keep them.
type Packet struct {
	// Family is the IP family (FamilyIPv4 or FamilyIPv6), Proto the transport
	// (ProtoUDP, ProtoTCP, ...), both as the sender reports them.
	Family uint8
	Proto  uint8
	Src    netip.AddrPort
	Dst    netip.AddrPort
	// Time is the capture time the sender reports (chunks 9 and 10); zero if absent.
	Time time.Time
	// ProtoType is the payload type (ProtoTypeSIP for SIP).
	ProtoType uint8
	// CaptureID names the capture agent (chunk 12).
	CaptureID uint32
	// CorrelationID is chunk 17 (Asterisk puts the Call-ID there).
	CorrelationID []byte
	// Payload is the captured message (chunk 15, or chunk 16 inflated).
	Payload []byte
	// Compressed is true when the payload came from a compressed chunk.
	Compressed bool
	// Length is the total length of the message, from its header.
	Length int
}

// Length returns the total length announced by a HEPv3 header, for framing a
// stream; ok is false when b is shorter than the header or is not HEPv3.
func Length(b []byte) (n int, ok bool) {
	if len(b) < HeaderLen || !bytes.Equal(b[:4], Magic) {
		return 0, false
	}
	return int(binary.BigEndian.Uint16(b[4:6])), true
}

// IsHEP3 reports whether b starts with the HEP3 magic.
func IsHEP3(b []byte) bool {
	return len(b) >= 4 && b[0] == 'H' && b[1] == 'E' && b[2] == 'P' && b[3] == '3'
}

// Decode parses one HEPv3 message from the start of b into p (reset first). Bytes
// after the announced total length are ignored; p.Length tells where the message
// ended. Every length is checked before use; a malformed message gives an error
// naming the chunk and the reason, and p is then unspecified.
func Decode(b []byte, p *Packet) error {
	*p = Packet{}
	if !IsHEP3(b) {
		return ErrNotHEP3
	}
	if len(b) < HeaderLen {
		return fmt.Errorf("%w: %d bytes, header needs %d", ErrShort, len(b), HeaderLen)
	}
	total := int(binary.BigEndian.Uint16(b[4:6]))
	if total < HeaderLen {
		return fmt.Errorf("hep: total length %d is less than the header", total)
	}
	if total > len(b) {
		return fmt.Errorf("%w: announces %d bytes, have %d", ErrShort, total, len(b))
	}
	p.Length = total
	var (
		srcIP, dstIP     netip.Addr
		srcPort, dstPort uint16
		sec, usec        uint32
		haveSec          bool
		havePayload      bool
	)
	rest := b[HeaderLen:total]
	for len(rest) > 0 {
		if len(rest) < chunkHeaderLen {
			return fmt.Errorf("hep: %d trailing bytes, too short for a chunk header", len(rest))
		}
		vendor := binary.BigEndian.Uint16(rest[0:2])
		typ := binary.BigEndian.Uint16(rest[2:4])
		clen := int(binary.BigEndian.Uint16(rest[4:6]))
		if clen < chunkHeaderLen || clen > len(rest) {
			return fmt.Errorf("hep: chunk %#x: length %d out of bounds (%d bytes left)", typ, clen, len(rest))
		}
		data := rest[chunkHeaderLen:clen]
		rest = rest[clen:]
		if vendor != 0 {
			continue // vendor-specific chunks are not ours to read
		}
		var err error
		switch typ {
		case ChunkIPFamily:
			p.Family, err = u8(typ, data)
		case ChunkIPProto:
			p.Proto, err = u8(typ, data)
		case ChunkIPv4Src, ChunkIPv4Dst, ChunkIPv6Src, ChunkIPv6Dst:
			want := 4
			if typ == ChunkIPv6Src || typ == ChunkIPv6Dst {
				want = 16
			}
			if len(data) != want {
				return fmt.Errorf("hep: chunk %#x: address of %d bytes, want %d", typ, len(data), want)
			}
			a, _ := netip.AddrFromSlice(data)
			if typ == ChunkIPv4Src || typ == ChunkIPv6Src {
				srcIP = a
			} else {
				dstIP = a
			}
		case ChunkSrcPort:
			srcPort, err = u16(typ, data)
		case ChunkDstPort:
			dstPort, err = u16(typ, data)
		case ChunkTimeSec:
			sec, err = u32(typ, data)
			haveSec = err == nil
		case ChunkTimeUsec:
			usec, err = u32(typ, data)
		case ChunkProtoType:
			p.ProtoType, err = u8(typ, data)
		case ChunkCaptureID:
			// Some agents send the capture id as 16 bits.
			switch len(data) {
			case 2:
				p.CaptureID = uint32(binary.BigEndian.Uint16(data))
			default:
				p.CaptureID, err = u32(typ, data)
			}
		case ChunkCorrelationID:
			p.CorrelationID = data
		case ChunkPayload:
			p.Payload, havePayload = data, true
		case ChunkAuthKey:
			// The sender's shared secret (Asterisk's capture_password): skipped on
			// purpose, so that it can never end up in a log or a report.
		case ChunkCompressed:
			if havePayload {
				continue // a plain payload wins; no need to inflate
			}
			p.Payload, err = inflate(data)
			if err != nil {
				return fmt.Errorf("hep: chunk %#x: %w", typ, err)
			}
			p.Compressed, havePayload = true, true
		}
		if err != nil {
			return err
		}
	}
	if !havePayload {
		return errors.New("hep: no payload chunk")
	}
	if haveSec {
		p.Time = time.Unix(int64(sec), int64(usec)*1000)
	}
	p.Src = netip.AddrPortFrom(srcIP, srcPort)
	p.Dst = netip.AddrPortFrom(dstIP, dstPort)
	return nil
}

func u8(typ uint16, d []byte) (uint8, error) {
	if len(d) != 1 {
		return 0, fmt.Errorf("hep: chunk %#x: %d bytes, want 1", typ, len(d))
	}
	return d[0], nil
}

func u16(typ uint16, d []byte) (uint16, error) {
	if len(d) != 2 {
		return 0, fmt.Errorf("hep: chunk %#x: %d bytes, want 2", typ, len(d))
	}
	return binary.BigEndian.Uint16(d), nil
}

func u32(typ uint16, d []byte) (uint32, error) {
	if len(d) != 4 {
		return 0, fmt.Errorf("hep: chunk %#x: %d bytes, want 4", typ, len(d))
	}
	return binary.BigEndian.Uint32(d), nil
}

// inflate undoes a compressed payload chunk. The HEP specification does not fix the
// algorithm; senders in the wild use zlib or gzip, so both are tried, bounded.
func inflate(d []byte) ([]byte, error) {
	var r io.Reader
	switch {
	case len(d) >= 2 && d[0] == 0x1f && d[1] == 0x8b:
		zr, err := gzip.NewReader(bytes.NewReader(d))
		if err != nil {
			return nil, fmt.Errorf("gzip payload: %w", err)
		}
		r = zr
	default:
		zr, err := zlib.NewReader(bytes.NewReader(d))
		if err != nil {
			return nil, fmt.Errorf("zlib payload: %w", err)
		}
		r = zr
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("inflating payload: %w", err)
	}
	if len(out) > MaxDecompressed {
		return nil, fmt.Errorf("payload inflates beyond %d bytes", MaxDecompressed)
	}
	return out, nil
}

// Append encodes p as a HEPv3 message appended to dst (generic vendor chunks only;
// the payload is written uncompressed). It fails when the message would exceed the
// 65535 bytes the length field can express or the addresses are not of one family.
func Append(dst []byte, p *Packet) ([]byte, error) {
	start := len(dst)
	dst = append(dst, Magic...)
	dst = append(dst, 0, 0)
	src, dstAddr := p.Src.Addr(), p.Dst.Addr()
	family := p.Family
	if family == 0 {
		family = FamilyIPv4
		if src.Is6() && !src.Is4In6() {
			family = FamilyIPv6
		}
	}
	dst = chunk(dst, ChunkIPFamily, family)
	dst = chunk(dst, ChunkIPProto, p.Proto)
	switch family {
	case FamilyIPv4:
		if !src.Unmap().Is4() || !dstAddr.Unmap().Is4() {
			return dst[:start], errors.New("hep: encode: IPv4 family needs IPv4 addresses")
		}
		s, d := src.Unmap().As4(), dstAddr.Unmap().As4()
		dst = chunk(dst, ChunkIPv4Src, s[:]...)
		dst = chunk(dst, ChunkIPv4Dst, d[:]...)
	case FamilyIPv6:
		s, d := src.As16(), dstAddr.As16()
		dst = chunk(dst, ChunkIPv6Src, s[:]...)
		dst = chunk(dst, ChunkIPv6Dst, d[:]...)
	}
	dst = chunk(dst, ChunkSrcPort, byte(p.Src.Port()>>8), byte(p.Src.Port()))
	dst = chunk(dst, ChunkDstPort, byte(p.Dst.Port()>>8), byte(p.Dst.Port()))
	if !p.Time.IsZero() {
		dst = chunk(dst, ChunkTimeSec, be32(uint32(p.Time.Unix()))...)
		dst = chunk(dst, ChunkTimeUsec, be32(uint32(p.Time.Nanosecond()/1000))...)
	}
	dst = chunk(dst, ChunkProtoType, p.ProtoType)
	dst = chunk(dst, ChunkCaptureID, be32(p.CaptureID)...)
	if len(p.CorrelationID) > 0 {
		dst = chunk(dst, ChunkCorrelationID, p.CorrelationID...)
	}
	dst = chunk(dst, ChunkPayload, p.Payload...)
	n := len(dst) - start
	if n > 0xffff {
		return dst[:start], fmt.Errorf("hep: encode: message of %d bytes exceeds 65535", n)
	}
	binary.BigEndian.PutUint16(dst[start+4:], uint16(n))
	return dst, nil
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func chunk(dst []byte, typ uint16, data ...byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, typ)
	dst = binary.BigEndian.AppendUint16(dst, uint16(chunkHeaderLen+len(data)))
	return append(dst, data...)
}
