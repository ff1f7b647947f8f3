package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// sqlStore implements Store over database/sql, for every SQL backend. The
// queries are written once: $N placeholders (PostgreSQL's own, which
// modernc.org/sqlite binds by number too), INSERT and UPDATE … RETURNING,
// partial indexes, and times as BIGINT Unix nanoseconds, which round-trip
// exactly and compare the same in every database. What differs between
// backends is their dialect, their migrations and how they open.
type sqlStore struct {
	d dialect
	// w serves writes and the reads inside write transactions.
	w *sql.DB
	// r serves reads outside transactions; it may be w.
	r      *sql.DB
	closed atomic.Bool
}

var _ Store = (*sqlStore)(nil)

// dialect is what an SQL backend tells sqlStore about its driver's errors.
type dialect struct {
	// unavailable reports whether err means the database cannot answer
	// now: locked, out of disk, an I/O error, the connection refused.
	unavailable func(error) bool
	// uniqueViolation reports whether err is a unique-constraint violation.
	uniqueViolation func(error) bool
	// grantChanged, when not "", is run with $1 = subject and $2 = app in
	// every transaction that changes a grant, so that other nodes hear of
	// it when it commits (PostgreSQL: NOTIFY).
	grantChanged string
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

const (
	requestColumns = `id, subject, user_name, app, app_name, justification, url_host, status, created_at, decided_by, decided_at, message, grant_for`
	grantColumns   = `id, subject, app, source, created_at, expires_at, created_by, request_id, revoked_at, revoked_by`
	auditColumns   = `id, at, actor, action, request_id, grant_id, subject, app, detail`
)

// fail adds op to err and classifies it: the package's own errors pass
// through, a closed store, a deadline or an unavailable database become
// ErrUnavailable, a unique violation ErrConflict.
func (s *sqlStore) fail(op string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrInvalid), errors.Is(err, ErrUnavailable):
		return fmt.Errorf("%s: %w", op, err)
	case s.closed.Load():
		return fmt.Errorf("%s: %w: the store is closed", op, ErrUnavailable)
	case errors.Is(err, context.DeadlineExceeded), s.d.unavailable(err):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	case s.d.uniqueViolation(err):
		return fmt.Errorf("%s: %w: %w", op, ErrConflict, err)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

// inTx runs fn in a write transaction and commits when fn succeeds.
func (s *sqlStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		// The transaction failed; a rollback error adds nothing to fn's.
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// CreateRequest implements Store.
func (s *sqlStore) CreateRequest(ctx context.Context, r Request) (Request, error) {
	r, err := prepareRequest(r)
	if err != nil {
		return Request{}, s.fail("create request", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO requests
			(subject, user_name, app, app_name, justification, url_host, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			r.Subject, r.User, r.App, r.AppName, r.Justification, r.URLHost, string(r.Status), r.CreatedAt.UnixNano(),
		).Scan(&r.ID)
		if err != nil && s.d.uniqueViolation(err) {
			return fmt.Errorf("%w: %s already has a pending request for %s", ErrConflict, r.Subject, r.App)
		}
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, AuditEntry{
			At: r.CreatedAt, Actor: r.Subject, Action: ActionRequestCreated,
			RequestID: r.ID, Subject: r.Subject, App: r.App,
		})
	})
	if err != nil {
		return Request{}, s.fail("create request", err)
	}
	return r, nil
}

// Request implements Store.
func (s *sqlStore) Request(ctx context.Context, id int64) (Request, error) {
	r, err := scanRequest(s.r.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Request{}, s.fail(fmt.Sprintf("request %d", id), err)
	}
	return r, nil
}

// Requests implements Store.
func (s *sqlStore) Requests(ctx context.Context, f RequestFilter) ([]Request, error) {
	var w where
	switch {
	case f.Status == "":
	case f.Status == StatusDecided:
		w.cond("status <> 'pending'")
	case f.Status.Valid():
		w.add("status = $%d", string(f.Status))
	default:
		return nil, s.fail("list requests", fmt.Errorf("%w: unknown status %q", ErrInvalid, f.Status))
	}
	if f.Subject != "" {
		w.add("subject = $%d", f.Subject)
	}
	if f.App != "" {
		w.add("app = $%d", f.App)
	}
	if f.BeforeID != 0 {
		w.add("id < $%d", f.BeforeID)
	}
	q := `SELECT ` + requestColumns + ` FROM requests` + w.sql() + w.orderLimit("id DESC", f.Limit)
	rs, err := queryRequests(ctx, s.r, q, w.args...)
	if err != nil {
		return nil, s.fail("list requests", err)
	}
	return rs, nil
}

// Decide implements Store.
func (s *sqlStore) Decide(ctx context.Context, id int64, d Decision) (Request, *Grant, error) {
	op := fmt.Sprintf("decide request %d", id)
	d, err := prepareDecision(d)
	if err != nil {
		return Request{}, nil, s.fail(op, err)
	}
	status, action, detail := StatusDenied, ActionRequestDenied, d.Message
	if d.Approve {
		status, action, detail = StatusApproved, ActionRequestApproved, "for "+d.GrantFor.String()
		if d.Message != "" {
			detail += ": " + d.Message
		}
	}
	var (
		r Request
		g *Grant
	)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		// The condition on status, not an earlier read, decides who wins
		// when two admins (or two nodes) decide at once.
		var err error
		r, err = scanRequest(tx.QueryRowContext(ctx, `UPDATE requests
			SET status = $1, decided_by = $2, decided_at = $3, message = $4, grant_for = $5
			WHERE id = $6 AND status = 'pending'
			RETURNING `+requestColumns,
			string(status), d.By, d.At.UnixNano(), d.Message, int64(d.GrantFor), id))
		if errors.Is(err, sql.ErrNoRows) {
			return whyNotPending(ctx, tx, id)
		}
		if err != nil {
			return err
		}
		var grantID int64
		if d.Approve {
			ng := Grant{
				Subject: r.Subject, App: r.App, Source: SourceApproval,
				CreatedAt: d.At, ExpiresAt: d.At.Add(d.GrantFor), CreatedBy: d.By, RequestID: r.ID,
			}
			if ng.ID, err = insertGrant(ctx, tx, ng); err != nil {
				return err
			}
			if err := s.grantChanged(ctx, tx, ng.Subject, ng.App); err != nil {
				return err
			}
			g, grantID = &ng, ng.ID
		}
		return insertAudit(ctx, tx, AuditEntry{
			At: d.At, Actor: d.By, Action: action, RequestID: r.ID, GrantID: grantID,
			Subject: r.Subject, App: r.App, Detail: detail,
		})
	})
	if err != nil {
		return Request{}, nil, s.fail(op, err)
	}
	return r, g, nil
}

