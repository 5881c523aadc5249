package bridge

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzJournal feeds arbitrary bytes to the journal reader and the replay: a
// torn or foreign journal must never stop a node from starting.
func FuzzJournal(f *testing.F) {
	f.Add([]byte(`{"t":"2026-11-22T10:00:00Z","op":"admit","product":"g729","channel":"c1"}` + "\n" +
		`{"t":"2026-11-22T10:00:01Z","op":"release","product":"g729","channel":"c1"}` + "\n"))
	f.Add([]byte(`{"op":"admit","product":"fax","channel":"c2","call":"x","unit":"x"}` + "\n" + `{"op":"adm`))
	f.Add([]byte("\n\n{}\nnot json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := New(Options{Node: "n", JournalPath: path})
		if err != nil {
			return // an unreadable journal is reported, not a crash
		}
		defer b.Close()
		for _, l := range b.Leases() {
			if !ValidProduct(l.Product) || l.Channel == "" {
				t.Fatalf("replay made a lease from a bad entry: %+v", l)
			}
		}
	})
}

func TestJournalReplay(t *testing.T) {
	tests := []struct {
		name  string
		lines string
		want  []string
	}{
		{"admit then release", `{"op":"admit","product":"g729","channel":"a"}` + "\n" + `{"op":"release","product":"g729","channel":"a"}` + "\n", nil},
		{"two products", `{"op":"admit","product":"g729","channel":"a"}` + "\n" + `{"op":"admit","product":"fax","channel":"a"}` + "\n", []string{"fax:a", "g729:a"}},
		{"torn last line", `{"op":"admit","product":"g729","channel":"a"}` + "\n" + `{"op":"admit","prod`, []string{"g729:a"}},
		{"bad entries skipped", `{"op":"admit","product":"G 729","channel":"a"}` + "\n" + `{"op":"admit","product":"g729","channel":""}` + "\n" + `{"op":"drop","product":"g729","channel":"b"}` + "\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			os.WriteFile(path, []byte(tc.lines), 0o600)
			b, err := New(Options{Node: "n", JournalPath: path})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			var got []string
			for _, l := range b.Leases() {
				got = append(got, l.ID)
				if !l.Degraded {
					t.Errorf("replayed lease %s not marked degraded", l.ID)
				}
			}
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Fatalf("leases %v, want %v", got, tc.want)
			}
			if len(tc.want) > 0 && b.StoreAvailable() {
				t.Fatal("a node with journaled leases trusts the store before writing them back")
			}
		})
	}
}

// lockedBuffer is a log sink safe for the bridge's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A line over the old 1 MiB scanner limit made New fail, so the daemon could
// not start (a crash loop under systemd). Bad lines are now skipped, each with a
// WARN naming the journal, the line and the reason, and the good ones replayed.
func TestJournalDamagedLinesSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	var data bytes.Buffer
	data.WriteString(`{"op":"admit","product":"g729","channel":"a"}` + "\n")
	data.WriteString(`{"op":"admit","product":"g729","channel":"` + strings.Repeat("x", 2<<20) + `"}` + "\n")
	data.WriteString("\x00\x01garbage{{\n")
	data.WriteString(`{"op":"admit","product":"fax","channel":"b"}` + "\n")
	if err := os.WriteFile(path, data.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	b, err := New(Options{Node: "n", JournalPath: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("New with a damaged journal: %v", err)
	}
	defer b.Close()
	var got []string
	for _, l := range b.Leases() {
		got = append(got, l.ID)
	}
	if strings.Join(got, " ") != "fax:b g729:a" {
		t.Fatalf("leases %v, want [fax:b g729:a]", got)
	}
	out := logs.String()
	for _, want := range []string{
		"line=2 reason=\"longer than 65536 bytes\"",
		"line=3 reason=\"not a journal entry",
	} {
		if !strings.Contains(out, "level=WARN msg=\"journal line skipped\" component=bridge node=n path="+path+" "+want) {
			t.Errorf("no WARN with %q for %s in:\n%s", want, path, out)
		}
	}
	if strings.Count(out, "journal line skipped") != 2 {
		t.Errorf("want 2 skipped lines logged:\n%s", out)
	}
}

// A torn last write used to have the next entry appended onto it, so that
// entry was lost on the next start too.
func TestJournalAppendAfterTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	if err := os.WriteFile(path, []byte(`{"op":"admit","product":"g729","channel":"a"}`+"\n"+`{"op":"adm`), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	j, entries, err := openJournal(path, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("entries %+v, want 1", entries)
	}
	if err := j.append(journalEntry{Op: "admit", Product: "g729", Channel: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
	j, entries, err = openJournal(path, log)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	if len(entries) != 2 || entries[1].Channel != "b" {
		t.Fatalf("entries after append %+v, want a and b", entries)
	}
}

// More than maxJournalWarnings bad lines: the WARNs stop and a count follows.
func TestJournalWarningsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	if err := os.WriteFile(path, []byte(strings.Repeat("junk\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	j, entries, err := openJournal(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	out := logs.String()
	if len(entries) != 0 || strings.Count(out, "journal line skipped") != maxJournalWarnings || !strings.Contains(out, "skipped=1000") {
		t.Fatalf("entries %d, logs:\n%s", len(entries), out)
	}
}

func TestParseJournalLine(t *testing.T) {
	tests := []struct {
		line, err string
	}{
		{`{"op":"admit","product":"g729","channel":"a"}`, ""},
		{` {"op":"release","product":"fax","channel":"a"}` + "\r\n", ""},
		{`{"op":"drop","product":"g729","channel":"a"}`, `unknown op "drop"`},
		{`{"op":"admit","product":"G 729","channel":"a"}`, `invalid product "G 729"`},
		{`{"op":"admit","product":"g729"}`, "no channel"},
		{`{"op":"adm`, "not a journal entry"},
		{`[1,2]`, "not a journal entry"},
	}
	for _, tc := range tests {
		_, err := parseJournalLine([]byte(tc.line))
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("parseJournalLine(%q) = %v, want %q", tc.line, err, tc.err)
		}
	}
}

// FuzzParseJournalLine: no panic, an accepted entry is one replay can use, and
// what append writes for it parses back the same.
func FuzzParseJournalLine(f *testing.F) {
	f.Add([]byte(`{"t":"2026-11-22T10:00:00Z","op":"admit","product":"g729","channel":"c1","call":"x"}`))
	f.Add([]byte(`{"op":"release","product":"fax","channel":"c"}` + "\n"))
	f.Add([]byte(`{"op":"admit","product":"g729","channel":"\u0000"}`))
	f.Add([]byte("not json"))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := parseJournalLine(line)
		if err != nil {
			return
		}
		if (e.Op != "admit" && e.Op != "release") || !ValidProduct(e.Product) || e.Channel == "" {
			t.Fatalf("accepted a bad entry: %+v", e)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := parseJournalLine(b)
		if err != nil {
			t.Fatalf("written entry does not parse back: %v", err)
		}
		if !e2.Time.Equal(e.Time) {
			t.Fatalf("time %v != %v", e2.Time, e.Time)
		}
		e2.Time, e.Time = time.Time{}, time.Time{}
		if e2 != e {
			t.Fatalf("round trip %+v != %+v", e2, e)
		}
	})
}
