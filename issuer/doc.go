// Package issuer is the vendor side of licensing: it holds the signing key
// and the activation database (SQLite by default, PostgreSQL for a replicated
// deployment, schema migrations versioned), issues entitlements whose key ID
// is also the activation code, and enforces the activation limits when a host
// registers (three distinct hosts per key; ffa: one host, and one ffa key per
// host), online over its HTTP API or offline through request and answer files.
// Every activation, deactivation and refusal is audited; keys are logged only
// by a short hash.
//
// Neighbours: it signs and checks key files with license (its only import
// from this module); cmd/licbridge's `issuer` and `license register|update|
// deactivate|request|install` commands and daemon's periodic update are its
// callers (the host side in hostside.go and client.go).
package issuer
