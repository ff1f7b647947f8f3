package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/signpost-gateway/signpost/classify"
	"github.com/signpost-gateway/signpost/pages"
	"github.com/signpost-gateway/signpost/policy"
	"github.com/signpost-gateway/signpost/store"
)

// handleRequest decides a plain-HTTP request, or a request inside an
// intercepted tunnel, and either answers it with a page or lets goproxy
// forward it through roundTrip.
func (g *Gateway) handleRequest(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	rs := g.rules.Load()
	if t, ok := ctx.UserData.(*tunnel); ok {
		return g.handleIntercepted(rs, req, ctx, t)
	}
	v := &verdict{kind: KindHTTP, ref: newRef(), start: time.Now()}
	id, ref := g.who(rs, req)
	v.id = id
	if ref != nil {
		return req, g.refuse(req, v, ref)
	}
	if req.URL.Scheme != "http" {
		return req, g.refuse(req, v, &refusal{status: http.StatusBadRequest, reason: "bad_host",
			msg: "Signpost forwards http:// URLs; use CONNECT for https."})
	}
	hm, err := rs.cfg.Matcher.Lookup(req.URL.Host)
	if err != nil {
		return req, g.refuse(req, v, &refusal{status: http.StatusBadRequest, reason: "bad_host", msg: "Malformed host name."})
	}
	v.host = hm
	v.app, _ = hm.ForPath(req.URL.Path)
	v.sub = subject(id)
	v.decision = g.decide(rs, v.app, id, v.sub)
	// The request goes to the host that was classified, and says so in its
	// Host header: an absolute URI naming one host with a Host header naming
	// another must not reach a different site than the one decided on.
	if port := req.URL.Port(); port != "" {
		req.URL.Host = net.JoinHostPort(hm.Host, port)
	} else {
		req.URL.Host = hostForURL(hm.Host)
	}
	req.Host = ""
	v.scheme, v.authority = "http", req.URL.Host
	if strings.HasPrefix(req.URL.Path, ActionPrefix) {
		return req, g.pageAction(rs, req, v)
	}
	if v.decision.Action.Intercepts() {
		return req, g.page(rs, req, v)
	}
	return g.forward(rs, req, ctx, v)
}

// handleIntercepted decides one request inside an intercepted tunnel.
func (g *Gateway) handleIntercepted(rs *ruleset, req *http.Request, ctx *goproxy.ProxyCtx, t *tunnel) (*http.Request, *http.Response) {
	t.requestStarted()
	v := &verdict{kind: KindIntercepted, ref: newRef(), start: time.Now(), id: t.id, sub: t.verdict.sub, tunnel: t}
	// goproxy builds the inner URL from the inner Host header. A Host (or
	// SNI) naming another site than the CONNECT is domain fronting: refuse.
	inner, err := classify.Normalize(req.URL.Host)
	if err != nil || inner != t.host.Host {
		return req, g.refuse(req, v, &refusal{status: http.StatusMisdirectedRequest, reason: "misdirected",
			msg: "This connection was opened for another host."})
	}
	hm, err := rs.cfg.Matcher.Lookup(t.host.Host)
	if err != nil {
		hm = t.host
	}
	v.host = hm
	v.app, _ = hm.ForPath(req.URL.Path)
	v.decision = g.decide(rs, v.app, t.id, v.sub)
	req.URL.Host = t.hostport
	v.scheme, v.authority = req.URL.Scheme, t.authority
	if strings.HasPrefix(req.URL.Path, ActionPrefix) {
		return req, g.pageAction(rs, req, v)
	}
	if v.decision.Action.Intercepts() {
		return req, g.page(rs, req, v)
	}
	if d, split := g.decideHost(rs, hm, t.id, v.sub); !split && !d.Action.Intercepts() {
		// The whole host is allowed now (a "continue", an approval, or new
		// rules), but the browser reused a connection opened while it was
		// intercepted. Send it back to the same URL on a new connection: its
		// CONNECT is tunneled untouched, so once allowed, an app's traffic
		// never runs through interception. 307 keeps the method and body.
		return req, g.reconnect(req, v)
	}
	return g.forward(rs, req, ctx, v)
}

