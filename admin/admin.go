// Package admin serves Signpost's admin listener: health and readiness
// probes, Prometheus metrics, configuration reloads, what admins do with
// access requests — list them, approve (for a duration) or deny (with a
// message), revoke grants, read the audit trail — and what they learn from
// the figures — active users against seats, tools outside the catalog that
// people visit, what people ask for and why — both as a JSON API under
// /api/v1/ and as HTML pages for a browser. It has its own mux, separate
// from the proxy port.
//
// Who may do what: every route except /healthz and /readyz (and /metrics
// when Options.MetricsOpen) needs a bearer token from the token file, or a
// browser session made by signing in with one. Tokens are compared as
// SHA-256 sums in constant time, and each token has a name, which the
// access store records as the actor of every decision and revoke.
//
// What it defends against, in the browser:
//   - Forged sessions: the session cookie is HMAC-signed, HttpOnly,
//     SameSite=Strict, Secure (with the __Host- prefix) over HTTPS, and
//     lasts 12 hours; it ends early when its token leaves the token file
//     or it signs out.
//   - Cross-site requests: every unsafe request must be same-origin by
//     Sec-Fetch-Site or Origin (net/http.CrossOriginProtection), every form
//     carries a CSRF token (an HMAC of the session and the form's purpose),
//     and the JSON API takes writes from a session only as
//     application/json, which a cross-site form cannot send.
//   - Injection: pages are html/template with everything people wrote
//     (justifications, names, messages) escaped, one embedded stylesheet
//     allowed by its hash in a Content-Security-Policy that allows nothing
//     else (no script at all), no framing, no referrer, nosniff, no-store.
//   - Open redirects: after signing in or deciding, it redirects only to
//     its own pages.
//
// The package does not decide traffic, hold configuration, keep requests,
// count usage or deliver webhooks: the service package hands it the store,
// the usage tracker, the grant cache's invalidation, the notifier and what
// it shows.
package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signpost-gateway/signpost/notify"
	"github.com/signpost-gateway/signpost/store"
	"github.com/signpost-gateway/signpost/usage"
)

// Options configure the admin handler.
type Options struct {
	// Tokens are the accepted bearer tokens and who holds each. With none,
	// every authenticated route answers 401 and nobody can sign in.
	Tokens []Token
	// TokenSet, when set, is read instead of Tokens at every request, so
	// that its holder can replace the tokens while the listener serves.
	TokenSet *TokenSet
	// Gatherer is what /metrics serves; nil serves no metrics route.
	Gatherer prometheus.Gatherer
	// MetricsOpen serves /metrics without a token, for scrapers that
	// cannot send one; the rest stays authenticated.
	MetricsOpen bool
	// Ready reports whether the node is ready for traffic; nil means ready.
	Ready func() error
	// Degraded, when set, says what works less well than it should ("" for
	// nothing). A degraded node is still ready: /readyz answers 200 with
	// status "degraded" and the reason, so a fleet whose database is down
	// keeps serving from its rules.
	Degraded func() string
	// Reload, when set, serves POST /api/v1/reload: it reloads the
	// configuration and returns what ConfigStatus would then say, or the
	// error that kept the running configuration in place.
	Reload func() (ConfigStatus, error)
	// ConfigStatus, when set, serves GET /api/v1/config: which
	// configuration is live.
	ConfigStatus func() ConfigStatus

	// Store keeps the access requests, grants and audit trail. nil serves
	// the request, grant and audit routes as 503 "no access store".
	Store store.Store
	// Invalidate is called with a request's or grant's subject and app
	// after every decision and revoke, so that the proxy's grant cache
	// (store.GrantCache.Invalidate) sees the change at once. nil means
	// there is nothing to invalidate.
	Invalidate func(subject, app string)
	// Notifier is told of every decision (notify.KindRequestDecided), and
	// of every revoke of a grant that an approval made (with status
	// "revoked"). nil notifies nobody.
	Notifier *notify.Notifier
	// AppName returns the display name of a catalog app id, or "" to show
	// the name stored with the request (or the id). nil means the same.
	AppName func(id string) string
	// BaseURL is how admins reach this listener ("https://signpost-admin.corp.example"),
	// for the links in webhooks; "" makes them relative, which chat tools
	// do not link. An https BaseURL also makes cookies Secure when TLS
	// ends in front of this listener, and its origin is trusted for
	// cross-origin checks when a reverse proxy rewrites the Host.
	BaseURL string
	// SessionKey signs browser sessions and CSRF tokens; it must be at
	// least MinSessionKeyLen bytes, and nodes behind one name must share
	// it. nil (or a shorter key, which is logged) uses a random key, so
	// sessions end when the process does.
	SessionKey []byte
	// Logger receives internal errors (with the reference shown to the
	// admin) and refused configuration. nil discards.
	Logger *slog.Logger
	// Registerer receives the admin metrics (decisions, pending requests);
	// nil registers none.
	Registerer prometheus.Registerer
	// Usage counts active users per app and the unknown domains people
	// visit; it serves GET /api/v1/usage and /api/v1/discovery and the
	// pages /usage and /discovery. It is a func so that a fleet can serve
	// its merged view, which is rebuilt as nodes report. nil answers those
	// with 404 (usage is not collected) and leaves the pages out of the
	// navigation.
	Usage func() *usage.Tracker
	// Retention returns how long the store keeps what is over (the
	// configuration's store.retention, 0 for ever), which the audit page
	// states. nil states nothing.
	Retention func() time.Duration
}

