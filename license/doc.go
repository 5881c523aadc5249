// Package license is licbridge's licensing domain: license key files, their
// ed25519 signatures, the product catalog, host IDs, validity over time, stacking,
// and loading (and watching) the license directories of a node.
//
// The package is pure: it parses from an io.Reader, applies its rules as functions
// over values, and takes the time and the host ID from its caller. Only Load, the
// Watcher and ReadHostID touch the file system, and each takes its root from the
// caller. It imports no other licbridge package.
//
// # Key files
//
// A key file holds one key as human-readable "Name: value" lines, in the manner
// of an RFC 822 header block:
//
//	# licbridge license key. Do not edit: any change breaks the signature.
//	Licbridge-License: 1
//	Key-ID: G729-5F2C81D0
//	Product: g729
//	Channels: 10
//	Binding: host-id A1B2-C3D4-E5F6
//	Issued: 2026-11-22T00:00:00Z
//	Ends: 2027-11-22T00:00:00Z
//	Auto-Renew: no
//	Kind: commercial
//	Issuer: 3f9a0c11d2e4b567
//	Signature: <base64 of the 64-byte ed25519 signature>
//
// Parsing is strict. A leading UTF-8 byte order mark, blank lines and lines
// starting with "#" are ignored (and not signed). The first field must be
// "Licbridge-License: 1". Field names match case-insensitively; every field above
// is required exactly once; any other field is an error. Values are checked:
//
//   - Key-ID: 1 to 64 characters of [A-Za-z0-9._-], starting with a letter or digit.
//   - Product: 1 to 32 characters of [a-z0-9_-], starting with a letter or digit.
//     The catalog decides later whether the product is known.
//   - Channels: a positive decimal integer without sign or leading zeros, at most 1000000.
//   - Binding: "none", "host-id XXXX-XXXX-XXXX" (a host ID in its printed form)
//     or "domain NAME" (1 to 253 characters of [a-z0-9._-]).
//   - Issued, Ends: UTC instants in the exact form 2006-01-02T15:04:05Z; Ends must
//     be after Issued.
//   - Auto-Renew: "yes" or "no"; only commercial keys may auto-renew.
//   - Kind: "commercial", "trial" or "emergency".
//   - Issuer: the issuer's key fingerprint (see IssuerID), 16 lowercase hex digits.
//   - Signature: standard base64 (with padding) of a 64-byte ed25519 signature.
//
// Errors name the file and, where there is one, the line.
//
// # Canonical form
//
// The signature is ed25519 over the canonical form of the fields, which is the
// following lines, each ended by a single "\n" (LF), in this order, with the values
// written exactly as in a valid file (values never contain a newline):
//
//	licbridge-license-v1
//	key-id:<Key-ID>
//	product:<Product>
//	channels:<Channels>
//	binding:<Binding>
//	issued:<Issued>
//	ends:<Ends>
//	auto-renew:<yes|no>
//	kind:<Kind>
//	issuer:<Issuer>
//
// Comments, field order, field name case and line endings of the file are thus
// free, while any change to a value breaks the signature. Key.Canonical returns
// these bytes.
//
// # Issuer key files
//
// issuer.key holds the private key as "Licbridge-Issuer-Private-Key: <base64 of the
// 32-byte ed25519 seed>" and must be kept secret (written with mode 0600);
// issuer.pub holds one or more "Licbridge-Issuer-Public-Key: <base64 of 32 bytes>"
// lines. A node trusts every public key it is given (see Trusted); a key file names
// its issuer by fingerprint so that several issuers can be trusted at once.
//
// # Validity over time
//
// A key counts from its Issued instant (inclusive) until the end of its window
// (exclusive):
//
//   - commercial, no auto-renew: until Ends;
//   - commercial, auto-renew: until Ends plus the renewal grace window (20 days by
//     default), reported as "in renewal grace" after Ends;
//   - trial: until Ends;
//   - emergency: until Issued plus 30 days, or Ends if that is earlier.
//
// Warnings are given 14, 7 and 1 days before the window ends.
//
// # Stacking
//
// The total of a product is the sum of the channels of its valid keys. Products
// that do not stack, or allow one key per host (ffa), count only the first valid
// key by key ID; the others are reported as ignored, with why. When several
// authentic files carry the same key ID, the one with the latest end date is used
// and the others are reported as superseded. The choice is made among the files
// that are authentic and bound to this node, preferring one that counts now, so a
// renewal issued ahead of time does not displace the current key before it starts.
//
// # Loading and watching
//
// Load reads every *.lic file of the directories it is given (by default
// /var/lib/asterisk/licenses and /var/lib/digium/licenses, which may be missing,
// then the operator's own, which must exist), in parallel, and evaluates them all
// at one instant into an immutable Set. A file that cannot be read, parsed or
// trusted is an entry with its reason; it never stops the others. A Watcher keeps
// the current Set behind an atomic pointer and replaces it on Reload (wire SIGHUP
// to it), on changes in the directories (fsnotify, debounced), and when a key's
// time comes; subscribers hear of every Set that differs from the previous one.
//
// Neighbours: it imports nothing of licbridge's; view, bridge, bridge/node,
// bridge/overage, config, daemon, issuer, dialplan and ari build on it.
package license
