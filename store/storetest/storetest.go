// Package storetest is the conformance suite every store backend passes:
// each method of store.Store, its errors, its ordering and filters, its
// audit trail, the retention's pruning, the usage snapshots (replacement,
// the since filter, pruning, the size limit), concurrent use, and
// persistence across Close
// and Open. The
// SQLite backend runs it in its tests; another backend (PostgreSQL) runs
// the same suite against its own databases.
//
// The package holds tests only; it does not implement a store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/store"
)

// Run runs the suite. newDSN returns the DSN of a new, empty database on
// every call (one per subtest); the suite opens it with store.Open, closes
// it, and opens it again to prove that what was written lasts.
func Run(t *testing.T, newDSN func(t *testing.T) string) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"CreateRequest", testCreateRequest},
		{"CreateRequestValidation", testCreateRequestValidation},
		{"OnePendingRequest", testOnePendingRequest},
		{"RequestsFilterAndOrder", testRequestsFilterAndOrder},
		{"DecideApprove", testDecideApprove},
		{"DecideDeny", testDecideDeny},
		{"DecideErrors", testDecideErrors},
		{"DecideConcurrently", testDecideConcurrently},
		{"AddGrant", testAddGrant},
		{"AddGrantValidation", testAddGrantValidation},
		{"ActiveGrantChoice", testActiveGrantChoice},
		{"RevokeGrant", testRevokeGrant},
		{"GrantsFilterAndOrder", testGrantsFilterAndOrder},
		{"CountRequesters", testCountRequesters},
		{"LatestDecidedAndPendingFor", testLatestDecidedAndPendingFor},
		{"Audit", testAudit},
		{"Concurrency", testConcurrency},
		{"Persistence", testPersistence},
		{"Prune", testPrune},
		{"PruneRevoked", testPruneRevoked},
		{"PruneBatches", testPruneBatches},
		{"Activity", testActivity},
		{"UsageSave", testUsageSave},
		{"UsageReplace", testUsageReplace},
		{"UsageTwoNodes", testUsageTwoNodes},
		{"UsageSince", testUsageSince},
		{"UsagePruning", testUsagePruning},
		{"UsageValidation", testUsageValidation},
		{"UsageSizeLimit", testUsageSizeLimit},
		{"UsageConcurrency", testUsageConcurrency},
		{"UsagePersistence", testUsagePersistence},
		{"CanceledContext", testCanceledContext},
		{"Closed", testClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &harness{dsn: newDSN(t)})
		})
	}
}

// harness opens the subtest's database.
type harness struct {
	dsn string
}

// open opens the database and closes it when the test ends.
func (h *harness) open(t *testing.T) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), h.dsn)
	if err != nil {
		t.Fatalf("Open(%q): %v", h.dsn, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// t0 is the suite's reference time; it is not UTC, to prove the store
// stores and returns UTC.
var t0 = time.Date(2031, 3, 4, 9, 30, 15, 123456789, time.FixedZone("CET", 3600))

// at returns t0 plus d, in UTC as the store returns it.
func at(d time.Duration) time.Time {
	return t0.Add(d).UTC()
}

func newRequest(subject, app string, created time.Duration) store.Request {
	return store.Request{
		Subject: subject, User: strings.TrimPrefix(subject, "ip:"), App: app, AppName: strings.ToUpper(app),
		Justification: "I need " + app + " to talk to a customer.", URLHost: app + ".example.com",
		CreatedAt: t0.Add(created),
	}
}

func mustCreate(t *testing.T, s store.Store, r store.Request) store.Request {
	t.Helper()
	got, err := s.CreateRequest(context.Background(), r)
	if err != nil {
		t.Fatalf("CreateRequest(%s, %s): %v", r.Subject, r.App, err)
	}
	return got
}

func mustDecide(t *testing.T, s store.Store, id int64, d store.Decision) (store.Request, *store.Grant) {
	t.Helper()
	r, g, err := s.Decide(context.Background(), id, d)
	if err != nil {
		t.Fatalf("Decide(%d): %v", id, err)
	}
	return r, g
}

func mustAddGrant(t *testing.T, s store.Store, g store.Grant) store.Grant {
	t.Helper()
	got, err := s.AddGrant(context.Background(), g)
	if err != nil {
		t.Fatalf("AddGrant(%s, %s): %v", g.Subject, g.App, err)
	}
	return got
}

func newContinue(subject, app string, from, until time.Duration) store.Grant {
	return store.Grant{Subject: subject, App: app, CreatedAt: t0.Add(from), ExpiresAt: t0.Add(until)}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v; want %v", what, err, want)
	}
}

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\ngot  %+v\nwant %+v", what, got, want)
	}
}

