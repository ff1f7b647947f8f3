package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-gateway/signpost/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// adminCSS is the pages' one stylesheet, inlined into each page and
// allowed by its hash (cssHash) in the Content-Security-Policy.
//
//go:embed assets/admin.css
var adminCSS string

// cssHash is the CSP source of adminCSS.
var cssHash = func() string {
	sum := sha256.Sum256([]byte(adminCSS))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}()

// auditPageLimit is how many audit entries the audit page shows.
const auditPageLimit = 200

// pageNames are the page templates; each defines "content" for the layout.
var pageNames = []string{"login", "pending", "history", "grants", "audit", "request", "error", "usage", "discovery", "insights", "config"}

// pages are the parsed templates, by name. They are embedded, so a parse
// error is a build mistake that every test run catches.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{"date": formatDate, "iso": formatISO, "plural": plural}
	m := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		m[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/parts.html", "templates/"+name+".html"))
	}
	return m
}()

func formatDate(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// plural says n of something: "1 request", "3 requests".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func formatISO(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// layout is what every page's frame shows.
type layout struct {
	Title      string
	CSS        template.CSS
	Nav        []navItem
	Actor      string
	LogoutCSRF string
	Flash      string
	Body       any
}

type navItem struct {
	Href, Label string
	Current     bool
}

// navigation lists the sections, marking the current one. Usage and
// discovery are listed only when usage is collected.
func (s *server) navigation(current string) []navItem {
	items := []navItem{{"/", "Pending", false}, {"/history", "History", false}, {"/grants", "Grants", false},
		{"/insights", "Insights", false}}
	if s.o.Usage != nil {
		items = append(items, navItem{"/usage", "Usage", false}, navItem{"/discovery", "Discovery", false})
	}
	items = append(items, navItem{"/audit", "Audit", false})
	if s.o.ConfigStatus != nil {
		items = append(items, navItem{"/config", "Configuration", false})
	}
	for i := range items {
		items[i].Current = items[i].Href == current
	}
	return items
}

// render writes a page. The page is built in memory first, so a template
// error becomes a 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name, title, section string, body any) {
	l := layout{Title: title, CSS: template.CSS(adminCSS), Body: body}
	if id := who(r); id.actor != "" {
		l.Actor, l.Nav = id.actor, s.navigation(section)
		if id.sess != nil {
			l.LogoutCSRF = s.sess.csrf(id.sess.ID, purposeLogout)
		}
	}
	if status == http.StatusOK {
		l.Flash = flash(r.URL.Query())
	}
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", l); err != nil {
		ref := newRef()
		s.log.Error("admin: rendering a page failed", "ref", ref, "page", name, "error", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "internal error (reference %s)\n", ref)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorBody is the error page's content.
type errorBody struct {
	Message string
	Back    string
}

// renderError writes an error page with a message for the admin.
func (s *server) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	back := ""
	if who(r).actor != "" {
		back = "/"
	}
	s.render(w, r, status, "error", http.StatusText(status), "", errorBody{Message: msg, Back: back})
}

// pageFail answers err as an error page.
func (s *server) pageFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errCSRF) {
		s.renderError(w, r, http.StatusForbidden, "This form has expired or did not come from this site. Reload the page and try again.")
		return
	}
	f := s.classify(r, err)
	msg := f.msg
	if f.status == http.StatusNotFound {
		msg = "There is no such request or grant."
	}
	s.renderError(w, r, f.status, msg)
}

// errCSRF means a form's CSRF token is missing or wrong.
var errCSRF = errors.New("CSRF token missing or wrong")

// readForm parses a form post (bounded) and, for a browser session,
// checks its CSRF token for purpose. A bearer token is not sent by
// browsers on their own, so its requests need no CSRF token.
func (s *server) readForm(w http.ResponseWriter, r *http.Request, purpose string) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return badf("the form could not be read")
	}
	if id := who(r); id.sess != nil && !s.sess.checkCSRF(id.sess.ID, purpose, r.PostForm.Get("csrf")) {
		return errCSRF
	}
	return nil
}

// csrfFor returns the CSRF token of r's session for purpose; "" for a
// bearer token.
func (s *server) csrfFor(r *http.Request, purpose string) string {
	if id := who(r); id.sess != nil {
		return s.sess.csrf(id.sess.ID, purpose)
	}
	return ""
}

