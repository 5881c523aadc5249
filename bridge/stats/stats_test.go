package stats_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/licbridge/licbridge/bridge/stats"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// event is a change of one node's count of channels in use.
type event struct {
	at    time.Time
	node  string
	delta int // +1 admission, -1 release
}

// oracle computes the expected peaks of a sequence of events independently of
// the recorder: for each hour window [s, s+1h), the count at s and after every
// event inside it; days are the maximum of their hours. Releases sort before
// admissions at equal times.
type oracle struct {
	hours map[time.Time]map[string]int // window start -> "" (cluster) or node -> peak
}

func newOracle(evs []event, windows []time.Time) oracle {
	sort.SliceStable(evs, func(i, j int) bool {
		if !evs[i].at.Equal(evs[j].at) {
			return evs[i].at.Before(evs[j].at)
		}
		return evs[i].delta < evs[j].delta
	})
	o := oracle{hours: map[time.Time]map[string]int{}}
	count := map[string]int{}
	total := 0
	i := 0
	for _, ws := range windows {
		we := ws.Add(time.Hour)
		for i < len(evs) && evs[i].at.Before(ws) {
			count[evs[i].node] += evs[i].delta
			total += evs[i].delta
			i++
		}
		peaks := map[string]int{}
		if total > 0 {
			peaks[""] = total
		}
		for n, c := range count {
			if c > 0 {
				peaks[n] = c
			}
		}
		for i < len(evs) && evs[i].at.Before(we) {
			count[evs[i].node] += evs[i].delta
			total += evs[i].delta
			peaks[evs[i].node] = max(peaks[evs[i].node], count[evs[i].node])
			peaks[""] = max(peaks[""], total)
			i++
		}
		o.hours[ws] = peaks
	}
	return o
}

// check compares a report with the oracle: every window, cluster and per
// node, and every day. It returns the highest cluster peak.
func (o oracle) check(t *testing.T, rep stats.Report, loc *time.Location, nodes []string) int {
	t.Helper()
	days := map[string]int{}
	best := 0
	for _, w := range rep.Windows {
		want := o.hours[w.Start]
		if w.Peak != want[""] {
			t.Errorf("window %s: cluster peak %d, want %d", w.Start.Format(time.RFC3339), w.Peak, want[""])
		}
		for _, n := range nodes {
			if w.Nodes[n] != want[n] {
				t.Errorf("window %s: node %s peak %d, want %d", w.Start.Format(time.RFC3339), n, w.Nodes[n], want[n])
			}
		}
		d := w.Start.In(loc).Format("2006-01-02")
		days[d] = max(days[d], want[""])
		best = max(best, want[""])
	}
	if len(rep.Days) != len(days) {
		t.Errorf("%d days in report, want %d", len(rep.Days), len(days))
	}
	for _, d := range rep.Days {
		if d.Peak != days[d.Date] {
			t.Errorf("day %s: peak %d, want %d", d.Date, d.Peak, days[d.Date])
		}
	}
	if rep.Peak != best {
		t.Errorf("report peak %d, want %d", rep.Peak, best)
	}
	return best
}

type storeMaker func(t *testing.T, now func() time.Time) (a, b stats.Store)

// stores returns, per implementation, two stores that share data (one per node).
func stores() map[string]storeMaker {
	return map[string]storeMaker{
		"memory": func(_ *testing.T, now func() time.Time) (stats.Store, stats.Store) {
			s := stats.NewMemoryStoreClock(now)
			return s, s
		},
		"redis": func(t *testing.T, _ func() time.Time) (stats.Store, stats.Store) {
			addr := startRedis(t)
			c1 := redis.NewClient(&redis.Options{Addr: addr})
			c2 := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { c1.Close(); c2.Close() })
			return stats.NewRedisStore(c1), stats.NewRedisStore(c2)
		},
	}
}

