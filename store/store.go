// Package store keeps Signpost's access state: the requests people make on
// a block or warn page, the grants that lift a rule for one person and one
// app (their own "continue", or an admin's approval), and an audit trail of
// every write. It defines the Store interface, a registry of backends chosen
// by DSN scheme, and GrantCache, the short-TTL read-through cache the proxy
// asks on its hot path. Two backends register themselves: SQLite
// ("sqlite:PATH", or a bare file path), embedded and the default, for one
// node; and PostgreSQL ("postgres://…"), pooled, for a fleet of nodes that
// share it, with a change feed (LISTEN/NOTIFY) through which every node's
// GrantCache hears of the others' grants within moments.
//
// It also keeps each node's latest usage snapshot (package usage's
// sketches of who used which app, as opaque bytes), so that every node can
// merge the fleet's and count a person once across it.
//
// Every backend passes the same conformance suite (package storetest),
// which re-opens the store to prove that what it was told survives.
//
// The package does not decide traffic (policy does), render pages (pages
// does), notify anyone of a new request (webhooks do), authenticate the
// admin who decides (admin does), or read usage snapshots (usage does):
// callers pass the names it records and the bytes it keeps.
package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is the state of an access request.
type Status string

// Request statuses.
const (
	// StatusPending is a request no admin has decided yet.
	StatusPending Status = "pending"
	// StatusApproved is a request an admin approved; its grant lifts the rule.
	StatusApproved Status = "approved"
	// StatusDenied is a request an admin denied; its message is shown to the person.
	StatusDenied Status = "denied"
	// StatusDecided is not a request's status but a filter: approved or
	// denied (RequestFilter.Status).
	StatusDecided Status = "decided"
)

// Valid reports whether s is a status a request can have: pending,
// approved or denied (not StatusDecided, which only filters).
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusApproved, StatusDenied:
		return true
	default:
		return false
	}
}

// Request is one person's request for access to one app.
type Request struct {
	// ID is assigned by the store.
	ID int64
	// Subject is who asked, as grants are keyed: a user name, or
	// "ip:1.2.3.4" for an anonymous client.
	Subject string
	// User is the display name; "" for an anonymous client.
	User string
	// App is the catalog id of the app asked for.
	App string
	// AppName is the app's display name when the request was made.
	AppName string
	// Justification is what the person said they need the app for.
	Justification string
	// URLHost is the host the person was on (never the full URL).
	URLHost string
	// Status is set by the store: pending on creation, then the decision.
	Status Status
	// CreatedAt is when the request was made; zero means now. Stored in UTC.
	CreatedAt time.Time
	// DecidedBy is the admin who decided; "" while pending.
	DecidedBy string
	// DecidedAt is when the request was decided; zero while pending.
	DecidedAt time.Time
	// Message is the admin's message, shown to the person on a denial.
	Message string
	// GrantFor is how long an approval lasts; zero unless approved.
	GrantFor time.Duration
}

// GrantSource says how a grant came about.
type GrantSource string

// Grant sources.
const (
	// SourceContinue is a person's own "continue" on a warn page; it lifts warn only.
	SourceContinue GrantSource = "continue"
	// SourceApproval is an admin's approval; it lifts warn and block.
	SourceApproval GrantSource = "approval"
)

// Valid reports whether s is one of the defined sources.
func (s GrantSource) Valid() bool {
	switch s {
	case SourceContinue, SourceApproval:
		return true
	default:
		return false
	}
}

// Grant lifts a warn (continue) or a block (approval) for one subject and
// one app until it expires or is revoked.
type Grant struct {
	// ID is assigned by the store.
	ID int64
	// Subject is who holds the grant, keyed as Request.Subject.
	Subject string
	// App is the catalog id of the app.
	App string
	// Source is how the grant came about; AddGrant defaults it to SourceContinue.
	Source GrantSource
	// CreatedAt is when the grant was made; zero means now.
	CreatedAt time.Time
	// ExpiresAt is when the grant stops lifting the rule; it must be after CreatedAt.
	ExpiresAt time.Time
	// CreatedBy is who made it: the subject for a continue, the admin for an
	// approval. AddGrant defaults it to Subject.
	CreatedBy string
	// RequestID is the approved request; 0 for a continue.
	RequestID int64
	// RevokedAt is when an admin revoked the grant; zero if not revoked.
	RevokedAt time.Time
	// RevokedBy is the admin who revoked it.
	RevokedBy string
}