// whyNotPending explains why request id could not be decided.
func whyNotPending(ctx context.Context, q querier, id int64) error {
	var status string
	err := q.QueryRowContext(ctx, `SELECT status FROM requests WHERE id = $1`, id).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	default:
		return fmt.Errorf("%w: the request is already %s", ErrConflict, status)
	}
}

// AddGrant implements Store.
func (s *sqlStore) AddGrant(ctx context.Context, g Grant) (Grant, error) {
	g, err := prepareGrant(g)
	if err != nil {
		return Grant{}, s.fail("add grant", err)
	}
	action := ActionGrantContinued
	if g.Source == SourceApproval {
		action = ActionGrantAdded
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if g.RequestID != 0 {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM requests WHERE id = $1`, g.RequestID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("request %d: %w", g.RequestID, ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		var err error
		if g.ID, err = insertGrant(ctx, tx, g); err != nil {
			return err
		}
		if err := s.grantChanged(ctx, tx, g.Subject, g.App); err != nil {
			return err
		}
		return insertAudit(ctx, tx, AuditEntry{
			At: g.CreatedAt, Actor: g.CreatedBy, Action: action, RequestID: g.RequestID, GrantID: g.ID,
			Subject: g.Subject, App: g.App, Detail: "until " + g.ExpiresAt.Format(time.RFC3339),
		})
	})
	if err != nil {
		return Grant{}, s.fail("add grant", err)
	}
	return g, nil
}

// ActiveGrant implements Store.
func (s *sqlStore) ActiveGrant(ctx context.Context, subject, app string, now time.Time) (*Grant, error) {
	if err := checkTime("now", now); err != nil {
		return nil, s.fail("active grant", err)
	}
	g, err := scanGrant(s.r.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE subject = $1 AND app = $2 AND revoked_at IS NULL AND expires_at > $3
		ORDER BY CASE source WHEN 'approval' THEN 0 ELSE 1 END, expires_at DESC, id DESC
		LIMIT 1`, subject, app, now.UnixNano()))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, s.fail("active grant", err)
	default:
		return &g, nil
	}
}