// TestTwoNodesThreeDays feeds a random but seeded pattern of admissions and
// releases on two nodes over three days, in a zone with a half-hour offset,
// and reads back every hourly and daily peak, cluster-wide and per node.
func TestTwoNodesThreeDays(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Kolkata") // UTC+05:30
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 5, 10, 0, 0, 0, 0, loc)
	end := start.AddDate(0, 0, 3)
	rng := rand.New(rand.NewPCG(5, 14))
	var evs []event
	count := map[string]int{}
	for at := start.Add(7 * time.Minute); at.Before(end); at = at.Add(time.Duration(rng.IntN(900)+1) * time.Second) {
		node := []string{"pbx-a", "pbx-b"}[rng.IntN(2)]
		// Busy hours push up, quiet hours drain.
		up := at.Hour() >= 8 && at.Hour() < 18
		d := -1
		if count[node] == 0 || (up && rng.IntN(3) > 0) || (!up && rng.IntN(4) == 0) {
			d = 1
		}
		count[node] += d
		evs = append(evs, event{at, node, d})
	}
	var windows []time.Time
	for w := start; w.Before(end); w = w.Add(time.Hour) {
		windows = append(windows, w)
	}
	want := newOracle(append([]event(nil), evs...), windows)

	for name, mk := range stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clock := func() time.Time { return end }
			sa, sb := mk(t, clock)
			rec := map[string]*stats.Recorder{
				"pbx-a": stats.New(stats.Options{Store: sa, Location: loc}),
				"pbx-b": stats.New(stats.Options{Store: sb, Location: loc}),
			}
			cur := map[string]int{}
			total := 0
			wi := 0
			for _, e := range evs {
				// The daemons' periodic observation at each window start.
				for wi < len(windows) && !windows[wi].After(e.at) {
					for n, r := range rec {
						if err := r.Observe(ctx, windows[wi], "g729", n, cur[n], total); err != nil {
							t.Fatal(err)
						}
					}
					wi++
				}
				cur[e.node] += e.delta
				total += e.delta
				if err := rec[e.node].Observe(ctx, e.at, "g729", e.node, cur[e.node], total); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := rec["pbx-b"].Query(ctx, "g729", start, end)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Windows) != 72 {
				t.Fatalf("%d windows, want 72", len(rep.Windows))
			}
			if peak := want.check(t, rep, loc, []string{"pbx-a", "pbx-b"}); peak < 5 {
				t.Fatalf("pattern too flat to prove anything: peak %d", peak)
			}
		})
	}
}

// ramp is the manifest's record of 09_ramp_200calls_max50.pcap.
type ramp struct {
	Origin   float64  `json:"time_origin_epoch"`
	Calls    [][]any  `json:"per_call_id_compact"`
	Columns  []string `json:"per_call_id_compact_columns"`
	Expected struct {
		Peak int `json:"peak_concurrent_legs"`
	} `json:"expected"`
}

func loadRamp(t *testing.T) ramp {
	var m struct {
		Files []json.RawMessage
	}
	if err := json.Unmarshal(fixtures.Read(t, "sip", "manifest.json"), &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	for _, raw := range m.Files {
		var f struct {
			File string `json:"file"`
		}
		json.Unmarshal(raw, &f)
		if f.File != "09_ramp_200calls_max50.pcap" {
			continue
		}
		var r ramp
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("manifest ramp entry: %v", err)
		}
		return r
	}
	t.Fatal("manifest: no 09_ramp_200calls_max50.pcap entry")
	return ramp{}
}

// legs returns the ramp's legs as events, the capture starting at origin.
// A leg lasts from its INVITE to the 200 OK to its BYE (the manifest's
// invite_to_end definition).
func (r ramp) legs(t *testing.T, origin time.Time) []event {
	col := func(name string) int {
		for i, c := range r.Columns {
			if c == name {
				return i
			}
		}
		t.Fatalf("manifest: no column %q in %v", name, r.Columns)
		return -1
	}
	inv, end := col("t_invite_s"), col("t_end_s (200 OK to BYE)")
	at := func(v any) time.Time { return origin.Add(time.Duration(v.(float64) * float64(time.Second))) }
	var evs []event
	for _, c := range r.Calls {
		evs = append(evs, event{at(c[inv]), "pbx-a", 1}, event{at(c[end]), "pbx-a", -1})
	}
	return evs
}

// TestSIPRamp replays the concurrency of the SIP ramp fixture (200 calls, at
// most 50 at once) on one node, as captured and shifted to straddle midnight,
// and expects the manifest's peak.
func TestSIPRamp(t *testing.T) {
	r := loadRamp(t)
	if r.Expected.Peak == 0 || len(r.Calls) == 0 {
		t.Fatal("manifest ramp entry has no calls or no expected peak")
	}
	captured := time.Unix(0, int64(r.Origin*1e9))
	for name, origin := range map[string]time.Time{
		"as_captured":     captured,
		"across_midnight": time.Date(2026, 12, 31, 23, 59, 52, 0, time.UTC),
	} {
		for sname, mk := range stores() {
			t.Run(name+"/"+sname, func(t *testing.T) {
				ctx := context.Background()
				evs := r.legs(t, origin)
				sort.SliceStable(evs, func(i, j int) bool {
					if !evs[i].at.Equal(evs[j].at) {
						return evs[i].at.Before(evs[j].at)
					}
					return evs[i].delta < evs[j].delta
				})
				st, _ := mk(t, func() time.Time { return origin })
				rec := stats.New(stats.Options{Store: st})
				n := 0
				for _, e := range evs {
					n += e.delta
					if err := rec.Observe(ctx, e.at, "g729", "pbx-a", n, n); err != nil {
						t.Fatal(err)
					}
				}
				from := rec.HourStart(origin).Add(-time.Hour)
				to := from.Add(4 * time.Hour)
				rep, err := rec.Query(ctx, "g729", from, to)
				if err != nil {
					t.Fatal(err)
				}
				var windows []time.Time
				for _, w := range rep.Windows {
					windows = append(windows, w.Start)
				}
				peak := newOracle(evs, windows).check(t, rep, time.UTC, []string{"pbx-a"})
				if peak != r.Expected.Peak {
					t.Errorf("replayed peak %d, manifest says %d", peak, r.Expected.Peak)
				}
				for _, d := range rep.Days {
					t.Logf("%s peak %d", d.Date, d.Peak)
				}
			})
		}
	}
}