// ActiveAt reports whether g lifts its rule at t: not revoked, not expired.
// Its creation time is not compared, so that a clock a little behind on
// another node does not hide a grant just made.
func (g Grant) ActiveAt(t time.Time) bool {
	return g.RevokedAt.IsZero() && t.Before(g.ExpiresAt)
}

// Audit actions, one per kind of write.
const (
	// ActionRequestCreated is a person asking for access.
	ActionRequestCreated = "request.created"
	// ActionRequestApproved is an admin approving a request (and its grant).
	ActionRequestApproved = "request.approved"
	// ActionRequestDenied is an admin denying a request.
	ActionRequestDenied = "request.denied"
	// ActionGrantContinued is a person's own "continue" on a warn page.
	ActionGrantContinued = "grant.continued"
	// ActionGrantAdded is an approval grant made without a request.
	ActionGrantAdded = "grant.added"
	// ActionGrantRevoked is an admin revoking a grant.
	ActionGrantRevoked = "grant.revoked"
	// ActionPruned is the retention deleting what had been over for
	// longer than it (Store.Prune); its detail says how many of each.
	ActionPruned = "store.pruned"
)

// Activity counts what one person did in the store since some time.
type Activity struct {
	// Requests is the access requests they made.
	Requests int
	// Continues is the grants they gave themselves with "continue".
	Continues int
}

// PrunedBy is the actor of the audit entry Prune writes.
const PrunedBy = "signpost retention"

// Pruned counts the rows Prune deleted.
type Pruned struct {
	Requests, Grants, Audit int64
}

// Total is the number of rows deleted.
func (p Pruned) Total() int64 {
	return p.Requests + p.Grants + p.Audit
}

// AuditEntry records one write: who did what, when, to which request or grant.
type AuditEntry struct {
	// ID is assigned by the store; later entries have larger ids.
	ID int64
	// At is when the write happened.
	At time.Time
	// Actor is the subject for a person's own action, the admin otherwise.
	Actor string
	// Action is one of the Action constants.
	Action string
	// RequestID is the request written, or 0.
	RequestID int64
	// GrantID is the grant written, or 0.
	GrantID int64
	// Subject and App are whose access and which app the write concerns.
	Subject, App string
	// Detail is a short human-readable note: the grant's length or expiry,
	// the admin's message.
	Detail string
}

// UsageSnapshot is one node's latest usage snapshot.
type UsageSnapshot struct {
	// Node is the name of the node that saved it.
	Node string
	// Data is the snapshot as the node saved it; the store does not read it.
	Data []byte
	// UpdatedAt is when the node saved it, in UTC.
	UpdatedAt time.Time
}

// Decision is an admin's answer to a pending request.
type Decision struct {
	// Approve grants access for GrantFor; false denies.
	Approve bool
	// By is the admin deciding. Required.
	By string
	// Message is shown to the person (on a denial) and kept with the request.
	Message string
	// GrantFor is how long an approval lasts; required when approving.
	GrantFor time.Duration
	// At is when the decision is made; zero means now.
	At time.Time
}

// RequestFilter selects requests, newest first. Zero fields match everything.
type RequestFilter struct {
	// Status is a request status, or StatusDecided for approved and
	// denied requests together.
	Status  Status
	Subject string
	App     string
	// Limit bounds the answer; 0 means DefaultLimit, and it is capped at MaxLimit.
	Limit int
	// BeforeID, when non-zero, returns only requests with smaller ids: the
	// next page after a page whose last id it is.
	BeforeID int64
}

