// Package identity works out who a proxy request comes from: the client's IP address, a user
// proven by Proxy-Authorization Basic credentials checked against an htpasswd file (bcrypt
// only), or a user named by an identity header that only trusted peers (another gateway in
// front of Signpost) may set; and the groups that user belongs to.
//
// It does not decide what a user may do (policy does), does not read files (the config
// package reads the htpasswd file and hands its bytes to ParseHtpasswd), and does not know
// goproxy: the proxy calls Identify once per CONNECT or plain HTTP request, answers an
// *AuthError with 407 and Challenge, and calls Strip before anything goes upstream.
//
// What it defends against:
//   - Passwords never leave Identify: they are not logged, not put in errors and not kept.
//     The verification cache holds only a salted SHA-256 of user and password.
//   - bcrypt costs tens of milliseconds per check, so a successful check is cached (bounded
//     LRU, short TTL), identical checks in flight share one bcrypt run, and at most
//     GOMAXPROCS checks run at once: a flood of wrong passwords queues behind that limit
//     instead of taking every core from the proxy.
//   - An unknown user costs the same bcrypt comparison as a known one, so response time does
//     not reveal which users exist.
//   - The identity header is believed only from TrustedPeers. From anyone else it is ignored,
//     and Strip removes it so it never reaches an upstream.
package identity

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Identity is who a request comes from, as established by Identify.
type Identity struct {
	// ClientIP is the TCP peer (from the request's RemoteAddr) with an IPv4-mapped IPv6
	// address turned into plain IPv4. It is the zero Addr when RemoteAddr does not parse.
	ClientIP netip.Addr
	// User is the authenticated user name, or "" when the request is anonymous.
	User string
	// Groups are the user's groups, sorted and deduplicated; nil when there are none.
	// The slice belongs to the caller.
	Groups []string
	// Method says how User was established.
	Method Method
}

// Method is how an Identity's user was established.
type Method uint8

const (
	// MethodNone means the request is anonymous.
	MethodNone Method = iota
	// MethodBasic means the user proved a password with Proxy-Authorization Basic.
	MethodBasic
	// MethodHeader means a trusted peer named the user in the trusted header.
	MethodHeader
)

// String returns the method's lower-case name for logs: "none", "basic" or "header".
func (m Method) String() string {
	switch m {
	case MethodNone:
		return "none"
	case MethodBasic:
		return "basic"
	case MethodHeader:
		return "header"
	default:
		return fmt.Sprintf("method(%d)", uint8(m))
	}
}

var (
	// ErrAuthRequired means the request carried no credentials while Config.RequireAuth is set.
	ErrAuthRequired = errors.New("proxy authentication required")
	// ErrBadCredentials means the request carried credentials that are malformed, use a
	// scheme other than Basic, or name an unknown user or a wrong password.
	ErrBadCredentials = errors.New("bad proxy credentials")
)

// AuthError is the error Identify returns when the proxy should answer 407 Proxy
// Authentication Required with a Proxy-Authenticate header set to Challenge().
type AuthError struct {
	// Err is ErrAuthRequired or ErrBadCredentials.
	Err error
	// Reason is a fixed phrase for the log line, such as "unknown user or wrong password".
	// It never contains anything the client sent.
	Reason string
}

// Error returns the sentinel's text followed by the reason.
func (e *AuthError) Error() string {
	return "identity: " + e.Err.Error() + ": " + e.Reason
}

// Unwrap returns Err, so errors.Is(err, ErrBadCredentials) works.
func (e *AuthError) Unwrap() error { return e.Err }

// Reasons carried by AuthError. They are fixed phrases so that log lines stay greppable and
// nothing the client sent (a password typed into the user field, say) reaches a log.
const (
	reasonNoCredentials = "no credentials"
	reasonMultiple      = "more than one Proxy-Authorization header"
	reasonScheme        = "unsupported authentication scheme; expected Basic"
	reasonMalformed     = "malformed Basic credentials"
	reasonWrong         = "unknown user or wrong password"
)