func requestIDs(rs []store.Request) []int64 {
	ids := make([]int64, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func grantIDs(gs []store.Grant) []int64 {
	ids := make([]int64, 0, len(gs))
	for _, g := range gs {
		ids = append(ids, g.ID)
	}
	return ids
}

func testCreateRequest(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)

	in := newRequest("alice", "slack", 0)
	in.Status, in.DecidedBy, in.Message = store.StatusApproved, "mallory", "self-approved"
	got := mustCreate(t, s, in)
	if got.ID <= 0 {
		t.Errorf("ID: got %d; want > 0", got.ID)
	}
	want := newRequest("alice", "slack", 0)
	want.ID, want.Status, want.CreatedAt = got.ID, store.StatusPending, at(0)
	wantEqual(t, "CreateRequest ignores status and decision fields", got, want)
	if loc := got.CreatedAt.Location(); loc != time.UTC {
		t.Errorf("CreatedAt location: got %v; want UTC", loc)
	}
	stored, err := s.Request(ctx, got.ID)
	if err != nil {
		t.Fatalf("Request(%d): %v", got.ID, err)
	}
	wantEqual(t, "Request after CreateRequest", stored, want)

	before := time.Now()
	now := mustCreate(t, s, store.Request{Subject: "ip:192.0.2.7", App: "zoom", Justification: "a call"})
	after := time.Now()
	if now.CreatedAt.Before(before) || now.CreatedAt.After(after) || now.CreatedAt.Location() != time.UTC {
		t.Errorf("zero CreatedAt: got %v; want a UTC time between %v and %v", now.CreatedAt, before, after)
	}

	hostile := store.Request{
		Subject: `o'brien"; DROP TABLE requests;--`, User: "<script>alert(1)</script>", App: "slack",
		AppName: "Sl\u00e4ck \U0001F4AC", Justification: "line one\nline two\t'quoted' \\ back\u2028slash % _ $1 ?",
		URLHost: "xn--bcher-kva.example", CreatedAt: t0,
	}
	hr := mustCreate(t, s, hostile)
	back, err := s.Request(ctx, hr.ID)
	if err != nil {
		t.Fatalf("Request(%d): %v", hr.ID, err)
	}
	hostile.ID, hostile.Status, hostile.CreatedAt = hr.ID, store.StatusPending, at(0)
	wantEqual(t, "hostile text round-trips", back, hostile)

	_, err = s.Request(ctx, 1<<40)
	wantErr(t, "Request(missing)", err, store.ErrNotFound)
}

func testCreateRequestValidation(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	for _, tc := range []struct {
		name   string
		mutate func(r *store.Request)
		want   error
	}{
		{"no subject", func(r *store.Request) { r.Subject = "" }, store.ErrInvalid},
		{"blank subject", func(r *store.Request) { r.Subject = " \t" }, store.ErrInvalid},
		{"no app", func(r *store.Request) { r.App = "" }, store.ErrInvalid},
		{"no justification", func(r *store.Request) { r.Justification = "" }, store.ErrInvalid},
		{"justification too long", func(r *store.Request) { r.Justification = strings.Repeat("x", store.MaxJustification+1) }, store.ErrInvalid},
		{"multibyte justification too long", func(r *store.Request) { r.Justification = strings.Repeat("é", store.MaxJustification+1) }, store.ErrInvalid},
		{"justification at the limit in multibyte characters", func(r *store.Request) { r.Justification = strings.Repeat("é", store.MaxJustification) }, nil},
		{"justification not UTF-8", func(r *store.Request) { r.Justification = "bad \xff byte" }, store.ErrInvalid},
		{"justification with NUL", func(r *store.Request) { r.Justification = "nul \x00 byte" }, store.ErrInvalid},
		{"subject too long", func(r *store.Request) { r.Subject = strings.Repeat("s", store.MaxName+1) }, store.ErrInvalid},
		{"user too long", func(r *store.Request) { r.User = strings.Repeat("u", store.MaxName+1) }, store.ErrInvalid},
		{"app name too long", func(r *store.Request) { r.AppName = strings.Repeat("a", store.MaxName+1) }, store.ErrInvalid},
		{"host too long", func(r *store.Request) { r.URLHost = strings.Repeat("h", store.MaxName+1) }, store.ErrInvalid},
		{"created out of range", func(r *store.Request) { r.CreatedAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest("v-"+strings.ReplaceAll(tc.name, " ", "-"), "slack", 0)
			tc.mutate(&r)
			_, err := s.CreateRequest(ctx, r)
			if tc.want == nil {
				if err != nil {
					t.Errorf("CreateRequest: got error %v; want none", err)
				}
				return
			}
			wantErr(t, "CreateRequest", err, tc.want)
		})
	}
	_, err := s.CreateRequest(ctx, store.Request{Subject: "alice", App: "slack", Justification: strings.Repeat("x", store.MaxJustification+1)})
	if err == nil || !strings.Contains(err.Error(), "justification") || !strings.Contains(err.Error(), fmt.Sprint(store.MaxJustification)) {
		t.Errorf("over-long justification: got error %v; want one naming the justification and its limit", err)
	}
	rs, err := s.Requests(ctx, store.RequestFilter{})
	if err != nil {
		t.Fatalf("Requests: %v", err)
	}
	if len(rs) != 1 {
		t.Errorf("stored requests after rejected ones: got %d; want 1 (the one at the limit)", len(rs))
	}
}

func testOnePendingRequest(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	first := mustCreate(t, s, newRequest("alice", "slack", 0))
	_, err := s.CreateRequest(ctx, newRequest("alice", "slack", time.Minute))
	wantErr(t, "second pending request for the same app", err, store.ErrConflict)

	p, err := s.PendingFor(ctx, "alice", "slack")
	if err != nil || p == nil || p.ID != first.ID {
		t.Errorf("PendingFor: got %+v, %v; want request %d", p, err, first.ID)
	}
	mustCreate(t, s, newRequest("alice", "zoom", time.Minute))
	mustCreate(t, s, newRequest("bob", "slack", time.Minute))

	mustDecide(t, s, first.ID, store.Decision{By: "admin", Message: "use Teams"})
	again := mustCreate(t, s, newRequest("alice", "slack", time.Hour))
	if again.ID <= first.ID {
		t.Errorf("request after a denial: got id %d; want one above %d", again.ID, first.ID)
	}
}

func testRequestsFilterAndOrder(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	a1 := mustCreate(t, s, newRequest("alice", "slack", 1*time.Minute))
	a2 := mustCreate(t, s, newRequest("alice", "zoom", 2*time.Minute))
	b1 := mustCreate(t, s, newRequest("bob", "slack", 3*time.Minute))
	c1 := mustCreate(t, s, newRequest("carol", "dropbox", 4*time.Minute))
	b2 := mustCreate(t, s, newRequest("bob", "zoom", 5*time.Minute))
	mustDecide(t, s, a2.ID, store.Decision{Approve: true, By: "admin", GrantFor: time.Hour})
	mustDecide(t, s, c1.ID, store.Decision{By: "admin"})

	for _, tc := range []struct {
		name string
		f    store.RequestFilter
		want []int64
	}{
		{"all, newest first", store.RequestFilter{}, []int64{b2.ID, c1.ID, b1.ID, a2.ID, a1.ID}},
		{"pending", store.RequestFilter{Status: store.StatusPending}, []int64{b2.ID, b1.ID, a1.ID}},
		{"approved", store.RequestFilter{Status: store.StatusApproved}, []int64{a2.ID}},
		{"denied", store.RequestFilter{Status: store.StatusDenied}, []int64{c1.ID}},
		{"decided", store.RequestFilter{Status: store.StatusDecided}, []int64{c1.ID, a2.ID}},
		{"decided, next page", store.RequestFilter{Status: store.StatusDecided, Limit: 1, BeforeID: c1.ID}, []int64{a2.ID}},
		{"decided and subject", store.RequestFilter{Status: store.StatusDecided, Subject: "carol"}, []int64{c1.ID}},
		{"decided and app", store.RequestFilter{Status: store.StatusDecided, App: "slack"}, []int64{}},
		{"subject", store.RequestFilter{Subject: "alice"}, []int64{a2.ID, a1.ID}},
		{"app", store.RequestFilter{App: "slack"}, []int64{b1.ID, a1.ID}},
		{"subject and app", store.RequestFilter{Subject: "bob", App: "zoom"}, []int64{b2.ID}},
		{"status and app", store.RequestFilter{Status: store.StatusPending, App: "zoom"}, []int64{b2.ID}},
		{"no match", store.RequestFilter{Subject: "nobody"}, []int64{}},
		{"limit", store.RequestFilter{Limit: 2}, []int64{b2.ID, c1.ID}},
		{"next page", store.RequestFilter{Limit: 2, BeforeID: c1.ID}, []int64{b1.ID, a2.ID}},
		{"last page", store.RequestFilter{Limit: 2, BeforeID: a2.ID}, []int64{a1.ID}},
		{"negative limit means the default", store.RequestFilter{Limit: -1}, []int64{b2.ID, c1.ID, b1.ID, a2.ID, a1.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := s.Requests(ctx, tc.f)
			if err != nil {
				t.Fatalf("Requests(%+v): %v", tc.f, err)
			}
			wantEqual(t, fmt.Sprintf("Requests(%+v) ids", tc.f), requestIDs(rs), tc.want)
		})
	}
	_, err := s.Requests(ctx, store.RequestFilter{Status: "maybe"})
	wantErr(t, "Requests with an unknown status", err, store.ErrInvalid)
}

func testDecideApprove(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	req := mustCreate(t, s, newRequest("alice", "slack", 0))
	decided := t0.Add(time.Hour)
	r, g := mustDecide(t, s, req.ID, store.Decision{Approve: true, By: "admin@example.com", Message: "ok for the project", GrantFor: 8 * time.Hour, At: decided})

	want := req
	want.Status, want.DecidedBy, want.DecidedAt, want.Message, want.GrantFor =
		store.StatusApproved, "admin@example.com", at(time.Hour), "ok for the project", 8*time.Hour
	wantEqual(t, "decided request", r, want)
	if g == nil {
		t.Fatal("Decide(approve): got no grant; want one")
	}
	wantGrant := store.Grant{
		ID: g.ID, Subject: "alice", App: "slack", Source: store.SourceApproval,
		CreatedAt: at(time.Hour), ExpiresAt: at(9 * time.Hour), CreatedBy: "admin@example.com", RequestID: req.ID,
	}
	wantEqual(t, "approval grant", *g, wantGrant)

	stored, err := s.Request(ctx, req.ID)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	wantEqual(t, "stored decided request", stored, want)

	for _, tc := range []struct {
		name string
		at   time.Duration
		want *store.Grant
	}{
		{"during", 2 * time.Hour, &wantGrant},
		{"a nanosecond before the end", 9*time.Hour - 1, &wantGrant},
		{"at the end", 9 * time.Hour, nil},
		{"after", 10 * time.Hour, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ActiveGrant(ctx, "alice", "slack", t0.Add(tc.at))
			if err != nil {
				t.Fatalf("ActiveGrant: %v", err)
			}
			wantEqual(t, "ActiveGrant", got, tc.want)
		})
	}
}

