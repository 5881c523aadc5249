// Package redisstore is the shared bridge.Store on Redis, through go-redis's
// universal client, so one address serves a standalone server, Sentinel or
// Redis Cluster. Every decision runs server-side in a Lua script (loaded once,
// run by EVALSHA, falling back to EVAL after a server restart); all keys of
// one product share the hash tag {lb:<product>}, so each script touches a
// single Cluster slot.
//
// Keys, for product P and node N (lua/common.lua has the fields):
//
//	{lb:P}:s       HASH  the product's state: per node its live-until (ms,
//	                     from the node's clock), units held, passive count,
//	                     legs its SIP monitor sees on the wire, keys; and the
//	                     pool's totals (units, channels, live nodes, passive
//	                     counts, wire legs), kept up to date as nodes and keys
//	                     come and go, so that a decision or a read of the
//	                     totals reads a few fields whatever the number of
//	                     nodes and keys
//	{lb:P}:ex      ZSET  live node -> live-until: lapsed nodes are found here
//	{lb:P}:kx      ZSET  node and key ID -> the key's end
//	{lb:P}:ko      ZSET  key ID, node, channels: who presents each key ID (the
//	                     first node by name owns it; a key ID counts once)
//	{lb:P}:c1:N    HASH  channels that count alone -> 1
//	{lb:P}:c:N     HASH  channels of calls -> unit (the call)
//	{lb:P}:u:N     HASH  unit -> channels holding it
//	lb:products    SET   products in use
//
// Neighbours: it implements bridge.Store; daemon dials it, config checks its
// addresses and bridge/redisstore/bench measures it.
package redisstore
