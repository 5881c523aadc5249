// Package node is the life cycle of one licbridge node beside one Asterisk: it
// owns a bridge.Bridge and wires the rest to it. License keys reach the store
// on every reload of a license.Watcher; the FastAGI server (dialplan) and the
// Stasis application (ari) admit through adapters onto the bridge; the AMI
// client is the node's eyes: it releases a channel's holdings when Asterisk
// says the channel is gone, reconciles the holdings with CoreShowChannels on
// every (re)connect and periodically, and does passive accounting (channels
// that use a licensed feature without asking, counted as observed usage).
//
// Life cycle (Run): everything starts at once; Ready is closed when the
// FastAGI server listens and the first license set is published. When the
// context ends the node drains: the FastAGI listener closes (the dialplan takes
// its failure branch), the Stasis application answers ERROR, and the node keeps
// watching Asterisk and heartbeating until its last holding is released (or
// Options.DrainTimeout passes, after which what is left lapses in the store by
// itself). Then every part stops and Run returns.
//
// Neighbours: below it, bridge (the admission core), the protocol packages
// ami, ari and dialplan, admission (the contract it implements),
// bridge/overage, bridge/stats, bridge/bypass and license; it builds the view
// (package view). daemon builds and runs it, daemon/demo through daemon.
package node