func testDecideDeny(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	req := mustCreate(t, s, newRequest("bob", "dropbox", 0))
	r, g := mustDecide(t, s, req.ID, store.Decision{By: "admin", Message: "Use OneDrive, it is approved.", GrantFor: time.Hour, At: t0.Add(time.Minute)})
	if g != nil {
		t.Errorf("Decide(deny): got grant %+v; want none", *g)
	}
	want := req
	want.Status, want.DecidedBy, want.DecidedAt, want.Message = store.StatusDenied, "admin", at(time.Minute), "Use OneDrive, it is approved."
	wantEqual(t, "denied request (GrantFor ignored)", r, want)

	gs, err := s.Grants(ctx, store.GrantFilter{})
	if err != nil || len(gs) != 0 {
		t.Errorf("Grants after a denial: got %d grants, %v; want none", len(gs), err)
	}
	latest, err := s.LatestDecided(ctx, "bob", "dropbox")
	if err != nil || latest == nil {
		t.Fatalf("LatestDecided: got %v, %v; want the denial", latest, err)
	}
	wantEqual(t, "LatestDecided", *latest, want)
}

func testDecideErrors(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	pending := mustCreate(t, s, newRequest("alice", "slack", 0))
	approved := mustCreate(t, s, newRequest("bob", "slack", 0))
	mustDecide(t, s, approved.ID, store.Decision{Approve: true, By: "admin", GrantFor: time.Hour})
	denied := mustCreate(t, s, newRequest("carol", "slack", 0))
	mustDecide(t, s, denied.ID, store.Decision{By: "admin"})

	ok := store.Decision{Approve: true, By: "admin", GrantFor: time.Hour}
	for _, tc := range []struct {
		name string
		id   int64
		d    store.Decision
		want error
	}{
		{"missing request", 1 << 40, ok, store.ErrNotFound},
		{"approve an approved request", approved.ID, ok, store.ErrConflict},
		{"deny an approved request", approved.ID, store.Decision{By: "admin"}, store.ErrConflict},
		{"approve a denied request", denied.ID, ok, store.ErrConflict},
		{"no admin", pending.ID, store.Decision{Approve: true, GrantFor: time.Hour}, store.ErrInvalid},
		{"approval without a length", pending.ID, store.Decision{Approve: true, By: "admin"}, store.ErrInvalid},
		{"approval of negative length", pending.ID, store.Decision{Approve: true, By: "admin", GrantFor: -time.Hour}, store.ErrInvalid},
		{"approval too long", pending.ID, store.Decision{Approve: true, By: "admin", GrantFor: store.MaxGrantFor + time.Hour}, store.ErrInvalid},
		{"message too long", pending.ID, store.Decision{By: "admin", Message: strings.Repeat("m", store.MaxMessage+1)}, store.ErrInvalid},
		{"message not UTF-8", pending.ID, store.Decision{By: "admin", Message: "\xc3"}, store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, g, err := s.Decide(ctx, tc.id, tc.d)
			wantErr(t, "Decide", err, tc.want)
			if g != nil {
				t.Errorf("Decide: got grant %+v with an error; want none", *g)
			}
		})
	}
	r, err := s.Request(ctx, pending.ID)
	if err != nil || r.Status != store.StatusPending {
		t.Errorf("request after rejected decisions: got %q, %v; want pending", r.Status, err)
	}
	gs, err := s.Grants(ctx, store.GrantFilter{})
	if err != nil || len(gs) != 1 {
		t.Errorf("grants after rejected decisions: got %d, %v; want only the first approval's", len(gs), err)
	}
}

