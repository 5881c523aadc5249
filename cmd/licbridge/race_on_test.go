//go:build race

package main

// raceEnabled: the tests run under the race detector, and so does the
// binary they build (a race in the daemon then fails the test that met it).
const raceEnabled = true