// Grants implements Store.
func (s *sqlStore) Grants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	var w where
	if !f.ActiveAt.IsZero() {
		if err := checkTime("active at", f.ActiveAt); err != nil {
			return nil, s.fail("list grants", err)
		}
		w.add("revoked_at IS NULL AND expires_at > $%d", f.ActiveAt.UnixNano())
	}
	if f.Subject != "" {
		w.add("subject = $%d", f.Subject)
	}
	if f.App != "" {
		w.add("app = $%d", f.App)
	}
	if f.RequestID != 0 {
		w.add("request_id = $%d", f.RequestID)
	}
	if f.BeforeID != 0 {
		w.add("id < $%d", f.BeforeID)
	}
	q := `SELECT ` + grantColumns + ` FROM grants` + w.sql() + w.orderLimit("id DESC", f.Limit)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, s.fail("list grants", err)
	}
	defer rows.Close()
	var gs []Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, s.fail("list grants", err)
		}
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list grants", err)
	}
	return gs, nil
}

// RevokeGrant implements Store.
func (s *sqlStore) RevokeGrant(ctx context.Context, id int64, by string) (Grant, error) {
	op := fmt.Sprintf("revoke grant %d", id)
	if err := checkText("revoked by", by, MaxName, true); err != nil {
		return Grant{}, s.fail(op, err)
	}
	at := orNow(time.Time{})
	var g Grant
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		g, err = scanGrant(tx.QueryRowContext(ctx, `UPDATE grants SET revoked_at = $1, revoked_by = $2
			WHERE id = $3 AND revoked_at IS NULL
			RETURNING `+grantColumns, at.UnixNano(), by, id))
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			err = tx.QueryRowContext(ctx, `SELECT 1 FROM grants WHERE id = $1`, id).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: the grant is already revoked", ErrConflict)
		}
		if err != nil {
			return err
		}
		if err := s.grantChanged(ctx, tx, g.Subject, g.App); err != nil {
			return err
		}
		return insertAudit(ctx, tx, AuditEntry{
			At: at, Actor: by, Action: ActionGrantRevoked, RequestID: g.RequestID, GrantID: g.ID,
			Subject: g.Subject, App: g.App,
		})
	})
	if err != nil {
		return Grant{}, s.fail(op, err)
	}
	return g, nil
}