func testDecideConcurrently(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	req := mustCreate(t, s, newRequest("alice", "slack", 0))
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, err := s.Decide(ctx, req.ID, store.Decision{Approve: i%2 == 0, By: fmt.Sprintf("admin%d", i), GrantFor: time.Hour})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	var won, conflicts int
	for err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrConflict):
			conflicts++
		default:
			t.Errorf("concurrent Decide: got unexpected error %v", err)
		}
	}
	if won != 1 || conflicts != n-1 {
		t.Errorf("concurrent Decide: got %d successes and %d conflicts; want 1 and %d", won, conflicts, n-1)
	}
	es, err := s.Audit(ctx, 0)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if len(es) != 2 {
		t.Errorf("audit entries: got %d; want 2 (the request and the one decision)", len(es))
	}
}

func testAddGrant(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	g := mustAddGrant(t, s, newContinue("alice", "zoom", 0, time.Hour))
	want := store.Grant{
		ID: g.ID, Subject: "alice", App: "zoom", Source: store.SourceContinue,
		CreatedAt: at(0), ExpiresAt: at(time.Hour), CreatedBy: "alice",
	}
	wantEqual(t, "AddGrant defaults", g, want)
	if g.ID <= 0 {
		t.Errorf("ID: got %d; want > 0", g.ID)
	}
	for _, tc := range []struct {
		name string
		at   time.Duration
		want *store.Grant
	}{
		{"before its creation (clocks differ)", -time.Minute, &want},
		{"during", 30 * time.Minute, &want},
		{"at expiry", time.Hour, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ActiveGrant(ctx, "alice", "zoom", t0.Add(tc.at))
			if err != nil {
				t.Fatalf("ActiveGrant: %v", err)
			}
			wantEqual(t, "ActiveGrant", got, tc.want)
		})
	}
	for _, other := range [][2]string{{"bob", "zoom"}, {"alice", "slack"}} {
		got, err := s.ActiveGrant(ctx, other[0], other[1], t0)
		if err != nil || got != nil {
			t.Errorf("ActiveGrant(%s, %s): got %+v, %v; want nil", other[0], other[1], got, err)
		}
	}

	req := mustCreate(t, s, newRequest("carol", "miro", 0))
	byAdmin := mustAddGrant(t, s, store.Grant{
		Subject: "carol", App: "miro", Source: store.SourceApproval, CreatedBy: "admin",
		RequestID: req.ID, ExpiresAt: time.Now().Add(time.Hour),
	})
	if byAdmin.CreatedBy != "admin" || byAdmin.RequestID != req.ID || byAdmin.CreatedAt.IsZero() || byAdmin.CreatedAt.Location() != time.UTC {
		t.Errorf("approval grant: got %+v; want created by admin for request %d, now, in UTC", byAdmin, req.ID)
	}
	gs, err := s.Grants(ctx, store.GrantFilter{})
	if err != nil {
		t.Fatalf("Grants: %v", err)
	}
	wantEqual(t, "Grants", gs, []store.Grant{byAdmin, want})
	gs, err = s.Grants(ctx, store.GrantFilter{RequestID: req.ID})
	if err != nil {
		t.Fatalf("Grants(request %d): %v", req.ID, err)
	}
	wantEqual(t, "Grants of one request", gs, []store.Grant{byAdmin})
	gs, err = s.Grants(ctx, store.GrantFilter{RequestID: req.ID + 1})
	if err != nil || len(gs) != 0 {
		t.Errorf("Grants of a request without one: got %d grants, %v; want none", len(gs), err)
	}
}

