// Package ari is licbridge's Stasis application: the dialplan runs
// Stasis(licbridge,admit,g729), this package asks an [Admitter], writes
// LICBRIDGE_STATUS, LICBRIDGE_REASON and LICBRIDGE_LEASE on the channel and
// continues it in the dialplan (or hangs it up, as configured), and reports
// when an admitted channel is gone so its holding can be released.
//
// It is built on github.com/CyCoreSystems/ari/v5 (pinned at v5.3.1) where that
// library is sound, its generated event types and its ARI date parsing, and on
// thin code of ours where it is not (see ASTERISK-NOTES.md):
//
//   - v5.3.1 hands every WebSocket message to ari.DecodeEvent and sends the
//     result on its bus; for an event type it does not know (ChannelToneDetected,
//     ChannelTransfer, ApplicationRegistered, RESTResponse, CallBroadcast, ...)
//     the result is nil and the process dies on a nil pointer. We read the
//     WebSocket ourselves (github.com/gobwas/ws, already in the module graph),
//     look at the "type" field first and give the library only the types we act
//     on; everything else is decoded into a small generic envelope and ignored.
//   - its Connect never returns on a wrong password (it retries every second):
//     our handshake is bounded by a deadline and a 401 is an [ErrUnauthorized].
//   - its bus drops events for a slow consumer: our reader blocks instead
//     (backpressure onto TCP), so StasisStart and StasisEnd are never lost.
//   - its REST errors drop Asterisk's JSON message: our small REST client
//     keeps the status code and the message ("404 Channel not found").
//   - its reconnect loop sleeps a fixed second and ignores the context: ours
//     backs off exponentially with jitter and honours the context.
//
// Neighbours: package admission is the contract it shares with the FastAGI
// server (package dialplan): the request, the Admitter it asks, and the
// LICBRIDGE_* answer; package license gives the product-name grammar;
// bridge/node builds the App and reads channels through Client.
package ari
