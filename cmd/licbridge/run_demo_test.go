package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemoCalls runs licbridge demo and checks the story it tells: admissions
// up to the stacked 15, OVER_LIMIT beyond, releases on hangup, passive
// accounting, and show licenses at the end.
func TestDemoCalls(t *testing.T) {
	var out, errOut bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errOut
	if err := app.RunContext(context.Background(), []string{"licbridge", "demo"}); err != nil {
		t.Fatalf("demo: %v\n%s%s", err, out.String(), errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"FastAGI  ADMITTED              g729 15/15 in use",
		"ARI      REJECTED OVER_LIMIT   g729 15/15 in use",
		"FastAGI  REJECTED OVER_LIMIT",
		"in use now: fax 0/4, ffa 0/1, g729 10/15",
		"ADMITTED              g729 11/15 in use",
		"fax  1/4 in use",
		"g729: 14 channels on Asterisk use it, 1 of them without admission",
		"fax: 1 session in progress",
		"in use now: fax 0/4, ffa 0/1, g729 0/15",
		"g729: 15 channels licensed (2 of 3 keys valid)",
		"INVALID: bad signature",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Count(got, "REJECTED OVER_LIMIT") != 5 || strings.Count(got, " ADMITTED ") != 19 {
		t.Errorf("want 5 rejections and 19 admissions (15 + 3 + fax):\n%s", got)
	}
	if t.Failed() {
		t.Logf("output:\n%s", got)
	}
}
