package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"

	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

// runStats runs `licbridge stats concurrent args...` and returns its stdout.
func runStats(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	app.ErrWriter = &out
	err := app.RunContext(context.Background(), append([]string{"licbridge", "stats", "concurrent"}, args...))
	return out.String(), err
}

// TestStatsConcurrent records peaks from two nodes into a real redis-server
// and reads them back through the command, as JSON and as a chart.
func TestStatsConcurrent(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t).Addr
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	// The command reports up to now, so the data is placed relative to now.
	now := time.Now().UTC()
	yesterday := now.AddDate(0, 0, -1)
	a := stats.New(stats.Options{Store: stats.NewRedisStore(rdb)})
	b := stats.New(stats.Options{Store: stats.NewRedisStore(rdb)})
	for _, o := range []struct {
		rec        *stats.Recorder
		at         time.Time
		node       string
		n, cluster int
	}{
		{a, yesterday, "pbx-a", 9, 9},
		{b, yesterday.Add(time.Second), "pbx-b", 4, 13},
		{a, now, "pbx-a", 3, 3},
		{a, now.AddDate(0, 0, -20), "pbx-a", 99, 99}, // beyond 14 days: not shown
	} {
		if err := o.rec.Observe(ctx, o.at, "g729", o.node, o.n, o.cluster); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("json", func(t *testing.T) {
		out, err := runStats(t, "--redis", addr, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var reps []stats.Report
		if err := json.Unmarshal([]byte(out), &reps); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if len(reps) != 1 || reps[0].Product != "g729" {
			t.Fatalf("want only g729 (the one product with data): %s", out)
		}
		r := reps[0]
		if r.Peak != 13 || len(r.Days) != stats.MaxDays {
			t.Errorf("peak %d over %d days, want 13 over %d", r.Peak, len(r.Days), stats.MaxDays)
		}
		last := r.Days[len(r.Days)-2:]
		if last[0].Peak != 13 || last[0].Nodes["pbx-a"] != 9 || last[0].Nodes["pbx-b"] != 4 || last[1].Peak != 3 {
			t.Errorf("last two days %+v", last)
		}
	})
	t.Run("chart_ascii_when_not_a_terminal", func(t *testing.T) {
		out, err := runStats(t, "--redis", "redis://"+addr+"/0", "--product", "g729", "--product", "fax", "--days", "2")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"g729: peak 13 channels over 2 days (UTC)", yesterday.Format("2006-01-02") + "     13  ####", "per node, peak: pbx-a 9, pbx-b 4", "fax: peak 0", "no channels recorded"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		for _, c := range []byte(out) {
			if c >= 0x80 {
				t.Fatalf("non-ASCII output to a non-terminal:\n%s", out)
			}
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no_store", nil, "no shared store given"},
		{"days_out_of_range", []string{"--redis", addr, "--days", "15"}, "--days 15"},
		{"bad_zone", []string{"--redis", addr, "--tz", "Mars/Olympus"}, "Mars/Olympus"},
		{"bad_url", []string{"--redis", "redis://:secretpw@[::1"}, "missing ']' in host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("LICBRIDGE_REDIS", "")
			_, err := runStats(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error shows the password: %v", err)
			}
			var ec cli.ExitCoder
			if errors.As(err, &ec) && ec.ExitCode() == 0 {
				t.Error("exit code 0 on error")
			}
		})
	}
}

// TestStoreDownOneLine: a command whose Redis does not answer prints its own
// error and nothing else; go-redis's logger printed four lines of its
// retries first (it logs to stderr unless told otherwise).
func TestStoreDownOneLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	r := licbridge(t, nil, "stats", "concurrent", "--redis", addr)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "shared store") {
		t.Fatalf("exit %d, stderr:\n%s\nwant one line naming the shared store", r.code, r.stderr)
	}
	// bench admission too, and without a report of zeros on stdout (it printed
	// one, after go-redis's retries).
	r = licbridge(t, nil, "bench", "admission", "--redis", "redis://u:hunter2@"+addr)
	lines = strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], addr) || strings.Contains(r.stderr, "hunter2") || r.stdout != "" {
		t.Fatalf("bench admission: exit %d, stdout %q, stderr:\n%s\nwant one line naming %s (no password) and nothing on stdout", r.code, r.stdout, r.stderr, addr)
	}
}
