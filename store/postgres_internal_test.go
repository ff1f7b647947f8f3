package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/signpost-gateway/signpost/policy"
)

func TestParsePostgresDSN(t *testing.T) {
	for _, tc := range []struct {
		name, dsn   string
		wantPool    pgPool
		wantTimeout time.Duration
		wantParams  map[string]string
	}{
		{
			name:        "defaults",
			dsn:         "postgres://signpost:hunter2@db.internal:5433/access?sslmode=disable",
			wantPool:    pgPool{maxConns: pgMaxConns, maxLifetime: pgMaxConnLifetime, maxIdleTime: pgMaxConnIdleTime},
			wantTimeout: pgConnectTimeout,
			wantParams:  map[string]string{},
		},
		{
			name:        "pool settings, a schema and a connect timeout",
			dsn:         "PostgreSQL://db/access?sslmode=disable&pool_max_conns=3&pool_max_conn_lifetime=1m&pool_max_conn_idle_time=10s&search_path=fleet&connect_timeout=2",
			wantPool:    pgPool{maxConns: 3, maxLifetime: time.Minute, maxIdleTime: 10 * time.Second},
			wantTimeout: 2 * time.Second,
			wantParams:  map[string]string{"search_path": "fleet"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, pool, err := parsePostgresDSN(tc.dsn)
			if err != nil {
				t.Fatalf("parsePostgresDSN: %v", err)
			}
			if pool != tc.wantPool {
				t.Errorf("pool: got %+v; want %+v", pool, tc.wantPool)
			}
			if cfg.ConnectTimeout != tc.wantTimeout {
				t.Errorf("connect timeout: got %v; want %v", cfg.ConnectTimeout, tc.wantTimeout)
			}
			wantEqualMap(t, "run-time parameters", cfg.RuntimeParams, tc.wantParams)
		})
	}
}

func wantEqualMap(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %v; want %v", what, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v; want %v", what, got, want)
			return
		}
	}
}