// Limits on what a client or a trusted peer may send.
const (
	// maxNameLen bounds user and group names, from any source.
	maxNameLen = 256
	// maxBasicLen bounds the Proxy-Authorization value; longer ones are malformed. It
	// leaves room for a long password while keeping the decode buffer on the stack.
	maxBasicLen = 1024
	// maxHeaderGroups bounds the number of groups a trusted peer may send.
	maxHeaderGroups = 1024
)

// Authenticator identifies requests. It is immutable after New apart from its verification
// cache, and safe for concurrent use. Build a new one when the configuration changes; its
// cache starts empty, so a removed user or changed password takes effect at once.
type Authenticator struct {
	users      map[string][]byte   // user → bcrypt hash
	userGroups map[string][]string // user → sorted, deduplicated groups
	dummyHash  []byte              // compared for unknown users; nil when there are no users

	requireAuth   bool
	challenge     string
	trustedHeader string // canonical; "" when disabled
	groupsHeader  string // canonical; "" when disabled
	trustedPeers  []netip.Prefix
	stripNames    []string // canonical names Strip removes

	verifier
}

// Identify works out who sent r.
//
// The trusted header wins when it comes from a trusted peer: that peer has already
// authenticated the user, and a Proxy-Authorization it passes along was meant for it, so it
// is not checked. A trusted header that is absent, repeated or not a valid name (printable
// UTF-8, at most 256 bytes, no comma, which would mean several values were combined) is
// ignored, and Identify falls back to Basic. The groups header counts only alongside a
// valid trusted header; an invalid one is ignored as a whole. Header groups are added to
// the user's groups from Config.Groups. A header user need not be in the htpasswd file.
//
// Otherwise, when htpasswd users are configured, Proxy-Authorization Basic is checked
// whenever it is present, even when RequireAuth is false: bad credentials are never quietly
// downgraded to anonymous. Without htpasswd users the header is ignored.
//
// Identify returns an *AuthError wrapping ErrAuthRequired (no credentials while RequireAuth)
// or ErrBadCredentials (malformed, another scheme, unknown user or wrong password). The only
// other error is r's context ending while a password check waits for a free bcrypt slot; it
// wraps the context's error. On any error the returned Identity still carries ClientIP.
func (a *Authenticator) Identify(r *http.Request) (Identity, error) {
	id := Identity{ClientIP: ClientIP(r)}
	if user, groups, ok := a.fromTrustedHeader(id.ClientIP, r.Header); ok {
		id.User, id.Method = user, MethodHeader
		id.Groups = mergeGroups(a.userGroups[user], groups)
		return id, nil
	}

	values := r.Header.Values("Proxy-Authorization")
	if len(a.users) == 0 {
		// No htpasswd: Basic is not an identity source here, and a browser
		// that sends credentials cached for another proxy must not be
		// turned away. Strip removes them before anything goes upstream.
		values = nil
	}
	switch {
	case len(values) == 0:
		if a.requireAuth {
			return id, &AuthError{Err: ErrAuthRequired, Reason: reasonNoCredentials}
		}
		return id, nil
	case len(values) > 1:
		return id, &AuthError{Err: ErrBadCredentials, Reason: reasonMultiple}
	}

	var buf [maxBasicLen]byte // the decoded credentials stay on the stack
	user, password, reason := parseBasic(values[0], buf[:])
	if reason != "" {
		return id, &AuthError{Err: ErrBadCredentials, Reason: reason}
	}
	err := a.verify(r.Context(), user, password)
	if err == nil {
		id.User, id.Method = string(user), MethodBasic // copied out before buf is cleared
		id.Groups = a.GroupsOf(id.User)
	}
	clear(buf[:])
	return id, err
}

// Challenge returns the value for the Proxy-Authenticate header of a 407 answer, such as
// `Basic realm="Signpost", charset="UTF-8"` (RFC 7617).
func (a *Authenticator) Challenge() string { return a.challenge }

// Strip removes from h every header that carries identity or credentials and must never go
// upstream, whoever sent it: Proxy-Authorization, Proxy-Authenticate, and the configured
// trusted header and groups header. Names are matched case-insensitively, so a header map
// built by hand with non-canonical keys is cleaned as well.
func (a *Authenticator) Strip(h http.Header) {
	for k := range h {
		for _, name := range a.stripNames {
			if strings.EqualFold(k, name) {
				delete(h, k)
				break
			}
		}
	}
}

