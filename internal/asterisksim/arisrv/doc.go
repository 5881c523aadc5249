// Package arisrv is a protocol-faithful double of Asterisk 22's ARI (HTTP and
// WebSocket) for tests and demos: Basic and api_key authentication with
// Asterisk's exact 401, the /ari/events WebSocket upgrade with Asterisk's 101
// headers, events as text frames with Asterisk's JSON shapes and field order,
// and the channel variable / continue / hangup endpoints with the recorded
// status lines and bodies (fixtures/asterisk/ari_*). Channels are scripted by
// the test: EnterStasis places one in an application, Hangup hangs it up.
//
// The HTTP side is a small HTTP/1.1 server of its own (net/http parses the
// requests) because net/http's ResponseWriter cannot write Asterisk's reason
// phrases ("404 Variable Not Found", "400 Invalid Reason") nor its header
// order.
//
// Neighbours: internal/asterisksim runs it, package ari is the client it
// answers, q850 names its hangup causes.
package arisrv
