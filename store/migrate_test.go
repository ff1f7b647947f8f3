package store

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrationsEmbedded(t *testing.T) {
	names := map[string][]string{}
	for _, dir := range []string{"migrations/sqlite", "migrations/postgres"} {
		ms, err := loadMigrations(migrationFiles, dir)
		if err != nil {
			t.Fatalf("loadMigrations(%s): %v", dir, err)
		}
		if len(ms) == 0 || ms[0].name != "0001_init.sql" {
			t.Fatalf("%s: got %d, first %+v; want 0001_init.sql first", dir, len(ms), ms)
		}
		for i, m := range ms {
			if m.version != i+1 || strings.TrimSpace(m.sql) == "" {
				t.Errorf("%s: migration %d: got version %d, %d bytes; want version %d with SQL", dir, i, m.version, len(m.sql), i+1)
			}
			names[dir] = append(names[dir], m.name)
		}
	}
	// The backends run the same queries, so their schemas move in step.
	if got, want := strings.Join(names["migrations/postgres"], ","), strings.Join(names["migrations/sqlite"], ","); got != want {
		t.Errorf("PostgreSQL migrations: got %s; want the same as SQLite's, %s", got, want)
	}
}

func TestLoadMigrationsErrors(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"gap", fstest.MapFS{"m/0001_a.sql": file("SELECT 1;"), "m/0003_c.sql": file("SELECT 1;")}, "found version 3; expected 2"},
		{"repeat", fstest.MapFS{"m/0001_a.sql": file("SELECT 1;"), "m/0001_b.sql": file("SELECT 1;")}, "found version 1; expected 2"},
		{"starts at 2", fstest.MapFS{"m/0002_a.sql": file("SELECT 1;")}, "found version 2; expected 1"},
		{"no number", fstest.MapFS{"m/init.sql": file("SELECT 1;")}, "found no version number"},
		{"no underscore", fstest.MapFS{"m/0001.sql": file("SELECT 1;")}, "found no version number"},
		{"version zero", fstest.MapFS{"m/0000_a.sql": file("SELECT 1;")}, "found no version number"},
		{"not SQL", fstest.MapFS{"m/0001_a.sql": file("SELECT 1;"), "m/README.md": file("notes")}, "not NNNN_name.sql"},
		{"empty", fstest.MapFS{"m": &fstest.MapFile{Mode: fs.ModeDir}, "other/0001_a.sql": file("SELECT 1;")}, "no migrations in m"},
		{"missing folder", fstest.MapFS{"other/0001_a.sql": file("SELECT 1;")}, "read migrations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadMigrations(tc.files, "m")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("loadMigrations: got error %v; want one containing %q", err, tc.want)
			}
		})
	}
}

// versions returns the versions schema_migrations records.
func versions(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT version || ':' || name || ':' || applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var vs []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	db := rawSQLite(t, filepath.Join(t.TempDir(), "m.db"))
	good := migration{1, "0001_a.sql", "CREATE TABLE a (x INTEGER); CREATE TABLE a2 (x INTEGER);"}
	bad := migration{2, "0002_b.sql", "CREATE TABLE b (x INTEGER); CREATE TABLE oops (;"}
	err := migrate(ctx, db, []migration{good, bad}, "")
	if err == nil || !strings.Contains(err.Error(), "0002_b.sql") {
		t.Fatalf("migrate with a broken migration: got %v; want an error naming 0002_b.sql", err)
	}
	for _, tc := range []struct {
		table string
		want  bool
	}{{"a", true}, {"a2", true}, {"b", false}} {
		if got := tableExists(t, db, tc.table); got != tc.want {
			t.Errorf("table %s exists: got %v; want %v", tc.table, got, tc.want)
		}
	}
	if vs := versions(t, db); len(vs) != 1 || !strings.HasPrefix(vs[0], "1:0001_a.sql:") {
		t.Errorf("recorded versions after the failure: got %v; want only 1", vs)
	}

	fixed := migration{2, "0002_b.sql", "CREATE TABLE b (x INTEGER);"}
	if err := migrate(ctx, db, []migration{good, fixed}, ""); err != nil {
		t.Fatalf("migrate after the fix: %v", err)
	}
	if !tableExists(t, db, "b") {
		t.Error("table b after the fix: got missing; want it")
	}
	before := versions(t, db)
	if len(before) != 2 {
		t.Fatalf("recorded versions: got %v; want 2", before)
	}
	if err := migrate(ctx, db, []migration{good, fixed}, ""); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	if after := versions(t, db); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("versions after a second migrate: got %v; want them unchanged, %v", after, before)
	}
}
