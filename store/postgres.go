package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

func init() {
	Register("postgres", openPostgres)
	Register("postgresql", openPostgres)
}

// Defaults of the PostgreSQL connection pool; a DSN may change them with
// the parameters pgxpool reads: pool_max_conns, pool_max_conn_lifetime,
// pool_max_conn_idle_time.
const (
	pgMaxConns        = 10
	pgMaxConnLifetime = 30 * time.Minute
	pgMaxConnIdleTime = 5 * time.Minute
	// pgConnectTimeout bounds dialling and authenticating when neither the
	// caller's context nor the DSN's connect_timeout does.
	pgConnectTimeout = 5 * time.Second
)

// pgChannel is the channel grant changes are notified on. Its payload
// carries the schema, so Signposts that share a database in different
// schemas ignore each other's changes.
const pgChannel = "signpost_grants"

// pgMigrationLock serializes the migrations of one schema across every
// node starting at once: a transaction-scoped advisory lock, keyed by a
// constant for Signpost and the schema the migrations create tables in.
const pgMigrationLock = `SELECT pg_advisory_xact_lock(1399418734, hashtext(coalesce(current_schema(), '')))`

// pgDialect classifies pgx's errors and notifies grant changes.
var pgDialect = dialect{
	unavailable: pgUnavailable,
	uniqueViolation: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505"
	},
	grantChanged: `SELECT pg_notify('` + pgChannel + `', json_build_object(
		'schema', coalesce(current_schema(), ''), 'subject', $1::text, 'app', $2::text)::text)`,
}

// pgUnavailable reports whether err means that PostgreSQL cannot answer
// now, as opposed to refusing what was asked.
func pgUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"),  // insufficient resources: too many connections, disk full
			strings.HasPrefix(pgErr.Code, "57P"), // operator intervention: admin or crash shutdown, cannot connect now
			pgErr.Code == "57014",                // query canceled: statement_timeout
			pgErr.Code == "55P03",                // lock not available: lock_timeout
			pgErr.Code == "25006":                // read-only transaction: a standby during failover
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	// SafeToRetry: pgx failed before sending anything, as on a connection
	// it had closed (ErrConnClosed), so the database was never reached.
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// pgStore is the PostgreSQL backend: the shared SQL layer over a pool of
// pgx connections, and a change feed over LISTEN/NOTIFY.
type pgStore struct {
	*sqlStore
	// listenCfg opens the feed's connections, outside the pool.
	listenCfg *pgx.ConnConfig
	// listenCheck is how long a quiet feed waits before pinging its
	// connection, to find one a network silently dropped.
	listenCheck time.Duration
	// backoff bounds the wait between reconnection attempts.
	minBackoff, maxBackoff time.Duration
	// listenPID is the server process of the newest feed connection (the
	// one tests terminate to prove that the feed reconnects).
	listenPID atomic.Uint32

	// stop ends every feed when the store closes; mu orders Changes and Close.
	stop      context.Context
	cancel    context.CancelFunc
	mu        sync.Mutex
	stopped   bool
	listeners sync.WaitGroup
}

var (
	_ Store      = (*pgStore)(nil)
	_ ChangeFeed = (*pgStore)(nil)
)

