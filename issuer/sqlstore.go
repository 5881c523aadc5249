package issuer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	// The two database drivers: PostgreSQL for a replicated deployment, a
	// pure-Go SQLite for the embedded default (no cgo, one file).
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/licbridge/licbridge/license"
)

// sqlStore is the Store over database/sql, for SQLite and PostgreSQL. Queries
// are written with ? placeholders and rewritten for PostgreSQL.
type sqlStore struct {
	db       *sql.DB
	postgres bool
}

// Open opens (creating and migrating when needed) the activation database
// named by dsn: postgres://... or postgresql://... for PostgreSQL; sqlite:PATH
// or a plain file path for SQLite.
func Open(ctx context.Context, dsn string) (Store, error) {
	s := &sqlStore{}
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s.postgres = true
		s.db, err = sql.Open("pgx", dsn)
	case dsn == "":
		return nil, errors.New("activation database: empty DSN (want a file path, sqlite:PATH or postgres://...)")
	default:
		s.db, err = sql.Open("sqlite", sqliteDSN(strings.TrimPrefix(dsn, "sqlite:")))
		// One writer at a time in this process; busy_timeout covers other
		// processes (issuer entitle beside issuer serve).
		s.db.SetMaxOpenConns(1)
	}
	if err != nil {
		return nil, fmt.Errorf("open activation database: %w", err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open activation database: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open activation database: %w", err)
	}
	return s, nil
}

// sqliteDSN adds the pragmas the store relies on: transactions that take the
// write lock at BEGIN (so a limit check and its insert never interleave with
// another writer), a busy timeout, WAL and foreign keys.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return "file:" + path + sep + q.Encode()
}

func (s *sqlStore) Close() error { return s.db.Close() }

// q rewrites ? placeholders to $N for PostgreSQL.
func (s *sqlStore) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *sqlStore) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

const entCols = `key_id, product, channels, kind, domain_bound, issued, ends, auto_renew, customer, revoked`

type scanner interface{ Scan(...any) error }

func scanEnt(r scanner) (Entitlement, error) {
	var e Entitlement
	var kind string
	var domain, renew int
	var issued, ends, revoked int64
	if err := r.Scan(&e.KeyID, &e.Product, &e.Channels, &kind, &domain, &issued, &ends, &renew, &e.Customer, &revoked); err != nil {
		return e, err
	}
	e.Kind, e.DomainBound, e.AutoRenew = license.Kind(kind), domain != 0, renew != 0
	e.Issued, e.Ends = time.Unix(issued, 0).UTC(), time.Unix(ends, 0).UTC()
	if revoked != 0 {
		e.Revoked = time.Unix(revoked, 0).UTC()
	}
	return e, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (s *sqlStore) CreateEntitlement(ctx context.Context, e Entitlement) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM entitlements WHERE key_id = ?`), e.KeyID).Scan(&n); err != nil {
			return fmt.Errorf("create entitlement: %w", err)
		}
		if n > 0 {
			return ErrExists
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO entitlements (`+entCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			e.KeyID, e.Product, e.Channels, string(e.Kind), b2i(e.DomainBound), e.Issued.Unix(), e.Ends.Unix(), b2i(e.AutoRenew), e.Customer, unixOrZero(e.Revoked))
		if err != nil {
			return fmt.Errorf("create entitlement: %w", err)
		}
		return nil
	})
}

func (s *sqlStore) entitlement(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, keyID string, lock bool) (Entitlement, error) {
	query := `SELECT ` + entCols + ` FROM entitlements WHERE key_id = ?`
	if lock && s.postgres {
		// Serialises the attempts on one key; SQLite's immediate
		// transactions already hold the database's write lock.
		query += ` FOR UPDATE`
	}
	e, err := scanEnt(q.QueryRowContext(ctx, s.q(query), keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrUnknownKey
	}
	if err != nil {
		return e, fmt.Errorf("read entitlement: %w", err)
	}
	return e, nil
}

func (s *sqlStore) Entitlement(ctx context.Context, keyID string) (Entitlement, error) {
	return s.entitlement(ctx, s.db, keyID, false)
}

func (s *sqlStore) UpdateEntitlement(ctx context.Context, keyID string, fn func(*Entitlement) error) (Entitlement, error) {
	var out Entitlement
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		e, err := s.entitlement(ctx, tx, keyID, true)
		if err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE entitlements SET channels = ?, ends = ?, auto_renew = ?, customer = ?, revoked = ? WHERE key_id = ?`),
			e.Channels, e.Ends.Unix(), b2i(e.AutoRenew), e.Customer, unixOrZero(e.Revoked), keyID)
		if err != nil {
			return fmt.Errorf("update entitlement: %w", err)
		}
		out = e
		return nil
	})
	return out, err
}

func (s *sqlStore) Entitlements(ctx context.Context) ([]Entitlement, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+entCols+` FROM entitlements ORDER BY key_id`)
	if err != nil {
		return nil, fmt.Errorf("list entitlements: %w", err)
	}
	defer rows.Close()
	var out []Entitlement
	for rows.Next() {
		e, err := scanEnt(rows)
		if err != nil {
			return nil, fmt.Errorf("list entitlements: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
