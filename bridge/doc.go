// Package bridge is licbridge's admission core: it admits or refuses each
// licensed channel against the stacked, cluster-wide total kept in a shared
// Store, releases and reconciles holdings, keeps the node live with heartbeats
// so that a dead node's holdings lapse by themselves, and follows the outage
// policy (fail-open with a local journal, or fail-closed) when the store does
// not answer within its deadline.
//
// A Bridge serves one node. Protocol packages (ami, ari, dialplan) reach it
// through small interfaces of their own; Admit, Release and Reconcile are safe
// for concurrent use. Run must be running for heartbeats and for recovery
// after a store outage.
//
// Data model (both stores): per product, a set of live nodes each with an
// expiry time stamped from the node's own clock; per node, its channels (each
// mapped to the unit it counts as), its units with reference counts, its
// published keys, its passive (observed) count and its SIP monitor's wire
// count. Only live nodes count, so a node
// that stops heartbeating stops counting at its expiry with nobody acting; the
// next store operation that notices removes its data.
//
// Two counts sit beside the admitted units and never overwrite each other:
// Observed, the channels that use a product without asking for admission
// (passive accounting over AMI, PublishObserved), and Wire, the legs a SIP
// monitor sees in the signalling (PublishWire; WireLegs for all legs). A SIP
// monitor publishes as a node of its own that holds no keys and no channels,
// so that its count lapses when it dies.
//
// Files, one concern each: bridge.go (Options, New, the Bridge's state),
// admit.go (Admit and the outage policy for one admission), release.go
// (Release and the release events), reconcile.go (Reconcile, resync,
// PublishKeys), publish.go (passive and wire counts), health.go (usage, store
// health, events), run.go (heartbeats and recovery), journal.go (the fail-open
// journal), headroom.go (the fail-open budget).
//
// Neighbours: package license names the products and the enforcement Mode;
// bridge/redisstore and MemStore implement Store; bridge/node wires a Bridge
// to Asterisk (AMI, ARI, FastAGI) and implements the admission contract
// (package admission) on top of it. Protocol packages never import bridge.
package bridge
