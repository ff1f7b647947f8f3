package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/signpost-gateway/signpost/admin"
	"github.com/signpost-gateway/signpost/classify"
	"github.com/signpost-gateway/signpost/notify"
	"github.com/signpost-gateway/signpost/pages"
	"github.com/signpost-gateway/signpost/policy"
	"github.com/signpost-gateway/signpost/store"
)

// ActionPrefix is the path under which a page's actions are served, on the
// very host the page was shown for (same origin: the browser posts to the
// host it is on, inside the intercepted connection).
const ActionPrefix = "/.signpost/"

// Paths of the page actions.
const (
	pathContinue = ActionPrefix + "continue"
	pathRequest  = ActionPrefix + "request"
	pathRequests = ActionPrefix + "requests"
)

// maxFormBytes bounds a page action's body.
const maxFormBytes = 16 << 10

// storeTimeout bounds every store call a page makes: a slow database makes
// a page plainer, never slower.
const storeTimeout = 2 * time.Second

// pageAction serves a request under ActionPrefix.
func (g *Gateway) pageAction(rs *ruleset, req *http.Request, v *verdict) *http.Response {
	switch {
	case req.URL.Path == pathContinue && req.Method == http.MethodPost:
		return g.actContinue(rs, req, v)
	case req.URL.Path == pathRequest && req.Method == http.MethodPost:
		return g.actRequest(rs, req, v)
	case req.URL.Path == pathRequests && (req.Method == http.MethodGet || req.Method == http.MethodHead):
		return g.actStatus(rs, req, v, req.URL.Query().Get("received") == "1")
	case req.URL.Path == pathContinue || req.URL.Path == pathRequest || req.URL.Path == pathRequests:
		resp := g.errorPage(rs, req, v, http.StatusMethodNotAllowed, "")
		resp.Header.Set("Allow", "POST")
		return resp
	default:
		return g.errorPage(rs, req, v, http.StatusNotFound, "")
	}
}

// formValues reads a page action's form, refusing oversized bodies and
// cross-site posts. The signed context and CSRF token are checked by the
// caller; this is the first line: the browser's own word on where the post
// came from.
func (g *Gateway) formValues(req *http.Request, v *verdict) (url.Values, int) {
	if site := req.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return nil, http.StatusForbidden
	}
	if origin := req.Header.Get("Origin"); origin != "" && origin != "null" {
		u, err := url.Parse(origin)
		if err != nil {
			return nil, http.StatusForbidden
		}
		if h, err := classify.Normalize(u.Host); err != nil || h != v.host.Host {
			return nil, http.StatusForbidden
		}
	}
	ct := req.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, http.StatusUnsupportedMediaType
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxFormBytes+1))
	if err != nil {
		return nil, http.StatusBadRequest
	}
	if len(body) > maxFormBytes {
		return nil, http.StatusRequestEntityTooLarge
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, http.StatusBadRequest
	}
	return vals, 0
}

// checkForm verifies a posted form's signed context for this person and
// this host.
func (g *Gateway) checkForm(rs *ruleset, req *http.Request, v *verdict) (pageContext, url.Values, *http.Response) {
	vals, status := g.formValues(req, v)
	if status != 0 {
		return pageContext{}, nil, g.errorPage(rs, req, v, status, "")
	}
	c, err := g.signer.verify(vals.Get(pages.FieldContext), vals.Get(pages.FieldCSRF), v.sub, time.Now())
	if err == nil && c.Host != v.host.Host {
		err = errBadForm
	}
	if err != nil {
		msg := "This form is not valid any more. Go back, reload the page and try again."
		if errors.Is(err, errReplayed) {
			msg = "This form was already sent."
		}
		return c, nil, g.errorPage(rs, req, v, http.StatusForbidden, msg)
	}
	app := rs.cfg.App(c.App)
	if app == nil {
		return c, nil, g.errorPage(rs, req, v, http.StatusConflict, "This app is no longer in the catalog.")
	}
	v.app = app
	v.decision = g.decide(rs, app, v.id, v.sub)
	return c, vals, nil
}

// returnURL is where "continue" leads: the page's own host, with the path
// and query the person asked for. It is built from the signed context and
// the host of this connection, so it can never lead elsewhere.
func returnURL(c pageContext, v *verdict) string {
	p := c.Path
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		p = "/"
	}
	scheme := "https"
	if c.Scheme == "http" {
		scheme = "http"
	}
	return scheme + "://" + v.authority + p
}

