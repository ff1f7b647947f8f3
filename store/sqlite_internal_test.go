package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openTestSQLite opens a SQLite store at path and closes it when the test ends.
func openTestSQLite(t *testing.T, path string) *sqlStore {
	t.Helper()
	s, err := Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*sqlStore)
}

// rawSQLite opens path directly, as another process would.
func rawSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLitePath(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dsn, want, wantErr string
	}{
		{dsn: "sqlite:/var/lib/signpost/access.db", want: "/var/lib/signpost/access.db"},
		{dsn: "sqlite:///var/lib/signpost/access.db", want: "/var/lib/signpost/access.db"},
		{dsn: "SQLITE:/var/lib/signpost/access.db", want: "/var/lib/signpost/access.db"},
		{dsn: "sqlite:data/access.db", want: filepath.Join(wd, "data/access.db")},
		{dsn: "sqlite://data/access.db", want: filepath.Join(wd, "data/access.db")},
		{dsn: "/var/lib/signpost/access.db", want: "/var/lib/signpost/access.db"},
		{dsn: "access.db", want: filepath.Join(wd, "access.db")},
		{dsn: "/data/odd:name #1%.db", want: "/data/odd:name #1%.db"},
		{dsn: "sqlite:", wantErr: "names no file"},
		{dsn: "sqlite://", wantErr: "names no file"},
		{dsn: ":memory:", wantErr: "expected a file path"},
		{dsn: "sqlite::memory:", wantErr: "expected a file path"},
		{dsn: "sqlite:file:access.db", wantErr: "expected a file path"},
		{dsn: "sqlite:/data/access.db?mode=ro", wantErr: "takes no parameters"},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			got, err := sqlitePath(tc.dsn)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("sqlitePath(%q): got %q, %v; want an error containing %q", tc.dsn, got, err, tc.wantErr)
			case tc.wantErr == "" && (err != nil || got != tc.want):
				t.Errorf("sqlitePath(%q): got %q, %v; want %q", tc.dsn, got, err, tc.want)
			}
		})
	}
}

func TestSQLiteOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b#c%20d;e")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "o'brien.db")
	s := openTestSQLite(t, path)
	r, err := s.CreateRequest(context.Background(), Request{Subject: "alice", App: "slack", Justification: "work"})
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file at the path given: %v", err)
	}
	s = openTestSQLite(t, path)
	if _, err := s.Request(context.Background(), r.ID); err != nil {
		t.Errorf("Request after reopening: %v", err)
	}
}