// reconnect answers with a redirect to the same URL and closes the
// intercepted connection.
func (g *Gateway) reconnect(req *http.Request, v *verdict) *http.Response {
	resp := goproxy.NewResponse(req, "text/plain; charset=utf-8", http.StatusTemporaryRedirect, "")
	resp.Header.Set("Location", v.scheme+"://"+v.authority+req.URL.RequestURI())
	resp.Header.Set("Cache-Control", "no-store")
	resp.Header.Set("Connection", "close")
	resp.Close = true
	g.record(v, http.StatusTemporaryRedirect)
	return resp
}

// hostForURL brackets an IPv6 literal for use in a URL's host.
func hostForURL(h string) string {
	if strings.IndexByte(h, ':') >= 0 {
		return "[" + h + "]"
	}
	return h
}

// forward strips what must not go upstream and lets goproxy send the
// request through roundTrip.
func (g *Gateway) forward(rs *ruleset, req *http.Request, ctx *goproxy.ProxyCtx, v *verdict) (*http.Request, *http.Response) {
	rs.auth.Strip(req.Header)
	removeHopHeaders(req.Header)
	v.decided = time.Since(v.start)
	ctx.UserData = v
	ctx.RoundTripper = goproxy.RoundTripperFunc(g.roundTrip)
	return req, nil
}

// roundTrip sends a forwarded request upstream. A failure becomes a clean
// error page (or JSON for API clients) carrying a reference, never Go's
// error text, on both the plain and the intercepted path.
func (g *Gateway) roundTrip(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Response, error) {
	v, _ := ctx.UserData.(*verdict)
	resp, err := ctx.Proxy.Tr.RoundTrip(req)
	if err != nil {
		status, reason, msg := upstreamStatus(err)
		ref := newRef()
		if v != nil {
			ref = v.ref
		}
		g.log.Warn("upstream request failed", LogRef, ref, LogHost, req.URL.Host, LogError, err.Error(), LogReason, reason)
		g.metrics.upstreamErrors.WithLabelValues(reason).Inc()
		resp = errorResponse(g.rules.Load(), req, status, "", "Signpost: "+msg, ref)
	}
	if v != nil {
		if err == nil {
			g.metrics.ttfb.Observe(time.Since(v.start).Seconds())
		}
		if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
			g.record(v, resp.StatusCode)
		} else {
			// The decision's line is written when the body has been sent, so
			// that it carries the bytes (goproxy always closes the body).
			status := resp.StatusCode
			resp.Body = &countedBody{ReadCloser: resp.Body, done: func(n int64) {
				v.bytes = n
				g.record(v, status)
			}}
		}
	}
	return resp, nil
}

// countedBody counts a response body's bytes and reports them once, on
// Close.
type countedBody struct {
	io.ReadCloser
	n    int64
	once sync.Once
	done func(n int64)
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.done(b.n) })
	return err
}

