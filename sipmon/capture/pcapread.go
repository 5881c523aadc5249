package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// pcapReader reads the records of a classic pcap file straight out of the
// readahead's buffers, as pcapgo.Reader does from any reader but without
// copying them: pcapgo copies every byte twice on the way (into its
// bufio.Reader, then into its packet buffer), which with its per-record
// overhead was about 5% of reading the gzip-compressed 15,000-call capture.
// Its results and errors are pcapgo's, record for record (FuzzPcapReader
// checks it against pcapgo), with the snap length raised as source.open
// raises pcapgo's.
type pcapReader struct {
	ra       *readahead
	order    binary.ByteOrder
	nanos    uint32 // factor from the fraction to nanoseconds
	snaplen  uint32
	linkType layers.LinkType
}

// pcapgo's header constants.
const (
	pcapMagicMicros        = 0xA1B2C3D4
	pcapMagicNanos         = 0xA1B23C4D
	pcapMagicMicrosSwapped = 0xD4C3B2A1
	pcapMagicNanosSwapped  = 0x4D3CB2A1
	pcapVersionMajor       = 2
	pcapVersionMinor       = 4
	// pcapEagerMax is pcapgo's eagerReadMax: the longest record its length
	// is trusted for; longer ones grow with the bytes actually there.
	pcapEagerMax = 262144
)

// newPcapReader reads the file header, with pcapgo.NewReader's errors. The
// caller has ruled out a gzip magic (pcapgo would inflate again).
func newPcapReader(ra *readahead) (*pcapReader, error) {
	h, err := ra.next(24)
	if err != nil {
		return nil, err
	}
	r := &pcapReader{ra: ra}
	switch magic := binary.LittleEndian.Uint32(h[0:4]); magic {
	case pcapMagicNanos:
		r.order, r.nanos = binary.LittleEndian, 1
	case pcapMagicNanosSwapped:
		r.order, r.nanos = binary.BigEndian, 1
	case pcapMagicMicros:
		r.order, r.nanos = binary.LittleEndian, 1000
	case pcapMagicMicrosSwapped:
		r.order, r.nanos = binary.BigEndian, 1000
	default:
		//lint:ignore ST1005 the same words as pcapgo, compared by TestPcapReaderMatchesPcapgo
		return nil, fmt.Errorf("Unknown magic %x", magic)
	}
	if v := r.order.Uint16(h[4:6]); v != pcapVersionMajor {
		//lint:ignore ST1005 the same words as pcapgo, compared by TestPcapReaderMatchesPcapgo
		return nil, fmt.Errorf("Unknown major version %d", v)
	}
	if v := r.order.Uint16(h[6:8]); v != pcapVersionMinor {
		//lint:ignore ST1005 the same words as pcapgo, compared by TestPcapReaderMatchesPcapgo
		return nil, fmt.Errorf("Unknown minor version %d", v)
	}
	r.snaplen = r.order.Uint32(h[16:20])
	r.linkType = layers.LinkType(r.order.Uint32(h[20:24]))
	return r, nil
}

// errPcapLength is pcapgo's error for a length that does not fit an int
// (32-bit systems).
var errPcapLength = errors.New("length from file does not fit in int")

// ZeroCopyReadPacketData returns the next record; data is valid until the
// next call.
func (r *pcapReader) ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	h, err := r.ra.next(16)
	if err != nil {
		return nil, ci, err
	}
	// The fraction is scaled in 32 bits, as pcapgo does (a fraction of a
	// microsecond file beyond 4294967 wraps there too).
	ci.Timestamp = time.Unix(int64(r.order.Uint32(h[0:4])), int64(r.order.Uint32(h[4:8])*r.nanos)).UTC()
	ci.CaptureLength = int(r.order.Uint32(h[8:12]))
	ci.Length = int(r.order.Uint32(h[12:16]))
	maxLen := pcapEagerMax
	if r.snaplen > pcapEagerMax {
		maxLen = int(r.snaplen)
	}
	if ci.CaptureLength > maxLen {
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, r.snaplen)
	}
	if ci.CaptureLength > ci.Length {
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	if ci.CaptureLength < 0 {
		return nil, ci, errPcapLength
	}
	// next has io.ReadFull's errors, as pcapgo's read of the record (io.CopyN
	// for a long one, the same errors).
	data, err = r.ra.next(ci.CaptureLength)
	return data, ci, err
}

// Snaplen and SetSnaplen are pcapgo.Reader's.
func (r *pcapReader) Snaplen() uint32           { return r.snaplen }
func (r *pcapReader) SetSnaplen(n uint32)       { r.snaplen = n }
func (r *pcapReader) LinkType() layers.LinkType { return r.linkType }
