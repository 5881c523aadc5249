package bridge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// journalSyncEvery bounds how much of the journal a power cut may lose: writes
// are fsync'd at most this often (and always on truncate and close), so that
// an outage of many admissions per second is not throttled by the disk.
const journalSyncEvery = 100 * time.Millisecond

// journalEntry is one decision taken without the store: one JSON line.
type journalEntry struct {
	Time    time.Time `json:"t"`
	Op      string    `json:"op"` // admit or release
	Product string    `json:"product"`
	Channel string    `json:"channel"`
	Call    string    `json:"call,omitempty"`
	Unit    string    `json:"unit,omitempty"`
	Caller  string    `json:"caller,omitempty"`
	Called  string    `json:"called,omitempty"`
}

// journal is the fail-open journal: decisions taken while the store was away,
// appended as JSON lines. It is what a node restarted in the middle of an
// outage rebuilds its leases from; once the store has them it is truncated.
type journal struct {
	f        *os.File
	path     string
	lastSync time.Time
}

// maxJournalLine bounds one journal line. An entry is a few hundred bytes; a
// longer line is damage (or not our file), and is skipped rather than read
// into memory whole.
const maxJournalLine = 64 << 10

// maxJournalWarnings bounds the WARN lines about one damaged journal; the rest
// are counted in a summary.
const maxJournalWarnings = 10

// openJournal opens (creating) the journal at path and returns the entries
// already in it. A line that does not parse (a torn last write, damage, a line
// over maxJournalLine) is skipped with a WARN naming the path, line number and
// reason: a damaged journal must not stop the node from starting (under
// systemd that is a crash loop). Only an error opening or reading the file is
// returned.
func openJournal(path string, log *slog.Logger) (*journal, []journalEntry, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge: open journal: %w", err)
	}
	entries, torn, err := readJournal(f, path, log)
	if err == nil && torn {
		// End the torn last line, so that the next entry appended is a line
		// of its own and not glued to the garbage.
		_, err = f.Write([]byte{'\n'})
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("bridge: read journal %s: %w", path, err)
	}
	return &journal{f: f, path: path}, entries, nil
}

// readJournal reads the entries of r, skipping and logging bad lines; torn
// reports a last line without its newline.
func readJournal(r io.Reader, path string, log *slog.Logger) (entries []journalEntry, torn bool, err error) {
	br := bufio.NewReaderSize(r, maxJournalLine)
	bad := 0
	skip := func(lineNo int, reason string) {
		bad++
		if bad <= maxJournalWarnings {
			log.Warn("journal line skipped", "path", path, "line", lineNo, "reason", reason)
		}
	}
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Over-long: drop the rest of the line without keeping it.
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
			}
			skip(lineNo, fmt.Sprintf("longer than %d bytes", maxJournalLine))
		} else if len(bytes.TrimSpace(line)) > 0 {
			e, perr := parseJournalLine(line)
			if perr != nil {
				skip(lineNo, perr.Error())
			} else {
				entries = append(entries, e)
			}
		}
		if err == io.EOF {
			if bad > maxJournalWarnings {
				log.Warn("journal lines skipped", "path", path, "skipped", bad)
			}
			return entries, len(line) > 0, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// parseJournalLine parses one journal line (with or without its newline).
func parseJournalLine(line []byte) (journalEntry, error) {
	var e journalEntry
	if err := json.Unmarshal(bytes.TrimSpace(line), &e); err != nil {
		return journalEntry{}, fmt.Errorf("not a journal entry: %w", err)
	}
	switch {
	case e.Op != "admit" && e.Op != "release":
		return journalEntry{}, fmt.Errorf("unknown op %q", clipForLog(e.Op))
	case !ValidProduct(e.Product):
		return journalEntry{}, fmt.Errorf("invalid product %q", clipForLog(e.Product))
	case e.Channel == "":
		return journalEntry{}, errors.New("no channel")
	}
	return e, nil
}

// clipForLog shortens a value quoted in a log line.
func clipForLog(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func (j *journal) append(e journalEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("bridge: write journal %s: %w", j.path, err)
	}
	if time.Since(j.lastSync) >= journalSyncEvery {
		j.lastSync = time.Now()
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("bridge: sync journal %s: %w", j.path, err)
		}
	}
	return nil
}

func (j *journal) truncate() error {
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("bridge: truncate journal %s: %w", j.path, err)
	}
	return j.f.Sync()
}

func (j *journal) close() error {
	return errors.Join(j.f.Sync(), j.f.Close())
}

// appendJournal writes e if there is a journal; b.mu is held. A journal that
// cannot be written is logged: the lease still stands in memory.
func (b *Bridge) appendJournal(e journalEntry) {
	if b.journal == nil {
		return
	}
	if err := b.journal.append(e); err != nil {
		b.log.Error("journal write failed", "err", err)
	}
}

// replay rebuilds leases from journal entries left by an earlier run.
func (b *Bridge) replay(entries []journalEntry) {
	for _, e := range entries {
		if !ValidProduct(e.Product) || e.Channel == "" {
			continue
		}
		b.products[e.Product] = true
		b.dirty[e.Product] = true
		m := b.leases[e.Product]
		if m == nil {
			m = map[string]*Lease{}
			b.leases[e.Product] = m
		}
		switch e.Op {
		case "admit":
			if m[e.Channel] == nil {
				m[e.Channel] = &Lease{ID: e.Product + ":" + e.Channel, Product: e.Product, Channel: e.Channel,
					Call: e.Call, Node: b.opt.Node, Unit: e.Unit, At: e.Time, Degraded: true}
			}
		case "release":
			delete(m, e.Channel)
		}
	}
}
