// Package pcaptest holds test helpers shared by the capture packages: UDP payloads
// extracted from fixture captures with gopacket's own decoders (independent of the
// decoder under test) and packet builders on gopacket's serialization layers.
//
// Neighbours: imported only by the tests of sipmon/capture and its subpackages,
// never by product code.
package pcaptest