func testAddGrantValidation(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	for _, tc := range []struct {
		name   string
		mutate func(g *store.Grant)
		want   error
	}{
		{"no subject", func(g *store.Grant) { g.Subject = "" }, store.ErrInvalid},
		{"no app", func(g *store.Grant) { g.App = "" }, store.ErrInvalid},
		{"unknown source", func(g *store.Grant) { g.Source = "bribe" }, store.ErrInvalid},
		{"expires at creation", func(g *store.Grant) { g.ExpiresAt = g.CreatedAt }, store.ErrInvalid},
		{"expires before creation", func(g *store.Grant) { g.ExpiresAt = g.CreatedAt.Add(-time.Second) }, store.ErrInvalid},
		{"no expiry", func(g *store.Grant) { g.ExpiresAt = time.Time{} }, store.ErrInvalid},
		{"subject too long", func(g *store.Grant) { g.Subject = strings.Repeat("s", store.MaxName+1) }, store.ErrInvalid},
		{"negative request id", func(g *store.Grant) { g.RequestID = -1 }, store.ErrInvalid},
		{"missing request", func(g *store.Grant) { g.RequestID = 1 << 40 }, store.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newContinue("alice", "zoom", 0, time.Hour)
			tc.mutate(&g)
			_, err := s.AddGrant(ctx, g)
			wantErr(t, "AddGrant", err, tc.want)
		})
	}
	gs, err := s.Grants(ctx, store.GrantFilter{})
	if err != nil || len(gs) != 0 {
		t.Errorf("grants after rejected ones: got %d, %v; want none", len(gs), err)
	}
	es, err := s.Audit(ctx, 0)
	if err != nil || len(es) != 0 {
		t.Errorf("audit after rejected grants: got %d, %v; want none", len(es), err)
	}
}

func testActiveGrantChoice(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	longContinue := mustAddGrant(t, s, newContinue("alice", "slack", 0, 8*time.Hour))
	shortContinue := mustAddGrant(t, s, newContinue("alice", "slack", 0, 2*time.Hour))
	approval := mustAddGrant(t, s, store.Grant{Subject: "alice", App: "slack", Source: store.SourceApproval,
		CreatedBy: "admin", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	mustAddGrant(t, s, newContinue("alice", "zoom", 0, 24*time.Hour))
	mustAddGrant(t, s, newContinue("bob", "slack", 0, 24*time.Hour))

	for _, tc := range []struct {
		name string
		at   time.Duration
		want int64
	}{
		{"an approval beats a longer continue", 30 * time.Minute, approval.ID},
		{"the longest continue once the approval ends", 90 * time.Minute, longContinue.ID},
		{"the remaining continue", 3 * time.Hour, longContinue.ID},
		{"none once all end", 8 * time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := s.ActiveGrant(ctx, "alice", "slack", t0.Add(tc.at))
			if err != nil {
				t.Fatalf("ActiveGrant: %v", err)
			}
			var got int64
			if g != nil {
				got = g.ID
			}
			if got != tc.want {
				t.Errorf("ActiveGrant: got grant %d; want %d", got, tc.want)
			}
		})
	}
	if _, err := s.RevokeGrant(ctx, approval.ID, "admin"); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	g, err := s.ActiveGrant(ctx, "alice", "slack", t0.Add(30*time.Minute))
	if err != nil || g == nil || g.ID != longContinue.ID {
		t.Errorf("ActiveGrant after revoking the approval: got %+v, %v; want grant %d", g, err, longContinue.ID)
	}
	if _, err := s.RevokeGrant(ctx, longContinue.ID, "admin"); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	g, err = s.ActiveGrant(ctx, "alice", "slack", t0.Add(30*time.Minute))
	if err != nil || g == nil || g.ID != shortContinue.ID {
		t.Errorf("ActiveGrant after revoking the longer continue: got %+v, %v; want grant %d", g, err, shortContinue.ID)
	}
}

func testRevokeGrant(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	now := time.Now()
	g := mustAddGrant(t, s, store.Grant{Subject: "alice", App: "slack", ExpiresAt: now.Add(time.Hour)})
	before := time.Now()
	r, err := s.RevokeGrant(ctx, g.ID, "admin")
	after := time.Now()
	if err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	if r.RevokedBy != "admin" || r.RevokedAt.Before(before) || r.RevokedAt.After(after) || r.RevokedAt.Location() != time.UTC {
		t.Errorf("revoked grant: got by %q at %v; want by admin, in UTC, between %v and %v", r.RevokedBy, r.RevokedAt, before, after)
	}
	want := g
	want.RevokedAt, want.RevokedBy = r.RevokedAt, "admin"
	wantEqual(t, "revoked grant", r, want)

	active, err := s.ActiveGrant(ctx, "alice", "slack", now)
	if err != nil || active != nil {
		t.Errorf("ActiveGrant after revocation: got %+v, %v; want nil", active, err)
	}
	gs, err := s.Grants(ctx, store.GrantFilter{Subject: "alice"})
	if err != nil {
		t.Fatalf("Grants: %v", err)
	}
	wantEqual(t, "Grants keeps the revoked grant", gs, []store.Grant{want})

	_, err = s.RevokeGrant(ctx, g.ID, "admin2")
	wantErr(t, "revoking twice", err, store.ErrConflict)
	_, err = s.RevokeGrant(ctx, 1<<40, "admin")
	wantErr(t, "revoking a missing grant", err, store.ErrNotFound)
	other := mustAddGrant(t, s, store.Grant{Subject: "bob", App: "slack", ExpiresAt: now.Add(time.Hour)})
	_, err = s.RevokeGrant(ctx, other.ID, "")
	wantErr(t, "revoking without a name", err, store.ErrInvalid)

	expired := mustAddGrant(t, s, newContinue("carol", "slack", -2*time.Hour, -time.Hour))
	if _, err := s.RevokeGrant(ctx, expired.ID, "admin"); err != nil {
		t.Errorf("revoking an expired grant: got error %v; want none", err)
	}
}

func testGrantsFilterAndOrder(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	now := time.Now()
	aliceSlack := mustAddGrant(t, s, store.Grant{Subject: "alice", App: "slack", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)})
	aliceZoom := mustAddGrant(t, s, store.Grant{Subject: "alice", App: "zoom", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)})
	bobSlack := mustAddGrant(t, s, store.Grant{Subject: "bob", App: "slack", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)})
	if _, err := s.RevokeGrant(ctx, bobSlack.ID, "admin"); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	bobZoom := mustAddGrant(t, s, store.Grant{Subject: "bob", App: "zoom", Source: store.SourceApproval, CreatedBy: "admin",
		CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(24 * time.Hour)})

	for _, tc := range []struct {
		name string
		f    store.GrantFilter
		want []int64
	}{
		{"all, newest first", store.GrantFilter{}, []int64{bobZoom.ID, bobSlack.ID, aliceZoom.ID, aliceSlack.ID}},
		{"active now", store.GrantFilter{ActiveAt: now}, []int64{bobZoom.ID, aliceSlack.ID}},
		{"active 90 minutes ago", store.GrantFilter{ActiveAt: now.Add(-90 * time.Minute)}, []int64{bobZoom.ID, aliceZoom.ID, aliceSlack.ID}},
		{"active in two hours", store.GrantFilter{ActiveAt: now.Add(2 * time.Hour)}, []int64{bobZoom.ID}},
		{"subject", store.GrantFilter{Subject: "alice"}, []int64{aliceZoom.ID, aliceSlack.ID}},
		{"app", store.GrantFilter{App: "slack"}, []int64{bobSlack.ID, aliceSlack.ID}},
		{"active subject and app", store.GrantFilter{ActiveAt: now, Subject: "bob", App: "slack"}, []int64{}},
		{"limit", store.GrantFilter{Limit: 3}, []int64{bobZoom.ID, bobSlack.ID, aliceZoom.ID}},
		{"next page", store.GrantFilter{Limit: 3, BeforeID: aliceZoom.ID}, []int64{aliceSlack.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gs, err := s.Grants(ctx, tc.f)
			if err != nil {
				t.Fatalf("Grants(%+v): %v", tc.f, err)
			}
			wantEqual(t, "Grants ids", grantIDs(gs), tc.want)
		})
	}
}

