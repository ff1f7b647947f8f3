package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signpost-gateway/signpost/notify"
	"github.com/signpost-gateway/signpost/store"
)

// Listing limits of the API.
const (
	// defaultListLimit is how many requests or grants a listing returns
	// when not told.
	defaultListLimit = 50
	// maxListLimit is the most a listing returns; one more row is read to
	// know whether there is a next page, and the store caps at MaxLimit.
	maxListLimit = 500
	// defaultAuditLimit is how many audit entries are returned when not told.
	defaultAuditLimit = 100
)

// The durations an admin can pick in the pages. The API takes any length
// parseGrantFor accepts.
var grantChoices = []struct {
	value, label string
}{
	{"24h", "1 day"},
	{"168h", "7 days"},
	{"720h", "30 days"},
	{"2160h", "90 days"},
	{"87600h", "Until revoked (10 years)"},
}

// defaultGrantChoice is the duration preselected in the pages.
const defaultGrantChoice = "720h"

// minGrantFor is the shortest approval: anything shorter is a typo.
const minGrantFor = time.Minute

// parseGrantFor reads an approval's length: a Go duration ("720h",
// "90m") or a number of days ("30d"), at least minGrantFor and at most
// store.MaxGrantFor.
func parseGrantFor(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, badf("duration is required; expected a length such as \"720h\" or \"30d\"")
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > int(store.MaxGrantFor/(24*time.Hour)) {
			return 0, badf("found duration %q; expected a whole number of days from 1 to %d, such as \"30d\"",
				clip(v), store.MaxGrantFor/(24*time.Hour))
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, badf("found duration %q; expected a length such as \"720h\" or \"30d\"", clip(v))
		}
	}
	if d < minGrantFor || d > store.MaxGrantFor {
		return 0, badf("found duration %q; expected at least %v and at most %v (10 years)", clip(v), minGrantFor, store.MaxGrantFor)
	}
	return d, nil
}

// clip shortens a client's value for quoting in an error.
func clip(v string) string {
	if len(v) <= 40 {
		return v
	}
	return strings.ToValidUTF8(v[:40], "") + "…"
}

// checkMessage checks an admin's message the way the store will, with a
// message for the admin.
func checkMessage(msg string, required bool) error {
	switch {
	case required && strings.TrimSpace(msg) == "":
		return badf("message is required: tell the person why")
	case !utf8.ValidString(msg) || strings.IndexByte(msg, 0) >= 0:
		return badf("message is not valid text")
	}
	if n := utf8.RuneCountInString(msg); n > store.MaxMessage {
		return badf("message is %d characters long; at most %d are allowed", n, store.MaxMessage)
	}
	return nil
}

// pathID reads the {id} of the route.
func pathID(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, badf("found id %q; expected a positive whole number", clip(v))
	}
	return id, nil
}

// storeCtx bounds one request's work in the store.
func storeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), storeTimeout)
}

// store returns the access store, or errNoStore.
func (s *server) store() (store.Store, error) {
	if s.o.Store == nil {
		return nil, errNoStore
	}
	return s.o.Store, nil
}

// requestQuery selects requests for a listing.
type requestQuery struct {
	// status is "" (all), a store.Status, or "decided" (approved or denied).
	status       string
	subject, app string
	limit        int
	before       int64
}

// statusDecided selects approved and denied requests (the store's filter).
const statusDecided = string(store.StatusDecided)

// parseRequestQuery reads a listing's query parameters.
func parseRequestQuery(q url.Values, defaultLimit int) (requestQuery, error) {
	rq := requestQuery{status: q.Get("status"), subject: q.Get("subject"), app: q.Get("app")}
	if rq.status != "" && rq.status != statusDecided && !store.Status(rq.status).Valid() {
		return rq, badf("found status %q; expected pending, approved, denied or decided", clip(rq.status))
	}
	var err error
	if rq.limit, rq.before, err = parsePage(q, defaultLimit, maxListLimit); err != nil {
		return rq, err
	}
	return rq, checkNames(rq.subject, rq.app)
}