// storeTimeout bounds each request's work in the access store.
const storeTimeout = 10 * time.Second

// maxBody bounds a JSON or form body.
const maxBody = 64 << 10

// New returns the admin listener's handler.
func New(o Options) http.Handler {
	return newServer(o).handler()
}

// TokenSet holds the accepted admin tokens for a listener that may get
// new ones while it serves (a reload re-read the tokens file). A token
// taken out stops working at once, and so does every browser session
// signed in with it.
type TokenSet struct {
	v atomic.Pointer[[]Token]
}

// NewTokenSet returns a set holding tokens.
func NewTokenSet(tokens []Token) *TokenSet {
	ts := &TokenSet{}
	ts.Set(tokens)
	return ts
}

// Set replaces the tokens.
func (ts *TokenSet) Set(tokens []Token) {
	c := slices.Clone(tokens)
	ts.v.Store(&c)
}

// Tokens returns the tokens held.
func (ts *TokenSet) Tokens() []Token {
	return slices.Clone(*ts.v.Load())
}

// server is the admin listener's state, fixed at New but for the tokens
// of a TokenSet.
type server struct {
	o Options
	// set is where the tokens come from; accepted is what they were
	// compiled to, for the slice set held then.
	set      *TokenSet
	accepted atomic.Pointer[acceptedTokens]
	sess     *sessions
	cop      *http.CrossOriginProtection
	log      *slog.Logger
	base     string // BaseURL without a trailing slash
	https    bool   // BaseURL is https
	now      func() time.Time
	metrics  *metrics
	// insightRows bounds the requests, and the grants, that insights
	// reads; insightPage is the most it asks the store for at once.
	insightRows, insightPage int
}

// acceptedTokens are a token slice as the server compares them.
type acceptedTokens struct {
	src    *[]Token
	tokens []tokenSum
	// holders maps a token's fingerprint to its name, to check sessions.
	holders map[string]string
}

// accepting returns the tokens in force, compiling them when the set was
// given new ones since the last call.
func (s *server) accepting() *acceptedTokens {
	src := s.set.v.Load()
	if a := s.accepted.Load(); a != nil && a.src == src {
		return a
	}
	a := &acceptedTokens{src: src, holders: map[string]string{}}
	for _, t := range *src {
		if t.Secret == "" {
			continue
		}
		name := t.Name
		if name == "" {
			name = DefaultActor
		}
		a.tokens = append(a.tokens, tokenSum{name: name, sum: sha256.Sum256([]byte(t.Secret))})
		a.holders[s.sess.fingerprint(t.Secret)] = name
	}
	s.accepted.Store(a)
	return a
}

// tokenSum is an accepted token as compared: the SHA-256 of its secret.
type tokenSum struct {
	name string
	sum  [32]byte
}

