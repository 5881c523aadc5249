// Package dialplan is licbridge's side of the Asterisk dialplan: the FastAGI server
// that `AGI(agi://HOST:4573/admit,PRODUCT)` calls, and the dialplan snippets that
// `licbridge dialplan` prints.
//
// The server decodes a request into the admission contract (package admission),
// asks an admission.Admitter (implemented by the admission core, which this
// package does not import), sets the LICBRIDGE_* variables the contract lists, and
// closes the socket at once: Asterisk keeps the channel, and its hangup, waiting
// until the FastAGI server closes. The AGI line protocol itself is in the agi
// sub-package.
//
// Neighbours: admission (the contract, shared with package ari), license (the
// product-name grammar and the built-in products), dialplan/agi (the wire).
package dialplan
