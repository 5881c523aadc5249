// Package stats keeps the concurrency statistics of licensed channels: the
// peak number of channels in use per product, cluster-wide and per node, in
// 60-minute windows, and per calendar day, for 14 days (DESIGN.md,
// "Statistics and reports"). Daily peaks also drive the over-limit policy.
//
// Windows and days are counted in a configured time zone. Nodes record into a
// shared Store with "raise to at least" updates, so the cluster-wide record of
// a window is the highest count any node saw in it; a local cache keeps the
// store out of the path of every observation that is not a new peak.
//
// Neighbours: bridge/node records into it, bridge/stats/chart draws its
// reports, and daemon and cmd/licbridge (stats) read it. It imports nothing of
// licbridge's.
package stats