func TestParsePostgresDSNErrors(t *testing.T) {
	const pw = "hunter2-secret"
	for _, tc := range []struct {
		name, dsn, want string
	}{
		{"no connections", "postgres://u:" + pw + "@db/x?pool_max_conns=0", "pool_max_conns"},
		{"connections not a number", "postgres://u:" + pw + "@db/x?pool_max_conns=many", "pool_max_conns"},
		{"negative lifetime", "postgres://u:" + pw + "@db/x?pool_max_conn_lifetime=-1s", "pool_max_conn_lifetime"},
		{"idle time without a unit", "postgres://u:" + pw + "@db/x?pool_max_conn_idle_time=10", "pool_max_conn_idle_time"},
		{"a pool setting this pool lacks", "postgres://u:" + pw + "@db/x?pool_min_conns=2", "found pool_min_conns"},
		{"bad port", "postgres://u:" + pw + "@db:port/x", "invalid port"},
		{"bad sslmode", "postgres://u:" + pw + "@db/x?sslmode=sometimes", "sslmode"},
		{"password as a parameter", "postgres://u@db/x?password=" + pw + "&sslmode=sometimes", "sslmode"},
		{"another scheme", "mysql://u:" + pw + "@db/x", `found scheme "mysql"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parsePostgresDSN(tc.dsn)
			if err == nil {
				t.Fatalf("parsePostgresDSN(%q): got no error; want one", tc.dsn)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error: got %q; want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error: got %q; want it without the password", err)
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://signpost:hunter2@db/access", "postgres://signpost:xxxxx@db/access"},
		{"postgres://signpost@db/access?sslmode=require", "postgres://signpost@db/access?sslmode=require"},
		{"postgres://db/access?password=hunter2&user=signpost", "postgres://db/access?password=xxxxx&user=signpost"},
		{"postgres://db/access?sslpassword=hunter2", "postgres://db/access?sslpassword=xxxxx"},
		{"postgres://u:hunter2@db:port/x\x7f", "(an unreadable DSN)"},
	} {
		if got := redactDSN(tc.dsn); got != tc.want {
			t.Errorf("redactDSN(%q): got %q; want %q", tc.dsn, got, tc.want)
		}
	}
}

func TestPgUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, true},
		{"lock timeout", &pgconn.PgError{Code: "55P03"}, true},
		{"read-only standby", &pgconn.PgError{Code: "25006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"missing table", &pgconn.PgError{Code: "42P01"}, false},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"network error", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"server hung up", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"bad connection", driver.ErrBadConn, true},
		{"connection closed by pgx", fmt.Errorf("commit: %w", pgconn.ErrConnClosed), true},
		{"something else", errors.New("converting NULL to int64 is unsupported"), false},
		{"canceled by the caller", context.Canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pgUnavailable(tc.err); got != tc.want {
				t.Errorf("pgUnavailable(%v): got %v; want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestParseGrantChange(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		want          GrantChange
		wantOurs      bool
	}{
		{"a change", `{"schema":"fleet","subject":"alice","app":"slack"}`, GrantChange{"alice", "slack"}, true},
		{"another schema's change", `{"schema":"other","subject":"alice","app":"slack"}`, GrantChange{}, false},
		{"no app", `{"schema":"fleet","subject":"alice"}`, GrantChange{}, true},
		{"no names", `{"schema":"fleet"}`, GrantChange{}, true},
		{"no schema", `{"subject":"alice","app":"slack"}`, GrantChange{}, false},
		{"not JSON", `alice slack`, GrantChange{}, false},
		{"empty", ``, GrantChange{}, false},
		{"wrong types", `{"schema":"fleet","subject":1,"app":["x"]}`, GrantChange{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ours := parseGrantChange(tc.payload, "fleet")
			if got != tc.want || ours != tc.wantOurs {
				t.Errorf("parseGrantChange(%q): got %+v, %v; want %+v, %v", tc.payload, got, ours, tc.want, tc.wantOurs)
			}
		})
	}
}

func FuzzParseGrantChange(f *testing.F) {
	f.Add(`{"schema":"public","subject":"alice","app":"slack"}`, "bob", "zoom")
	f.Add(`{"schema":"","subject":"ip:192.0.2.1","app":"miro"}`, "o'brien", "\u00e4pp")
	f.Add(`{"schema":"public","subject":"","app":"x"}`, "", "x")
	f.Add(`not json`, "\xff", "x")
	f.Fuzz(func(t *testing.T, payload, subject, app string) {
		c, ours := parseGrantChange(payload, "public")
		if ours && !c.All() && (c.Subject == "" || c.App == "") {
			t.Errorf("parseGrantChange(%q): got %+v; want both names or neither", payload, c)
		}
		if !ours && !c.All() {
			t.Errorf("parseGrantChange(%q): got %+v for another schema; want the zero change", payload, c)
		}
		// What the database sends for a real change comes back as it was.
		b, err := json.Marshal(grantChangePayload{Schema: "public", Subject: subject, App: app})
		if err != nil {
			t.Fatal(err)
		}
		c, ours = parseGrantChange(string(b), "public")
		want := GrantChange{Subject: subject, App: app}
		if subject == "" || app == "" {
			want = GrantChange{}
		}
		// JSON replaces invalid UTF-8, which checkText keeps out of the store.
		if faithful := utf8.ValidString(subject) && utf8.ValidString(app); !ours || (faithful && c != want) {
			t.Errorf("round trip of %q, %q: got %+v, %v; want %+v", subject, app, c, ours, want)
		}
	})
}

func TestPostgresSettings(t *testing.T) {
	ctx := context.Background()
	dsn := newPostgresTestDSN(t)
	for _, tc := range []struct {
		name     string
		dsn      string
		maxConns int
	}{
		{"defaults", dsn, pgMaxConns},
		{"pool_max_conns", withParam(t, dsn, "pool_max_conns", "3"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestPostgres(t, tc.dsn)
			if got := s.w.Stats().MaxOpenConnections; got != tc.maxConns {
				t.Errorf("pool size: got %d; want %d", got, tc.maxConns)
			}
			var app string
			if err := s.w.QueryRowContext(ctx, `SELECT current_setting('application_name')`).Scan(&app); err != nil || app != "signpost" {
				t.Errorf("application_name: got %q, %v; want signpost", app, err)
			}
		})
	}
	s := openTestPostgres(t, dsn)
	rows, err := s.r.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
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
	_, err = s.w.ExecContext(ctx, `INSERT INTO audit (at, actor, action, request_id) VALUES (1, 'x', 'y', 999)`)
	if err == nil {
		t.Error("audit row for a missing request: got no error; want the foreign key to refuse it")
	}
}

// TestPostgresConcurrentOpen starts several nodes on one new schema at
// once: every one opens, and each migration ran once.
func TestPostgresConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	dsn := newPostgresTestDSN(t)
	const n = 6
	var wg sync.WaitGroup
	stores := make([]Store, n)
	errs := make([]error, n)
	small := withParam(t, dsn, "pool_max_conns", "2")
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, small) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: Open: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	ms, err := loadMigrations(migrationFiles, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	s := openTestPostgres(t, dsn)
	var rows, distinct int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT applied_at) FROM schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) || distinct != len(ms) {
		t.Errorf("schema_migrations: got %d rows, %d applications; want %d of each", rows, distinct, len(ms))
	}
}

// TestPostgresMigrateLock runs a migration that counts its runs from
// several nodes at once: the advisory lock lets each node in turn, the
// first applies it, the others find it applied.
func TestPostgresMigrateLock(t *testing.T) {
	ctx := context.Background()
	cfg, _, err := parsePostgresDSN(newPostgresTestDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	ms := []migration{{1, "0001_count.sql", `CREATE TABLE IF NOT EXISTS runs (n INT); INSERT INTO runs VALUES (1);`}}
	const n = 6
	dbs := make([]*sql.DB, n)
	for i := range dbs {
		dbs[i] = stdlib.OpenDB(*cfg)
		t.Cleanup(func() { dbs[i].Close() })
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, db := range dbs {
		wg.Go(func() { errs[i] = migrate(ctx, db, ms, pgMigrationLock) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: migrate: %v", i, err)
		}
	}
	var runs int
	if err := dbs[0].QueryRowContext(ctx, `SELECT COUNT(*) FROM runs`).Scan(&runs); err != nil || runs != 1 {
		t.Errorf("migration runs: got %d, %v; want 1", runs, err)
	}
}

func TestPostgresNewerSchema(t *testing.T) {
	dsn := newPostgresTestDSN(t)
	s := openTestPostgres(t, dsn)
	if _, err := s.w.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	got, err := Open(context.Background(), dsn)
	if err == nil {
		got.Close()
		t.Fatal("Open: got a store; want an error")
	}
	for _, want := range []string{"schema version 999", "newer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open: got error %q; want it to contain %q", err, want)
		}
	}
}

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestPostgresOpenUnavailable(t *testing.T) {
	const pw = "hunter2-secret"
	base := pgTestBaseDSN(t)
	frozen := startTCPProxy(t, pgTestTarget(t))
	frozen.freeze()

	// A role that may not connect: the server answers "too many connections".
	role := fmt.Sprintf("signpost_test_limited_%d", time.Now().UnixNano())
	pgTestExec(t, `CREATE ROLE `+role+` LOGIN CONNECTION LIMIT 0`)
	t.Cleanup(func() { pgTestExec(t, `DROP ROLE `+role) })
	limited, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	limited.User = url.UserPassword(role, pw)

	for _, tc := range []struct {
		name    string
		dsn     string
		timeout time.Duration
	}{
		{"connection refused", withHost(t, withParam(t, base, "password", pw), freePort(t)), 5 * time.Second},
		{"too many connections", limited.String(), 5 * time.Second},
		{"deadline while connecting", withHost(t, base, frozen.addr), 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			s, err := Open(ctx, tc.dsn)
			took := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Open: got a store; want an error")
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("Open: got error %v; want ErrUnavailable", err)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("Open: got error %q; want it without the password", err)
			}
			if took > tc.timeout+time.Second {
				t.Errorf("Open took %v; want it to give up within its %v deadline", took, tc.timeout)
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
		})
	}
}

// TestPostgresTerminatedConnection kills the pool's connection under it:
// the call that finds it dead fails with ErrUnavailable, the next works.
func TestPostgresTerminatedConnection(t *testing.T) {
	ctx := context.Background()
	s := openTestPostgres(t, withParam(t, newPostgresTestDSN(t), "pool_max_conns", "1"))
	var pid int32
	if err := s.w.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	pgTestExec(t, `SELECT pg_terminate_backend($1)`, pid)
	eventually(t, 5*time.Second, "the backend exits", func() bool {
		var n int
		err := s.w.QueryRowContext(ctx, `SELECT 1`).Scan(&n)
		if err != nil && !errors.Is(s.fail("probe", err), ErrUnavailable) {
			t.Errorf("query on a terminated connection: got %v; want an unavailable database", err)
		}
		return err != nil
	})
	if _, err := s.CreateRequest(ctx, Request{Subject: "alice", App: "slack", Justification: "work"}); err != nil {
		t.Errorf("CreateRequest after the pool replaced its connection: %v", err)
	}
}

// eventually polls cond until it holds, failing the test after within;
// it returns how long cond took.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		<-tick.C
	}
	return time.Since(start)
}

// watch runs c.Watch until the test ends.
func watch(t *testing.T, c *GrantCache) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
}

// TestPostgresGrantChangesReachEveryNode runs two nodes on one schema, each
// with its own pool, feed and cache. Their caches trust an answer for an
// hour, so only the feed can explain a change showing on the other node.
func TestPostgresGrantChangesReachEveryNode(t *testing.T) {
	ctx := context.Background()
	dsn := newPostgresTestDSN(t)
	a, b := openTestPostgres(t, dsn), openTestPostgres(t, dsn)
	// A lookup timeout well above a loaded machine's query time: a timed-out
	// lookup answers NoGrant, which would pass for a revocation seen.
	o := GrantCacheOptions{TTL: time.Hour, LookupTimeout: 5 * time.Second}
	ca, cb := NewGrantCache(a, o), NewGrantCache(b, o)
	watch(t, ca)
	watch(t, cb)
	eventually(t, 5*time.Second, "both feeds listen", func() bool { return ca.Stats().Purges > 0 && cb.Stats().Purges > 0 })

	const within = 2 * time.Second
	var latencies []time.Duration
	// propagate makes a write on one node and waits for the other node's
	// cache to change its cached answer.
	propagate := func(what string, to *GrantCache, subject, app string, before, after policy.GrantKind, write func() error) {
		t.Helper()
		wantKind(t, to, subject, app, before)
		start := time.Now()
		if err := write(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		eventually(t, within, what+" shows on the other node", func() bool { return to.Active(subject, app) == after })
		latencies = append(latencies, time.Since(start))
	}
	hour := time.Now().Add(time.Hour)

	propagate("a continue on A", cb, "alice", "slack", policy.NoGrant, policy.ContinueGrant, func() error {
		_, err := ca.AddGrant(ctx, Grant{Subject: "alice", App: "slack", ExpiresAt: hour})
		return err
	})
	req, err := cb.CreateRequest(ctx, Request{Subject: "bob", App: "zoom", Justification: "customer calls"})
	if err != nil {
		t.Fatal(err)
	}
	var approval *Grant
	propagate("an approval on B", ca, "bob", "zoom", policy.NoGrant, policy.ApprovedGrant, func() error {
		_, approval, err = cb.Decide(ctx, req.ID, Decision{Approve: true, By: "admin", GrantFor: time.Hour})
		return err
	})
	propagate("a revocation on A", cb, "bob", "zoom", policy.ApprovedGrant, policy.NoGrant, func() error {
		_, err := ca.RevokeGrant(ctx, approval.ID, "admin")
		return err
	})

	// Another Signpost in another schema of the same database: its change
	// reaches B's feed first (notifications arrive in commit order) and
	// is ignored; only A's change invalidates.
	other := openTestPostgres(t, newPostgresTestDSN(t))
	invalidations := cb.Stats().Invalidations
	if _, err := other.AddGrant(ctx, Grant{Subject: "carol", App: "miro", ExpiresAt: hour}); err != nil {
		t.Fatal(err)
	}
	propagate("a continue on A after another schema's", cb, "dave", "miro", policy.NoGrant, policy.ContinueGrant, func() error {
		_, err := ca.AddGrant(ctx, Grant{Subject: "dave", App: "miro", ExpiresAt: hour})
		return err
	})
	if got := cb.Stats().Invalidations - invalidations; got != 1 {
		t.Errorf("B's invalidations for one change here and one in another schema: got %d; want 1", got)
	}

	// B's feed connection is killed: it reconnects, forgets everything
	// (it may have missed changes), and hears the next change.
	pid := b.listenPID.Load()
	purges := cb.Stats().Purges
	pgTestExec(t, `SELECT pg_terminate_backend($1)`, int32(pid))
	took := eventually(t, 5*time.Second, "B's feed reconnects", func() bool { return cb.Stats().Purges > purges })
	if got := b.listenPID.Load(); got == pid {
		t.Errorf("feed connection after the kill: got backend %d; want a new one", got)
	}
	t.Logf("feed reconnected %v after its connection was killed", took.Round(time.Millisecond))
	propagate("a continue on A after B's feed reconnected", cb, "erin", "slack", policy.NoGrant, policy.ContinueGrant, func() error {
		_, err := ca.AddGrant(ctx, Grant{Subject: "erin", App: "slack", ExpiresAt: hour})
		return err
	})
	t.Logf("write-to-other-node latencies: %v", latencies)
}

func TestPostgresChangesLifecycle(t *testing.T) {
	s := openTestPostgres(t, newPostgresTestDSN(t))
	var schema string
	if err := s.r.QueryRow(`SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	next := func(ch <-chan GrantChange) (GrantChange, bool) {
		t.Helper()
		select {
		case c, ok := <-ch:
			return c, ok
		case <-time.After(5 * time.Second):
			t.Fatal("no change and no close within 5s")
			return GrantChange{}, false
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.Changes(ctx)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if c, ok := next(ch); !ok || !c.All() {
		t.Errorf("first change: got %+v, %v; want the zero change (listening)", c, ok)
	}
	// Anyone who may connect can notify the channel. A change in another
	// schema and a payload that is not a Signpost's are skipped: the
	// change after them is the one that arrives.
	notify := func(payload string) { pgTestExec(t, `SELECT pg_notify($1, $2)`, pgChannel, payload) }
	notify(`{"schema":"elsewhere","subject":"x","app":"y"}`)
	notify(`garbage`)
	notify(fmt.Sprintf(`{"schema":%q,"subject":"alice","app":"slack"}`, schema))
	if c, ok := next(ch); !ok || c != (GrantChange{"alice", "slack"}) {
		t.Errorf("after a change elsewhere, garbage, and a change here: got %+v, %v; want alice's", c, ok)
	}
	notify(fmt.Sprintf(`{"schema":%q}`, schema))
	if c, ok := next(ch); !ok || !c.All() {
		t.Errorf("after a change here naming no grant: got %+v, %v; want the zero change", c, ok)
	}
	cancel()
	for {
		if _, ok := next(ch); !ok {
			break
		}
	}

	ch, err = s.Changes(context.Background())
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for {
		if _, ok := next(ch); !ok {
			break
		}
	}
	_, err = s.Changes(context.Background())
	wantErrIs(t, "Changes after Close", err, ErrUnavailable)
}

func wantErrIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v; want %v", what, err, want)
	}
}

// TestPostgresConnectionCut cuts the connection between a node and the
// database in the middle of a load of new requests: every request the node
// acknowledged is stored, cached grants stay honoured, calls fail promptly
// with ErrUnavailable while the database is away, and the node recovers
// by itself, feed included, when it returns.
func TestPostgresConnectionCut(t *testing.T) {
	ctx := context.Background()
	dsn := newPostgresTestDSN(t)
	direct := openTestPostgres(t, dsn)
	proxy := startTCPProxy(t, pgTestTarget(t))
	s := openTestPostgres(t, withParam(t, withHost(t, dsn, proxy.addr), "pool_max_conns", "4"))
	cache := NewGrantCache(s, GrantCacheOptions{TTL: 100 * time.Millisecond, LookupTimeout: 250 * time.Millisecond})
	watch(t, cache)
	eventually(t, 5*time.Second, "the feed listens", func() bool { return cache.Stats().Purges > 0 })
	if _, err := direct.AddGrant(ctx, Grant{Subject: "alice", App: "slack", Source: SourceApproval, CreatedBy: "admin",
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// The grant's notification lands first, or it would forget the answer.
	eventually(t, 2*time.Second, "the grant's notification", func() bool { return cache.Stats().Invalidations > 0 })
	// Polled: on a loaded machine a lookup may outlast its 250ms.
	eventually(t, 5*time.Second, "the approval cached", func() bool { return cache.Active("alice", "slack") == policy.ApprovedGrant })

	type ack struct {
		id      int64
		subject string
	}
	var (
		mu                    sync.Mutex
		acks                  []ack
		fails, afterRestore   atomic.Int64
		restored, stopWriting atomic.Bool
		wg                    sync.WaitGroup
	)
	const deadline = time.Second
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stopWriting.Load(); i++ {
				subject := fmt.Sprintf("w%d-%d", w, i)
				cctx, cancel := context.WithTimeout(ctx, deadline)
				start := time.Now()
				r, err := s.CreateRequest(cctx, Request{Subject: subject, App: "slack", Justification: "load"})
				took := time.Since(start)
				cancel()
				switch {
				case err == nil:
					mu.Lock()
					acks = append(acks, ack{r.ID, subject})
					mu.Unlock()
					if restored.Load() {
						afterRestore.Add(1)
					}
				case errors.Is(err, ErrUnavailable):
					fails.Add(1)
					if took > deadline+500*time.Millisecond {
						t.Errorf("CreateRequest failed after %v; want it to give up within its %v deadline", took, deadline)
					}
				default:
					t.Errorf("CreateRequest(%s): got %v; want success or ErrUnavailable", subject, err)
				}
			}
		})
	}
	acked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acks)
	}
	eventually(t, 10*time.Second, "20 requests before the cut", func() bool { return acked() >= 20 })
	proxy.cut()
	before := fails.Load()
	eventually(t, 10*time.Second, "8 failures during the cut", func() bool { return fails.Load() >= before+8 })

	errs := cache.Stats().Errors
	eventually(t, 5*time.Second, "the cache asks the unreachable store", func() bool {
		if got := cache.Active("alice", "slack"); got != policy.ApprovedGrant {
			t.Errorf("cached approval while the database is away: got %v; want it honoured (stats %+v)", got, cache.Stats())
		}
		return cache.Stats().Errors > errs
	})
	wantKind(t, cache, "carol", "slack", policy.NoGrant)
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	wantErrIs(t, "Ping while the database is away", s.Ping(pctx), ErrUnavailable)
	cancel()

	purges := cache.Stats().Purges
	proxy.restore(t)
	restored.Store(true)
	eventually(t, 10*time.Second, "20 requests after the restore", func() bool { return afterRestore.Load() >= 20 })
	stopWriting.Store(true)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for _, a := range acks {
		r, err := direct.Request(ctx, a.id)
		if err != nil || r.Subject != a.subject {
			t.Errorf("acknowledged request %d (%s): got %+v, %v; want it stored", a.id, a.subject, r, err)
		}
	}
	var stored int
	if err := direct.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored < len(acks) {
		t.Errorf("stored requests: got %d; want at least the %d acknowledged", stored, len(acks))
	}
	t.Logf("%d requests acknowledged, %d stored (%d committed as the connection was cut, unacknowledged), %d calls failed while cut",
		len(acks), stored, stored-len(acks), fails.Load())

	eventually(t, 10*time.Second, "the feed reconnects", func() bool { return cache.Stats().Purges > purges })
	if _, err := direct.AddGrant(ctx, Grant{Subject: "carol", App: "slack", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "a grant after the restore", func() bool { return cache.Active("carol", "slack") == policy.ContinueGrant })
}