func TestSQLiteSettings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "signpost.db")
	s := openTestSQLite(t, path)
	if _, err := s.CreateRequest(ctx, Request{Subject: "alice", App: "slack", Justification: "work"}); err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	pragma := func(db *sql.DB, name string) string {
		t.Helper()
		var v string
		if err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for _, tc := range []struct {
		pool string
		db   *sql.DB
		name string
		want string
	}{
		{"writer", s.w, "journal_mode", "wal"},
		{"writer", s.w, "synchronous", "2"},
		{"writer", s.w, "foreign_keys", "1"},
		{"writer", s.w, "busy_timeout", "5000"},
		{"writer", s.w, "query_only", "0"},
		{"reader", s.r, "journal_mode", "wal"},
		{"reader", s.r, "foreign_keys", "1"},
		{"reader", s.r, "busy_timeout", "5000"},
		{"reader", s.r, "query_only", "1"},
	} {
		if got := pragma(tc.db, tc.name); got != tc.want {
			t.Errorf("%s PRAGMA %s: got %s; want %s", tc.pool, tc.name, got, tc.want)
		}
	}
	for _, f := range []string{path, path + "-wal"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Errorf("stat %s: %v", f, err)
			continue
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("mode of %s: got %o; want 600", filepath.Base(f), perm)
		}
	}
	if _, err := s.r.ExecContext(ctx, `DELETE FROM audit`); err == nil {
		t.Error("DELETE through the read pool: got no error; want query_only to refuse it")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit (at, actor, action, request_id) VALUES (1, 'x', 'y', 999)`)
	if err == nil {
		t.Error("audit row for a missing request: got no error; want the foreign key to refuse it")
	}
	var tables []string
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if got, want := strings.Join(tables, ","), "audit,grants,requests,schema_migrations,usage_snapshots"; got != want {
		t.Errorf("tables: got %s; want %s", got, want)
	}
}

func TestSQLiteUnavailableWhileLocked(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "signpost.db")
	s := openTestSQLite(t, path)

	// Another process holds the write lock.
	other := rawSQLite(t, path)
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("BEGIN IMMEDIATE: %v", err)
	}

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.CreateRequest(short, Request{Subject: "alice", App: "slack", Justification: "work"})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("CreateRequest while locked: got %v; want ErrUnavailable", err)
	}
	if d := time.Since(start); d >= sqliteBusyTimeout {
		t.Errorf("CreateRequest while locked took %v; want it to give up with its context, before the %v busy timeout", d, sqliteBusyTimeout)
	}
	// Readers are not blocked by a writer in WAL mode.
	if _, err := s.Requests(ctx, RequestFilter{}); err != nil {
		t.Errorf("Requests while locked: %v", err)
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatalf("ROLLBACK: %v", err)
	}
	if _, err := s.CreateRequest(ctx, Request{Subject: "alice", App: "slack", Justification: "work"}); err != nil {
		t.Errorf("CreateRequest after the lock is released: %v", err)
	}
}

func TestSQLiteOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("this is not a SQLite database\n", 64)), 0o600); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	s := openTestSQLite(t, newer)
	if _, err := s.w.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	for _, tc := range []struct {
		name, dsn string
		want      []string
	}{
		{"not a database", garbage, []string{garbage}},
		{"missing directory", filepath.Join(dir, "missing", "x.db"), []string{filepath.Join(dir, "missing", "x.db")}},
		{"newer schema", newer, []string{"schema version 999", "newer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), tc.dsn)
			if err == nil {
				s.Close()
				t.Fatalf("Open: got a store; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open: got error %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestSQLiteUpgradeAddsUsageSnapshots opens a database an older Signpost
// left at schema version 1: Open adds the usage snapshots and keeps the
// requests.
func TestSQLiteUpgradeAddsUsageSnapshots(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "signpost.db")
	ms, err := loadMigrations(migrationFiles, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	db := rawSQLite(t, path)
	if err := migrate(ctx, db, ms[:1], ""); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO requests (subject, app, justification, status, created_at)
		VALUES ('alice', 'slack', 'work', 'pending', 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openTestSQLite(t, path)
	if vs := versions(t, s.r); len(vs) != len(ms) || !strings.HasPrefix(vs[1], "2:0002_usage_snapshots.sql:") {
		t.Errorf("versions after the upgrade: got %v; want %d, the second 0002_usage_snapshots.sql", vs, len(ms))
	}
	if r, err := s.PendingFor(ctx, "alice", "slack"); err != nil || r == nil {
		t.Errorf("PendingFor after the upgrade: got %v, %v; want the request from before", r, err)
	}
	if err := s.SaveUsage(ctx, "edge-1", []byte{1}, time.Time{}); err != nil {
		t.Errorf("SaveUsage after the upgrade: %v", err)
	}
	var strict int
	if err := s.r.QueryRowContext(ctx, `SELECT strict FROM pragma_table_list WHERE name = 'usage_snapshots'`).Scan(&strict); err != nil || strict != 1 {
		t.Errorf("usage_snapshots STRICT: got %d, %v; want 1", strict, err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO usage_snapshots (node, data, updated_at) VALUES ('edge-2', 'text, not bytes', 'soon')`); err == nil {
		t.Error("a row of the wrong types: got no error; want STRICT to refuse it")
	}
}

// TestPruneFailingMidwayAuditsWhatWent makes the database refuse to delete
// grants (a trigger, as a lock or a constraint might): Prune has deleted
// the audit entries by then, reports the error with that count, and says
// in the audit trail what went.
func TestPruneFailingMidwayAuditsWhatWent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTestSQLite(t, path)
	now := time.Now()
	for _, who := range []string{"alice", "bob"} {
		if _, err := s.AddGrant(ctx, Grant{Subject: who, App: "slack", CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(-47 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rawSQLite(t, path).Exec(`CREATE TRIGGER keep_grants BEFORE DELETE ON grants BEGIN SELECT RAISE(ABORT, 'grants are kept'); END`); err != nil {
		t.Fatal(err)
	}
	p, err := s.Prune(ctx, now.Add(-time.Hour))
	if err == nil || !strings.Contains(err.Error(), "prune grants") || !strings.Contains(err.Error(), "grants are kept") {
		t.Fatalf("Prune with grants that cannot be deleted: got %v; want the database's refusal", err)
	}
	if p != (Pruned{Audit: 2}) {
		t.Errorf("Prune's counts on the error: got %+v; want the 2 audit entries it deleted", p)
	}
	es, err := s.Audit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Action != ActionPruned || !strings.Contains(es[0].Detail, "deleted 0 requests, 0 grants, 2 audit entries") {
		t.Errorf("audit after the failed Prune: got %+v; want one entry saying what was deleted", es)
	}
}
