package bridge

import (
	"os"
	"path/filepath"
	"testing"
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