// TestPostgresFrozenNetwork holds every byte between a node and the
// database, as a network that silently drops packets: calls give up with
// their deadline, cached grants stay honoured, the feed's ping finds its
// dead connection, and everything recovers when the network does.
func TestPostgresFrozenNetwork(t *testing.T) {
	ctx := context.Background()
	dsn := newPostgresTestDSN(t)
	direct := openTestPostgres(t, dsn)
	proxy := startTCPProxy(t, pgTestTarget(t))
	s := openTestPostgres(t, withHost(t, dsn, proxy.addr))
	s.listenCheck = 300 * time.Millisecond
	cache := NewGrantCache(s, GrantCacheOptions{TTL: 50 * time.Millisecond, LookupTimeout: 250 * time.Millisecond})
	watch(t, cache)
	eventually(t, 5*time.Second, "the feed listens", func() bool { return cache.Stats().Purges > 0 })
	if _, err := direct.AddGrant(ctx, Grant{Subject: "alice", App: "slack", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// The grant's notification lands first, or it would forget the answer.
	eventually(t, 2*time.Second, "the grant's notification", func() bool { return cache.Stats().Invalidations > 0 })
	// Polled: on a loaded machine a lookup may outlast its 250ms.
	eventually(t, 5*time.Second, "the continue cached", func() bool { return cache.Active("alice", "slack") == policy.ContinueGrant })
	purges := cache.Stats().Purges

	proxy.freeze()
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"CreateRequest", func(ctx context.Context) error {
			_, err := s.CreateRequest(ctx, Request{Subject: "bob", App: "slack", Justification: "work"})
			return err
		}},
		{"Ping", s.Ping},
		{"Requests", func(ctx context.Context) error { _, err := s.Requests(ctx, RequestFilter{}); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			if took := time.Since(start); took > time.Second {
				t.Errorf("%s took %v; want it to give up with its 300ms deadline", tc.name, took)
			}
			wantErrIs(t, tc.name+" while the network is frozen", err, ErrUnavailable)
		})
	}
	errs := cache.Stats().Errors
	eventually(t, 5*time.Second, "the cache asks the silent store", func() bool {
		if got := cache.Active("alice", "slack"); got != policy.ContinueGrant {
			t.Errorf("cached continue while the network is frozen: got %v; want it honoured", got)
		}
		return cache.Stats().Errors > errs
	})
	wantKind(t, cache, "carol", "slack", policy.NoGrant)

	proxy.restore(t)
	// The feed's old connection was found dead by its ping while frozen;
	// without the ping it would have lived on after the thaw, unpurged.
	eventually(t, 10*time.Second, "the feed reconnects", func() bool { return cache.Stats().Purges > purges })
	eventually(t, 10*time.Second, "a request after the thaw", func() bool {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := s.CreateRequest(ctx, Request{Subject: "bob", App: "slack", Justification: "work"})
		return err == nil
	})
}