// Views of store rows, with what the templates show worked out here.
type (
	requestView struct {
		ID            int64
		Who, Subject  string // Subject is "" when it is what Who says
		App, AppName  string
		Justification string
		Host          string
		Status        string
		StatusClass   string
		CreatedAt     time.Time
		DecidedBy     string
		DecidedAt     time.Time
		Message       string
		GrantFor      string
	}
	grantView struct {
		ID           int64
		Who          string
		App, AppName string
		Source       string
		CreatedBy    string
		CreatedAt    time.Time
		ExpiresAt    time.Time
		Forever      bool // made "until revoked"
		RevokedAt    time.Time
		RevokedBy    string
		RequestID    int64
		Active       bool
	}
	durationOption struct {
		Value, Label string
		Selected     bool
	}
	decideForm struct {
		R          requestView
		CSRF, Back string
		Durations  []durationOption
		MaxMessage int
	}
	revokeForm struct {
		G          grantView
		CSRF, Back string
	}
	pager struct {
		First, Next string
	}
)

func (s *server) requestView(r store.Request) requestView {
	v := requestView{
		ID: r.ID, Who: displayUser(r), App: r.App, AppName: s.appName(r.App, r.AppName),
		Justification: r.Justification, Host: r.URLHost, Status: string(r.Status),
		CreatedAt: r.CreatedAt, DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt, Message: r.Message,
	}
	if v.Who != r.Subject {
		v.Subject = r.Subject
	}
	switch r.Status {
	case store.StatusPending, store.StatusApproved, store.StatusDenied:
		v.StatusClass = "state-" + string(r.Status)
	}
	if r.GrantFor > 0 {
		v.GrantFor = humanFor(r.GrantFor)
	}
	return v
}

func (s *server) grantView(g store.Grant) grantView {
	return grantView{
		ID: g.ID, Who: g.Subject, App: g.App, AppName: s.appName(g.App, ""), Source: string(g.Source),
		CreatedBy: g.CreatedBy, CreatedAt: g.CreatedAt, ExpiresAt: g.ExpiresAt,
		Forever:   g.ExpiresAt.Sub(g.CreatedAt) >= store.MaxGrantFor-24*time.Hour,
		RevokedAt: g.RevokedAt, RevokedBy: g.RevokedBy, RequestID: g.RequestID, Active: g.ActiveAt(s.now()),
	}
}

// humanFor says how long an approval lasts: "for 7 days", "until revoked".
func humanFor(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d >= store.MaxGrantFor-day:
		return "until revoked"
	case d == day:
		return "for 1 day"
	case d > day && d%day == 0:
		return fmt.Sprintf("for %d days", d/day)
	case d == time.Hour:
		return "for 1 hour"
	case d > time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("for %d hours", d/time.Hour)
	default:
		return "for " + d.String()
	}
}

func durationOptions() []durationOption {
	out := make([]durationOption, len(grantChoices))
	for i, c := range grantChoices {
		out[i] = durationOption{Value: c.value, Label: c.label, Selected: c.value == defaultGrantChoice}
	}
	return out
}

func (s *server) newDecideForm(r *http.Request, rq store.Request, back string) decideForm {
	return decideForm{
		R: s.requestView(rq), CSRF: s.csrfFor(r, purposeDecide), Back: back,
		Durations: durationOptions(), MaxMessage: store.MaxMessage,
	}
}

func (s *server) newRevokeForm(r *http.Request, g store.Grant, back string) revokeForm {
	return revokeForm{G: s.grantView(g), CSRF: s.csrfFor(r, purposeRevoke), Back: back}
}

// pageOf returns the pager of a listing at path.
func pageOf(path string, before, next int64) *pager {
	p := &pager{}
	if before != 0 {
		p.First = path
	}
	if next != 0 {
		p.Next = path + "?before=" + strconv.FormatInt(next, 10)
	}
	if *p == (pager{}) {
		return nil
	}
	return p
}

// pageLimit is how many rows a listing page shows.
const pageLimit = 50

// pendingPage serves GET /: the pending requests with approve and deny.
func (s *server) pendingPage(w http.ResponseWriter, r *http.Request) {
	q, err := parseRequestQuery(pageQuery(r), pageLimit)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	q.status = string(store.StatusPending)
	ctx, cancel := storeCtx(r)
	defer cancel()
	rs, next, err := s.listRequests(ctx, q)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	body := struct {
		Forms []decideForm
		Pager *pager
	}{Pager: pageOf("/", q.before, next)}
	for _, rq := range rs {
		body.Forms = append(body.Forms, s.newDecideForm(r, rq, "/"))
	}
	s.render(w, r, http.StatusOK, "pending", "Pending requests", "/", body)
}