func (g *Gateway) actContinue(rs *ruleset, req *http.Request, v *verdict) *http.Response {
	c, _, bad := g.checkForm(rs, req, v)
	if bad != nil {
		return bad
	}
	d := v.decision
	if d.Action == policy.Block {
		return g.errorPage(rs, req, v, http.StatusForbidden, "This app is blocked: you can request access instead.")
	}
	if d.Action == policy.Warn {
		if g.opts.Store == nil {
			return g.errorPage(rs, req, v, http.StatusServiceUnavailable, "")
		}
		now := time.Now()
		limit := rs.cfg.Requests.ContinuesPerHour
		if !g.continues.allow(v.sub, limit, now) {
			return g.errorPage(rs, req, v, http.StatusTooManyRequests, "")
		}
		ctx, cancel := context.WithTimeout(req.Context(), storeTimeout)
		defer cancel()
		if g.overFleetLimit(ctx, v, now, func(a store.Activity) int { return a.Continues }, limit) {
			return g.errorPage(rs, req, v, http.StatusTooManyRequests, "")
		}
		if !g.signer.consume(c) {
			return g.errorPage(rs, req, v, http.StatusForbidden, "This form was already sent.")
		}
		_, err := g.opts.Store.AddGrant(ctx, store.Grant{
			Subject: v.sub, App: v.app.ID, Source: store.SourceContinue,
			CreatedAt: now, ExpiresAt: now.Add(d.Rule.ContinueFor), CreatedBy: v.sub,
		})
		if err != nil {
			g.log.Error("storing a continue failed", LogRef, v.ref, LogApp, v.app.ID, LogError, err.Error())
			return g.errorPage(rs, req, v, http.StatusServiceUnavailable, "")
		}
		g.metrics.continues.WithLabelValues(v.app.ID).Inc()
		v.decision.Action, v.decision.Reason, v.decision.Grant = policy.Allow, policy.ReasonGrant, policy.ContinueGrant
	}
	// 303 sends the browser back with a GET. Closing this intercepted
	// connection makes the browser open a new CONNECT, which the grant now
	// lets through untouched: the app's own traffic (websockets, HTTP/2)
	// never runs through interception once allowed.
	resp := goproxy.NewResponse(req, "text/plain; charset=utf-8", http.StatusSeeOther, "")
	resp.Header.Set("Location", returnURL(c, v))
	resp.Header.Set("Cache-Control", "no-store")
	resp.Header.Set("Connection", "close")
	resp.Close = true
	g.record(v, http.StatusSeeOther)
	return resp
}

func (g *Gateway) actRequest(rs *ruleset, req *http.Request, v *verdict) *http.Response {
	c, vals, bad := g.checkForm(rs, req, v)
	if bad != nil {
		return bad
	}
	if g.opts.Store == nil {
		return g.errorPage(rs, req, v, http.StatusServiceUnavailable, "")
	}
	justification, err := pages.CheckJustification(vals.Get(pages.FieldJustification), rs.cfg.Requests.JustificationMax)
	if err != nil {
		return g.errorPage(rs, req, v, http.StatusBadRequest,
			"Please say in a few words what you need this app for (at most "+strconv.Itoa(rs.cfg.Requests.JustificationMax)+" characters).")
	}
	sub := v.sub
	now := time.Now()
	limit := rs.cfg.Requests.RequestsPerHour
	if !g.requests.allow(sub, limit, now) {
		return g.errorPage(rs, req, v, http.StatusTooManyRequests, "")
	}
	ctx, cancel := context.WithTimeout(req.Context(), storeTimeout)
	defer cancel()
	if p, err := g.opts.Store.PendingFor(ctx, sub, v.app.ID); err == nil && p != nil {
		return g.seeOther(req, pathRequests)
	}
	if g.overFleetLimit(ctx, v, now, func(a store.Activity) int { return a.Requests }, limit) {
		return g.errorPage(rs, req, v, http.StatusTooManyRequests, "")
	}
	if !g.signer.consume(c) {
		return g.errorPage(rs, req, v, http.StatusForbidden, "This form was already sent.")
	}
	r, err := g.opts.Store.CreateRequest(ctx, store.Request{
		Subject: sub, User: v.id.User, App: v.app.ID, AppName: v.app.Name,
		Justification: justification, URLHost: v.host.Host,
	})
	if errors.Is(err, store.ErrConflict) {
		// Another click or node was first: the request exists.
		g.personal.Remove(personalKey(sub, v.app.ID))
		return g.seeOther(req, pathRequests)
	}
	if err != nil {
		g.signer.release(c)
		g.log.Error("storing an access request failed", LogRef, v.ref, LogApp, v.app.ID, LogError, err.Error())
		return g.errorPage(rs, req, v, http.StatusServiceUnavailable, "")
	}
	g.personal.Remove(personalKey(sub, v.app.ID))
	g.requesters.Remove(v.app.ID)
	g.metrics.accessRequests.WithLabelValues(v.app.ID).Inc()
	// Stored first, then announced: a failing webhook never loses or
	// delays the request.
	if g.opts.Notifier != nil {
		g.opts.Notifier.Notify(notify.Event{
			Kind: notify.KindRequestCreated, At: r.CreatedAt, RequestID: r.ID, User: r.User,
			App: r.App, AppName: r.AppName, Justification: r.Justification, Status: string(r.Status),
			AdminURL: g.adminRequestURL(rs, r.ID),
		})
	}
	g.log.Info("access requested", LogRef, v.ref, LogUser, v.id.User, LogClient, v.id.ClientIP.String(), LogApp, v.app.ID, "request_id", r.ID)
	return g.seeOther(req, pathRequests+"?received=1")
}

