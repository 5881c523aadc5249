package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Flags is what Merge reads: *cli.Context satisfies it. IsSet is true when the
// flag or its LICBRIDGE_* variable was given.
type Flags interface {
	IsSet(name string) bool
	String(name string) string
	StringSlice(name string) []string
	Duration(name string) time.Duration
	Bool(name string) bool
	Int(name string) int
}

// Kind is a flag's value type.
type Kind int

// Flag kinds.
const (
	KindString Kind = iota
	KindStrings
	KindDuration
	KindBool
	KindPairs // repeatable PRODUCT=VALUE over a map
	KindInt
)

// Flag is one command-line flag over one config field. Every command that
// offers the flag merges it the same way: it overrides the file when given.
type Flag struct {
	Name  string
	Kind  Kind
	Usage string
	// Key is the config file key, named in the help.
	Key string
	// Append: a repeatable flag adds to the file's list instead of replacing it.
	Append bool
	// EnvVar, when set, is the environment variable instead of the one Env
	// derives from the name (the sipmon tracking flags are LICBRIDGE_SIPMON_*).
	EnvVar string
	// Positive: a duration or count given on the command line must be above
	// zero (in the file, zero means the default).
	Positive bool
	field    func(*Config) any
}

// Env is the flag's environment variable: LICBRIDGE_ and the name in capitals.
func (f Flag) Env() string {
	if f.EnvVar != "" {
		return f.EnvVar
	}
	return "LICBRIDGE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
}

// Default is the flag's default in Default(), for the help; nil when it has
// none worth showing.
func (f Flag) Default() any {
	switch v := f.field(Default()).(type) {
	case *string:
		if *v != "" {
			return *v
		}
	case *time.Duration:
		return *v
	case *int:
		return *v
	}
	return nil
}

func str(f func(*Config) *string) func(*Config) any { return func(c *Config) any { return f(c) } }
func dur(f func(*Config) *time.Duration) func(*Config) any {
	return func(c *Config) any { return f(c) }
}

