// Package sipmon is licbridge's SIP side monitor: it turns SIP messages seen on the
// wire (decoded by sipmon/capture from pcap files, live interfaces or HEPv3) into
// call legs, and counts them the way a channel license counts: legs answered and
// attempted, peak concurrent legs overall, per licensed product (G.729, fax) and per
// 60-minute window.
//
// The counting rules:
//   - One Call-ID is one leg record. Re-INVITEs (To-tag present), forked branches,
//     retransmissions and copies of a message seen on several hops or through HEP
//     belong to the leg of their Call-ID.
//   - Different Call-IDs (transfers, B2BUA hops, Call-ID-rewriting proxies) are
//     separate legs, unless the configured correlation header (for example X-CID)
//     in an initial INVITE names another leg's Call-ID: then they are one leg.
//   - A leg is an attempt once its initial INVITE drew any response; it is answered
//     when the initial INVITE got a 2xx. An INVITE that nobody answered is not a leg
//     at all, so a flood of INVITEs cannot inflate the counts.
//   - A leg occupies a channel from its first INVITE to its end: the 2xx to BYE (or
//     the BYE itself when no reply is seen), or the final non-2xx response of an
//     unanswered attempt. At equal times, ends come before starts.
//   - Legs from different sensors are the same call when they share a Call-ID, or
//     when the last 6 digits of both caller and called match, and their times overlap
//     within a tolerance. Within one sensor numbers never merge legs.
//   - G.729 is counted when the SDP answer negotiates it (its first audio payload is
//     static type 18 or an rtpmap G729); fax when a T.38 image stream
//     (m=image <port> udptl t38) is accepted with a non-zero port.
//
// A Monitor is fed through Handle (a capture.Handler) and reports with Report;
// finished legs stream out through Config.LegSink (JSONStream writes them), so a
// read holds the legs up at once, not every leg read. Supervise keeps a live
// monitor's inputs open, reopening a failed one with backoff.
//
// Neighbours: sipmon/capture (below) decodes files, interfaces and HEP into
// messages; the bridge (beside, through Publisher) receives the wire counts;
// cmd/licbridge (above) only parses flags and wires inputs, store and output.
package sipmon