// CountRequesters implements Store.
func (s *sqlStore) CountRequesters(ctx context.Context, app string) (int, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(DISTINCT subject) FROM requests WHERE app = $1`, app).Scan(&n)
	if err != nil {
		return 0, s.fail("count requesters", err)
	}
	return int(n), nil
}

// LatestDecided implements Store.
func (s *sqlStore) LatestDecided(ctx context.Context, subject, app string) (*Request, error) {
	return s.oneRequest(ctx, "latest decided request", `SELECT `+requestColumns+` FROM requests
		WHERE subject = $1 AND app = $2 AND status <> 'pending'
		ORDER BY decided_at DESC, id DESC LIMIT 1`, subject, app)
}

// PendingFor implements Store.
func (s *sqlStore) PendingFor(ctx context.Context, subject, app string) (*Request, error) {
	return s.oneRequest(ctx, "pending request", `SELECT `+requestColumns+` FROM requests
		WHERE subject = $1 AND app = $2 AND status = 'pending'
		ORDER BY id DESC LIMIT 1`, subject, app)
}

// Activity implements Store.
func (s *sqlStore) Activity(ctx context.Context, subject string, since time.Time) (Activity, error) {
	var a Activity
	if err := checkTime("since", since); err != nil {
		return a, s.fail("activity", err)
	}
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM requests WHERE subject = $1 AND created_at >= $2),
		(SELECT COUNT(*) FROM grants WHERE subject = $1 AND source = 'continue' AND created_at >= $2)`,
		subject, since.UnixNano()).Scan(&a.Requests, &a.Continues)
	if err != nil {
		return Activity{}, s.fail("activity", err)
	}
	return a, nil
}

// oneRequest returns the request q selects, or nil.
func (s *sqlStore) oneRequest(ctx context.Context, op, q string, args ...any) (*Request, error) {
	r, err := scanRequest(s.r.QueryRowContext(ctx, q, args...))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, s.fail(op, err)
	default:
		return &r, nil
	}
}

// Audit implements Store.
func (s *sqlStore) Audit(ctx context.Context, n int) ([]AuditEntry, error) {
	return s.AuditEntries(ctx, AuditFilter{Limit: n})
}

// AuditEntries implements Store.
func (s *sqlStore) AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var w where
	if f.BeforeID != 0 {
		w.add("id < $%d", f.BeforeID)
	}
	q := `SELECT ` + auditColumns + ` FROM audit` + w.sql() + w.orderLimit("id DESC", f.Limit)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, s.fail("list audit", err)
	}
	defer rows.Close()
	var es []AuditEntry
	for rows.Next() {
		var (
			e                  AuditEntry
			at                 int64
			requestID, grantID sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &requestID, &grantID, &e.Subject, &e.App, &e.Detail); err != nil {
			return nil, s.fail("list audit", err)
		}
		e.At, e.RequestID, e.GrantID = fromNanos(at), requestID.Int64, grantID.Int64
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list audit", err)
	}
	return es, nil
}

// SaveUsage implements Store: one transaction deletes the snapshots past
// UsageRetention and replaces node's.
func (s *sqlStore) SaveUsage(ctx context.Context, node string, data []byte, at time.Time) error {
	at, err := prepareUsage(node, data, at)
	if err != nil {
		return s.fail("save usage", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		// Pruning first, so that a node takes its own row last. Pruning
		// after the upsert, two nodes whose old rows were both stale (a
		// fleet back after a long outage) would each hold its own row and
		// wait to delete the other's: a deadlock PostgreSQL ends by
		// failing one of the saves.
		_, err := tx.ExecContext(ctx, `DELETE FROM usage_snapshots WHERE updated_at < $1`, at.Add(-UsageRetention).UnixNano())
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO usage_snapshots (node, data, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (node) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
			node, data, at.UnixNano())
		return err
	})
	if err != nil {
		return s.fail(fmt.Sprintf("save usage of node %q", node), err)
	}
	return nil
}

// UsageSnapshots implements Store.
func (s *sqlStore) UsageSnapshots(ctx context.Context, since time.Time) ([]UsageSnapshot, error) {
	var w where
	if !since.IsZero() {
		if err := checkTime("since", since); err != nil {
			return nil, s.fail("list usage snapshots", err)
		}
		w.add("updated_at >= $%d", since.UnixNano())
	}
	rows, err := s.r.QueryContext(ctx, `SELECT node, data, updated_at FROM usage_snapshots`+w.sql(), w.args...)
	if err != nil {
		return nil, s.fail("list usage snapshots", err)
	}
	defer rows.Close()
	var us []UsageSnapshot
	for rows.Next() {
		var (
			u  UsageSnapshot
			at int64
		)
		if err := rows.Scan(&u.Node, &u.Data, &at); err != nil {
			return nil, s.fail("list usage snapshots", err)
		}
		u.UpdatedAt = fromNanos(at)
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list usage snapshots", err)
	}
	// Sorted here rather than by ORDER BY, whose ties between names would
	// follow each database's collation.
	slices.SortFunc(us, func(a, b UsageSnapshot) int {
		return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), strings.Compare(a.Node, b.Node))
	})
	return us, nil
}

