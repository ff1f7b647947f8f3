package proxy

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/signpost-gateway/signpost/classify"
	"github.com/signpost-gateway/signpost/identity"
	"github.com/signpost-gateway/signpost/policy"
)

// Kind says on which path a decision was made.
type Kind uint8

// Decision kinds.
const (
	// KindConnect is a CONNECT request, decided once per tunnel.
	KindConnect Kind = iota
	// KindHTTP is a plain-HTTP request.
	KindHTTP
	// KindIntercepted is a request inside an intercepted tunnel.
	KindIntercepted
)

// String names the kind for logs and metric labels.
func (k Kind) String() string {
	switch k {
	case KindConnect:
		return "connect"
	case KindHTTP:
		return "http"
	case KindIntercepted:
		return "intercepted"
	default:
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// verdict is the outcome of deciding one CONNECT or request.
type verdict struct {
	kind  Kind
	ref   string
	start time.Time
	id    identity.Identity
	// sub is subject(id), built once: the key of grants, requests and
	// usage.
	sub      string
	host     *classify.HostMatch
	app      *classify.App
	decision policy.Decision
	// split is set on a CONNECT whose paths lead to different actions:
	// the tunnel is intercepted and each request inside decided alone.
	split bool
	// scheme and authority ("host" or "host:port", as in a URL) name the
	// origin the person is on, for same-origin redirects.
	scheme, authority string
	// tunnel is the intercepted tunnel a request came through, or nil.
	tunnel *tunnel
	// decided is how long the decision took, for a request that is then
	// forwarded (its line is written when the response has been sent).
	decided time.Duration
	// bytes is the response body sent to the client (0 for a CONNECT: its
	// bytes are on the "tunnel closed" line).
	bytes int64
}

// tunnel is what an intercepted CONNECT hands to the requests inside it,
// through goproxy's ProxyCtx.UserData (the only field inner requests
// inherit; GOPROXY-NOTES §2).
type tunnel struct {
	id        identity.Identity
	host      *classify.HostMatch
	hostport  string // what the CONNECT named, normalised: where inner requests go
	authority string // the origin's authority as a browser writes it: no :443
	verdict   *verdict
	// conn is the client connection, when the proxy's own server accepted
	// it: inner requests move its read deadline (see NewServer).
	conn net.Conn
	// idle is how long the client may wait before its next request.
	idle time.Duration
	// maxHeader bounds each request head inside the tunnel.
	maxHeader int64
}

// requestStarted lifts the read deadline while a request's body may still
// be arriving (an upload may take long).
func (t *tunnel) requestStarted() {
	if t != nil && t.conn != nil {
		_ = t.conn.SetReadDeadline(time.Time{})
		if cc, ok := t.conn.(*clientConn); ok {
			cc.limit(0)
		}
	}
}

// responseSent gives the client idle time for its next request head; a
// 101 (WebSocket) keeps no deadline.
func (t *tunnel) responseSent(status int) {
	if t == nil || t.conn == nil || status == http.StatusSwitchingProtocols {
		return
	}
	_ = t.conn.SetReadDeadline(time.Now().Add(t.idle))
	if cc, ok := t.conn.(*clientConn); ok {
		cc.limit(t.maxHeader + recordAllowance)
	}
}

// refusal is a request the proxy answers itself with an error.
type refusal struct {
	status int
	reason string // metric label: client, port, auth, bad_host, no_ca, misdirected, destination, upstream
	msg    string // shown to the client
	auth   bool   // add Proxy-Authenticate
}

func (r *refusal) Error() string { return r.msg }

// clientIP parses the peer address of r.
func clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// who identifies the client and checks that it may use the proxy.
func (g *Gateway) who(rs *ruleset, r *http.Request) (identity.Identity, *refusal) {
	ip := clientIP(r)
	if !ip.IsValid() || !rs.cfg.Proxy.ClientAllowed(ip) {
		return identity.Identity{}, &refusal{status: http.StatusForbidden, reason: "client",
			msg: "Signpost: your address is not allowed to use this proxy."}
	}
	id, err := rs.auth.Identify(r)
	if err != nil {
		var ae *identity.AuthError
		if errors.As(err, &ae) {
			return id, &refusal{status: http.StatusProxyAuthRequired, reason: "auth", auth: true,
				msg: "Signpost: proxy authentication required."}
		}
		return id, &refusal{status: http.StatusForbidden, reason: "auth", msg: "Signpost: cannot identify you."}
	}
	return id, nil
}

// subject is the key grants are stored under: the user, or the client
// address for anonymous users.
func subject(id identity.Identity) string {
	if id.User != "" {
		return id.User
	}
	return "ip:" + id.ClientIP.String()
}

// decide applies the policy to app for id, whose subject is sub.
func (g *Gateway) decide(rs *ruleset, app *classify.App, id identity.Identity, sub string) policy.Decision {
	return rs.cfg.Policy.Decide(policy.DecideArgs{App: app, User: sub, Groups: id.Groups, Grants: g.opts.Grants})
}

// decideHost decides a CONNECT: the host-level app's decision, and whether
// any path rule on the host leads to a different action.
func (g *Gateway) decideHost(rs *ruleset, hm *classify.HostMatch, id identity.Identity, sub string) (policy.Decision, bool) {
	return rs.cfg.Policy.DecideHost(hm, policy.DecideArgs{User: sub, Groups: id.Groups, Grants: g.opts.Grants})
}

// splitHostPort splits a CONNECT authority. A missing port is an error: a
// CONNECT must name one (RFC 9110 §9.3.6).
func splitHostPort(authority string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(authority)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, errors.New("bad port")
	}
	return h, n, nil
}

func portAllowed(ports []int, p int) bool {
	_, ok := slices.BinarySearch(ports, p)
	return ok
}

// newRef makes the short reference shown on pages and logged with the
// decision, so a person's screenshot leads to the log line.
func newRef() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	var b [8]byte
	v := rand.Uint64()
	for i := range b {
		b[i] = alphabet[v%uint64(len(alphabet))]
		v /= uint64(len(alphabet))
	}
	return string(b[:])
}