func newServer(o Options) *server {
	s := &server{
		o:    o,
		set:  o.TokenSet,
		log:  o.Logger,
		cop:  http.NewCrossOriginProtection(),
		base: strings.TrimRight(o.BaseURL, "/"),
		now:  time.Now,

		insightRows: insightRows,
		insightPage: store.MaxLimit,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.metrics = newMetrics(s)
	if o.Registerer != nil {
		if err := s.metrics.register(o.Registerer); err != nil {
			s.log.Error("admin metrics not registered", "error", err)
		}
	}
	var keyOK bool
	s.sess, keyOK = newSessions(o.SessionKey)
	if o.SessionKey != nil && !keyOK {
		s.log.Error("admin session key is too short; using a random key, so sessions end with this process",
			"length", len(o.SessionKey), "minimum", MinSessionKeyLen)
	}
	if s.set == nil {
		s.set = NewTokenSet(o.Tokens)
	}
	if u, err := url.Parse(s.base); err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") {
		s.https = u.Scheme == "https"
		if err := s.cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			s.log.Error("admin base URL is not a usable origin", "base_url", s.base, "error", err)
		}
	} else if s.base != "" {
		s.log.Error("admin base URL is not an absolute http(s) URL; links in webhooks stay relative", "base_url", s.base)
		s.base = ""
	}
	return s
}

// handler builds the mux. Each route is registered for its method, and
// the bare path answers other methods with 405 after authentication, so
// that an unauthenticated client learns nothing about which routes exist.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.o.Ready != nil {
			if err := s.o.Ready(); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
				return
			}
		}
		if s.o.Degraded != nil {
			if why := s.o.Degraded(); why != "" {
				writeJSON(w, http.StatusOK, map[string]string{"status": "degraded", "reason": why})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if s.o.Gatherer != nil {
		var m http.Handler = promhttp.HandlerFor(s.o.Gatherer, promhttp.HandlerOpts{})
		if !s.o.MetricsOpen {
			m = s.api(m.ServeHTTP)
		}
		mux.Handle("GET /metrics", m)
	}
	if s.o.Reload != nil {
		s.apiRoute(mux, "POST", "/api/v1/reload", s.apiReload)
	}
	if s.o.ConfigStatus != nil {
		s.apiRoute(mux, "GET", "/api/v1/config", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, s.o.ConfigStatus())
		})
	}
	s.apiRoute(mux, "GET", "/api/v1/requests", s.apiRequests)
	s.apiRoute(mux, "GET", "/api/v1/requests/{id}", s.apiRequest)
	s.apiRoute(mux, "POST", "/api/v1/requests/{id}/approve", s.apiApprove)
	s.apiRoute(mux, "POST", "/api/v1/requests/{id}/deny", s.apiDeny)
	s.apiRoute(mux, "GET", "/api/v1/grants", s.apiGrants)
	s.apiRoute(mux, "POST", "/api/v1/grants/{id}/revoke", s.apiRevoke)
	s.apiRoute(mux, "GET", "/api/v1/audit", s.apiAudit)
	s.apiRoute(mux, "GET", "/api/v1/usage", s.apiUsage)
	s.apiRoute(mux, "GET", "/api/v1/discovery", s.apiDiscovery)
	s.apiRoute(mux, "GET", "/api/v1/insights", s.apiInsights)
	mux.Handle("/api/", s.api(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "no such admin route")
	}))

	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.renderError(w, r, http.StatusMethodNotAllowed, "This page takes GET and POST only.")
	})
	s.pageRoute(mux, "POST", "/logout", s.logout)
	s.pageRoute(mux, "GET", "/{$}", s.pendingPage)
	s.pageRoute(mux, "GET", "/history", s.historyPage)
	s.pageRoute(mux, "GET", "/grants", s.grantsPage)
	s.pageRoute(mux, "GET", "/audit", s.auditPage)
	s.pageRoute(mux, "GET", "/usage", s.usagePage)
	s.pageRoute(mux, "GET", "/discovery", s.discoveryPage)
	s.pageRoute(mux, "GET", "/insights", s.insightsPage)
	if s.o.ConfigStatus != nil {
		s.pageRoute(mux, "GET", "/config", s.configPage)
	}
	if s.o.ConfigStatus != nil && s.o.Reload != nil {
		s.pageRoute(mux, "POST", "/config/reload", s.reloadForm)
	}
	s.pageRoute(mux, "GET", "/requests/{id}", s.requestPage)
	s.pageRoute(mux, "POST", "/requests/{id}/approve", s.approveForm)
	s.pageRoute(mux, "POST", "/requests/{id}/deny", s.denyForm)
	s.pageRoute(mux, "POST", "/grants/{id}/revoke", s.revokeGrantForm)
	mux.Handle("/", s.page(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "There is no such page.")
	}))

	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const msg = "cross-origin request refused; use the admin pages on this listener"
		if isAPI(r) {
			writeJSONError(w, http.StatusForbidden, msg)
			return
		}
		s.renderError(w, r, http.StatusForbidden, "This form was sent from another site, so it was refused.")
	}))
	return securityHeaders(s.cop.Handler(mux))
}