func testCountRequesters(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	first := mustCreate(t, s, newRequest("alice", "slack", 0))
	mustDecide(t, s, first.ID, store.Decision{By: "admin"})
	mustCreate(t, s, newRequest("alice", "slack", time.Minute))
	approved := mustCreate(t, s, newRequest("bob", "slack", 0))
	mustDecide(t, s, approved.ID, store.Decision{Approve: true, By: "admin", GrantFor: time.Hour})
	mustCreate(t, s, newRequest("ip:192.0.2.1", "slack", 0))
	mustCreate(t, s, newRequest("carol", "zoom", 0))
	for _, tc := range []struct {
		app  string
		want int
	}{{"slack", 3}, {"zoom", 1}, {"dropbox", 0}} {
		got, err := s.CountRequesters(ctx, tc.app)
		if err != nil || got != tc.want {
			t.Errorf("CountRequesters(%s): got %d, %v; want %d", tc.app, got, err, tc.want)
		}
	}
}

func testLatestDecidedAndPendingFor(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	none, err := s.LatestDecided(ctx, "alice", "slack")
	if err != nil || none != nil {
		t.Errorf("LatestDecided with no requests: got %+v, %v; want nil", none, err)
	}
	none, err = s.PendingFor(ctx, "alice", "slack")
	if err != nil || none != nil {
		t.Errorf("PendingFor with no requests: got %+v, %v; want nil", none, err)
	}

	r1 := mustCreate(t, s, newRequest("alice", "slack", 0))
	mustDecide(t, s, r1.ID, store.Decision{By: "admin", Message: "first no", At: t0.Add(time.Hour)})
	r2 := mustCreate(t, s, newRequest("alice", "slack", 2*time.Hour))
	want2, _ := mustDecide(t, s, r2.ID, store.Decision{By: "admin", Message: "second no", At: t0.Add(3 * time.Hour)})
	r3 := mustCreate(t, s, newRequest("alice", "slack", 4*time.Hour))
	bob := mustCreate(t, s, newRequest("bob", "slack", 0))
	mustDecide(t, s, bob.ID, store.Decision{Approve: true, By: "admin", GrantFor: time.Hour, At: t0.Add(5 * time.Hour)})

	latest, err := s.LatestDecided(ctx, "alice", "slack")
	if err != nil || latest == nil {
		t.Fatalf("LatestDecided: got %v, %v; want request %d", latest, err, r2.ID)
	}
	wantEqual(t, "LatestDecided", *latest, want2)
	pending, err := s.PendingFor(ctx, "alice", "slack")
	if err != nil || pending == nil {
		t.Fatalf("PendingFor: got %v, %v; want request %d", pending, err, r3.ID)
	}
	wantEqual(t, "PendingFor", *pending, r3)
	for _, k := range [][2]string{{"alice", "zoom"}, {"carol", "slack"}} {
		if r, err := s.LatestDecided(ctx, k[0], k[1]); err != nil || r != nil {
			t.Errorf("LatestDecided(%s, %s): got %+v, %v; want nil", k[0], k[1], r, err)
		}
	}
	if r, err := s.PendingFor(ctx, "bob", "slack"); err != nil || r != nil {
		t.Errorf("PendingFor(bob, slack) after approval: got %+v, %v; want nil", r, err)
	}
}