// GrantFilter selects grants, newest first. Zero fields match everything.
type GrantFilter struct {
	// ActiveAt, when non-zero, returns only grants active then (not revoked,
	// not expired).
	ActiveAt time.Time
	Subject  string
	App      string
	// RequestID, when non-zero, returns only the grant made by approving
	// that request.
	RequestID int64
	// Limit bounds the answer; 0 means DefaultLimit, and it is capped at MaxLimit.
	Limit int
	// BeforeID, when non-zero, returns only grants with smaller ids.
	BeforeID int64
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	// Limit bounds the answer; 0 means DefaultLimit, and it is capped at MaxLimit.
	Limit int
	// BeforeID, when non-zero, returns only entries with smaller ids: the
	// next page after a page whose last id it is.
	BeforeID int64
}

// Limits on what the store accepts. Text is counted in characters (runes).
const (
	// MaxJustification is the longest justification CreateRequest accepts.
	MaxJustification = 1000
	// MaxMessage is the longest admin message Decide accepts.
	MaxMessage = 1000
	// MaxName is the longest subject, user, app id, app name, host or actor.
	MaxName = 256
	// MaxGrantFor is the longest grant Decide makes.
	MaxGrantFor = 10 * 365 * 24 * time.Hour
	// DefaultLimit is the number of rows a listing returns when not told.
	DefaultLimit = 100
	// MaxLimit is the most rows one listing returns.
	MaxLimit = 1000
	// MaxUsageSnapshot is the largest usage snapshot SaveUsage accepts, in
	// bytes. Real ones are a few MiB.
	MaxUsageSnapshot = 64 << 20
	// UsageRetention is how long a node's usage snapshot is kept after the
	// node last saved it: SaveUsage deletes those older, so that nodes
	// gone for good (replaced pods, renamed hosts) drop out of the fleet's
	// figures and free their space.
	UsageRetention = 40 * 24 * time.Hour
)

// Errors a Store returns, wrapped with context; test with errors.Is.
var (
	// ErrNotFound means the request or grant does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the write contradicts the stored state: deciding a
	// decided request, revoking a revoked grant, or a second pending
	// request from one subject for one app.
	ErrConflict = errors.New("conflict")
	// ErrInvalid means the input was rejected before reaching the database:
	// a missing or over-long field, text that is not UTF-8, a bad duration,
	// a usage snapshot over MaxUsageSnapshot.
	ErrInvalid = errors.New("invalid input")
	// ErrUnavailable means the database could not answer: unreachable,
	// locked past the busy timeout, out of time, or the store is closed.
	ErrUnavailable = errors.New("store unavailable")
)