// apiRoute serves h for method and path with API authentication, and
// other methods on path with 405.
func (s *server) apiRoute(mux *http.ServeMux, method, path string, h http.HandlerFunc) {
	mux.Handle(method+" "+path, s.api(h))
	mux.Handle(path, s.api(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow(method))
		writeJSONError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+method)
	}))
}

// pageRoute is apiRoute for browser pages.
func (s *server) pageRoute(mux *http.ServeMux, method, path string, h http.HandlerFunc) {
	mux.Handle(method+" "+path, s.page(h))
	mux.Handle(path, s.page(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow(method))
		s.renderError(w, r, http.StatusMethodNotAllowed, "This address does not take "+r.Method+" requests.")
	}))
}

func allow(method string) string {
	if method == "GET" {
		return "GET, HEAD"
	}
	return method
}

// isAPI reports whether r is for the JSON API.
func isAPI(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/")
}

// csp allows the pages' one stylesheet by its hash, and nothing else: no
// script, no images, no framing, forms only to this listener.
var csp = "default-src 'none'; style-src '" + cssHash + "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Content-Security-Policy", csp)
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// identity is who made a request: the token's name, and the session when
// it came by cookie rather than bearer token.
type identity struct {
	actor string
	sess  *session
}

type identityKey struct{}

// who returns the identity the authentication middleware stored.
func who(r *http.Request) identity {
	id, _ := r.Context().Value(identityKey{}).(identity)
	return id
}

// errNoCredentials means the request carried neither a bearer token nor a
// session cookie.
var errNoCredentials = errors.New("no credentials")

// errBadToken means the bearer token is not one of the accepted ones.
var errBadToken = errors.New("bearer token not accepted")

// identify authenticates r: by its Authorization header when it has one
// (a wrong token is refused even with a good cookie beside it), else by
// its session cookie.
func (s *server) identify(r *http.Request) (identity, error) {
	if v := r.Header.Get("Authorization"); v != "" {
		name, ok := s.bearer(v)
		if !ok {
			return identity{}, errBadToken
		}
		return identity{actor: name}, nil
	}
	c, err := r.Cookie(cookieName(sessionCookie, s.secure(r)))
	if err != nil {
		return identity{}, errNoCredentials
	}
	sess, err := s.sess.decode(c.Value, s.now())
	if err != nil {
		return identity{}, err
	}
	if name, ok := s.accepting().holders[sess.Token]; !ok || name != sess.Actor {
		return identity{}, errors.New("session's token is no longer accepted")
	}
	return identity{actor: sess.Actor, sess: &sess}, nil
}

// bearer compares the header's token with every accepted one and returns
// the holder's name. Comparing fixed-size hashes keeps the time
// independent of where the strings differ and of their lengths, and every
// token is compared, so the time does not say which one matched.
func (s *server) bearer(header string) (string, bool) {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || tok == "" {
		return "", false
	}
	got := sha256.Sum256([]byte(tok))
	name, match := "", 0
	for _, t := range s.accepting().tokens {
		if subtle.ConstantTimeCompare(got[:], t.sum[:]) == 1 {
			name, match = t.name, 1
		}
	}
	return name, match == 1
}

// secure reports whether the browser reached this listener over HTTPS,
// directly or (by BaseURL) through a proxy that ended TLS.
func (s *server) secure(r *http.Request) bool {
	return r.TLS != nil || s.https
}