func testAudit(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	es, err := s.Audit(ctx, 0)
	if err != nil || len(es) != 0 {
		t.Fatalf("Audit of a new store: got %d entries, %v; want none", len(es), err)
	}
	req := mustCreate(t, s, newRequest("alice", "slack", 0))
	_, approval := mustDecide(t, s, req.ID, store.Decision{Approve: true, By: "admin", Message: "ok", GrantFor: 2 * time.Hour, At: t0.Add(time.Minute)})
	cont := mustAddGrant(t, s, newContinue("ip:192.0.2.9", "zoom", 2*time.Minute, time.Hour))
	revoked, err := s.RevokeGrant(ctx, approval.ID, "security")
	if err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	denied := mustCreate(t, s, newRequest("bob", "dropbox", 3*time.Minute))
	mustDecide(t, s, denied.ID, store.Decision{By: "admin", Message: "use OneDrive", At: t0.Add(4 * time.Minute)})
	direct := mustAddGrant(t, s, store.Grant{Subject: "carol", App: "miro", Source: store.SourceApproval, CreatedBy: "admin",
		CreatedAt: t0.Add(5 * time.Minute), ExpiresAt: t0.Add(time.Hour)})
	// Failed writes leave no entry.
	if _, _, err := s.Decide(ctx, req.ID, store.Decision{By: "admin"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second Decide: got %v; want ErrConflict", err)
	}
	if _, err := s.RevokeGrant(ctx, approval.ID, "admin"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second RevokeGrant: got %v; want ErrConflict", err)
	}

	type entry struct {
		At                 time.Time
		Actor, Action      string
		RequestID, GrantID int64
		Subject, App       string
	}
	want := []entry{
		{at(5 * time.Minute), "admin", store.ActionGrantAdded, 0, direct.ID, "carol", "miro"},
		{at(4 * time.Minute), "admin", store.ActionRequestDenied, denied.ID, 0, "bob", "dropbox"},
		{at(3 * time.Minute), "bob", store.ActionRequestCreated, denied.ID, 0, "bob", "dropbox"},
		{revoked.RevokedAt, "security", store.ActionGrantRevoked, req.ID, approval.ID, "alice", "slack"},
		{at(2 * time.Minute), "ip:192.0.2.9", store.ActionGrantContinued, 0, cont.ID, "ip:192.0.2.9", "zoom"},
		{at(time.Minute), "admin", store.ActionRequestApproved, req.ID, approval.ID, "alice", "slack"},
		{at(0), "alice", store.ActionRequestCreated, req.ID, 0, "alice", "slack"},
	}
	es, err = s.Audit(ctx, 0)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	got := make([]entry, 0, len(es))
	for i, e := range es {
		got = append(got, entry{e.At, e.Actor, e.Action, e.RequestID, e.GrantID, e.Subject, e.App})
		if i > 0 && e.ID >= es[i-1].ID {
			t.Errorf("audit order: entry %d has id %d after id %d; want newest first", i, e.ID, es[i-1].ID)
		}
	}
	wantEqual(t, "audit entries", got, want)
	if len(es) == len(want) {
		for _, c := range []struct {
			i    int
			want string
		}{{1, "use OneDrive"}, {5, "ok"}, {5, "2h0m0s"}} {
			if !strings.Contains(es[c.i].Detail, c.want) {
				t.Errorf("audit entry %d (%s) detail: got %q; want it to contain %q", c.i, es[c.i].Action, es[c.i].Detail, c.want)
			}
		}
	}
	two, err := s.Audit(ctx, 2)
	if err != nil || len(two) != 2 || two[0].Action != store.ActionGrantAdded {
		t.Errorf("Audit(2): got %d entries, %v; want the 2 newest", len(two), err)
	}
	if len(es) != len(want) {
		return
	}
	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want []store.AuditEntry
	}{
		{"all", store.AuditFilter{}, es},
		{"first page", store.AuditFilter{Limit: 3}, es[:3]},
		{"next page", store.AuditFilter{Limit: 3, BeforeID: es[2].ID}, es[3:6]},
		{"last page", store.AuditFilter{Limit: 3, BeforeID: es[5].ID}, es[6:]},
		{"past the end", store.AuditFilter{BeforeID: es[6].ID}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.AuditEntries(ctx, tc.f)
			if err != nil {
				t.Fatalf("AuditEntries(%+v): %v", tc.f, err)
			}
			wantEqual(t, fmt.Sprintf("AuditEntries(%+v)", tc.f), got, tc.want)
		})
	}
}