// Store keeps access requests, grants and their audit trail, and the
// nodes' usage snapshots. Every write to requests and grants is audited in
// the same transaction; saving a usage snapshot, which decides nothing, is
// not. Times are stored in UTC and returned in UTC. Implementations are
// safe for concurrent use.
type Store interface {
	// CreateRequest stores a new pending request and returns it with its
	// id. The request is durable when CreateRequest returns. It returns
	// ErrInvalid for a missing subject, app or justification or text over
	// the limits, and ErrConflict when the subject already has a pending
	// request for the app (see PendingFor).
	CreateRequest(ctx context.Context, r Request) (Request, error)
	// Request returns one request, or ErrNotFound.
	Request(ctx context.Context, id int64) (Request, error)
	// Requests lists requests matching f, newest first.
	Requests(ctx context.Context, f RequestFilter) ([]Request, error)
	// Decide approves or denies a pending request in one transaction: it
	// updates the request, makes the grant on approval (nil on denial) and
	// audits. Deciding a decided request is ErrConflict.
	Decide(ctx context.Context, id int64, d Decision) (Request, *Grant, error)
	// AddGrant stores a grant, usually a person's "continue" (ExpiresAt =
	// now + the rule's continue_for, which the caller computes). It is
	// audited with actor = CreatedBy, which defaults to the subject.
	AddGrant(ctx context.Context, g Grant) (Grant, error)
	// ActiveGrant returns the strongest grant subject holds for app at now,
	// or nil: an approval before a continue (an approval lifts more), then
	// the one lasting longest.
	ActiveGrant(ctx context.Context, subject, app string, now time.Time) (*Grant, error)
	// Grants lists grants matching f, newest first.
	Grants(ctx context.Context, f GrantFilter) ([]Grant, error)
	// RevokeGrant ends a grant now and audits it. Revoking a revoked grant
	// is ErrConflict; an expired one may still be revoked.
	RevokeGrant(ctx context.Context, id int64, by string) (Grant, error)
	// CountRequesters returns how many distinct subjects have asked for
	// app, whatever became of their requests.
	CountRequesters(ctx context.Context, app string) (int, error)
	// LatestDecided returns subject's most recently decided request for
	// app, or nil.
	LatestDecided(ctx context.Context, subject, app string) (*Request, error)
	// PendingFor returns subject's pending request for app, or nil.
	PendingFor(ctx context.Context, subject, app string) (*Request, error)
	// Activity counts the requests subject made and the continues it
	// gave itself at or after since, whichever node stored them: the
	// page actions' hourly limits read it, so that they hold across a
	// fleet.
	Activity(ctx context.Context, subject string, since time.Time) (Activity, error)
	// Audit returns the newest limit audit entries, newest first; limit 0
	// means DefaultLimit, capped at MaxLimit. It is AuditEntries with a
	// limit only.
	Audit(ctx context.Context, limit int) ([]AuditEntry, error)
	// AuditEntries lists audit entries matching f, newest first.
	AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// SaveUsage stores node's latest usage snapshot, replacing its
	// previous one, and deletes every node's snapshot last saved more than
	// UsageRetention before at. The last save wins, whatever its at, so a
	// node saves from one goroutine at a time; a zero at means now. It
	// returns ErrInvalid for a node name that is empty, over MaxName
	// characters or not printable, for empty data or data over
	// MaxUsageSnapshot bytes, and for a time out of range. It is not
	// audited.
	SaveUsage(ctx context.Context, node string, data []byte, at time.Time) error
	// UsageSnapshots returns every node's latest snapshot saved at or after
	// since, newest first, then by node name byte by byte; a zero since
	// returns them all.
	// Each node's snapshot may be up to MaxUsageSnapshot bytes, so pass the
	// oldest time worth merging.
	UsageSnapshots(ctx context.Context, since time.Time) ([]UsageSnapshot, error)
	// Prune deletes the access records that have been over since before
	// cutoff: audit entries made before it, grants that expired or were
	// revoked before it, and requests decided before it, except a row a
	// kept row names (an audit entry its grant or request, a grant its
	// request). Pending requests and grants in force are never deleted.
	// It deletes in transactions of a few hundred rows, so that other
	// writes wait for one batch at most, and audits what it deleted in one
	// entry (ActionPruned by PrunedBy), unless it deleted nothing. On an
	// error it returns what it had deleted so far, and audits that if the
	// database still answers. A cutoff after now, or out of range, is
	// ErrInvalid.
	Prune(ctx context.Context, cutoff time.Time) (Pruned, error)
	// Ping checks that the database answers; for readiness probes.
	Ping(ctx context.Context) error
	// Close releases the database. Later calls return ErrUnavailable.
	Close() error
}

// GrantChange names the subject and app whose grants another node (or
// this one) changed: a grant added, an approval, a revocation. The zero
// GrantChange means that any grant may have changed, because changes may
// have been missed (the feed reconnected): forget everything.
type GrantChange struct {
	Subject, App string
}

// All reports whether c stands for every grant: the zero GrantChange.
func (c GrantChange) All() bool {
	return c == GrantChange{}
}

// ChangeFeed is implemented by stores that several nodes share
// (PostgreSQL), so that each node's GrantCache hears of the others'
// writes within moments instead of after its TTL. A single-node store
// (SQLite) does not implement it: its only writer is its own cache.
type ChangeFeed interface {
	// Changes returns a channel of the grant changes committed from now
	// on, by any node, until ctx ends or the store closes; then it closes
	// the channel. When the feed (re)connects it sends the zero
	// GrantChange, since changes made while it was away were missed. The
	// feed reconnects by itself; the reader must keep reading, or the
	// feed waits for it. It returns an error only if the store is closed
	// or ctx has ended.
	Changes(ctx context.Context) (<-chan GrantChange, error)
}

