package proxy

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/signpost-gateway/signpost/classify"
	"github.com/signpost-gateway/signpost/pages"
	"github.com/signpost-gateway/signpost/policy"
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
	v.decision = g.decide(rs, v.app, id)
	// The request goes to the host that was classified, and says so in its
	// Host header: an absolute URI naming one host with a Host header naming
	// another must not reach a different site than the one decided on.
	if port := req.URL.Port(); port != "" {
		req.URL.Host = net.JoinHostPort(hm.Host, port)
	} else {
		req.URL.Host = hostForURL(hm.Host)
	}
	req.Host = ""
	if v.decision.Action.Intercepts() {
		return req, g.page(req, v)
	}
	return g.forward(rs, req, ctx, v)
}

// handleIntercepted decides one request inside an intercepted tunnel.
func (g *Gateway) handleIntercepted(rs *ruleset, req *http.Request, ctx *goproxy.ProxyCtx, t *tunnel) (*http.Request, *http.Response) {
	v := &verdict{kind: KindIntercepted, ref: newRef(), start: time.Now(), id: t.id}
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
	v.decision = g.decide(rs, v.app, t.id)
	req.URL.Host = t.hostport
	if v.decision.Action.Intercepts() {
		return req, g.page(req, v)
	}
	return g.forward(rs, req, ctx, v)
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
		resp = errorResponse(req, status, "The site could not be reached", "Signpost: "+msg, ref)
	}
	if v != nil {
		g.record(v, resp.StatusCode)
	}
	return resp, nil
}

// page answers a warned or blocked request with the interstitial.
func (g *Gateway) page(req *http.Request, v *verdict) *http.Response {
	d := v.decision
	status := http.StatusOK
	if d.Action == policy.Block {
		status = http.StatusForbidden
	}
	p := pages.Interstitial{
		AppName:   appName(v),
		Host:      v.host.Host,
		Blocked:   d.Action == policy.Block,
		Reason:    d.Rule.Reason,
		Rule:      d.Rule.Scope(),
		Reference: v.ref,
	}
	if alt := d.Rule.Alternative; alt != nil {
		p.AlternativeName, p.AlternativeURL = alt.Name, alt.Homepage
	}
	body, err := pages.Bytes(func(w io.Writer) error { return pages.RenderInterstitial(w, p) })
	if err != nil {
		g.log.Error("rendering the interstitial failed", LogRef, v.ref, LogError, err.Error())
		return errorResponse(req, http.StatusInternalServerError, "Something went wrong", "Signpost could not show its page.", v.ref)
	}
	resp := goproxy.NewResponse(req, "text/html; charset=utf-8", status, string(body))
	pages.SetHeaders(resp.Header)
	g.record(v, status)
	return resp
}

// refuse answers a request the proxy will not handle.
func (g *Gateway) refuse(req *http.Request, v *verdict, r *refusal) *http.Response {
	resp := errorResponse(req, r.status, http.StatusText(r.status), r.msg, v.ref)
	if r.auth {
		resp.Header.Set("Proxy-Authenticate", g.rules.Load().auth.Challenge())
	}
	g.refused(v, r)
	return resp
}

// errorResponse builds an error page, or a JSON object for clients that
// asked for JSON.
func errorResponse(req *http.Request, status int, title, msg, ref string) *http.Response {
	if wantsJSON(req) {
		body := `{"error":` + strconv.Quote(msg) + `,"status":` + strconv.Itoa(status) + `,"reference":` + strconv.Quote(ref) + "}\n"
		resp := goproxy.NewResponse(req, "application/json", status, body)
		resp.Header.Set("Cache-Control", "no-store")
		resp.Header.Set("X-Content-Type-Options", "nosniff")
		return resp
	}
	body, err := pages.Bytes(func(w io.Writer) error {
		return pages.RenderError(w, pages.Error{Status: status, Title: title, Message: msg, Reference: ref})
	})
	if err != nil {
		body = []byte(msg)
	}
	resp := goproxy.NewResponse(req, "text/html; charset=utf-8", status, string(body))
	pages.SetHeaders(resp.Header)
	return resp
}

func wantsJSON(req *http.Request) bool {
	a := req.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
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
