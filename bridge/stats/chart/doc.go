// Package chart prints concurrency reports for a terminal: per day, the peak,
// a bar, and a sparkline of the 24 hourly peaks. It is what `licbridge stats
// concurrent` shows.
//
// Neighbours: it draws bridge/stats reports for cmd/licbridge's stats command.
package chart