// pruneBatch bounds the rows one of Prune's transactions deletes: SQLite
// has one writer, and a person's "continue" should not wait behind the
// deletion of a year of history.
const pruneBatch = 500

// pruneSteps are Prune's deletions, in an order that never deletes a row
// another row still names: the audit entries first, then the grants no
// entry names, then the requests no grant or entry names.
var pruneSteps = []struct {
	what  string
	count func(*Pruned) *int64
	query string
}{
	{"audit entries", func(p *Pruned) *int64 { return &p.Audit }, `DELETE FROM audit WHERE id IN (
		SELECT id FROM audit WHERE at < $1 ORDER BY id LIMIT $2)`},
	{"grants", func(p *Pruned) *int64 { return &p.Grants }, `DELETE FROM grants WHERE id IN (
		SELECT g.id FROM grants g
		WHERE (g.expires_at < $1 OR g.revoked_at < $1)
		  AND NOT EXISTS (SELECT 1 FROM audit a WHERE a.grant_id = g.id)
		ORDER BY g.id LIMIT $2)`},
	{"requests", func(p *Pruned) *int64 { return &p.Requests }, `DELETE FROM requests WHERE id IN (
		SELECT r.id FROM requests r
		WHERE r.status <> 'pending' AND r.decided_at < $1
		  AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.request_id = r.id)
		  AND NOT EXISTS (SELECT 1 FROM audit a WHERE a.request_id = r.id)
		ORDER BY r.id LIMIT $2)`},
}

// Prune implements Store.
func (s *sqlStore) Prune(ctx context.Context, cutoff time.Time) (Pruned, error) {
	var p Pruned
	now := orNow(time.Time{})
	if err := checkTime("prune cutoff", cutoff); err != nil {
		return p, s.fail("prune", err)
	}
	if cutoff.After(now) {
		return p, s.fail("prune", fmt.Errorf("%w: prune cutoff %s is after now", ErrInvalid, cutoff.UTC().Format(time.RFC3339)))
	}
	for _, step := range pruneSteps {
		for {
			var n int64
			err := s.inTx(ctx, func(tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, step.query, cutoff.UnixNano(), pruneBatch)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				if p.Total() > 0 {
					// What went stays gone: say so, even though the
					// caller's time is up.
					_ = s.auditPrune(context.WithoutCancel(ctx), now, cutoff, p)
				}
				return p, s.fail("prune "+step.what, err)
			}
			*step.count(&p) += n
			if n < pruneBatch {
				break
			}
		}
	}
	if p.Total() == 0 {
		return p, nil
	}
	if err := s.auditPrune(ctx, now, cutoff, p); err != nil {
		return p, s.fail("prune: audit", err)
	}
	return p, nil
}

// auditPrune records what a pruning deleted, waiting at most 5 seconds.
func (s *sqlStore) auditPrune(ctx context.Context, now, cutoff time.Time, p Pruned) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return insertAudit(ctx, tx, AuditEntry{
			At: now, Actor: PrunedBy, Action: ActionPruned,
			Detail: fmt.Sprintf("retention cutoff %s: deleted %d requests, %d grants, %d audit entries",
				cutoff.UTC().Format(time.RFC3339), p.Requests, p.Grants, p.Audit),
		})
	})
}

