package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The PostgreSQL tests run against the server SIGNPOST_TEST_POSTGRES names
// (the default is the one CI and the development machines run), each in a
// schema of its own that it drops when it ends. A server that does not
// answer fails them, so that CI cannot pass by skipping them;
// SIGNPOST_TEST_POSTGRES=skip skips them where no server is at hand.
const (
	pgTestEnv        = "SIGNPOST_TEST_POSTGRES"
	pgTestDefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	pgTestSchemaPre  = "signpost_test_"
)

var pgTestServer struct {
	once sync.Once
	err  error
}

// pgTestBaseDSN returns the test server's DSN, skipping or failing the test
// when there is none.
func pgTestBaseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(pgTestEnv)
	switch dsn {
	case "skip":
		t.Skipf("%s=skip: the PostgreSQL tests are skipped", pgTestEnv)
	case "":
		dsn = pgTestDefaultDSN
	}
	pgTestServer.once.Do(func() { pgTestServer.err = pgTestPrepare(dsn) })
	if pgTestServer.err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable: %v\n"+
			"start it, point %s at one, or set %s=skip to skip the PostgreSQL tests",
			redactDSN(dsn), pgTestServer.err, pgTestEnv, pgTestEnv)
	}
	return dsn
}

// pgTestPrepare checks that the server answers and drops the schemas that
// tests which crashed an hour or more ago left behind.
func pgTestPrepare(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`, pgTestSchemaPre)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range names {
		created, _, _ := strings.Cut(strings.TrimPrefix(name, pgTestSchemaPre), "_")
		if sec, err := strconv.ParseInt(created, 10, 64); err == nil && time.Since(time.Unix(sec, 0)) > time.Hour {
			if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
				return err
			}
		}
	}
	return nil
}

// pgTestExec runs sql on a connection of its own to the test server.
func pgTestExec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgTestBaseDSN(t))
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// newPostgresTestDSN creates an empty schema, drops it when the test ends,
// and returns a DSN whose search_path is that schema.
func newPostgresTestDSN(t testing.TB) string {
	t.Helper()
	base := pgTestBaseDSN(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := fmt.Sprintf("%s%d_%s", pgTestSchemaPre, time.Now().Unix(), hex.EncodeToString(b))
	quoted := pgx.Identifier{schema}.Sanitize()
	pgTestExec(t, `CREATE SCHEMA `+quoted)
	t.Cleanup(func() { pgTestExec(t, `DROP SCHEMA `+quoted+` CASCADE`) })
	return withParam(t, base, "search_path", schema)
}

// withParam returns dsn with one parameter set.
func withParam(t testing.TB, dsn, name, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// withHost returns dsn pointing at another host:port.
func withHost(t testing.TB, dsn, hostport string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	u.Host = hostport
	return u.String()
}

// pgTestTarget returns the host:port of the test server.
func pgTestTarget(t testing.TB) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgTestBaseDSN(t))
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	return fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
}

// openTestPostgres opens a PostgreSQL store and closes it when the test ends.
func openTestPostgres(t testing.TB, dsn string) *pgStore {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*pgStore)
}