// api authenticates an API route: without valid credentials it answers
// 401 JSON. A write from a browser session must be application/json: a
// cross-site HTML form cannot send that type, and script cannot without a
// CORS preflight, which this listener never grants.
func (s *server) api(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.identify(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="signpost-admin"`)
			writeJSONError(w, http.StatusUnauthorized, "a valid bearer token (or a signed-in session) is required")
			return
		}
		if id.sess != nil && !safeMethod(r.Method) && !isJSON(r) {
			writeJSONError(w, http.StatusForbidden, "a write from a browser session must be sent as application/json")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// page authenticates a browser route: without a session it redirects to
// the sign-in page (a wrong bearer token gets 401). CSRF tokens are
// checked by the form handlers, which know each form's purpose.
func (s *server) page(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.identify(r)
		switch {
		case errors.Is(err, errBadToken):
			w.Header().Set("WWW-Authenticate", `Bearer realm="signpost-admin"`)
			s.renderError(w, r, http.StatusUnauthorized, "That bearer token is not accepted.")
			return
		case err != nil:
			if !errors.Is(err, errNoCredentials) {
				// A stale or forged cookie: drop it, so the browser stops sending it.
				http.SetCookie(w, newCookie(sessionCookie, "", 0, s.secure(r)))
			}
			next := ""
			if r.Method == "GET" || r.Method == "HEAD" {
				next = r.URL.RequestURI()
			}
			http.Redirect(w, r, loginURL(next), http.StatusSeeOther)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

func safeMethod(m string) bool {
	return m == "GET" || m == "HEAD" || m == "OPTIONS"
}

// isJSON reports whether r's body is declared application/json.
func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg, "status": status})
}

// failure is an error as an admin sees it: the status, and a message that
// never carries Go's text for a server-side fault.
type failure struct {
	status int
	msg    string
}

// classify maps an error from the store or from reading the request onto
// its answer, in one place for the API and the pages. Internal errors are
// logged with a short reference that the answer shows.
func (s *server) classify(r *http.Request, err error) failure {
	var (
		bad      badInput
		conflict conflictError
	)
	switch {
	case errors.As(err, &bad):
		return failure{http.StatusBadRequest, bad.msg}
	case errors.As(err, &conflict):
		return failure{http.StatusConflict, conflict.msg}
	case errors.Is(err, errNoStore):
		return failure{http.StatusServiceUnavailable, "no access store is configured on this node"}
	case errors.Is(err, store.ErrNotFound):
		return failure{http.StatusNotFound, "not found"}
	case errors.Is(err, store.ErrConflict):
		return failure{http.StatusConflict, "that was already done"}
	case errors.Is(err, store.ErrInvalid):
		return failure{http.StatusBadRequest, err.Error()}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		return failure{http.StatusServiceUnavailable, "the request was cancelled"}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("admin: access store unavailable", "path", r.URL.Path, "error", err)
		return failure{http.StatusServiceUnavailable, "the access store is unavailable; try again shortly"}
	}
	ref := newRef()
	s.log.Error("admin: internal error", "ref", ref, "path", r.URL.Path, "error", err)
	return failure{http.StatusInternalServerError, "internal error (reference " + ref + ")"}
}

// badInput is a client's mistake, with a message for the client.
type badInput struct{ msg string }

func (e badInput) Error() string { return e.msg }

func badf(format string, a ...any) error { return badInput{fmt.Sprintf(format, a...)} }

// errNoStore means Options.Store is nil.
var errNoStore = errors.New("no access store")

// newRef returns a short reference for an internal error.
func newRef() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// decodeJSON reads one JSON object from r's body into v, refusing unknown
// fields, trailing data and bodies over maxBody.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if !isJSON(r) {
		return badf("send the body as Content-Type: application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			return badf("the body is empty; expected a JSON object")
		case errors.As(err, &tooBig):
			return badf("the body is larger than %d bytes", maxBody)
		}
		return badf("the body is not the JSON object expected: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badf("the body has data after its JSON object")
	}
	return nil
}

// requestURL is the admin page of a request, absolute when BaseURL is set.
func (s *server) requestURL(id int64) string {
	return RequestURL(s.base, id)
}

// RequestURL returns the admin view's page of access request id, under
// base (the admin listener's URL, "" for a relative link). Whoever sends
// a webhook for a new request uses it for the event's AdminURL.
func RequestURL(base string, id int64) string {
	return strings.TrimRight(base, "/") + fmt.Sprintf("/requests/%d", id)
}
