// Package overage is the over-limit policy of a product: the enforcement mode
// (hard, grace, monitor) and, in grace mode, the day-counting state machine that
// moves a product from OK through GRACE and LOCKDOWN to LOCKED.
//
// The rules (DESIGN.md, "Over the limit"):
//   - An over-limit day is a calendar day, in the configured time zone, on which
//     the demand for channels exceeded the stacked total.
//   - 1-3 consecutive over-limit days are GRACE; from the 4th, LOCKDOWN (warn,
//     with a countdown to the lock); from the 14th, LOCKED: over-limit
//     admissions are refused with reason LOCKED.
//   - A day within the limit (including a day with no traffic at all) resets the
//     count when it ends.
//   - More capacity unlocks at once: when the total reaches the highest demand
//     seen on the over-limit days of the current run, the run is forgiven.
//
// Demand, not admitted use, decides whether a day is over: an admission refused
// because the product is LOCKED still marks the day as over-limit. Otherwise a
// lock would lift itself after one refused day, which is not what the rule says.
//
// The state lives in a shared Store so that every node of the cluster reads and
// writes the same record; updates are compare-and-set, so two nodes crossing
// midnight or the limit at the same time agree. The machine is pure apart from
// the store: the clock and time zone are injected.
//
// Neighbours: it takes Mode from license; bridge/node feeds it the over-limit
// days and asks it whether a product is locked; daemon builds it and its
// store.
package overage