// checkNames refuses a subject or app filter no store row can match.
func checkNames(subject, app string) error {
	for _, f := range []struct{ name, v string }{{"subject", subject}, {"app", app}} {
		if utf8.RuneCountInString(f.v) > store.MaxName || !utf8.ValidString(f.v) {
			return badf("%s is not a name the store keeps (at most %d characters of valid text)", f.name, store.MaxName)
		}
	}
	return nil
}

// parsePage reads limit (clamped to max) and before.
func parsePage(q url.Values, def, max int) (limit int, before int64, err error) {
	limit = def
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, badf("found limit %q; expected a positive whole number", clip(v))
		}
		limit = min(n, max)
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return 0, 0, badf("found before %q; expected the positive id the previous page's next cursor gave", clip(v))
		}
		before = n
	}
	return limit, before, nil
}

// listRequests returns a page of requests, newest first, and the cursor
// of the next page (0 when this is the last).
func (s *server) listRequests(ctx context.Context, q requestQuery) ([]store.Request, int64, error) {
	st, err := s.store()
	if err != nil {
		return nil, 0, err
	}
	f := store.RequestFilter{Status: store.Status(q.status), Subject: q.subject, App: q.app, Limit: q.limit + 1, BeforeID: q.before}
	rs, err := st.Requests(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	if len(rs) > q.limit {
		rs = rs[:q.limit]
		return rs, rs[len(rs)-1].ID, nil
	}
	return rs, 0, nil
}

// grantQuery selects grants for a listing.
type grantQuery struct {
	active       bool
	subject, app string
	limit        int
	before       int64
}

// listGrants returns a page of grants, newest first, and the next cursor.
func (s *server) listGrants(ctx context.Context, q grantQuery) ([]store.Grant, int64, error) {
	st, err := s.store()
	if err != nil {
		return nil, 0, err
	}
	f := store.GrantFilter{Subject: q.subject, App: q.app, Limit: q.limit + 1, BeforeID: q.before}
	if q.active {
		f.ActiveAt = s.now()
	}
	gs, err := st.Grants(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	if len(gs) > q.limit {
		gs = gs[:q.limit]
		return gs, gs[len(gs)-1].ID, nil
	}
	return gs, 0, nil
}

// listAudit returns a page of audit entries, newest first, and the cursor
// of the next page (0 when this is the last).
func (s *server) listAudit(ctx context.Context, limit int, before int64) ([]store.AuditEntry, int64, error) {
	st, err := s.store()
	if err != nil {
		return nil, 0, err
	}
	es, err := st.AuditEntries(ctx, store.AuditFilter{Limit: limit + 1, BeforeID: before})
	if err != nil {
		return nil, 0, err
	}
	if len(es) > limit {
		es = es[:limit]
		return es, es[len(es)-1].ID, nil
	}
	return es, 0, nil
}

// grantOf returns the grant an approved request made, or nil.
func (s *server) grantOf(ctx context.Context, r store.Request) (*store.Grant, error) {
	if r.Status != store.StatusApproved {
		return nil, nil
	}
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	gs, err := st.Grants(ctx, store.GrantFilter{Subject: r.Subject, App: r.App, Limit: store.MaxLimit})
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.RequestID == r.ID {
			return &g, nil
		}
	}
	return nil, nil
}

// conflictError is a decision or revoke that came too late, saying what
// happened first.
type conflictError struct{ msg string }

func (e conflictError) Error() string { return e.msg }
func (e conflictError) Unwrap() error { return store.ErrConflict }

// decide records an admin's decision, then tells the grant cache and the
// webhooks. Deciding a decided request is a conflictError naming who
// decided it.
func (s *server) decide(ctx context.Context, id int64, d store.Decision) (store.Request, *store.Grant, error) {
	st, err := s.store()
	if err != nil {
		return store.Request{}, nil, err
	}
	r, g, err := st.Decide(ctx, id, d)
	if errors.Is(err, store.ErrConflict) {
		if prev, perr := st.Request(ctx, id); perr == nil && prev.Status != store.StatusPending {
			return store.Request{}, nil, conflictError{fmt.Sprintf("request %d was already %s by %s at %s",
				id, prev.Status, prev.DecidedBy, prev.DecidedAt.UTC().Format(time.RFC3339))}
		}
	}
	if err != nil {
		return store.Request{}, nil, err
	}
	if s.o.Invalidate != nil {
		s.o.Invalidate(r.Subject, r.App)
	}
	s.metrics.decisions.WithLabelValues(string(r.Status)).Inc()
	s.notify(r, string(r.Status), r.DecidedBy, r.Message, r.DecidedAt)
	return r, g, nil
}

// revoke ends a grant now, then tells the grant cache and, for a grant an
// approval made, the webhooks.
func (s *server) revoke(ctx context.Context, id int64, by string) (store.Grant, error) {
	st, err := s.store()
	if err != nil {
		return store.Grant{}, err
	}
	g, err := st.RevokeGrant(ctx, id, by)
	if errors.Is(err, store.ErrConflict) {
		return store.Grant{}, conflictError{fmt.Sprintf("grant %d was already revoked", id)}
	}
	if err != nil {
		return store.Grant{}, err
	}
	if s.o.Invalidate != nil {
		s.o.Invalidate(g.Subject, g.App)
	}
	s.metrics.decisions.WithLabelValues("revoked").Inc()
	if g.RequestID != 0 && s.o.Notifier != nil {
		// The grant is revoked; a failure to describe it only costs the webhook.
		if r, err := st.Request(ctx, g.RequestID); err == nil {
			s.notify(r, "revoked", by, "", g.RevokedAt)
		} else {
			s.log.Warn("admin: revoked grant's request not found for the webhook", "grant", g.ID, "request", g.RequestID, "error", err)
		}
	}
	return g, nil
}

// notify sends a KindRequestDecided event for r with the given outcome.
func (s *server) notify(r store.Request, status, by, msg string, at time.Time) {
	if s.o.Notifier == nil {
		return
	}
	link := ""
	if s.base != "" {
		link = s.requestURL(r.ID)
	}
	s.o.Notifier.Notify(notify.Event{
		Kind: notify.KindRequestDecided, At: at, RequestID: r.ID,
		User: displayUser(r), App: r.App, AppName: s.appName(r.App, r.AppName),
		Justification: r.Justification, Status: status, DecidedBy: by, Message: msg, AdminURL: link,
	})
}

// appName is the display name of app: the catalog's, else the one stored
// with the request, else the id.
func (s *server) appName(id, stored string) string {
	if s.o.AppName != nil {
		if n := s.o.AppName(id); n != "" {
			return n
		}
	}
	if stored != "" {
		return stored
	}
	return id
}

// displayUser is who asked, as admins read it: the user's name, else the
// subject (such as "ip:10.0.0.7").
func displayUser(r store.Request) string {
	if r.User != "" {
		return r.User
	}
	return r.Subject
}

// The JSON shapes of the API. Field names are stable.
type (
	requestJSON struct {
		ID            int64        `json:"id"`
		Subject       string       `json:"subject"`
		User          string       `json:"user,omitempty"`
		App           string       `json:"app"`
		AppName       string       `json:"app_name"`
		Justification string       `json:"justification"`
		URLHost       string       `json:"url_host,omitempty"`
		Status        store.Status `json:"status"`
		CreatedAt     time.Time    `json:"created_at"`
		DecidedBy     string       `json:"decided_by,omitempty"`
		DecidedAt     *time.Time   `json:"decided_at,omitempty"`
		Message       string       `json:"message,omitempty"`
		// GrantFor is an approval's length as a Go duration; GrantSeconds the same in seconds.
		GrantFor     string `json:"grant_for,omitempty"`
		GrantSeconds int64  `json:"grant_seconds,omitempty"`
		AdminURL     string `json:"admin_url"`
	}
	grantJSON struct {
		ID        int64             `json:"id"`
		Subject   string            `json:"subject"`
		App       string            `json:"app"`
		AppName   string            `json:"app_name"`
		Source    store.GrantSource `json:"source"`
		CreatedAt time.Time         `json:"created_at"`
		ExpiresAt time.Time         `json:"expires_at"`
		CreatedBy string            `json:"created_by"`
		RequestID int64             `json:"request_id,omitempty"`
		RevokedAt *time.Time        `json:"revoked_at,omitempty"`
		RevokedBy string            `json:"revoked_by,omitempty"`
		Active    bool              `json:"active"`
	}
	auditJSON struct {
		ID        int64     `json:"id"`
		At        time.Time `json:"at"`
		Actor     string    `json:"actor"`
		Action    string    `json:"action"`
		RequestID int64     `json:"request_id,omitempty"`
		GrantID   int64     `json:"grant_id,omitempty"`
		Subject   string    `json:"subject,omitempty"`
		App       string    `json:"app,omitempty"`
		Detail    string    `json:"detail,omitempty"`
	}
)

func (s *server) requestJSON(r store.Request) requestJSON {
	j := requestJSON{
		ID: r.ID, Subject: r.Subject, User: r.User, App: r.App, AppName: s.appName(r.App, r.AppName),
		Justification: r.Justification, URLHost: r.URLHost, Status: r.Status, CreatedAt: r.CreatedAt,
		DecidedBy: r.DecidedBy, Message: r.Message, AdminURL: s.requestURL(r.ID),
	}
	if !r.DecidedAt.IsZero() {
		j.DecidedAt = &r.DecidedAt
	}
	if r.GrantFor > 0 {
		j.GrantFor, j.GrantSeconds = r.GrantFor.String(), int64(r.GrantFor/time.Second)
	}
	return j
}

func (s *server) grantJSON(g store.Grant) grantJSON {
	j := grantJSON{
		ID: g.ID, Subject: g.Subject, App: g.App, AppName: s.appName(g.App, ""), Source: g.Source,
		CreatedAt: g.CreatedAt, ExpiresAt: g.ExpiresAt, CreatedBy: g.CreatedBy, RequestID: g.RequestID,
		RevokedBy: g.RevokedBy, Active: g.ActiveAt(s.now()),
	}
	if !g.RevokedAt.IsZero() {
		j.RevokedAt = &g.RevokedAt
	}
	return j
}

// fail answers err as JSON.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	f := s.classify(r, err)
	writeJSONError(w, f.status, f.msg)
}