// pageQuery keeps only the paging parameter of a page's query: the pages
// do not filter.
func pageQuery(r *http.Request) url.Values {
	v := url.Values{}
	if b := r.URL.Query().Get("before"); b != "" {
		v.Set("before", b)
	}
	return v
}

// historyPage serves GET /history: decided requests, newest first.
func (s *server) historyPage(w http.ResponseWriter, r *http.Request) {
	q, err := parseRequestQuery(pageQuery(r), pageLimit)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	q.status = statusDecided
	ctx, cancel := storeCtx(r)
	defer cancel()
	rs, next, err := s.listRequests(ctx, q)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	body := struct {
		Requests []requestView
		Pager    *pager
	}{Pager: pageOf("/history", q.before, next)}
	for _, rq := range rs {
		body.Requests = append(body.Requests, s.requestView(rq))
	}
	s.render(w, r, http.StatusOK, "history", "History", "/history", body)
}

// grantsPage serves GET /grants: active grants with revoke.
func (s *server) grantsPage(w http.ResponseWriter, r *http.Request) {
	limit, before, err := parsePage(pageQuery(r), pageLimit, pageLimit)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	gs, next, err := s.listGrants(ctx, grantQuery{active: true, limit: limit, before: before})
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	body := struct {
		Forms []revokeForm
		Pager *pager
	}{Pager: pageOf("/grants", before, next)}
	for _, g := range gs {
		body.Forms = append(body.Forms, s.newRevokeForm(r, g, "/grants"))
	}
	s.render(w, r, http.StatusOK, "grants", "Active grants", "/grants", body)
}

// auditPage serves GET /audit: audit entries, newest first, a page at a
// time.
func (s *server) auditPage(w http.ResponseWriter, r *http.Request) {
	limit, before, err := parsePage(pageQuery(r), auditPageLimit, auditPageLimit)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	es, next, err := s.listAudit(ctx, limit, before)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	body := struct {
		Entries   []store.AuditEntry
		Pager     *pager
		Retention string
	}{es, pageOf("/audit", before, next), ""}
	if s.o.Retention != nil {
		body.Retention = retentionText(s.o.Retention())
	}
	s.render(w, r, http.StatusOK, "audit", "Audit trail", "/audit", body)
}

// requestPage serves GET /requests/{id}: one request, with its decision
// forms while pending and its grant's revoke once approved. Webhooks link
// here.
func (s *server) requestPage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	st, err := s.store()
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	rq, err := st.Request(ctx, id)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	g, err := s.grantOf(ctx, rq)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	back := "/requests/" + strconv.FormatInt(id, 10)
	body := struct {
		R      requestView
		Decide *decideForm
		Revoke *revokeForm
	}{R: s.requestView(rq)}
	if rq.Status == store.StatusPending {
		f := s.newDecideForm(r, rq, back)
		body.Decide = &f
	}
	if g != nil {
		f := s.newRevokeForm(r, *g, back)
		body.Revoke = &f
	}
	s.render(w, r, http.StatusOK, "request", fmt.Sprintf("Request %d", id), "", body)
}

// approveForm serves POST /requests/{id}/approve (duration, message).
func (s *server) approveForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err == nil {
		err = s.readForm(w, r, purposeDecide)
	}
	var d time.Duration
	msg := r.PostForm.Get("message")
	if err == nil {
		d, err = parseGrantFor(r.PostForm.Get("duration"))
	}
	if err == nil {
		err = checkMessage(msg, false)
	}
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	if _, _, err := s.decide(ctx, id, store.Decision{Approve: true, By: who(r).actor, Message: msg, GrantFor: d}); err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.done(w, r, "approved", id)
}

// denyForm serves POST /requests/{id}/deny (message).
func (s *server) denyForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err == nil {
		err = s.readForm(w, r, purposeDecide)
	}
	msg := r.PostForm.Get("message")
	if err == nil {
		err = checkMessage(msg, true)
	}
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	if _, _, err := s.decide(ctx, id, store.Decision{By: who(r).actor, Message: msg}); err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.done(w, r, "denied", id)
}

// revokeGrantForm serves POST /grants/{id}/revoke.
func (s *server) revokeGrantForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err == nil {
		err = s.readForm(w, r, purposeRevoke)
	}
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	if _, err := s.revoke(ctx, id, who(r).actor); err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.done(w, r, "revoked", id)
}