// GroupsOf returns the groups Config.Groups gives user, sorted and deduplicated, or nil.
// The slice belongs to the caller.
func (a *Authenticator) GroupsOf(user string) []string {
	return slices.Clone(a.userGroups[user])
}

// ClientIP returns the TCP peer of r from its RemoteAddr ("ip:port", or a bare IP as some
// embedders set it), with an IPv4-mapped IPv6 address turned into IPv4. It returns the zero
// Addr when RemoteAddr does not parse.
func ClientIP(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if ip, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return ip.Unmap()
	}
	return netip.Addr{}
}

// trusted reports whether ip may set the trusted headers.
func (a *Authenticator) trusted(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.WithZone("") // a link-local peer's zone does not change who it is
	for _, p := range a.trustedPeers {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// fromTrustedHeader returns the user and groups a trusted peer named, and whether it
// named a valid user at all.
func (a *Authenticator) fromTrustedHeader(ip netip.Addr, h http.Header) (user string, groups []string, ok bool) {
	if a.trustedHeader == "" || !a.trusted(ip) {
		return "", nil, false
	}
	// A repeated header means someone other than the peer added one (a peer that appends
	// instead of replacing a client's copy): believe neither.
	values := h.Values(a.trustedHeader)
	if len(values) != 1 {
		return "", nil, false
	}
	user = trimOWS(values[0])
	if !validName(user) || strings.ContainsRune(user, ',') {
		return "", nil, false
	}
	if a.groupsHeader != "" {
		if values := h.Values(a.groupsHeader); len(values) == 1 {
			groups = parseGroups(values[0])
		}
	}
	return user, groups, true
}

// parseGroups splits a comma-separated groups header. It returns nil when any group is not
// a valid name or there are too many: a peer sending garbage is misconfigured, and taking
// part of its list would be a guess.
func parseGroups(v string) []string {
	var groups []string
	for g := range strings.SplitSeq(v, ",") {
		g = trimOWS(g)
		if g == "" {
			continue
		}
		if !validName(g) || len(groups) == maxHeaderGroups {
			return nil
		}
		groups = append(groups, g)
	}
	return groups
}

// mergeGroups returns the sorted, deduplicated union of a and b in a new slice, or nil.
func mergeGroups(a, b []string) []string {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make([]string, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// parseBasic decodes a Proxy-Authorization value into buf and returns the user and password,
// or the reason it is malformed. The user is valid UTF-8 without control characters (so it
// holds no NUL, which keeps the cache key unambiguous); the password is any bytes.
func parseBasic(v string, buf []byte) (user, password []byte, reason string) {
	if len(v) > maxBasicLen {
		return nil, nil, reasonMalformed
	}
	scheme, token, _ := strings.Cut(trimOWS(v), " ")
	if !strings.EqualFold(scheme, "Basic") { // the scheme is case-insensitive (RFC 9110 §11.1)
		return nil, nil, reasonScheme
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, "\r\n") { // StdEncoding would skip CR and LF
		return nil, nil, reasonMalformed
	}
	n, err := base64.StdEncoding.Decode(buf, []byte(token)) // len(buf) > DecodedLen(maxBasicLen)
	if err != nil {
		return nil, nil, reasonMalformed
	}
	user, password, ok := bytes.Cut(buf[:n], []byte{':'}) // a user-id has no colon (RFC 7617 §2)
	if !ok || !validName(string(user)) {
		return nil, nil, reasonMalformed
	}
	return user, password, ""
}

// validName reports whether s is usable as a user or group name from an untrusted source:
// 1 to 256 bytes of valid UTF-8, printable (unicode.IsPrint: no control, format or
// bidirectional-override characters, no space other than ASCII space), and without
// surrounding spaces.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || !utf8.ValidString(s) {
		return false
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// trimOWS trims the optional whitespace (space and tab) HTTP allows around field values.
// net/http already does so for HTTP/1, but not every producer of an http.Header does.
func trimOWS(s string) string { return strings.Trim(s, " \t") }
