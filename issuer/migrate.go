package issuer

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// migration is one versioned schema step, in SQL that both dialects take once
// dialect has filled in its placeholders. Versions only ever grow; a released
// step is never edited (add a new one instead).
type migration struct {
	version int
	sql     string
}

var migrations = []migration{
	{
		version: 1,
		// The dialects differ only in how a row ID counts itself.
		sql: `
CREATE TABLE entitlements (
	key_id TEXT PRIMARY KEY,
	product TEXT NOT NULL,
	channels INTEGER NOT NULL,
	kind TEXT NOT NULL,
	domain_bound INTEGER NOT NULL DEFAULT 0,
	issued BIGINT NOT NULL,
	ends BIGINT NOT NULL,
	auto_renew INTEGER NOT NULL DEFAULT 0,
	customer TEXT NOT NULL DEFAULT '',
	revoked BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE activations (
	key_id TEXT NOT NULL REFERENCES entitlements(key_id),
	host_id TEXT NOT NULL,
	product TEXT NOT NULL,
	domain TEXT NOT NULL DEFAULT '',
	address TEXT NOT NULL DEFAULT '',
	activated BIGINT NOT NULL,
	PRIMARY KEY (key_id, host_id)
);
CREATE INDEX activations_host ON activations(host_id, product);
CREATE TABLE audit (
	id {{SERIAL_ID}},
	at BIGINT NOT NULL,
	key_hash TEXT NOT NULL,
	host_id TEXT NOT NULL,
	address TEXT NOT NULL,
	action TEXT NOT NULL,
	outcome TEXT NOT NULL
);`,
	},
}

// dialect writes a migration's portable SQL for this store's database.
func (s *sqlStore) dialect(stmt string) string {
	id := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if s.postgres {
		id = "BIGSERIAL PRIMARY KEY"
	}
	return strings.ReplaceAll(stmt, "{{SERIAL_ID}}", id)
}

// SchemaVersion is the newest schema version this build knows.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate brings the schema up to SchemaVersion, each step in its own
// transaction with its version row, so a failed step leaves the previous
// version intact. A database newer than this build is refused.
func (s *sqlStore) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		if err := s.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("schema migration %d: %w", m.version, err)
		}
	}
	var newest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if int(newest.Int64) > SchemaVersion() {
		return fmt.Errorf("database schema version %d is newer than this licbridge knows (%d): upgrade licbridge", newest.Int64, SchemaVersion())
	}
	return nil
}

func (s *sqlStore) applyMigration(ctx context.Context, m migration) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if s.postgres {
			// Two issuers starting at once on one database: one migrates, the other waits.
			if _, err := tx.ExecContext(ctx, `LOCK TABLE schema_migrations IN EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.dialect(m.sql)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`), m.version, time.Now().Unix())
		return err
	})
}
