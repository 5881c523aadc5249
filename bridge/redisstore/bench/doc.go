// Package bench sizes a licbridge deployment against a real Redis: it
// simulates nodes (each heartbeating, each presenting keys) that admit and
// release channels through the same store code the daemon runs, and reports
// the latencies, the admissions per second reached and what Redis itself
// spent. Everything it writes lives under products of its own
// ("bench-<run>-<i>"), removed when it ends.
//
// Neighbours: it drives bridge/redisstore the way the daemon's bridge does;
// cmd/licbridge's bench admission runs it.
package bench