func testConcurrency(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	ids := make(chan int64, n)
	for i := range n {
		wg.Go(func() {
			r, err := s.CreateRequest(ctx, newRequest(fmt.Sprintf("user%02d", i), "slack", time.Duration(i)*time.Second))
			if err != nil {
				errs <- err
				return
			}
			ids <- r.ID
		})
		wg.Go(func() {
			_, err := s.AddGrant(ctx, newContinue(fmt.Sprintf("user%02d", i), "zoom", 0, time.Hour))
			errs <- err
		})
		wg.Go(func() {
			_, err := s.Requests(ctx, store.RequestFilter{App: "slack"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("request id %d handed out twice", id)
		}
		seen[id] = true
	}
	rs, err := s.Requests(ctx, store.RequestFilter{Limit: store.MaxLimit})
	if err != nil || len(rs) != n {
		t.Errorf("Requests after %d concurrent creates: got %d, %v; want %d", n, len(rs), err, n)
	}
	count, err := s.CountRequesters(ctx, "slack")
	if err != nil || count != n {
		t.Errorf("CountRequesters: got %d, %v; want %d", count, err, n)
	}
	gs, err := s.Grants(ctx, store.GrantFilter{App: "zoom", ActiveAt: t0, Limit: store.MaxLimit})
	if err != nil || len(gs) != n {
		t.Errorf("Grants after %d concurrent adds: got %d, %v; want %d", n, len(gs), err, n)
	}
	es, err := s.Audit(ctx, store.MaxLimit)
	if err != nil || len(es) != 2*n {
		t.Errorf("audit entries: got %d, %v; want %d", len(es), err, 2*n)
	}
}

func testPersistence(t *testing.T, h *harness) {
	ctx := context.Background()
	s1 := h.open(t)
	req := mustCreate(t, s1, newRequest("alice", "slack", 0))
	decided, approval := mustDecide(t, s1, req.ID, store.Decision{Approve: true, By: "admin", Message: "ok", GrantFor: 8 * time.Hour, At: t0.Add(time.Minute)})
	pending := mustCreate(t, s1, newRequest("bob", "zoom", time.Minute))
	cont := mustAddGrant(t, s1, newContinue("carol", "zoom", 0, time.Hour))
	revoked, err := s1.RevokeGrant(ctx, cont.ID, "admin")
	if err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	wantAudit, err := s1.Audit(ctx, 0)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if err := s1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Opened twice more: the second reopen finds the schema current and
	// must not migrate again.
	for i := range 2 {
		s := h.open(t)
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("reopen %d: Ping: %v", i+1, err)
		}
		rs, err := s.Requests(ctx, store.RequestFilter{})
		if err != nil {
			t.Fatalf("reopen %d: Requests: %v", i+1, err)
		}
		wantEqual(t, "requests after reopening", rs, []store.Request{pending, decided})
		gs, err := s.Grants(ctx, store.GrantFilter{})
		if err != nil {
			t.Fatalf("reopen %d: Grants: %v", i+1, err)
		}
		wantEqual(t, "grants after reopening", gs, []store.Grant{revoked, *approval})
		es, err := s.Audit(ctx, 0)
		if err != nil {
			t.Fatalf("reopen %d: Audit: %v", i+1, err)
		}
		wantEqual(t, "audit after reopening", es, wantAudit)
		if err := s.Close(); err != nil {
			t.Fatalf("reopen %d: Close: %v", i+1, err)
		}
	}

	s := h.open(t)
	next := mustCreate(t, s, newRequest("dave", "slack", time.Hour))
	if next.ID <= pending.ID {
		t.Errorf("request id after reopening: got %d; want above %d", next.ID, pending.ID)
	}
}

func testCanceledContext(t *testing.T, h *harness) {
	s := h.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.CreateRequest(ctx, newRequest("alice", "slack", 0)); err == nil {
		t.Error("CreateRequest with a canceled context: got no error; want one")
	}
	if _, err := s.AddGrant(ctx, newContinue("alice", "slack", 0, time.Hour)); err == nil {
		t.Error("AddGrant with a canceled context: got no error; want one")
	}
	rs, err := s.Requests(context.Background(), store.RequestFilter{})
	if err != nil || len(rs) != 0 {
		t.Errorf("requests after canceled writes: got %d, %v; want none", len(rs), err)
	}
	gs, err := s.Grants(context.Background(), store.GrantFilter{})
	if err != nil || len(gs) != 0 {
		t.Errorf("grants after canceled writes: got %d, %v; want none", len(gs), err)
	}
	if err := s.SaveUsage(ctx, "edge-1", snapshotData("canceled"), t0); err == nil {
		t.Error("SaveUsage with a canceled context: got no error; want one")
	}
	if _, err := s.UsageSnapshots(ctx, time.Time{}); err == nil {
		t.Error("UsageSnapshots with a canceled context: got no error; want one")
	}
	us, err := s.UsageSnapshots(context.Background(), time.Time{})
	if err != nil || len(us) != 0 {
		t.Errorf("usage snapshots after a canceled save: got %d, %v; want none", len(us), err)
	}
}

func testClosed(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v; want nil", err)
	}
	wantErr(t, "Ping after Close", s.Ping(ctx), store.ErrUnavailable)
	_, err := s.CreateRequest(ctx, newRequest("alice", "slack", 0))
	wantErr(t, "CreateRequest after Close", err, store.ErrUnavailable)
	_, err = s.ActiveGrant(ctx, "alice", "slack", t0)
	wantErr(t, "ActiveGrant after Close", err, store.ErrUnavailable)
	_, err = s.Requests(ctx, store.RequestFilter{})
	wantErr(t, "Requests after Close", err, store.ErrUnavailable)
	wantErr(t, "SaveUsage after Close", s.SaveUsage(ctx, "edge-1", snapshotData("closed"), t0), store.ErrUnavailable)
	_, err = s.UsageSnapshots(ctx, time.Time{})
	wantErr(t, "UsageSnapshots after Close", err, store.ErrUnavailable)
	_, err = s.Prune(ctx, time.Now().Add(-time.Hour))
	wantErr(t, "Prune after Close", err, store.ErrUnavailable)
	_, err = s.Activity(ctx, "alice", t0)
	wantErr(t, "Activity after Close", err, store.ErrUnavailable)
}