// overFleetLimit reports whether the person already did, in the past
// hour, limit of what count picks from the store's activity: the store
// counts what every node stored, so an hourly limit holds across a fleet
// (the in-memory limiter before it counts this node's attempts only). A
// store that does not answer enforces nothing here; the write after it
// fails on its own.
func (g *Gateway) overFleetLimit(ctx context.Context, v *verdict, now time.Time, count func(store.Activity) int, limit int) bool {
	a, err := g.opts.Store.Activity(ctx, v.sub, now.Add(-time.Hour))
	if err != nil {
		g.log.Warn("reading a person's recent actions failed; the hourly limit holds on this node only",
			LogRef, v.ref, LogError, err.Error())
		return false
	}
	return count(a) >= limit
}

func (g *Gateway) adminRequestURL(rs *ruleset, id int64) string {
	if rs.cfg.Admin.URL == "" {
		return ""
	}
	return admin.RequestURL(rs.cfg.Admin.URL, id)
}

// seeOther redirects within the same origin.
func (g *Gateway) seeOther(req *http.Request, path string) *http.Response {
	resp := goproxy.NewResponse(req, "text/plain; charset=utf-8", http.StatusSeeOther, "")
	resp.Header.Set("Location", path)
	resp.Header.Set("Cache-Control", "no-store")
	return resp
}

func (g *Gateway) actStatus(rs *ruleset, req *http.Request, v *verdict, received bool) *http.Response {
	if g.opts.Store == nil {
		return g.errorPage(rs, req, v, http.StatusNotFound, "")
	}
	ctx, cancel := context.WithTimeout(req.Context(), storeTimeout)
	defer cancel()
	list, err := g.opts.Store.Requests(ctx, store.RequestFilter{Subject: v.sub, Limit: 50})
	if err != nil {
		g.log.Error("reading access requests failed", LogRef, v.ref, LogError, err.Error())
		return g.errorPage(rs, req, v, http.StatusServiceUnavailable, "")
	}
	lang := rs.pages.Language(req.Header.Get("Accept-Language"))
	s := pages.Status{Lang: lang, User: v.id.User}
	if received {
		s.Notice = pages.NoticeRequestReceived
	}
	for _, r := range list {
		rv := pages.RequestView{AppName: r.AppName, Justification: r.Justification, State: string(r.Status),
			CreatedAt: r.CreatedAt, DecidedAt: r.DecidedAt, Message: r.Message}
		if r.Status == store.StatusApproved && r.GrantFor > 0 {
			rv.Until = r.DecidedAt.Add(r.GrantFor)
		}
		s.Requests = append(s.Requests, rv)
	}
	return g.render(rs, req, http.StatusOK, func(w io.Writer) error { return rs.pages.Status(w, s) })
}