// nextURL is the URL of the next page: the same query with before set.
func nextURL(path string, q url.Values, next int64) string {
	if next == 0 {
		return ""
	}
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("before", strconv.FormatInt(next, 10))
	return path + "?" + v.Encode()
}

// apiRequests serves GET /api/v1/requests?status=&app=&subject=&limit=&before=.
func (s *server) apiRequests(w http.ResponseWriter, r *http.Request) {
	q, err := parseRequestQuery(r.URL.Query(), defaultListLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	rs, next, err := s.listRequests(ctx, q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Requests   []requestJSON `json:"requests"`
		NextBefore int64         `json:"next_before,omitempty"`
		Next       string        `json:"next,omitempty"`
	}{Requests: make([]requestJSON, 0, len(rs)), NextBefore: next, Next: nextURL(r.URL.Path, r.URL.Query(), next)}
	for _, rq := range rs {
		out.Requests = append(out.Requests, s.requestJSON(rq))
	}
	writeJSON(w, http.StatusOK, out)
}

// apiRequest serves GET /api/v1/requests/{id}: the request, and the grant
// its approval made.
func (s *server) apiRequest(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.store()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	rq, err := st.Request(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	g, err := s.grantOf(ctx, rq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeRequest(w, rq, g)
}

// writeRequest answers with a request and the grant its approval made.
func (s *server) writeRequest(w http.ResponseWriter, rq store.Request, g *store.Grant) {
	out := struct {
		Request requestJSON `json:"request"`
		Grant   *grantJSON  `json:"grant,omitempty"`
	}{Request: s.requestJSON(rq)}
	if g != nil {
		gj := s.grantJSON(*g)
		out.Grant = &gj
	}
	writeJSON(w, http.StatusOK, out)
}

// apiApprove serves POST /api/v1/requests/{id}/approve {"duration":"720h","message":"…"}.
func (s *server) apiApprove(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body struct {
		Duration string `json:"duration"`
		Message  string `json:"message"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := parseGrantFor(body.Duration)
	if err == nil {
		err = checkMessage(body.Message, false)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	rq, g, err := s.decide(ctx, id, store.Decision{Approve: true, By: who(r).actor, Message: body.Message, GrantFor: d})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeRequest(w, rq, g)
}

// apiDeny serves POST /api/v1/requests/{id}/deny {"message":"…"}.
func (s *server) apiDeny(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body struct {
		Message string `json:"message"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkMessage(body.Message, true); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	rq, _, err := s.decide(ctx, id, store.Decision{Approve: false, By: who(r).actor, Message: body.Message})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Request requestJSON `json:"request"`
	}{s.requestJSON(rq)})
}

// apiGrants serves GET /api/v1/grants?active=true&subject=&app=&limit=&before=.
// Without active=true it lists all grants, active or not.
func (s *server) apiGrants(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var gq grantQuery
	var err error
	if v := q.Get("active"); v != "" {
		if gq.active, err = strconv.ParseBool(v); err != nil {
			s.fail(w, r, badf("found active %q; expected true or false", clip(v)))
			return
		}
	}
	gq.subject, gq.app = q.Get("subject"), q.Get("app")
	if gq.limit, gq.before, err = parsePage(q, defaultListLimit, maxListLimit); err == nil {
		err = checkNames(gq.subject, gq.app)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	gs, next, err := s.listGrants(ctx, gq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Grants     []grantJSON `json:"grants"`
		NextBefore int64       `json:"next_before,omitempty"`
		Next       string      `json:"next,omitempty"`
	}{Grants: make([]grantJSON, 0, len(gs)), NextBefore: next, Next: nextURL(r.URL.Path, q, next)}
	for _, g := range gs {
		out.Grants = append(out.Grants, s.grantJSON(g))
	}
	writeJSON(w, http.StatusOK, out)
}

// apiRevoke serves POST /api/v1/grants/{id}/revoke. It takes no body.
func (s *server) apiRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	g, err := s.revoke(ctx, id, who(r).actor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Grant grantJSON `json:"grant"`
	}{s.grantJSON(g)})
}

// apiAudit serves GET /api/v1/audit?limit=&before=: the newest entries
// first, a page at a time, as the other listings.
func (s *server) apiAudit(w http.ResponseWriter, r *http.Request) {
	limit, before, err := parsePage(r.URL.Query(), defaultAuditLimit, store.MaxLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	es, next, err := s.listAudit(ctx, limit, before)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Entries    []auditJSON `json:"entries"`
		NextBefore int64       `json:"next_before,omitempty"`
		Next       string      `json:"next,omitempty"`
	}{Entries: make([]auditJSON, 0, len(es)), NextBefore: next, Next: nextURL(r.URL.Path, r.URL.Query(), next)}
	for _, e := range es {
		out.Entries = append(out.Entries, auditJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
}

// apiReload serves POST /api/v1/reload.
func (s *server) apiReload(w http.ResponseWriter, r *http.Request) {
	s.log.Info("admin: configuration reload requested", "actor", who(r).actor)
	status, err := s.o.Reload()
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":  "the configuration was refused; the running configuration stays",
			"status": http.StatusUnprocessableEntity, "problems": strings.Split(err.Error(), "\n"),
		})
		return
	}
	writeJSON(w, http.StatusOK, status)
}
