package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

func init() {
	Register("sqlite", openSQLite)
}

const (
	// sqliteBusyTimeout is how long a statement waits for another
	// process's lock on the file before failing with ErrUnavailable.
	sqliteBusyTimeout = 5 * time.Second
	// sqliteReaders bounds the read connections; WAL lets them read while
	// the writer writes.
	sqliteReaders = 4
)

// sqliteDialect classifies modernc.org/sqlite's errors.
var sqliteDialect = dialect{
	unavailable: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		switch e.Code() & 0xff { // the primary code of an extended one
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_READONLY,
			sqlite3.SQLITE_INTERRUPT:
			return true
		default:
			return false
		}
	},
	uniqueViolation: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) &&
			(e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
}

// openSQLite opens (creating it if needed) the SQLite database dsn names
// and migrates it. Writes go through a single connection, since SQLite has
// one writer at a time and waiting in the pool (which honours the
// context) beats waiting in SQLite's busy handler; reads use a few more.
// Every connection runs with a busy timeout, foreign keys on and
// double-quoted strings off; the writer in WAL mode with synchronous=FULL
// (a request is durable when CreateRequest returns) and BEGIN IMMEDIATE,
// the readers query-only.
func openSQLite(ctx context.Context, dsn string) (Store, error) {
	p, err := sqlitePath(dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if err := createPrivate(p); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	ms, err := loadMigrations(migrationFiles, "migrations/sqlite")
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	w, err := sql.Open("sqlite", sqliteDSN(p, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", p, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	if err := migrate(ctx, w, ms, ""); err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", p, err), w.Close())
	}
	r, err := sql.Open("sqlite", sqliteDSN(p, true))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", p, err), w.Close())
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	if err := r.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", p, err), r.Close(), w.Close())
	}
	return &sqlStore{d: sqliteDialect, w: w, r: r}, nil
}

// sqlitePath returns the absolute file path of a SQLite DSN: "sqlite:PATH",
// "sqlite://PATH" (so "sqlite:///var/lib/x.db" is absolute) or a bare PATH.
// It takes no parameters: a '?' is refused rather than read as part of the
// name, and in-memory databases are refused because the store must last.
func sqlitePath(dsn string) (string, error) {
	p := dsn
	if dsnScheme(dsn) == "sqlite" {
		p = strings.TrimPrefix(dsn[len("sqlite:"):], "//")
	}
	switch {
	case p == "":
		return "", fmt.Errorf("DSN %q names no file", dsn)
	case p == ":memory:" || strings.HasPrefix(p, "file:"):
		return "", fmt.Errorf("DSN %q: found a SQLite URI or in-memory name; expected a file path", dsn)
	case strings.ContainsRune(p, '?'):
		return "", fmt.Errorf("DSN %q: found a '?'; a SQLite DSN takes no parameters", dsn)
	}
	return filepath.Abs(p)
}

// createPrivate creates the database file with mode 0600 if it is missing:
// requests hold names and justifications, and SQLite gives its -wal and
// -shm files the database file's mode.
func createPrivate(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// sqliteDSN returns modernc.org/sqlite's name for the file at p: a file:
// URI, so that any character in the path is escaped rather than read as a
// parameter, with the connection's settings.
func sqliteDSN(p string, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10))
	q.Set("_foreign_keys", "1")
	q.Set("_dqs", "0")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_txlock", "immediate")
	}
	u := filepath.ToSlash(p)
	if !strings.HasPrefix(u, "/") {
		u = "/" + u // a Windows drive: file:///C:/…
	}
	return "file:" + (&url.URL{Path: u}).EscapedPath() + "?" + q.Encode()
}
