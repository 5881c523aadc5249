// Package demo is licbridge demo's story: sample keys minted with a fresh
// issuer, a node built by the composition root (package daemon) on the
// embedded store beside the Asterisk double, and a burst of calls through
// FastAGI and ARI, told line by line. cmd/licbridge runs it and prints
// show licenses after it.
//
// Neighbours: it builds its node through daemon (the root run uses too) and
// plays internal/asterisksim against it; cmd/licbridge's demo command runs it.
package demo
