// Package amisrv is a protocol-faithful Asterisk Manager Interface server for
// tests (and for licbridge demo): it greets, logs in, answers the actions the
// bridge uses and emits channel events with the same bytes, header order and
// quirks as the real Asterisk 22 recorded in ../shared/fixtures/asterisk.
//
// The test owns the channel table: AddChannel, SetState, SetVar and Hangup
// change it and emit the matching events to every logged-in session whose
// Events mask allows them. DropConnections simulates a crash, Shutdown a clean
// stop (Event: Shutdown, then EOF, as Asterisk does).
//
// Where the double simplifies, it says so on the method. A Server is safe for
// concurrent use.
//
// Neighbours: internal/asterisksim runs it; package ami is the client it
// answers, with the wire format of ami/proto; q850 names its hangup causes.
package amisrv
