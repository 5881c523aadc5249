package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/licbridge/licbridge/bridge"
	"github.com/licbridge/licbridge/bridge/redisstore"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/license"
)

// Settings are a validated Config in typed form: what the daemon is built
// from. The Config is kept for the plain strings (addresses, secrets).
type Settings struct {
	*Config
	// Catalog is the built-in products plus the config's.
	Catalog *license.Catalog
	// Modes and Counting per product, every name in Catalog.
	Modes    map[string]bridge.Mode
	Counting map[string]bridge.Counting
	Pool     bridge.Pool
	Outage   bridge.Outage
	// Budget is the fail-open budget (bridge.BudgetShare, BudgetUnlimited or a count).
	Budget   int
	Location *time.Location
	// AGIAllow is agi.allow parsed (nil: the FastAGI server's default, loopback).
	AGIAllow []netip.Prefix
	// Codecs is passive.codecs, or DefaultCodecs when the file gives none.
	Codecs map[string]string
}

// Validate checks every setting that does not need the network and parses
// it. Each error names the setting and the reason.
func (c *Config) Validate() (*Settings, error) {
	s := &Settings{Config: c, Modes: map[string]bridge.Mode{}, Counting: map[string]bridge.Counting{}}
	var err error
	if s.Catalog, err = c.Catalog(); err != nil {
		return nil, err
	}
	known := func(setting, p string) error {
		if _, ok := s.Catalog.Lookup(p); !ok {
			return fmt.Errorf("%s of %q: unknown product (known: %s; add others under products)", setting, p, strings.Join(s.Catalog.Names(), ", "))
		}
		return nil
	}
	for _, p := range sortedKeys(c.Enforcement) {
		if err := known("enforcement", p); err != nil {
			return nil, err
		}
		if s.Modes[p], err = bridge.ParseMode(c.Enforcement[p]); err != nil {
			return nil, fmt.Errorf("enforcement of %s: %w", p, err)
		}
	}
	for _, p := range sortedKeys(c.Counting) {
		if err := known("counting", p); err != nil {
			return nil, err
		}
		if s.Counting[p], err = bridge.ParseCounting(c.Counting[p]); err != nil {
			return nil, fmt.Errorf("counting of %s: %w", p, err)
		}
	}
	if s.Pool, err = bridge.ParsePool(c.Store.Pool); err != nil {
		return nil, fmt.Errorf("store pool: %w", err)
	}
	if s.Outage, err = bridge.ParseOutage(c.Store.Outage); err != nil {
		return nil, fmt.Errorf("store outage: %w", err)
	}
	if s.Budget, err = bridge.ParseBudget(c.Store.FailOpenBudget); err != nil {
		return nil, fmt.Errorf("store fail_open_budget: %w", err)
	}
	if s.Location, err = c.Zone(); err != nil {
		return nil, err
	}
	// (sipmon.interval is the SIP monitor's to check, with its other settings.)
	for name, d := range map[string]time.Duration{
		"--lapse (config store.lapse)": c.Store.Lapse, "--deadline (config store.deadline)": c.Store.Deadline,
		"--renewal-grace (config renewal_grace)": c.RenewalGrace, "--drain-timeout (config drain_timeout)": c.DrainTimeout,
		"bypass.after": c.Bypass.After, "--issuer-update-every (config issuer.update_every)": c.Issuer.UpdateEvery,
	} {
		if d < 0 {
			return nil, fmt.Errorf("%s %s: must not be negative", name, d)
		}
	}
	if c.AMI.Addr != "" {
		if _, _, err := net.SplitHostPort(c.AMI.Addr); err != nil {
			return nil, fmt.Errorf("--ami-addr %q: want HOST:PORT (config ami.addr)", c.AMI.Addr)
		}
	}
	if c.ARI.URL != "" && !strings.HasPrefix(c.ARI.URL, "http://") && !strings.HasPrefix(c.ARI.URL, "https://") {
		// The URL may carry a password: it is shown redacted.
		return nil, fmt.Errorf("--ari-url %q: want http://HOST:PORT or https://HOST:PORT (config ari.url)", redisstore.Redact(c.ARI.URL))
	}
	if err := c.validateIssuer(); err != nil {
		return nil, err
	}
	if s.AGIAllow, err = dialplan.ParseAllow(c.AGI.Allow); err != nil {
		return nil, fmt.Errorf("agi allow: %w", err)
	}
	s.Codecs = c.Passive.Codecs
	if s.Codecs == nil {
		s.Codecs = DefaultCodecs()
	}
	for codec, p := range s.Codecs {
		if err := known("passive codec "+codec, p); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Zone is time_zone as a location (empty: UTC).
func (c *Config) Zone() (*time.Location, error) {
	if c.TimeZone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", c.TimeZone, err)
	}
	return loc, nil
}

// Catalog is the built-in catalog plus the config's products.
func (c *Config) Catalog() (*license.Catalog, error) {
	extra := make([]license.Product, 0, len(c.Products))
	for _, p := range c.Products {
		stacks := true
		if p.Stacks != nil {
			stacks = *p.Stacks
		}
		extra = append(extra, license.Product{Name: p.Name, Stacks: stacks, MaxHosts: p.MaxHosts, OnePerHost: p.OnePerHost})
	}
	cat, err := license.NewCatalog(extra...)
	if err != nil {
		return nil, fmt.Errorf("config products: %w", err)
	}
	return cat, nil
}

// CheckIntervalFlag refuses a --sipmon-interval flag (given: its value)
// that cannot work: the node builds the embedded monitor from the merged
// config, where a zero sipmon.interval from the file means the default but a
// zero flag is an error. Without an input (no monitor) the interval is not
// read.
func (s SIPMonConfig) CheckIntervalFlag(given *time.Duration) error {
	if (s.Interface != "" || s.HEPListen != "") && given != nil && *given <= 0 {
		return fmt.Errorf("--sipmon-interval %v: must be positive", *given)
	}
	return nil
}

// ProductNames are the built-in products' names, then the config's, as
// written (unchecked: a reader asks the store about each by name).
func (c *Config) ProductNames() []string {
	names := license.BuiltinProductNames()
	for _, p := range c.Products {
		names = append(names, p.Name)
	}
	return names
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// validateIssuer checks issuer.url (the form only: reaching it is the
// updater's job, and an unreachable issuer is no start-up error).
func (c *Config) validateIssuer() error {
	if c.Issuer.URL == "" {
		return nil
	}
	u, err := url.Parse(c.Issuer.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--issuer-url %q: want https://HOST[:PORT] (config issuer.url)", redisstore.Redact(c.Issuer.URL))
	}
	if c.Issuer.UpdateEvery > 0 && c.Issuer.UpdateEvery < time.Minute {
		return fmt.Errorf("--issuer-update-every %s: at least 1m, the issuer rate-limits (config issuer.update_every)", c.Issuer.UpdateEvery)
	}
	return nil
}