// TestPostgresUsageSavesAfterOutage has a fleet whose snapshots are all
// past the retention save at once, round after round: every save prunes
// the others' rows while they replace them, and none may deadlock.
func TestPostgresUsageSavesAfterOutage(t *testing.T) {
	ctx := context.Background()
	s := openTestPostgres(t, newPostgresTestDSN(t))
	now := time.Now()
	const nodes, rounds = 6, 40
	for round := range rounds {
		for n := range nodes {
			if err := s.SaveUsage(ctx, fmt.Sprintf("edge-%d", n), []byte("before"), now.Add(-UsageRetention-time.Hour)); err != nil {
				t.Fatalf("round %d: SaveUsage(edge-%d) in the past: %v", round, n, err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, nodes)
		for n := range nodes {
			wg.Go(func() { errs[n] = s.SaveUsage(ctx, fmt.Sprintf("edge-%d", n), []byte("after"), now) })
		}
		wg.Wait()
		for n, err := range errs {
			if err != nil {
				t.Fatalf("round %d: SaveUsage(edge-%d) with every node stale: got %v; want no error", round, n, err)
			}
		}
		us, err := s.UsageSnapshots(ctx, now)
		if err != nil || len(us) != nodes {
			t.Fatalf("round %d: UsageSnapshots: got %d, %v; want %d", round, len(us), err, nodes)
		}
	}
}

// TestPostgresUpgradeAddsUsageSnapshots opens a schema an older Signpost
// left at version 1: Open adds the usage snapshots and keeps the requests.
func TestPostgresUpgradeAddsUsageSnapshots(t *testing.T) {
	ctx := context.Background()
	dsn := newPostgresTestDSN(t)
	cfg, _, err := parsePostgresDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations(migrationFiles, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := migrate(ctx, db, ms[:1], pgMigrationLock); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO requests (subject, app, justification, status, created_at)
		VALUES ('alice', 'slack', 'work', 'pending', 1)`); err != nil {
		t.Fatal(err)
	}

	s := openTestPostgres(t, dsn)
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = 2 AND name = '0002_usage_snapshots.sql'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("version 2 after the upgrade: got %d rows, %v; want 1", n, err)
	}
	if r, err := s.PendingFor(ctx, "alice", "slack"); err != nil || r == nil {
		t.Errorf("PendingFor after the upgrade: got %v, %v; want the request from before", r, err)
	}
	if err := s.SaveUsage(ctx, "edge-1", []byte{1}, time.Time{}); err != nil {
		t.Errorf("SaveUsage after the upgrade: %v", err)
	}
	// Snapshots are gzip: stored out of line, not compressed again.
	var storage string
	if err := s.r.QueryRowContext(ctx, `SELECT attstorage::text FROM pg_attribute
		WHERE attrelid = 'usage_snapshots'::regclass AND attname = 'data'`).Scan(&storage); err != nil || storage != "e" {
		t.Errorf("storage of usage_snapshots.data: got %q, %v; want e (external)", storage, err)
	}
}
