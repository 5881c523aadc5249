package capture

// Stats counts what a read saw and what it skipped. Skipped input is never an
// error: a capture full of RTP, STUN or garbage is still a good capture.
type Stats struct {
	// Files is the number of capture files read (opened and decoded).
	Files int `json:"files"`
	// Packets is the number of link-layer records (pcap records, datagrams of a
	// HEP listener, frames of a live capture).
	Packets int `json:"packets"`
	// Bytes is the captured bytes of those records.
	Bytes int64 `json:"bytes"`
	// Messages is the number of SIP candidates delivered to the handler, HEP
	// ones included.
	Messages int `json:"messages"`
	// HEPMessages is how many of Messages were decapsulated from HEPv3.
	HEPMessages int `json:"hep_messages"`

	// NotSIP counts UDP datagrams and TCP data that do not look like SIP (RTP, STUN,
	// HTTP, keep-alives, garbage).
	NotSIP int `json:"not_sip"`
	// Empty counts zero-length UDP datagrams.
	Empty int `json:"empty"`
	// NonIP counts frames that carry neither IPv4 nor IPv6 (ARP, LLDP, unknown link
	// types).
	NonIP int `json:"non_ip"`
	// Filtered counts UDP and TCP packets a Filter left out.
	Filtered int `json:"filtered"`
	// OtherProto counts IP packets that are neither UDP nor TCP (ICMP, ...).
	OtherProto int `json:"other_proto"`
	// Truncated counts packets whose headers are cut short or inconsistent (snap
	// length, corrupt lengths).
	Truncated int `json:"truncated"`

	// Fragments counts IP fragments seen; Reassembled the datagrams rebuilt from
	// them; FragmentsDropped the fragments given up (timeout, bounds, overlap
	// beyond the datagram, too many pending datagrams). IPv4 and IPv6 alike.
	Fragments        int `json:"fragments"`
	Reassembled      int `json:"reassembled"`
	FragmentsDropped int `json:"fragments_dropped"`

	// HEPErrors counts payloads with the HEP3 magic that failed to decode;
	// HEPNotSIP those whose payload type is not SIP.
	HEPErrors int `json:"hep_errors"`
	HEPNotSIP int `json:"hep_not_sip"`

	// TCPSegments counts TCP segments carrying data. TCPRetransmits counts
	// segments whose data had been seen already (wholly or partly dropped).
	// TCPGaps counts streams resynchronised after missing data. TCPOverflow counts
	// stream buffers discarded for exceeding their bound. TCPEvicted counts streams
	// dropped because of the stream cap or idleness. TCPIncomplete counts streams
	// that ended (FIN, RST, eviction, end of input) with a partial message.
	TCPSegments    int `json:"tcp_segments"`
	TCPRetransmits int `json:"tcp_retransmits"`
	TCPGaps        int `json:"tcp_gaps"`
	TCPOverflow    int `json:"tcp_overflow"`
	TCPEvicted     int `json:"tcp_evicted"`
	TCPIncomplete  int `json:"tcp_incomplete"`
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Files += o.Files
	s.Packets += o.Packets
	s.Bytes += o.Bytes
	s.Messages += o.Messages
	s.HEPMessages += o.HEPMessages
	s.NotSIP += o.NotSIP
	s.Empty += o.Empty
	s.NonIP += o.NonIP
	s.Filtered += o.Filtered
	s.OtherProto += o.OtherProto
	s.Truncated += o.Truncated
	s.Fragments += o.Fragments
	s.Reassembled += o.Reassembled
	s.FragmentsDropped += o.FragmentsDropped
	s.HEPErrors += o.HEPErrors
	s.HEPNotSIP += o.HEPNotSIP
	s.TCPSegments += o.TCPSegments
	s.TCPRetransmits += o.TCPRetransmits
	s.TCPGaps += o.TCPGaps
	s.TCPOverflow += o.TCPOverflow
	s.TCPEvicted += o.TCPEvicted
	s.TCPIncomplete += o.TCPIncomplete
}