// done redirects after a form to the page it came from (one of ours,
// never a URL the form names), saying what was done.
func (s *server) done(w http.ResponseWriter, r *http.Request, what string, id int64) {
	http.Redirect(w, r, backTo(r.PostForm.Get("back"))+"?done="+what+"&id="+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

// backTo returns v when it is a page a form may return to, else "/".
func backTo(v string) string {
	switch v {
	case "/", "/history", "/grants":
		return v
	}
	if rest, ok := strings.CutPrefix(v, "/requests/"); ok {
		if n, err := strconv.ParseInt(rest, 10, 64); err == nil && n > 0 && strconv.FormatInt(n, 10) == rest {
			return v
		}
	}
	return "/"
}

// flash says what the last form did, from the redirect's query. Only
// fixed texts and a number are shown.
func flash(q url.Values) string {
	switch q.Get("done") {
	case "reloaded":
		return "Configuration reloaded."
	case "reload-refused":
		return "The new configuration was refused; the one in force stays. The problems are listed below."
	}
	id, err := strconv.ParseInt(q.Get("id"), 10, 64)
	if err != nil || id < 1 {
		return ""
	}
	switch q.Get("done") {
	case "approved":
		return fmt.Sprintf("Request %d approved.", id)
	case "denied":
		return fmt.Sprintf("Request %d denied.", id)
	case "revoked":
		return fmt.Sprintf("Grant %d revoked.", id)
	}
	return ""
}

// loginBody is the sign-in page's content.
type loginBody struct {
	CSRF, Next, Error string
}

// loginPage serves GET /login.
func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, r.URL.Query().Get("next"), "")
}

// renderLogin writes the sign-in form, with a fresh sign-in cookie
// unless the browser has one (so that two open forms both work).
func (s *server) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	nonce := ""
	if c, err := r.Cookie(cookieName(loginCookie, s.secure(r))); err == nil && len(c.Value) == 22 {
		nonce = c.Value
	} else {
		nonce = randomID()
	}
	http.SetCookie(w, newCookie(loginCookie, nonce, loginTTL, s.secure(r)))
	body := loginBody{CSRF: s.sess.loginCSRF(nonce), Next: localNext(next), Error: msg}
	if body.Next == "/" {
		body.Next = ""
	}
	s.render(w, r, status, "login", "Sign in", "", body)
}

// login serves POST /login: a token from the token file starts a session.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, r, http.StatusBadRequest, "", "The form could not be read. Try again.")
		return
	}
	next := r.PostForm.Get("next")
	c, err := r.Cookie(cookieName(loginCookie, s.secure(r)))
	if err != nil || !s.sess.checkLoginCSRF(c.Value, r.PostForm.Get("csrf")) {
		s.renderLogin(w, r, http.StatusForbidden, next, "This sign-in form has expired. Enter the token again.")
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	name, ok := s.bearer("Bearer " + secret)
	if !ok {
		s.log.Warn("admin: sign-in refused: token not accepted", "remote", r.RemoteAddr)
		s.renderLogin(w, r, http.StatusUnauthorized, next, "That token is not accepted.")
		return
	}
	sess := s.sess.newSession(Token{Name: name, Secret: secret}, s.now())
	http.SetCookie(w, newCookie(sessionCookie, s.sess.encode(sess), sessionTTL, s.secure(r)))
	http.SetCookie(w, newCookie(loginCookie, "", 0, s.secure(r)))
	s.log.Info("admin: signed in", "actor", name, "remote", r.RemoteAddr)
	http.Redirect(w, r, localNext(next), http.StatusSeeOther)
}

// logout serves POST /logout: the session ends here and in the browser.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	id := who(r)
	if id.sess != nil {
		if err := s.readForm(w, r, purposeLogout); err != nil {
			s.pageFail(w, r, err)
			return
		}
		s.sess.end(*id.sess, s.now())
		http.SetCookie(w, newCookie(sessionCookie, "", 0, s.secure(r)))
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// loginURL is the sign-in page, returning to next afterwards.
func loginURL(next string) string {
	if next = localNext(next); next == "/" {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(next)
}

// localNext returns v when it is a path on this listener to return to
// after signing in, else "/": never another host ("//evil",
// "/\evil", "https://evil"), never the sign-in or sign-out pages.
func localNext(v string) string {
	if len(v) > 2048 || !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\") {
		return "/"
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	if u.Path == "/login" || u.Path == "/logout" {
		return "/"
	}
	return v
}

// retentionText says for how long the store keeps what is over, for a
// sentence after "kept": "for 365 days", "for 36h0m0s", "for ever".
func retentionText(d time.Duration) string {
	switch {
	case d <= 0:
		return "for ever"
	case d%(24*time.Hour) == 0:
		return "for " + plural(int(d/(24*time.Hour)), "day", "days")
	default:
		return "for " + d.String()
	}
}
