package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole of licbridge's settings, as read from the YAML file named
// by --config over Default(); flags and LICBRIDGE_* variables, when set,
// override the file. contrib/licbridge.yaml documents every field.
type Config struct {
	// NodeID names this node in the cluster. Default: derived once from the host
	// name and kept in StateDir.
	NodeID string `yaml:"node_id"`
	// StateDir keeps the node ID and the fail-open journal. Default /var/lib/licbridge.
	StateDir string `yaml:"state_dir"`

	// LicensesDirs are searched after the defaults /var/lib/asterisk/licenses and
	// /var/lib/digium/licenses.
	LicensesDirs []string `yaml:"licenses_dirs"`
	// IssuerPub lists the issuer public key files (issuer.pub) whose signatures are trusted.
	IssuerPub []string `yaml:"issuer_pub"`
	// HostID overrides the host ID computed from Ethernet MAC addresses (an opt-in
	// fallback for machines with no physical NIC).
	HostID string `yaml:"host_id"`
	// Domain is the cluster name that domain-bound keys must name.
	Domain string `yaml:"domain"`
	// RenewalGrace is how long an auto-renew key keeps counting after its formal end. Default 20 days.
	RenewalGrace time.Duration `yaml:"renewal_grace"`
	// Products adds products to the built-in catalog (g729, hpec, fax, ffa).
	Products []ProductConfig `yaml:"products"`

	// Issuer is the issuer service that run fetches updated key files from.
	Issuer IssuerConfig `yaml:"issuer"`

	// Store is the shared counter store.
	Store StoreConfig `yaml:"store"`
	// Enforcement per product: hard (default), grace or monitor.
	Enforcement map[string]string `yaml:"enforcement"`
	// Counting per product: channel (default) or call (legs of one Linkedid count once).
	Counting map[string]string `yaml:"counting"`
	// TimeZone in which over-limit days are counted. Default UTC.
	TimeZone string `yaml:"time_zone"`

	AMI    AMIConfig    `yaml:"ami"`
	ARI    ARIConfig    `yaml:"ari"`
	AGI    AGIConfig    `yaml:"agi"`
	HTTP   HTTPConfig   `yaml:"http"`
	SIPMon SIPMonConfig `yaml:"sipmon"`

	// Passive configures passive accounting of channels that never ask for admission.
	Passive PassiveConfig `yaml:"passive"`
	// Bypass configures the bypass alert (bridge/bypass).
	Bypass BypassConfig `yaml:"bypass"`
	// ReconcileEvery is the period of the reconciliation with Asterisk's channel
	// list (also done on every AMI connect). Default 1m.
	ReconcileEvery time.Duration `yaml:"reconcile_every"`
	// DrainTimeout bounds the drain on SIGTERM. Default 0: until the last holding ends.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// NoAsterisk runs without AMI and ARI (a test node that only serves FastAGI).
	NoAsterisk bool `yaml:"no_asterisk"`
}

// BypassConfig configures the bypass alert.
type BypassConfig struct {
	// After is how long observed use (wire legs or AMI passive) must exceed
	// admitted use before the alert is raised. Default 1m.
	After time.Duration `yaml:"after"`
}

// PassiveConfig configures passive accounting (AMI only).
type PassiveConfig struct {
	// Disabled turns it off.
	Disabled bool `yaml:"disabled"`
	// Codecs maps a native audio format to a product. Default {g729: g729}.
	Codecs map[string]string `yaml:"codecs"`
	// FaxProduct is the product fax sessions count as. Default fax.
	FaxProduct string `yaml:"fax_product"`
	// HangupOverLimit hangs up unadmitted channels beyond the licensed total.
	HangupOverLimit bool `yaml:"hangup_over_limit"`
	// HangupCause is the Q.850 cause of those hangups. Default 34.
	HangupCause int `yaml:"hangup_cause"`
}

// ProductConfig describes an operator-defined product.
type ProductConfig struct {
	Name string `yaml:"name"`
	// Stacks: keys of this product add up. Default true.
	Stacks *bool `yaml:"stacks"`
	// MaxHosts is how many distinct host IDs one key may be activated on. Default 3.
	MaxHosts int `yaml:"max_hosts"`
	// OnePerHost: only one key of this product may be used on a host.
	OnePerHost bool `yaml:"one_per_host"`
}