// page answers a warned or blocked request with the interstitial, or with
// a short JSON explanation for requests that are not page navigations
// (fetch/XHR, API clients).
func (g *Gateway) page(rs *ruleset, req *http.Request, v *verdict) *http.Response {
	d := v.decision
	status := http.StatusOK
	if d.Action == policy.Block {
		status = http.StatusForbidden
	}
	lang := rs.pages.Language(req.Header.Get("Accept-Language"))
	appID, name := "", appName(v)
	if v.app != nil {
		appID = v.app.ID
	}
	if !pages.WantsHTML(req.Header) {
		e := pages.Explanation{Lang: lang, App: appID, AppName: name, Host: v.host.Host, Action: d.Action.String(),
			Reason: d.Rule.Reason, Reference: v.ref, PageURL: v.scheme + "://" + v.authority + "/"}
		if alt := d.Rule.Alternative; alt != nil {
			e.Alternative, e.AlternativeURL = alt.Name, alt.Homepage
		}
		body, err := pages.Bytes(func(w io.Writer) error { return rs.pages.JSON(w, e) })
		if err != nil {
			return g.renderFailed(rs, req, v, err)
		}
		resp := goproxy.NewResponse(req, "application/json", status, string(body))
		pages.SetJSONHeaders(resp.Header)
		v.bytes = int64(len(body))
		g.record(v, status)
		return resp
	}
	p := pages.Interstitial{
		Lang: lang, AppName: name, Host: v.host.Host, Blocked: d.Action == policy.Block,
		Reason: d.Rule.Reason, Rule: d.Rule.Scope(), Reference: v.ref,
		ContinueFor: d.Rule.ContinueFor, JustificationMax: rs.cfg.Requests.JustificationMax,
	}
	if alt := d.Rule.Alternative; alt != nil {
		p.Alternative = &pages.Link{Name: alt.Name, URL: alt.Homepage}
	}
	if v.app != nil && g.opts.Store != nil {
		g.pageState(req.Context(), &p, v)
		ctx, csrf := g.signer.sign(pageContext{Subject: v.sub, App: v.app.ID, Host: v.host.Host,
			Path: req.URL.RequestURI(), Scheme: v.scheme})
		if d.Action == policy.Warn {
			p.Continue = &pages.Form{Action: pathContinue, Context: ctx, CSRF: csrf}
		} else if !p.Pending {
			p.Request = &pages.Form{Action: pathRequest, Context: ctx, CSRF: csrf}
		}
		p.StatusURL = pathRequests
	}
	g.metrics.pageViews.WithLabelValues(labelApp(v.app), d.Action.String()).Inc()
	resp := g.render(rs, req, status, func(w io.Writer) error { return rs.pages.Interstitial(w, p) })
	v.bytes = resp.ContentLength
	g.record(v, status)
	return resp
}

// pageState fills in what the store knows: how many colleagues asked for
// this app, whether this person's request is pending, and the message of a
// denial. A slow or failing store leaves these out; the page still shows.
func (g *Gateway) pageState(parent context.Context, p *pages.Interstitial, v *verdict) {
	ctx, cancel := context.WithTimeout(parent, 500*time.Millisecond)
	defer cancel()
	sub := v.sub
	if n, err := g.colleagues(ctx, v.app.ID); err == nil {
		p.Colleagues = n
	}
	key := personalKey(sub, v.app.ID)
	if st, ok := g.personal.Get(key); ok && time.Since(st.at) < personalTTL {
		p.Pending, p.Denied = st.pending, st.denied
		return
	}
	st := personalState{at: time.Now()}
	pending, err1 := g.opts.Store.PendingFor(ctx, sub, v.app.ID)
	decided, err2 := g.opts.Store.LatestDecided(ctx, sub, v.app.ID)
	st.pending = err1 == nil && pending != nil
	if err2 == nil && decided != nil && decided.Status == store.StatusDenied {
		st.denied = &pages.Denial{At: decided.DecidedAt, Message: decided.Message}
	}
	p.Pending, p.Denied = st.pending, st.denied
	if err1 == nil && err2 == nil {
		g.personal.Add(key, st)
	}
}

// personalState is what a page shows about one person and one app: a
// pending request, a denial. A person reloading a page, or a browser
// fetching it twice, should not cost two database queries each time.
type personalState struct {
	at      time.Time
	pending bool
	denied  *pages.Denial
}

func personalKey(subject, app string) string { return subject + "\x00" + app }

// personalTTL bounds how long an admin's decision may take to show on a
// page: the page is informational, the grant itself is checked apart.
const personalTTL = 5 * time.Second

// colleagues counts the people who asked for app, cached briefly: every
// page view shows it, and it changes only when someone asks.
func (g *Gateway) colleagues(ctx context.Context, app string) (int, error) {
	if e, ok := g.requesters.Get(app); ok && time.Since(e.at) < 30*time.Second {
		return e.n, nil
	}
	n, err := g.opts.Store.CountRequesters(ctx, app)
	if err != nil {
		return 0, err
	}
	g.requesters.Add(app, countAt{n: n, at: time.Now()})
	return n, nil
}

type countAt struct {
	n  int
	at time.Time
}

// render builds an HTML response from a page renderer.
func (g *Gateway) render(rs *ruleset, req *http.Request, status int, fn func(io.Writer) error) *http.Response {
	body, err := pages.Bytes(fn)
	if err != nil {
		return g.renderFailed(rs, req, nil, err)
	}
	resp := goproxy.NewResponse(req, "text/html; charset=utf-8", status, string(body))
	rs.pages.SetHeaders(resp.Header)
	return resp
}