// flags is every flag that sets a config field, in the order licbridge run's
// help lists them.
var flags = []Flag{
	{Name: "node-id", Key: "node_id", Usage: "this node's name in the cluster (none: derived once from the host name, kept in --state-dir)", field: str(func(c *Config) *string { return &c.NodeID })},
	{Name: "state-dir", Key: "state_dir", Usage: "where the node ID, the pid file and the fail-open journal are kept", field: str(func(c *Config) *string { return &c.StateDir })},
	{Name: "licenses-dir", Key: "licenses_dirs", Kind: KindStrings, Append: true, Usage: "license directory searched after the defaults (repeatable)", field: func(c *Config) any { return &c.LicensesDirs }},
	{Name: "issuer-pub", Key: "issuer_pub", Kind: KindStrings, Usage: "trusted issuer public key file (repeatable)", field: func(c *Config) any { return &c.IssuerPub }},
	{Name: "host-id", Key: "host_id", Usage: "this host's ID, instead of the one computed from its Ethernet MACs", field: str(func(c *Config) *string { return &c.HostID })},
	{Name: "domain", Key: "domain", Usage: "this node's domain (cluster name) for domain-bound keys", field: str(func(c *Config) *string { return &c.Domain })},
	{Name: "renewal-grace", Key: "renewal_grace", Kind: KindDuration, Usage: "how long auto-renew keys count after their formal end", field: dur(func(c *Config) *time.Duration { return &c.RenewalGrace })},
	{Name: "ami-addr", Key: "ami.addr", Usage: "Asterisk Manager Interface HOST:PORT (e.g. 127.0.0.1:5038)", field: str(func(c *Config) *string { return &c.AMI.Addr })},
	{Name: "ami-user", Key: "ami.user", Usage: "AMI user (manager.conf)", field: str(func(c *Config) *string { return &c.AMI.User })},
	{Name: "ami-secret", Key: "ami.secret", Usage: "AMI secret (never logged)", field: str(func(c *Config) *string { return &c.AMI.Secret })},
	{Name: "ari-url", Key: "ari.url", Usage: "ARI base URL http://HOST:PORT (e.g. http://127.0.0.1:8088)", field: str(func(c *Config) *string { return &c.ARI.URL })},
	{Name: "ari-user", Key: "ari.user", Usage: "ARI user (ari.conf)", field: str(func(c *Config) *string { return &c.ARI.User })},
	{Name: "ari-password", Key: "ari.password", Usage: "ARI password (never logged)", field: str(func(c *Config) *string { return &c.ARI.Password })},
	{Name: "ari-app", Key: "ari.app", Usage: "Stasis application name", field: str(func(c *Config) *string { return &c.ARI.App })},
	{Name: "agi-listen", Key: "agi.listen", Usage: "FastAGI listen HOST:PORT (\"off\" disables)", field: str(func(c *Config) *string { return &c.AGI.Listen })},
	{Name: "agi-allow", Key: "agi.allow", Kind: KindStrings, Usage: "client networks (CIDR) allowed to connect to FastAGI (none: loopback only)", field: func(c *Config) any { return &c.AGI.Allow }},
	{Name: "http-listen", Key: "http.listen", Usage: "admin HTTP listen HOST:PORT (\"off\" disables)", field: str(func(c *Config) *string { return &c.HTTP.Listen })},
	{Name: "http-token", Key: "http.token", Usage: "admin HTTP bearer token, required off loopback (never logged)", field: str(func(c *Config) *string { return &c.HTTP.Token })},
	{Name: "redis", Key: "store.redis", Usage: "Redis URL or HOST:PORT (a comma list for Cluster seeds or Sentinels); empty: embedded single-node store", field: str(func(c *Config) *string { return &c.Store.Redis })},
	{Name: "redis-password", Key: "store.password", Usage: "Redis password (never logged)", field: str(func(c *Config) *string { return &c.Store.Password })},
	{Name: "sentinel-master", Key: "store.sentinel_master", Usage: "Sentinel master name when --redis lists Sentinels", field: str(func(c *Config) *string { return &c.Store.SentinelMaster })},
	{Name: "pool", Key: "store.pool", Usage: "cluster (all live nodes' keys stack) or per-host", field: str(func(c *Config) *string { return &c.Store.Pool })},
	{Name: "outage", Key: "store.outage", Usage: "when the store is unreachable: fail-open or fail-closed", field: str(func(c *Config) *string { return &c.Store.Outage })},
	{Name: "fail-open-budget", Key: "store.fail_open_budget", Usage: "fail-open admits, per product, at most: share (this node's share of the free channels at its last contact with the store), a number, or unlimited", field: str(func(c *Config) *string { return &c.Store.FailOpenBudget })},
	{Name: "lapse", Key: "store.lapse", Kind: KindDuration, Usage: "how long a silent node's channels keep counting", field: dur(func(c *Config) *time.Duration { return &c.Store.Lapse })},
	{Name: "deadline", Key: "store.deadline", Kind: KindDuration, Usage: "bound on one admission's store call; a miss decides that call by the outage policy", field: dur(func(c *Config) *time.Duration { return &c.Store.Deadline })},
	{Name: "enforcement", Key: "enforcement", Kind: KindPairs, Usage: "PRODUCT=hard|grace|monitor (repeatable; a product not named is hard)", field: func(c *Config) any { return &c.Enforcement }},
	{Name: "counting", Key: "counting", Kind: KindPairs, Usage: "PRODUCT=channel|call (repeatable; a product not named counts channels)", field: func(c *Config) any { return &c.Counting }},
	{Name: "time-zone", Key: "time_zone", Usage: "zone in which over-limit days and statistics are counted", field: str(func(c *Config) *string { return &c.TimeZone })},
	{Name: "reconcile-every", Key: "reconcile_every", Kind: KindDuration, Usage: "period of the reconciliation with Asterisk's channel list", field: dur(func(c *Config) *time.Duration { return &c.ReconcileEvery })},
	{Name: "drain-timeout", Key: "drain_timeout", Kind: KindDuration, Usage: "bound on the drain after SIGTERM (0: until the last holding ends)", field: dur(func(c *Config) *time.Duration { return &c.DrainTimeout })},
	{Name: "bypass-after", Key: "bypass.after", Kind: KindDuration, Usage: "how long observed use (wire legs or AMI passive) must exceed admitted use before the bypass alert", field: dur(func(c *Config) *time.Duration { return &c.Bypass.After })},
	{Name: "no-passive", Key: "passive.disabled", Kind: KindBool, Usage: "do not count channels that use a licensed codec or fax without asking", field: func(c *Config) any { return &c.Passive.Disabled }},
	{Name: "hangup-over-limit", Key: "passive.hangup_over_limit", Kind: KindBool, Usage: "hang up unadmitted channels that take a product beyond its total", field: func(c *Config) any { return &c.Passive.HangupOverLimit }},
	{Name: "no-asterisk", Key: "no_asterisk", Kind: KindBool, Usage: "run without AMI and ARI (a test node serving FastAGI only)", field: func(c *Config) any { return &c.NoAsterisk }},
	{Name: "sipmon-interface", Key: "sipmon.interface", Usage: "watch SIP on this interface with the built-in side monitor (\"any\" for all; needs CAP_NET_RAW)", field: str(func(c *Config) *string { return &c.SIPMon.Interface })},
	{Name: "sipmon-filter", Key: "sipmon.filter", Usage: "kernel capture filter for --sipmon-interface, e.g. \"port 5060\"", field: str(func(c *Config) *string { return &c.SIPMon.Filter })},
	{Name: "sipmon-hep", Key: "sipmon.hep_listen", Usage: "receive HEPv3 (UDP and TCP) on this HOST:PORT for the built-in side monitor", field: str(func(c *Config) *string { return &c.SIPMon.HEPListen })},
	{Name: "sipmon-interval", Key: "sipmon.interval", Kind: KindDuration, Usage: "how often the built-in side monitor publishes its counts", field: dur(func(c *Config) *time.Duration { return &c.SIPMon.Interval })},
	{Name: "issuer-url", Key: "issuer.url", Usage: "issuer service URL that run fetches updated key files from (none: no updates)", field: str(func(c *Config) *string { return &c.Issuer.URL })},
	{Name: "issuer-update-every", Key: "issuer.update_every", Kind: KindDuration, Usage: "how often run fetches updated key files from --issuer-url (0: never)", field: dur(func(c *Config) *time.Duration { return &c.Issuer.UpdateEvery })},
	{Name: "issuer-ca", Key: "issuer.ca", Usage: "CA certificate file the issuer's TLS certificate chains to (none: the system's)", field: str(func(c *Config) *string { return &c.Issuer.CA })},
	{Name: "correlation-header", Key: "sipmon.correlation_header", EnvVar: "LICBRIDGE_SIPMON_CORRELATION_HEADER", Usage: "header whose value in an initial INVITE names the Call-ID of another leg of the same call (e.g. X-CID); off when empty", field: str(func(c *Config) *string { return &c.SIPMon.CorrelationHeader })},
	{Name: "dialog-timeout", Key: "sipmon.dialog_timeout", EnvVar: "LICBRIDGE_SIPMON_DIALOG_TIMEOUT", Kind: KindDuration, Positive: true, Usage: "close a dialog silent for this long (capture time)", field: dur(func(c *Config) *time.Duration { return &c.SIPMon.DialogTimeout })},
	{Name: "max-dialogs", Key: "sipmon.max_dialogs", EnvVar: "LICBRIDGE_SIPMON_MAX_DIALOGS", Kind: KindInt, Positive: true, Usage: "cap on open dialogs per sensor; the stalest is evicted beyond it", field: func(c *Config) any { return &c.SIPMon.MaxDialogs }},
	{Name: "sensor-tolerance", Key: "sipmon.sensor_tolerance", EnvVar: "LICBRIDGE_SIPMON_SENSOR_TOLERANCE", Kind: KindDuration, Positive: true, Usage: "how far apart two sensors' records of one call may be", field: dur(func(c *Config) *time.Duration { return &c.SIPMon.SensorTolerance })},
}

