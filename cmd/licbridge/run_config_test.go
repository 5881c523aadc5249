package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/licbridge/licbridge/config"
)

// TestRunHelpDefaults: every flag of run --help states at most one default,
// and the one it states is package config's (the help once said
// "--lapse ... (default 15s) (default: 0s)").
func TestRunHelpDefaults(t *testing.T) {
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &out
	if err := app.RunContext(context.Background(), []string{"licbridge", "run", "--help"}); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	marker := regexp.MustCompile(`\(default[: ]`)
	for _, line := range strings.Split(help, "\n") {
		if n := len(marker.FindAllString(line, -1)); n > 1 {
			t.Errorf("two defaults on one line: %s", strings.TrimSpace(line))
		}
	}
	for flag, want := range map[string]string{
		"lapse":           "(default: 15s)",
		"deadline":        "(default: 500ms)",
		"reconcile-every": "(default: 1m0s)",
		"drain-timeout":   "(default: 0s)",
		"sipmon-interval": "(default: 5s)",
		"pool":            `(default: "cluster")`,
		"agi-listen":      `(default: "127.0.0.1:4573")`,
	} {
		line := regexp.MustCompile(`(?m)^\s*--` + flag + ` value.*$`).FindString(help)
		if !strings.Contains(line, want) {
			t.Errorf("--%s: help %q, want it to state %s", flag, strings.TrimSpace(line), want)
		}
	}
	if t.Failed() {
		t.Logf("help:\n%s", help)
	}
}

func TestNodeIDKept(t *testing.T) {
	dir := t.TempDir()
	a, err := config.NodeID("", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.NodeID("", dir)
	if err != nil || a != b || !config.NodeIDPattern.MatchString(a) {
		t.Fatalf("derived %q then %q (%v): want the same, valid", a, b, err)
	}
	if c, err := config.NodeID("pbx-1", dir); err != nil || c != "pbx-1" {
		t.Fatalf("configured: %q %v", c, err)
	}
}