// Ping implements Store. It reads the schema's version, which proves more
// than a connection does: the database is there, readable and migrated.
func (s *sqlStore) Ping(ctx context.Context) error {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close implements Store.
func (s *sqlStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	if s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// grantChanged tells other nodes, when the transaction commits, that
// subject's grants for app changed; a no-op where the dialect has no way.
func (s *sqlStore) grantChanged(ctx context.Context, tx *sql.Tx, subject, app string) error {
	if s.d.grantChanged == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.d.grantChanged, subject, app)
	return err
}

// insertGrant inserts g and returns its id.
func insertGrant(ctx context.Context, q querier, g Grant) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `INSERT INTO grants
		(subject, app, source, created_at, expires_at, created_by, request_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		g.Subject, g.App, string(g.Source), g.CreatedAt.UnixNano(), g.ExpiresAt.UnixNano(), g.CreatedBy, nullID(g.RequestID),
	).Scan(&id)
	return id, err
}

// insertAudit appends e to the audit trail.
func insertAudit(ctx context.Context, q querier, e AuditEntry) error {
	_, err := q.ExecContext(ctx, `INSERT INTO audit
		(at, actor, action, request_id, grant_id, subject, app, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.At.UnixNano(), e.Actor, e.Action, nullID(e.RequestID), nullID(e.GrantID), e.Subject, e.App, e.Detail)
	return err
}

// queryRequests runs q and scans every row.
func queryRequests(ctx context.Context, db querier, q string, args ...any) ([]Request, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rs []Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

// scanRequest reads one row of requestColumns.
func scanRequest(sc scanner) (Request, error) {
	var (
		r                 Request
		status            string
		created, grantFor int64
		decided           sql.NullInt64
	)
	err := sc.Scan(&r.ID, &r.Subject, &r.User, &r.App, &r.AppName, &r.Justification, &r.URLHost,
		&status, &created, &r.DecidedBy, &decided, &r.Message, &grantFor)
	if err != nil {
		return Request{}, err
	}
	r.Status, r.CreatedAt, r.DecidedAt, r.GrantFor = Status(status), fromNanos(created), fromNull(decided), time.Duration(grantFor)
	return r, nil
}

// scanGrant reads one row of grantColumns.
func scanGrant(sc scanner) (Grant, error) {
	var (
		g                Grant
		source           string
		created, expires int64
		requestID        sql.NullInt64
		revoked          sql.NullInt64
	)
	err := sc.Scan(&g.ID, &g.Subject, &g.App, &source, &created, &expires, &g.CreatedBy, &requestID, &revoked, &g.RevokedBy)
	if err != nil {
		return Grant{}, err
	}
	g.Source, g.CreatedAt, g.ExpiresAt = GrantSource(source), fromNanos(created), fromNanos(expires)
	g.RequestID, g.RevokedAt = requestID.Int64, fromNull(revoked)
	return g, nil
}

// where builds a WHERE clause whose values are all bound parameters.
type where struct {
	conds []string
	args  []any
}

// add appends a condition; cond holds one %d for the parameter's number.
func (w *where) add(cond string, v any) {
	w.args = append(w.args, v)
	w.conds = append(w.conds, fmt.Sprintf(cond, len(w.args)))
}

// cond appends a condition that takes no parameter.
func (w *where) cond(cond string) {
	w.conds = append(w.conds, cond)
}

// sql returns the clause, "" when there are no conditions.
func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// orderLimit returns the ORDER BY and LIMIT clauses, binding the limit.
func (w *where) orderLimit(order string, n int) string {
	w.args = append(w.args, limit(n))
	return fmt.Sprintf(" ORDER BY %s LIMIT $%d", order, len(w.args))
}

// nullID stores 0 as NULL, so that foreign keys hold.
func nullID(id int64) sql.NullInt64 {
	return sql.NullInt64{Int64: id, Valid: id != 0}
}

// fromNanos returns the UTC time of n Unix nanoseconds.
func fromNanos(n int64) time.Time {
	return time.Unix(0, n).UTC()
}

// fromNull returns the time of a nullable column; NULL is the zero time.
func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}