// TestFlushCarriesQuietHours: a call held across two whole hours with no
// change shows in those hours once Flush runs (as Run does every minute).
func TestFlushCarriesQuietHours(t *testing.T) {
	ctx := context.Background()
	rec := stats.New(stats.Options{})
	t0 := time.Date(2026, 2, 2, 10, 50, 0, 0, time.UTC)
	rec.Observe(ctx, t0, "fax", "n1", 1, 3)
	rec.Observe(ctx, t0.Add(time.Minute), "fax", "n1", 2, 4)
	for h := 1; h <= 2; h++ {
		if err := rec.Flush(ctx, t0.Add(time.Duration(h)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	rec.Observe(ctx, t0.Add(3*time.Hour), "fax", "n1", 0, 0)
	rep, err := rec.Query(ctx, "fax", t0.Add(-50*time.Minute), t0.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range rep.Windows {
		got = append(got, fmt.Sprintf("%02d:%d/%d", w.Start.Hour(), w.Peak, w.Nodes["n1"]))
	}
	want := []string{"10:4/2", "11:4/2", "12:4/2", "13:0/2", "14:0/0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("windows %v, want %v", got, want)
	}
}

// TestRetention: buckets expire after 15 days (memory: on its clock; Redis:
// the TTL set on every key).
func TestRetention(t *testing.T) {
	ctx := context.Background()
	t.Run("memory", func(t *testing.T) {
		now := time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC)
		st := stats.NewMemoryStoreClock(func() time.Time { return now })
		rec := stats.New(stats.Options{Store: st})
		rec.Observe(ctx, now, "g729", "n1", 7, 7)
		for _, tc := range []struct {
			after time.Duration
			want  int
		}{{14 * 24 * time.Hour, 7}, {stats.Retention, 0}} {
			now = time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC).Add(tc.after)
			rep, _ := rec.Query(ctx, "g729", time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC), time.Date(2026, 2, 2, 11, 0, 0, 0, time.UTC))
			if rep.Peak != tc.want {
				t.Errorf("after %v: peak %d, want %d", tc.after, rep.Peak, tc.want)
			}
		}
	})
	t.Run("redis", func(t *testing.T) {
		addr := startRedis(t)
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		rec := stats.New(stats.Options{Store: stats.NewRedisStore(rdb)})
		now := time.Date(2026, 2, 2, 10, 20, 0, 0, time.UTC)
		if err := rec.Observe(ctx, now, "g729", "n1", 7, 7); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{
			stats.Key("g729", fmt.Sprintf("h:%d", time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC).Unix())),
			stats.Key("g729", "d:2026-02-02"),
		} {
			ttl, err := rdb.PTTL(ctx, k).Result()
			if err != nil || ttl <= 14*24*time.Hour || ttl > stats.Retention {
				t.Errorf("%s: TTL %v, %v; want (14d, 15d]", k, ttl, err)
			}
		}
	})
}

// failing is a Store that fails while down is set.
type failing struct {
	stats.Store
	down bool
}

func (f *failing) Raise(ctx context.Context, product string, buckets []string, fields map[string]int) error {
	if f.down {
		return errors.New("store down")
	}
	return f.Store.Raise(ctx, product, buckets, fields)
}

// TestStoreErrorRetries: when the store fails, the value is not cached as
// written, so the next observation of the same value writes it.
func TestStoreErrorRetries(t *testing.T) {
	ctx := context.Background()
	st := &failing{Store: stats.NewMemoryStore(), down: true}
	rec := stats.New(stats.Options{Store: st})
	now := time.Now()
	if err := rec.Observe(ctx, now, "g729", "n1", 3, 3); err == nil {
		t.Fatal("Observe over a failing store: no error")
	}
	st.down = false
	if err := rec.Observe(ctx, now, "g729", "n1", 3, 3); err != nil {
		t.Fatal(err)
	}
	rep, err := rec.Query(ctx, "g729", now, now.Add(time.Minute))
	if err != nil || rep.Peak != 3 {
		t.Fatalf("peak %d, %v; want 3", rep.Peak, err)
	}
}
