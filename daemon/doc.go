// Package daemon is licbridge's one composition root: from validated
// settings (package config) it builds the counter store, the admission core
// (bridge), the node beside Asterisk (bridge/node: AMI, ARI, FastAGI), the
// licence watcher, the over-limit tracker, the statistics, the admin HTTP
// server and the event router between them. licbridge run, licbridge demo
// and licbridge show licenses --redis all build here, so the three cannot
// drift apart; cmd/licbridge only parses flags and prints.
package daemon
