package issuer

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/licbridge/licbridge/license"
)

// Activate checks and records one activation in a single transaction: the
// entitlement row is locked (PostgreSQL) or the database is (SQLite), so two
// hosts racing for the last slot cannot both get it.
func (s *sqlStore) Activate(ctx context.Context, p ActivateParams) (Entitlement, error) {
	var out Entitlement
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		e, err := s.entitlement(ctx, tx, p.KeyID, true)
		if err != nil {
			return err
		}
		if !e.Revoked.IsZero() {
			return ErrRevoked
		}
		lim := p.Limits(e.Product)
		acts, err := s.activations(ctx, tx, p.KeyID)
		if err != nil {
			return err
		}
		for _, a := range acts {
			if a.HostID == p.HostID {
				// Registering again (a reinstall, a lost file) is not a new host.
				out = e
				_, err := tx.ExecContext(ctx, s.q(`UPDATE activations SET domain = ?, address = ? WHERE key_id = ? AND host_id = ?`),
					p.Domain, p.Address, p.KeyID, string(p.HostID))
				return err
			}
		}
		if len(acts) >= lim.MaxHosts {
			return &LimitError{Max: lim.MaxHosts, Hosts: acts}
		}
		if lim.OnePerHost {
			if err := s.checkOnePerHost(ctx, tx, e, p.HostID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO activations (key_id, host_id, product, domain, address, activated) VALUES (?, ?, ?, ?, ?, ?)`),
			p.KeyID, string(p.HostID), e.Product, p.Domain, p.Address, p.At.Unix())
		if err != nil {
			return fmt.Errorf("record activation: %w", err)
		}
		out = e
		return nil
	})
	return out, err
}

// checkOnePerHost refuses a second key of a one-per-host product (ffa) on host.
func (s *sqlStore) checkOnePerHost(ctx context.Context, tx *sql.Tx, e Entitlement, host license.HostID) error {
	if s.postgres {
		// Two different keys racing onto one host lock different entitlement
		// rows, so they also take a lock on the host.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "host:"+string(host)); err != nil {
			return fmt.Errorf("lock host: %w", err)
		}
	}
	var other string
	err := tx.QueryRowContext(ctx, s.q(`SELECT a.key_id FROM activations a JOIN entitlements e ON e.key_id = a.key_id
		WHERE a.host_id = ? AND a.product = ? AND a.key_id <> ? AND e.revoked = 0 LIMIT 1`),
		string(host), e.Product, e.KeyID).Scan(&other)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check one key per host: %w", err)
	}
	return &OnePerHostError{Product: e.Product, HostID: host, Other: KeyHash(other)}
}

func (s *sqlStore) activations(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, keyID string) ([]Activation, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT host_id, domain, address, activated FROM activations WHERE key_id = ? ORDER BY activated, host_id`), keyID)
	if err != nil {
		return nil, fmt.Errorf("list activations: %w", err)
	}
	defer rows.Close()
	var out []Activation
	for rows.Next() {
		a := Activation{KeyID: keyID}
		var host string
		var at int64
		if err := rows.Scan(&host, &a.Domain, &a.Address, &at); err != nil {
			return nil, fmt.Errorf("list activations: %w", err)
		}
		a.HostID, a.At = license.HostID(host), time.Unix(at, 0).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *sqlStore) Activations(ctx context.Context, keyID string) ([]Activation, error) {
	return s.activations(ctx, s.db, keyID)
}

func (s *sqlStore) Deactivate(ctx context.Context, keyID string, host license.HostID) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM activations WHERE key_id = ? AND host_id = ?`), keyID, string(host))
	if err != nil {
		return false, fmt.Errorf("deactivate: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("deactivate: %w", err)
	}
	return n > 0, nil
}

func (s *sqlStore) Audit(ctx context.Context, e AuditEntry) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO audit (at, key_hash, host_id, address, action, outcome) VALUES (?, ?, ?, ?, ?, ?)`),
		e.At.Unix(), e.KeyHash, e.HostID, e.Address, e.Action, e.Outcome)
	if err != nil {
		return fmt.Errorf("write audit: %w", err)
	}
	return nil
}

func (s *sqlStore) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, key_hash, host_id, address, action, outcome FROM audit ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.KeyHash, &e.HostID, &e.Address, &e.Action, &e.Outcome); err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
