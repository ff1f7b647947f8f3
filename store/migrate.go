package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds every backend's migrations, one folder each
// (migrations/sqlite, …), so that the binary carries its schema.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	version int
	name    string // the file name, for messages and schema_migrations
	sql     string
}

// loadMigrations reads the migrations in dir of fsys: files named
// NNNN_words.sql, numbered 1, 2, 3… without gaps or repeats, so that a
// mistake in numbering fails every test rather than one database.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %s: found a file that is not NNNN_name.sql", path.Join(dir, name))
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: found no version number; expected NNNN_name.sql", path.Join(dir, name))
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	// ReadDir sorts by name; zero-padded numbers sort by version.
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: found version %d; expected %d (versions run 1, 2, 3… with zero-padded names)",
				path.Join(dir, m.name), m.version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("read migrations: no migrations in %s", dir)
	}
	return ms, nil
}

// migrate brings db's schema up to date. It records applied versions in
// schema_migrations, refuses a database a newer Signpost has migrated past
// what ms knows, and applies each missing migration in its own
// transaction, together with its record, so a failed one leaves nothing
// behind. lock, when not "", runs first in every transaction to serialize
// nodes migrating one database at once (PostgreSQL: an advisory lock);
// SQLite's immediate transactions serialize writers already.
func migrate(ctx context.Context, db *sql.DB, ms []migration, lock string) error {
	tx := func(fn func(tx *sql.Tx) error) error {
		t, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if lock != "" {
			if _, err := t.ExecContext(ctx, lock); err != nil {
				_ = t.Rollback() // the lock's error is the one to report
				return err
			}
		}
		if err := fn(t); err != nil {
			_ = t.Rollback() // fn's error is the one to report
			return err
		}
		return t.Commit()
	}
	err := tx(func(t *sql.Tx) error {
		_, err := t.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    BIGINT PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at BIGINT NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if newest.Int64 > int64(len(ms)) {
		return fmt.Errorf("migrate: the database is at schema version %d, newer than this Signpost's %d; run a newer Signpost",
			newest.Int64, len(ms))
	}
	for _, m := range ms {
		err := tx(func(t *sql.Tx) error {
			// Checked inside the transaction: another node may have applied
			// it since the read above.
			var n int64
			if err := t.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := t.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := t.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
	}
	return nil
}