func (g *Gateway) renderFailed(rs *ruleset, req *http.Request, v *verdict, err error) *http.Response {
	ref := newRef()
	if v != nil {
		ref = v.ref
	}
	g.log.Error("rendering a page failed", LogRef, ref, LogError, err.Error())
	resp := goproxy.NewResponse(req, "text/plain; charset=utf-8", http.StatusInternalServerError,
		"Signpost could not show its page (reference "+ref+").\n")
	resp.Header.Set("Cache-Control", "no-store")
	return resp
}

// errorPage answers with an error page in the person's language; msg ""
// uses the page's default text for status.
func (g *Gateway) errorPage(rs *ruleset, req *http.Request, v *verdict, status int, msg string) *http.Response {
	ref := newRef()
	if v != nil {
		ref = v.ref
	}
	return errorResponse(rs, req, status, "", msg, ref)
}

// refuse answers a request the proxy will not handle.
func (g *Gateway) refuse(req *http.Request, v *verdict, r *refusal) *http.Response {
	resp := errorResponse(g.rules.Load(), req, r.status, "", r.msg, v.ref)
	if r.auth {
		resp.Header.Set("Proxy-Authenticate", g.rules.Load().auth.Challenge())
	}
	g.refused(v, r)
	return resp
}

// errorResponse builds an error page, or a JSON object for clients that
// did not ask for a page.
func errorResponse(rs *ruleset, req *http.Request, status int, title, msg, ref string) *http.Response {
	if wantsJSON(req) {
		body := `{"error":` + strconv.Quote(msg) + `,"status":` + strconv.Itoa(status) + `,"reference":` + strconv.Quote(ref) + "}\n"
		resp := goproxy.NewResponse(req, "application/json", status, body)
		pages.SetJSONHeaders(resp.Header)
		return resp
	}
	lang := rs.pages.Language(req.Header.Get("Accept-Language"))
	body, err := pages.Bytes(func(w io.Writer) error {
		return rs.pages.Error(w, pages.Error{Lang: lang, Status: status, Title: title, Message: msg, Reference: ref})
	})
	if err != nil {
		body = []byte(msg)
	}
	resp := goproxy.NewResponse(req, "text/html; charset=utf-8", status, string(body))
	rs.pages.SetHeaders(resp.Header)
	return resp
}

func wantsJSON(req *http.Request) bool { return !pages.WantsHTML(req.Header) }

// handleResponse removes the origin's hop-by-hop headers (RFC 9110
// §7.6.1; a 101 keeps its Upgrade), and closes the client connection after
// a request whose body was chunked: net/http hides whether it also carried
// a Content-Length, and RFC 9112 §6.1 says to close after such a request,
// so that a front end framing it differently cannot smuggle a second one.
func (g *Gateway) handleResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	if resp == nil {
		return nil
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		for _, v := range resp.Header["Connection"] {
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f != "" {
					resp.Header.Del(f)
				}
			}
		}
		for _, k := range hopHeaders {
			resp.Header.Del(k)
		}
	}
	if ctx.Req != nil && len(ctx.Req.TransferEncoding) > 0 {
		resp.Close = true
	}
	switch u := ctx.UserData.(type) {
	case *tunnel:
		u.responseSent(resp.StatusCode)
	case *verdict:
		u.tunnel.responseSent(resp.StatusCode)
	}
	if resp.Close {
		resp.Header.Set("Connection", "close")
	}
	return resp
}

// hopHeaders are removed from requests before they go upstream (RFC 9110
// §7.6.1), as net/http/httputil.ReverseProxy does.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopHeaders removes hop-by-hop headers and those named in
// Connection. A WebSocket upgrade keeps "Connection: Upgrade" and
// "Upgrade", which goproxy relays.
func removeHopHeaders(h http.Header) {
	upgrade := ""
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if strings.EqualFold(f, "upgrade") {
				upgrade = h.Get("Upgrade")
				continue
			}
			if f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	if upgrade != "" {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", upgrade)
	}
}