// openPostgres connects to the PostgreSQL database dsn names and migrates
// it, holding an advisory lock so that nodes starting together migrate it
// once. The DSN is pgx's URL form ("postgres://user@host:5432/db?…"),
// with search_path and other settings as parameters, plus the pool's own
// (pool_max_conns, pool_max_conn_lifetime, pool_max_conn_idle_time).
// Errors never show the DSN's password.
func openPostgres(ctx context.Context, dsn string) (Store, error) {
	cfg, pool, err := parsePostgresDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	where := fmt.Sprintf("open postgres store %s", redactDSN(dsn))
	ms, err := loadMigrations(migrationFiles, "migrations/postgres")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	poolCfg := cfg.Copy()
	setDefaultParam(poolCfg, "application_name", "signpost")
	// pgx's database/sql driver: before the pool reuses a connection it
	// drops one pgx closed or left in a transaction, and pings one idle
	// for over a second, so that a broken connection is replaced.
	db := stdlib.OpenDB(*poolCfg)
	db.SetMaxOpenConns(pool.maxConns)
	db.SetMaxIdleConns(pool.maxConns)
	db.SetConnMaxLifetime(pool.maxLifetime)
	db.SetConnMaxIdleTime(pool.maxIdleTime)
	if err := migrate(ctx, db, ms, pgMigrationLock); err != nil {
		if pgUnavailable(err) || errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil, errors.Join(fmt.Errorf("%s: %w", where, err), db.Close())
	}
	listenCfg := cfg.Copy()
	setDefaultParam(listenCfg, "application_name", "signpost-listener")
	stop, cancel := context.WithCancel(context.Background())
	return &pgStore{
		sqlStore:  &sqlStore{d: pgDialect, w: db, r: db},
		listenCfg: listenCfg, listenCheck: 15 * time.Second,
		minBackoff: 100 * time.Millisecond, maxBackoff: 5 * time.Second,
		stop: stop, cancel: cancel,
	}, nil
}

// pgPool is the connection pool's settings.
type pgPool struct {
	maxConns                 int
	maxLifetime, maxIdleTime time.Duration
}

// parsePostgresDSN splits dsn into pgx's configuration and the pool's
// settings. Its errors show the DSN without its password.
func parsePostgresDSN(dsn string) (*pgx.ConnConfig, pgPool, error) {
	pool := pgPool{maxConns: pgMaxConns, maxLifetime: pgMaxConnLifetime, maxIdleTime: pgMaxConnIdleTime}
	u, err := url.Parse(dsn)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole DSN, password and all
		}
		return nil, pool, fmt.Errorf("DSN %s: %w", redactDSN(dsn), err)
	}
	if s := strings.ToLower(u.Scheme); s != "postgres" && s != "postgresql" {
		return nil, pool, fmt.Errorf("DSN %s: found scheme %q; expected postgres or postgresql", redactDSN(dsn), u.Scheme)
	}
	u.Scheme = "postgres"
	q := u.Query()
	for name, vs := range q {
		if !strings.HasPrefix(name, "pool_") {
			continue
		}
		v := vs[len(vs)-1]
		var err error
		switch name {
		case "pool_max_conns":
			pool.maxConns, err = strconv.Atoi(v)
			if err == nil && pool.maxConns < 1 {
				err = errors.New("below 1")
			}
		case "pool_max_conn_lifetime":
			pool.maxLifetime, err = parsePositiveDuration(v)
		case "pool_max_conn_idle_time":
			pool.maxIdleTime, err = parsePositiveDuration(v)
		default:
			return nil, pool, fmt.Errorf("DSN %s: found %s; the pool takes pool_max_conns, pool_max_conn_lifetime and pool_max_conn_idle_time",
				redactDSN(dsn), name)
		}
		if err != nil {
			return nil, pool, fmt.Errorf("DSN %s: %s=%q: %w", redactDSN(dsn), name, v, err)
		}
		q.Del(name)
	}
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap() // the error itself repeats the DSN; pgx redacts it only at best
		}
		return nil, pool, fmt.Errorf("DSN %s: %s", redactDSN(dsn), scrub(err.Error(), dsnPassword(u)))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	return cfg, pool, nil
}

// parsePositiveDuration reads a Go duration above zero.
func parsePositiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		err = errors.New("not above zero")
	}
	return d, err
}

// setDefaultParam sets a run-time parameter the DSN did not set.
func setDefaultParam(cfg *pgx.ConnConfig, name, value string) {
	if _, ok := cfg.RuntimeParams[name]; !ok {
		cfg.RuntimeParams[name] = value
	}
}

