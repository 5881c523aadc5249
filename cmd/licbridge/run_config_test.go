package main

import (
	"os"
	"testing"
	"time"

	"github.com/licbridge/licbridge/bridge"
)

// TestExampleConfigParses keeps licbridge.example.yaml in step with Config:
// the decoder is strict, so a key the struct lacks fails here.
func TestExampleConfigParses(t *testing.T) {
	b, err := os.ReadFile("../../licbridge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := decodeConfig(b, &cfg); err != nil {
		t.Fatalf("licbridge.example.yaml: %v", err)
	}
	for name, ok := range map[string]bool{
		"store.lapse":         cfg.Store.Lapse == 15*time.Second,
		"store.deadline":      cfg.Store.Deadline == bridge.DefaultDeadline,
		"store.budget":        cfg.Store.FailOpenBudget == "share",
		"ami.addr":            cfg.AMI.Addr == "127.0.0.1:5038",
		"agi.listen":          cfg.AGI.Listen == "127.0.0.1:4573",
		"http.listen":         cfg.HTTP.Listen == "127.0.0.1:8089",
		"passive.codecs":      cfg.Passive.Codecs["g729"] == "g729",
		"passive cause":       cfg.Passive.HangupCause == 34,
		"reconcile_every":     cfg.ReconcileEvery == time.Minute,
		"renewal_grace":       cfg.RenewalGrace == 480*time.Hour,
		"issuer_pub":          len(cfg.IssuerPub) == 1,
		"store.outage":        cfg.Store.Outage == "fail-open",
		"store.pool":          cfg.Store.Pool == "cluster",
		"ari.app":             cfg.ARI.App == "licbridge",
		"passive.fax_product": cfg.Passive.FaxProduct == "fax",
		"sipmon.max_dialogs":  cfg.SIPMon.MaxDialogs == 200000,
		"sipmon.interval":     cfg.SIPMon.Interval == 5*time.Second,
	} {
		if !ok {
			t.Errorf("%s: unexpected value in %+v", name, cfg)
		}
	}
}

func TestNodeIDKept(t *testing.T) {
	dir := t.TempDir()
	a, err := nodeID("", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nodeID("", dir)
	if err != nil || a != b || !validNodeID.MatchString(a) {
		t.Fatalf("derived %q then %q (%v): want the same, valid", a, b, err)
	}
	if c, err := nodeID("pbx-1", dir); err != nil || c != "pbx-1" {
		t.Fatalf("configured: %q %v", c, err)
	}
}