// Lookup returns the flag named name.
func Lookup(name string) (Flag, bool) {
	for _, f := range flags {
		if f.Name == name {
			return f, true
		}
	}
	return Flag{}, false
}

// AllFlags lists every flag that sets a config field.
func AllFlags() []Flag { return append([]Flag(nil), flags...) }

// Merge sets every field whose flag (or variable) f has: the one way flags
// override the file, for every command. A command offers a subset of the
// flags; the others are never set. With names, only those flags are read (a
// command whose flag of the same name means something else leaves it out).
// Merging twice is harmless: a repeatable flag adds only what is missing.
func (c *Config) Merge(f Flags, names ...string) error {
	for _, fl := range flags {
		if !f.IsSet(fl.Name) || (len(names) > 0 && !slices.Contains(names, fl.Name)) {
			continue
		}
		switch dst := fl.field(c).(type) {
		case *string:
			*dst = f.String(fl.Name)
		case *time.Duration:
			if *dst = f.Duration(fl.Name); fl.Positive && *dst <= 0 {
				return fmt.Errorf("--%s %v: must be positive", fl.Name, *dst)
			}
		case *bool:
			*dst = f.Bool(fl.Name)
		case *int:
			if *dst = f.Int(fl.Name); fl.Positive && *dst <= 0 {
				return fmt.Errorf("--%s %d: must be positive", fl.Name, *dst)
			}
		case *[]string:
			if fl.Append {
				for _, v := range f.StringSlice(fl.Name) {
					if !slices.Contains(*dst, v) {
						*dst = append(*dst, v)
					}
				}
			} else {
				*dst = f.StringSlice(fl.Name)
			}
		case *map[string]string:
			if err := mergePairs(fl.Name, f.StringSlice(fl.Name), dst); err != nil {
				return err
			}
		default:
			return fmt.Errorf("config: flag --%s: no field", fl.Name)
		}
	}
	return nil
}

// mergePairs reads repeatable PRODUCT=VALUE flags over a config map.
func mergePairs(flag string, kvs []string, dst *map[string]string) error {
	if *dst == nil {
		*dst = map[string]string{}
	}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--%s %q: want PRODUCT=VALUE", flag, kv)
		}
		(*dst)[k] = v
	}
	return nil
}
