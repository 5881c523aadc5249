// Package admission is the one contract between the Asterisk dialplan and
// licbridge, whatever the path a channel takes to ask: FastAGI (package
// dialplan) and ARI/Stasis (package ari) both decode a request into a
// Request and a Verb, ask an Admitter with Do, and set the LICBRIDGE_*
// channel variables that Answer.Settings lists. So the same request gets the
// same answer over either path.
//
// Neighbours: dialplan and ari use it; the admission core (package bridge,
// through bridge/node) implements Admitter. It imports nothing of licbridge's,
// so protocol packages never import bridge.
package admission
