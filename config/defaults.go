package config

import (
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/license"
)

// Defaults that other commands name in their help (the rest are only in Default).
const (
	DefaultStateDir   = "/var/lib/licbridge"
	DefaultAGIListen  = "127.0.0.1:4573"
	DefaultHTTPListen = "127.0.0.1:8089"
	DefaultARIApp     = "licbridge"
	DefaultTimeZone   = "UTC"
	// DefaultIssuerUpdateEvery applies when issuer.url is set.
	DefaultIssuerUpdateEvery = 6 * time.Hour
	// Off, as agi.listen or http.listen, disables that listener.
	Off = "off"
)

// Default is the configuration with nothing set: the one place where the
// defaults are written (the packages' own defaults for a zero value agree, as
// config_test checks). Maps stay nil: YAML merges into a map rather than
// replacing it, so a default map would survive a file that lists others.
func Default() *Config {
	return &Config{
		StateDir:     DefaultStateDir,
		RenewalGrace: license.DefaultRenewalGrace,
		Store: StoreConfig{
			Pool:           string(bridge.PoolCluster),
			Lapse:          bridge.DefaultLapse,
			Deadline:       bridge.DefaultDeadline,
			Outage:         string(bridge.FailOpen),
			FailOpenBudget: "share",
		},
		Issuer:   IssuerConfig{UpdateEvery: DefaultIssuerUpdateEvery},
		TimeZone: DefaultTimeZone,
		ARI:      ARIConfig{App: DefaultARIApp},
		AGI:      AGIConfig{Listen: DefaultAGIListen},
		HTTP:     HTTPConfig{Listen: DefaultHTTPListen},
		SIPMon: SIPMonConfig{
			DialogTimeout:   2 * time.Hour,
			MaxDialogs:      200000,
			SensorTolerance: 2 * time.Second,
			Interval:        5 * time.Second,
		},
		Passive: PassiveConfig{
			FaxProduct:  "fax",
			HangupCause: 34,
		},
		Bypass:         BypassConfig{After: time.Minute},
		ReconcileEvery: time.Minute,
	}
}

// DefaultCodecs is passive.codecs when the file gives none.
func DefaultCodecs() map[string]string { return map[string]string{"g729": "g729"} }