// Opener opens a store for a DSN of its scheme. It receives the whole DSN,
// scheme included, because some backends (PostgreSQL) parse it whole.
type Opener func(ctx context.Context, dsn string) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a backend available to Open under scheme ("sqlite",
// "postgres"). It is meant to be called from a backend's init function and
// panics, as database/sql.Register does, if scheme is not a valid URL
// scheme, open is nil, or the scheme is already registered: each is a
// programming error.
func Register(scheme string, open Opener) {
	if !validScheme(scheme) {
		panic(fmt.Sprintf("store: invalid scheme %q", scheme))
	}
	if open == nil {
		panic(fmt.Sprintf("store: nil opener for scheme %q", scheme))
	}
	scheme = strings.ToLower(scheme)
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, ok := registry[scheme]; ok {
		panic(fmt.Sprintf("store: scheme %q registered twice", scheme))
	}
	registry[scheme] = open
}

// Open opens the store a DSN names and brings its schema up to date. The
// DSN's scheme chooses the backend: "sqlite:PATH" (or a bare PATH) opens
// the embedded SQLite database, creating the file; other schemes, such as
// "postgres://…", work once their backend is registered.
func Open(ctx context.Context, dsn string) (Store, error) {
	if dsn == "" {
		return nil, errors.New("open store: empty DSN")
	}
	scheme := dsnScheme(dsn)
	if scheme == "" {
		scheme = "sqlite"
	}
	registryMu.RLock()
	open := registry[scheme]
	registryMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("open store: no backend for scheme %q (known: %s)", scheme, strings.Join(schemes(), ", "))
	}
	return open(ctx, dsn)
}

// schemes returns the registered schemes, sorted.
func schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return slices.Sorted(maps.Keys(registry))
}

// dsnScheme returns the lower-cased scheme of dsn, or "" when dsn is a bare
// file path. A single letter before the colon is a Windows drive ("C:\…"),
// not a scheme.
func dsnScheme(dsn string) string {
	i := strings.IndexByte(dsn, ':')
	if i < 2 || !validScheme(dsn[:i]) {
		return ""
	}
	return strings.ToLower(dsn[:i])
}

// validScheme reports whether s is a URL scheme (RFC 3986, section 3.1).
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// The range of times a store keeps: Unix nanoseconds in an int64.
var (
	minTime = time.Unix(0, -1<<63).UTC()
	maxTime = time.Unix(0, 1<<63-1).UTC()
)

// checkText rejects text a store must not keep: missing when required,
// not UTF-8, holding a NUL byte (PostgreSQL refuses it), or longer than
// limit characters.
func checkText(field, s string, limit int, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return fmt.Errorf("%w: %s is required", ErrInvalid, field)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalid, field)
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return fmt.Errorf("%w: %s is %d characters long; at most %d are allowed", ErrInvalid, field, n, limit)
	}
	return nil
}

// checkTime rejects a time the store cannot represent.
func checkTime(field string, t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%w: %s %s is out of range", ErrInvalid, field, t.Format(time.RFC3339))
	}
	return nil
}

// orNow returns t in UTC, or now when t is zero. The monotonic reading is
// dropped so that a value equals what a reload returns.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.Round(0).UTC()
}

// prepareRequest validates r and fills what the store sets itself.
func prepareRequest(r Request) (Request, error) {
	for _, f := range []struct {
		name, value string
		limit       int
		required    bool
	}{
		{"subject", r.Subject, MaxName, true},
		{"user", r.User, MaxName, false},
		{"app", r.App, MaxName, true},
		{"app name", r.AppName, MaxName, false},
		{"justification", r.Justification, MaxJustification, true},
		{"URL host", r.URLHost, MaxName, false},
	} {
		if err := checkText(f.name, f.value, f.limit, f.required); err != nil {
			return Request{}, err
		}
	}
	r.CreatedAt = orNow(r.CreatedAt)
	if err := checkTime("created at", r.CreatedAt); err != nil {
		return Request{}, err
	}
	r.ID, r.Status = 0, StatusPending
	r.DecidedBy, r.DecidedAt, r.Message, r.GrantFor = "", time.Time{}, "", 0
	return r, nil
}

