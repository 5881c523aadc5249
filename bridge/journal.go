package bridge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// openJournal opens (creating) the journal at path and returns the entries
// already in it. A line that does not parse (a torn last write) is skipped.
func openJournal(path string) (*journal, []journalEntry, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge: open journal: %w", err)
	}
	var entries []journalEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e journalEntry
		if json.Unmarshal(line, &e) == nil && (e.Op == "admit" || e.Op == "release") {
			entries = append(entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("bridge: read journal %s: %w", path, err)
	}
	return &journal{f: f, path: path}, entries, nil
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
