// Package capture turns what the SIP side monitor reads (pcap and pcapng files,
// gzip-compressed or not, directories of them, live interfaces, HEPv3 over UDP/TCP)
// into whole SIP messages with their time, addresses and sensor. It knows packets,
// streams and encapsulations; it knows nothing of SIP dialogs or legs.
//
// What counts as a SIP candidate is decided cheaply (looksLikeSIP: a status line,
// or an upper-case method and " SIP/2.0" ending the first line), whatever the
// port; HEPv3 (the "HEP3" magic) is checked first and decapsulated. Everything
// else (RTP, STUN, HTTP, keep-alives, garbage, ICMP) is counted in Stats and
// skipped, never an error. Whether a candidate is well-formed SIP is for the SIP
// parser downstream to say.
//
// The per-packet path does not allocate: frames are decoded by hand (Ethernet with
// 802.1Q/QinQ tags, Linux cooked v1/v2, raw IP, BSD loopback; IPv4 with fragment
// reassembly, IPv6 with extension headers; UDP; TCP reassembled per direction and
// framed by Content-Length or the HEP length), and buffers are reused. Memory is
// bounded: see DecoderOptions.
//
// Neighbours: sipmon (above) consumes the Messages through a Handler and does
// the SIP; sipmon/capture/hep (below) is the HEPv3 wire format; cmd/licbridge
// wires the entry points, one per kind of input: ReadPaths (files and
// directories), NewLive (an interface), NewHEPServer (HEP over UDP or TCP).
package capture
