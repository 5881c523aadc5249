package license

import "fmt"

// Mode is a product's enforcement mode: what admission does once every
// licensed channel is in use. It is the one Mode of licbridge: the admission
// core (bridge) and the over-limit cycle (bridge/overage) name it by alias.
type Mode string

// Enforcement modes. The zero value means ModeHard.
const (
	// ModeHard never admits beyond the total (reason OVER_LIMIT). The default.
	ModeHard Mode = "hard"
	// ModeGrace admits beyond the total, recording the overage, and counts
	// over-limit days; it locks after 14 of them in a row (reason LOCKED).
	ModeGrace Mode = "grace"
	// ModeMonitor never refuses; it counts and reports like grace.
	ModeMonitor Mode = "monitor"
)

// ParseMode reads a mode name as written in the config file; "" is ModeHard.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "":
		return ModeHard, nil
	case ModeHard, ModeGrace, ModeMonitor:
		return Mode(s), nil
	}
	return "", fmt.Errorf("enforcement mode %q: want hard, grace or monitor", s)
}
