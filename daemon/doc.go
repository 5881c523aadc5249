// Package daemon is licbridge's one composition root: from validated
// settings (package config) it builds the counter store, the admission core
// (bridge), the node beside Asterisk (bridge/node: AMI, ARI, FastAGI), the
// licence watcher, the over-limit tracker, the statistics, the admin HTTP
// server, the embedded SIP side monitor (sipmon.interface, sipmon.hep_listen)
// and the event router between them. licbridge run, licbridge demo and
// licbridge show licenses --redis all build here, so the three cannot drift
// apart; cmd/licbridge only parses flags and prints. It is also the root of
// the standalone SIP monitor (NewMonitor: licbridge sipmon hep|live), of the
// licence key-set wiring (LoadLicenses, TrustedIssuers) and of the store
// other commands read (DialStore, OpenStatsStore).
//
// Neighbours: cmd/licbridge and daemon/demo above; below, config for the
// settings, bridge and its packages (node, redisstore, overage, stats,
// bypass), the protocol packages (ami, ari, dialplan, sipmon), admin, issuer,
// license and view.
package daemon