// redactDSN returns dsn with any password, in the user information or a
// password parameter, replaced by "xxxxx"; a DSN that is not a URL is
// not shown at all.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(an unreadable DSN)"
	}
	if q := u.Query(); q.Has("password") || q.Has("sslpassword") {
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// dsnPassword returns the passwords u carries, for scrubbing.
func dsnPassword(u *url.URL) []string {
	var pws []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		pws = append(pws, pw)
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword"} {
		if v := q.Get(k); v != "" {
			pws = append(pws, v)
		}
	}
	return pws
}

// scrub replaces each secret in s.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "xxxxx")
	}
	return s
}

// Close implements Store: it ends the change feeds, then the pool.
func (s *pgStore) Close() error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	s.listeners.Wait()
	return s.sqlStore.Close()
}

// Changes implements ChangeFeed over LISTEN/NOTIFY, on a connection of its
// own outside the pool. The connection reconnects with a growing,
// jittered backoff (100 ms to 5 s) when it drops, and a quiet connection
// is pinged every 15 s, so that one a network silently dropped is found.
func (s *pgStore) Changes(ctx context.Context) (<-chan GrantChange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, fmt.Errorf("grant changes: %w: the store is closed", ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("grant changes: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	unlink := context.AfterFunc(s.stop, cancel)
	ch := make(chan GrantChange, 64)
	s.listeners.Add(1)
	go func() {
		defer s.listeners.Done()
		defer close(ch)
		defer unlink()
		defer cancel()
		s.listen(ctx, ch)
	}()
	return ch, nil
}

// listen feeds ch until ctx ends, reconnecting as often as it must.
func (s *pgStore) listen(ctx context.Context, ch chan<- GrantChange) {
	backoff := s.minBackoff
	for {
		listened := s.listenOnce(ctx, ch)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = s.minBackoff
		}
		// Half the backoff, plus up to as much again at random, so that a
		// fleet reconnecting after an outage does not arrive at once.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, s.maxBackoff)
	}
}

// listenOnce connects, listens, sends the zero GrantChange (what happened
// before now is unknown), then forwards notifications until the
// connection fails or ctx ends. It reports whether it got as far as
// listening. Why it stopped is not kept: the next attempt tells, and the
// cache's purge count shows each reconnection.
func (s *pgStore) listenOnce(ctx context.Context, ch chan<- GrantChange) (listened bool) {
	conn, err := pgx.ConnectConfig(ctx, s.listenCfg)
	if err != nil {
		return false
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx) // the connection is being given up; its error adds nothing
	}()
	var schema string
	if err := conn.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		return false
	}
	if _, err := conn.Exec(ctx, `LISTEN `+pgChannel); err != nil {
		return false
	}
	s.listenPID.Store(conn.PgConn().PID())
	if !send(ctx, ch, GrantChange{}) {
		return true
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, s.listenCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			c, ours := parseGrantChange(n.Payload, schema)
			if ours && !send(ctx, ch, c) {
				return true
			}
		case ctx.Err() != nil:
			return true
		case pgconn.Timeout(err) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, s.listenCheck)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true
			}
		default:
			return true
		}
	}
}

// send delivers c unless ctx ends first.
func send(ctx context.Context, ch chan<- GrantChange, c GrantChange) bool {
	select {
	case ch <- c:
		return true
	case <-ctx.Done():
		return false
	}
}

// grantChangePayload is what pgDialect.grantChanged notifies.
type grantChangePayload struct {
	Schema  string `json:"schema"`
	Subject string `json:"subject"`
	App     string `json:"app"`
}

// parseGrantChange reads a notification on pgChannel. It reports false for
// one that is not this schema's: a change another Signpost made in its
// own schema, or a payload that is not a Signpost's at all (anyone who
// may connect can notify the channel; that must not purge every node's
// cache at will). One for this schema that lacks the subject or app means
// "something changed": the zero GrantChange, which forgets everything.
func parseGrantChange(payload, schema string) (GrantChange, bool) {
	var p grantChangePayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil || p.Schema != schema {
		return GrantChange{}, false
	}
	if p.Subject == "" || p.App == "" {
		return GrantChange{}, true
	}
	return GrantChange{Subject: p.Subject, App: p.App}, true
}