// StoreConfig selects and tunes the counter store.
type StoreConfig struct {
	// Redis is a redis:// URL or host:port (a comma list for Cluster or Sentinel).
	// Empty: the embedded single-node store.
	Redis string `yaml:"redis"`
	// Password for Redis; never logged.
	Password string `yaml:"password"`
	// SentinelMaster names the master when Redis lists Sentinels.
	SentinelMaster string `yaml:"sentinel_master"`
	// Pool is "cluster" (default: one pool of all live nodes' keys) or "per-host".
	Pool string `yaml:"pool"`
	// Lapse is how long a silent node's channels keep counting. Default 15s.
	Lapse time.Duration `yaml:"lapse"`
	// Deadline bounds one admission's store call; a miss decides that call by
	// the outage policy and is no outage by itself. Default 500ms.
	Deadline time.Duration `yaml:"deadline"`
	// Outage is fail-open (default) or fail-closed.
	Outage string `yaml:"outage"`
	// FailOpenBudget bounds what fail-open admits without the store, per
	// product: "share" (default: this node's share of the free channels at its
	// last contact), a number of channels, or "unlimited".
	FailOpenBudget string `yaml:"fail_open_budget"`
}

// IssuerConfig is the issuer service (licbridge issuer serve) as a node sees it.
type IssuerConfig struct {
	// URL of the issuer (https://issuer.example:7443). Empty: run fetches no
	// updates (license update --issuer still can).
	URL string `yaml:"url"`
	// UpdateEvery is how often run fetches the current file of every
	// installed key (renewals, channel upgrades); 0 disables. Default 6h,
	// only when URL is set.
	UpdateEvery time.Duration `yaml:"update_every"`
	// CA is a PEM CA certificate file the issuer's TLS certificate chains to
	// (a private CA). Empty: the system's roots.
	CA string `yaml:"ca"`
}

// AMIConfig is the Asterisk Manager Interface connection.
type AMIConfig struct {
	Addr   string `yaml:"addr"`
	User   string `yaml:"user"`
	Secret string `yaml:"secret"`
}

// ARIConfig is the Asterisk REST Interface connection.
type ARIConfig struct {
	URL      string `yaml:"url"`
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// App is the Stasis application name. Default licbridge.
	App string `yaml:"app"`
}

// AGIConfig is the FastAGI listener.
type AGIConfig struct {
	// Listen address. Default 127.0.0.1:4573; "off" disables.
	Listen string `yaml:"listen"`
	// Allow lists the client networks (CIDR) that may connect. Default loopback only.
	Allow []string `yaml:"allow"`
}

// HTTPConfig is the admin API, metrics and status page.
type HTTPConfig struct {
	// Listen address. Default 127.0.0.1:8089; "off" disables.
	Listen string `yaml:"listen"`
	// Token is the bearer token required off loopback; never logged.
	Token string `yaml:"token"`
}

// SIPMonConfig configures the SIP side monitor (licbridge sipmon); its flags
// override these.
type SIPMonConfig struct {
	// CorrelationHeader ties legs with different Call-IDs (for example X-CID).
	CorrelationHeader string `yaml:"correlation_header"`
	// DialogTimeout closes a dialog silent for this long, on the capture clock
	// (message times). Default 2h.
	DialogTimeout time.Duration `yaml:"dialog_timeout"`
	// MaxDialogs caps the open dialogs per sensor; beyond it the stalest is
	// evicted. Default 200000.
	MaxDialogs int `yaml:"max_dialogs"`
	// SensorTolerance is how far apart in time two sensors' records of one call
	// may be and still count once. Default 2s.
	SensorTolerance time.Duration `yaml:"sensor_tolerance"`
	// Interface, when set, makes licbridge run capture SIP on it with its
	// built-in monitor ("any" for all). Filter is the capture filter for it.
	Interface string `yaml:"interface"`
	Filter    string `yaml:"filter"`
	// HEPListen, when set, makes licbridge run receive HEPv3 on it (UDP and TCP).
	HEPListen string `yaml:"hep_listen"`
	// Interval is how often licbridge run's built-in monitor publishes its
	// counts. Default 5s.
	Interval time.Duration `yaml:"interval"`
}

// Load reads the YAML file at path over Default(); an empty path is Default().
func Load(path string) (*Config, error) {
	cfg := Default()
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := Decode(b, cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Decode reads YAML over cfg. It is strict: an unknown key is an error, so that
// a typo does not silently fall back to a default.
func Decode(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
