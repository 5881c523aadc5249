// Package hep decodes and encodes HEPv3 (the Homer Encapsulation Protocol, version 3),
// the envelope in which Asterisk's res_hep, Kamailio's siptrace and heplify mirror SIP
// messages to a collector. It knows the wire format only; what the payload means is
// for the caller.
//
// A HEPv3 message is "HEP3", a big-endian uint16 total length (header included), then
// chunks, each: vendor uint16, type uint16, length uint16 (chunk header included), data.
//
// Neighbours: sipmon/capture (its only user) decapsulates HEP found in captures
// and received by its HEP server; tests encode with Append.
package hep
