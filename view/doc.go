// Package view is the one model of licences and usage that every surface
// shows: the CLI (licbridge show licenses), the admin HTTP API and the status
// page. bridge/node builds it from a running node (or a reading bridge on the
// shared store); the CLI builds the keys-and-totals part from key files alone
// (FromSet). Key files map to keys in one place (KeyOf), so the surfaces
// cannot disagree on a key's status or binding.
//
// Neighbours: it reads license (key files); admin serves it; nothing here
// imports bridge/*.
package view
