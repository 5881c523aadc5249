// Package proto is the AMI wire format alone: reading and writing blocks of
// "Key: Value" lines ended by an empty line, with no knowledge of actions,
// correlation or reconnects (those live in package ami).
//
// What it accepts on input follows what Asterisk really sends (see the recorded
// transcripts in ../shared/fixtures/asterisk): CRLF lines, but also bare LF lines
// and the "\r\n\n" message ending that CoreShowChannelMap is known to produce;
// repeated headers (Output:, Variable:) are kept in order. Input is bounded: a
// line longer than Limits.MaxLineBytes or a message with more than
// Limits.MaxFields headers is an error, after which the reader skips to the next
// empty line and carries on (resynchronises) without holding the excess in memory.
//
// Neighbours: ami builds its client on it and bridge/node reads events with
// it; the Asterisk simulator's AMI server (internal/asterisksim/amisrv) writes
// the same bytes with it. It imports nothing of licbridge's.
package proto
