package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/elazarl/goproxy"
)

// accept tunnels a CONNECT untouched.
var accept = &goproxy.ConnectAction{Action: goproxy.ConnectAccept}

// handleConnect decides a CONNECT once for the whole tunnel. goproxy calls
// it with the CONNECT's authority; the host it returns is what is dialed,
// so Signpost returns the normalised host it classified.
func (g *Gateway) handleConnect(authority string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	rs := g.rules.Load()
	v := &verdict{kind: KindConnect, ref: newRef(), start: time.Now()}
	id, ref := g.who(rs, ctx.Req)
	v.id = id
	if ref != nil {
		return g.rejectConnect(ctx, v, ref), authority
	}
	host, port, err := splitHostPort(authority)
	if err != nil {
		return g.rejectConnect(ctx, v, &refusal{status: http.StatusBadRequest, reason: "bad_host",
			msg: "Signpost: CONNECT needs host:port."}), authority
	}
	if !portAllowed(rs.cfg.Proxy.ConnectPorts, port) {
		return g.rejectConnect(ctx, v, &refusal{status: http.StatusForbidden, reason: "port",
			msg: fmt.Sprintf("Signpost: CONNECT to port %d is not allowed.", port)}), authority
	}
	hm, err := rs.cfg.Matcher.Lookup(host)
	if err != nil {
		return g.rejectConnect(ctx, v, &refusal{status: http.StatusBadRequest, reason: "bad_host",
			msg: "Signpost: malformed host name."}), authority
	}
	v.host, v.app = hm, hm.App
	v.sub = subject(id)
	v.decision, v.split = g.decideHost(rs, hm, id, v.sub)
	hostport := net.JoinHostPort(hm.Host, strconv.Itoa(port))

	if !v.split && !v.decision.Action.Intercepts() {
		g.record(v, http.StatusOK)
		return g.acceptTunnel(ctx, v, hostport), hostport
	}
	if g.mitm == nil {
		// Without a CA the page cannot be shown over HTTPS. A split host is
		// decided by its host-level rule; a page-worthy one is refused with
		// a reason the client can read.
		if !v.decision.Action.Intercepts() {
			g.record(v, http.StatusOK)
			return g.acceptTunnel(ctx, v, hostport), hostport
		}
		return g.rejectConnect(ctx, v, &refusal{status: http.StatusForbidden, reason: "no_ca", msg: fmt.Sprintf(
			"Signpost: %s is under %s by policy (%s); HTTPS interception is not configured, so the explanation page cannot be shown.",
			appName(v), v.decision.Action, v.decision.Reason)}), authority
	}
	origin := hostForURL(hm.Host)
	if port != 443 {
		origin = hostport
	}
	ctx.UserData = &tunnel{id: id, host: hm, hostport: hostport, authority: origin, verdict: v,
		conn: interceptConn(ctx.Req, rs.cfg.Proxy.ReadHeaderTimeout), idle: rs.cfg.Proxy.IdleTimeout,
		maxHeader: int64(rs.cfg.Proxy.MaxHeaderBytes)}
	g.record(v, http.StatusOK)
	return g.mitm, hostport
}

// acceptTunnel returns the action that tunnels an allowed CONNECT
// untouched. On a connection the proxy's own server accepted, Signpost
// relays the tunnel itself (relay.go: two goroutines with small stacks per
// tunnel instead of goproxy's three); otherwise goproxy relays it, and the
// CONNECT's context tells the dialer to track the upstream side.
func (g *Gateway) acceptTunnel(ctx *goproxy.ProxyCtx, v *verdict, hostport string) *goproxy.ConnectAction {
	info := tunnelInfo{id: v.id, host: v.host.Host, app: labelApp(v.app), ref: v.ref}
	if ci := relayConn(ctx.Req); ci != nil && g.relay != nil {
		ctx.UserData = &relayDest{info: info, hostport: hostport, conn: ci}
		return g.relay
	}
	ctx.Req = ctx.Req.WithContext(context.WithValue(ctx.Req.Context(), tunnelKey{}, &info))
	return accept
}

// rejectConnect answers a CONNECT with an error status. goproxy writes
// ctx.Resp to the client and closes the connection.
func (g *Gateway) rejectConnect(ctx *goproxy.ProxyCtx, v *verdict, r *refusal) *goproxy.ConnectAction {
	resp := goproxy.NewResponse(ctx.Req, goproxy.ContentTypeText+"; charset=utf-8", r.status, r.msg+"\n")
	if r.auth {
		resp.Header.Set("Proxy-Authenticate", g.rules.Load().auth.Challenge())
	}
	resp.Header.Set("Connection", "close")
	resp.Close = true
	ctx.Resp = resp
	g.refused(v, r)
	return &goproxy.ConnectAction{Action: goproxy.ConnectReject}
}

// connectionError is goproxy's ConnectionErrHandler: a tunnel's dial
// failed. It writes a status line with a short, non-revealing reason;
// Go's error text goes to the log only.
func (g *Gateway) connectionError(w io.Writer, ctx *goproxy.ProxyCtx, err error) {
	status, reason, msg := upstreamStatus(err)
	ref := newRef()
	g.log.Warn("upstream connect failed", LogRef, ref, LogHost, ctx.Req.Host, LogError, err.Error(), LogReason, reason)
	g.metrics.upstreamErrors.WithLabelValues(reason).Inc()
	body := fmt.Sprintf("Signpost: %s (reference %s)\n", msg, ref)
	_, _ = fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// upstreamStatus maps an upstream failure to the status, metric label and
// message the client sees.
func upstreamStatus(err error) (int, string, string) {
	var de *DestinationError
	if errors.As(err, &de) {
		return http.StatusForbidden, "destination", "this destination is not allowed through the proxy."
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout, "timeout", "the site did not answer in time."
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return http.StatusBadGateway, "dns", "the site's name could not be resolved."
	}
	return http.StatusBadGateway, "connect", "the site could not be reached."
}

func appName(v *verdict) string {
	if v.app != nil {
		return v.app.Name
	}
	if v.host != nil {
		return v.host.Host
	}
	return "this site"
}