// prepareDecision validates d and fills its time.
func prepareDecision(d Decision) (Decision, error) {
	if err := checkText("decided by", d.By, MaxName, true); err != nil {
		return Decision{}, err
	}
	if err := checkText("message", d.Message, MaxMessage, false); err != nil {
		return Decision{}, err
	}
	if d.Approve && (d.GrantFor <= 0 || d.GrantFor > MaxGrantFor) {
		return Decision{}, fmt.Errorf("%w: an approval lasts more than 0 and at most %v; got %v", ErrInvalid, MaxGrantFor, d.GrantFor)
	}
	if !d.Approve {
		d.GrantFor = 0
	}
	d.At = orNow(d.At)
	if err := checkTime("decided at", d.At); err != nil {
		return Decision{}, err
	}
	if err := checkTime("grant expiry", d.At.Add(d.GrantFor)); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// prepareGrant validates g and fills its defaults.
func prepareGrant(g Grant) (Grant, error) {
	if g.Source == "" {
		g.Source = SourceContinue
	}
	if !g.Source.Valid() {
		return Grant{}, fmt.Errorf("%w: unknown grant source %q", ErrInvalid, g.Source)
	}
	if g.CreatedBy == "" {
		g.CreatedBy = g.Subject
	}
	for _, f := range []struct{ name, value string }{
		{"subject", g.Subject}, {"app", g.App}, {"created by", g.CreatedBy},
	} {
		if err := checkText(f.name, f.value, MaxName, true); err != nil {
			return Grant{}, err
		}
	}
	if g.RequestID < 0 {
		return Grant{}, fmt.Errorf("%w: request id %d", ErrInvalid, g.RequestID)
	}
	if g.ExpiresAt.IsZero() {
		return Grant{}, fmt.Errorf("%w: a grant's expiry is required", ErrInvalid)
	}
	g.CreatedAt = orNow(g.CreatedAt)
	g.ExpiresAt = g.ExpiresAt.Round(0).UTC()
	if err := checkTime("created at", g.CreatedAt); err != nil {
		return Grant{}, err
	}
	if err := checkTime("expires at", g.ExpiresAt); err != nil {
		return Grant{}, err
	}
	if !g.ExpiresAt.After(g.CreatedAt) {
		return Grant{}, fmt.Errorf("%w: grant expires at %s, not after its creation at %s",
			ErrInvalid, g.ExpiresAt.Format(time.RFC3339), g.CreatedAt.Format(time.RFC3339))
	}
	g.ID, g.RevokedAt, g.RevokedBy = 0, time.Time{}, ""
	return g, nil
}

// prepareUsage validates a usage snapshot to save and fills its time.
func prepareUsage(node string, data []byte, at time.Time) (time.Time, error) {
	if err := checkNode(node); err != nil {
		return time.Time{}, err
	}
	switch {
	case len(data) == 0:
		return time.Time{}, fmt.Errorf("%w: the usage snapshot is empty", ErrInvalid)
	case len(data) > MaxUsageSnapshot:
		return time.Time{}, fmt.Errorf("%w: the usage snapshot is %d bytes; at most %d are allowed", ErrInvalid, len(data), MaxUsageSnapshot)
	}
	at = orNow(at)
	if err := checkTime("saved at", at); err != nil {
		return time.Time{}, err
	}
	// The cutoff must be representable too, or the query would compare
	// with a wrapped-around number.
	if err := checkTime("retention cutoff", at.Add(-UsageRetention)); err != nil {
		return time.Time{}, err
	}
	return at, nil
}

// checkNode rejects a node name that is not 1 to MaxName printable
// characters (spaces allowed, not alone): names show in the admin's pages
// and logs, where a control character could forge a line.
func checkNode(node string) error {
	if err := checkText("node name", node, MaxName, true); err != nil {
		return err
	}
	for _, r := range node {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: node name %q holds the unprintable character %U", ErrInvalid, node, r)
		}
	}
	return nil
}

// limit returns n bounded to [1, MaxLimit], DefaultLimit when n <= 0.
func limit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	default:
		return n
	}
}
