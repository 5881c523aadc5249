package capture

import (
	"net/netip"
	"time"
)

// Transport names how a SIP message travelled.
type Transport uint8

// Transports.
const (
	UDP Transport = iota + 1
	TCP
)

// String names the transport in lower case ("udp", "tcp").
func (t Transport) String() string {
	switch t {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	default:
		return "unknown"
	}
}

// Message is one candidate SIP message, as found on the wire or inside HEP.
// It is handed to a Handler; Payload is only valid during that call (it may point
// into a reused buffer), so a handler that keeps it must copy it.
type Message struct {
	// Time is the capture time (pcap record time, or the HEP timestamp).
	Time time.Time
	// Sensor names the input the message came from ("" when unnamed).
	Sensor string
	Src    netip.AddrPort
	Dst    netip.AddrPort
	// Transport is the SIP transport (for HEP, the one the HEP header reports).
	Transport Transport
	// HEP is true when the message was decapsulated from HEPv3.
	HEP bool
	// Payload is the SIP message bytes (one message; TCP streams are reassembled
	// and split on Content-Length). It may still be malformed SIP.
	Payload []byte
	// CorrelationID is HEP's correlation chunk (17) when present (Asterisk puts the
	// Call-ID there); nil otherwise. Like Payload, valid only during the call.
	CorrelationID []byte
	// CaptureID is HEP's capture agent id (chunk 12); 0 when not from HEP.
	CaptureID uint32
	// File is the capture file the message was read from ("" for live capture and
	// HEP listeners).
	File string
	// Frame is the 1-based number of the record (packet) that completed the
	// message: within File when reading files (Wireshark's frame number), since
	// the start otherwise. A message reassembled from TCP segments or IPv4
	// fragments carries its last frame.
	Frame int
}

// Handler receives messages in capture order. Returning an error stops the read.
type Handler func(*Message) error
