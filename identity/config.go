package identity

import (
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/net/http/httpguts"
)

// Config is what an Authenticator is built from. The config package fills it from YAML and
// the htpasswd file; New checks it again, so that a gateway embedding Signpost as a library
// gets the same guarantees.
type Config struct {
	// Htpasswd are the users who may authenticate with Basic, as ParseHtpasswd returns them.
	Htpasswd []HtpasswdEntry
	// RequireAuth makes Identify refuse requests without credentials with ErrAuthRequired.
	RequireAuth bool
	// Realm is named in the Proxy-Authenticate challenge; "" means "Signpost".
	Realm string
	// TrustedHeader names the header in which a trusted peer names the user, such as
	// "X-Authenticated-User"; "" disables it. It needs TrustedPeers.
	TrustedHeader string
	// TrustedGroupsHeader names a header in which a trusted peer lists the user's groups,
	// comma-separated; "" disables it. It needs TrustedHeader.
	TrustedGroupsHeader string
	// TrustedPeers are the only peers whose trusted headers are believed. An IPv4-mapped
	// prefix (::ffff:10.0.0.0/104) counts as IPv4. A prefix of length 0 is refused: it would
	// let every client name itself.
	TrustedPeers []netip.Prefix
	// Groups maps a group to its users. User names are matched exactly, byte for byte.
	Groups map[string][]string
	// CacheSize bounds how many successful password checks are remembered; 0 means 4096.
	CacheSize int
	// CacheTTL is how long a successful password check is remembered; 0 means 5 minutes.
	CacheTTL time.Duration
}

// Defaults for Config's zero values.
const (
	defaultRealm     = "Signpost"
	defaultCacheSize = 4096
	defaultCacheTTL  = 5 * time.Minute
)

// reservedHeaders may not be chosen as trusted headers: Strip deletes the trusted headers
// before a request goes upstream, and these carry the request itself or Basic credentials.
var reservedHeaders = []string{
	"Authorization", "Connection", "Content-Length", "Cookie", "Host",
	"Proxy-Authenticate", "Proxy-Authorization", "Transfer-Encoding",
}

// New checks cfg and builds an Authenticator from it. It only builds maps: it reads no
// files, starts no goroutines and runs no bcrypt.
//
// At most GOMAXPROCS bcrypt comparisons run at once; further uncached checks wait for a
// slot (or for their request's context to end), so wrong passwords sent in bulk cost the
// proxy at most its cores' worth of bcrypt and delay only other uncached logins.
func New(cfg Config) (*Authenticator, error) {
	a := &Authenticator{requireAuth: cfg.RequireAuth}

	users, dummy, err := buildUsers(cfg.Htpasswd)
	if err != nil {
		return nil, err
	}
	a.users, a.dummyHash = users, dummy

	realm := cfg.Realm
	if realm == "" {
		realm = defaultRealm
	}
	if !validName(realm) {
		return nil, fmt.Errorf("realm %q: expected 1 to %d printable characters", realm, maxNameLen)
	}
	a.challenge = `Basic realm=` + quote(realm) + `, charset="UTF-8"` // RFC 7617 §2.1

	if err := a.setHeaders(cfg); err != nil {
		return nil, err
	}
	if a.trustedPeers, err = normalisePeers(cfg.TrustedPeers); err != nil {
		return nil, err
	}
	if a.trustedHeader != "" && len(a.trustedPeers) == 0 {
		return nil, fmt.Errorf("trusted header %s is set without trusted peers; expected the CIDRs of the gateways allowed to send it", a.trustedHeader)
	}
	if cfg.RequireAuth && len(a.users) == 0 && a.trustedHeader == "" {
		return nil, fmt.Errorf("authentication is required but there are neither htpasswd users nor a trusted header; expected a way to authenticate")
	}
	if a.userGroups, err = invertGroups(cfg.Groups); err != nil {
		return nil, err
	}

	size, ttl := cfg.CacheSize, cfg.CacheTTL
	if size < 0 || ttl < 0 {
		return nil, fmt.Errorf("cache size %d and TTL %v: expected zero (the default) or more", size, ttl)
	}
	if size == 0 {
		size = defaultCacheSize
	}
	if ttl == 0 {
		ttl = defaultCacheTTL
	}
	if err := a.verifier.init(size, ttl, runtime.GOMAXPROCS(0), bcrypt.CompareHashAndPassword); err != nil {
		return nil, err
	}
	return a, nil
}

// buildUsers indexes the htpasswd entries, checking them as ParseHtpasswd does, and picks
// the hash unknown users are compared against: one of the most common cost, so that most
// users' checks take as long as an unknown user's.
func buildUsers(entries []HtpasswdEntry) (users map[string][]byte, dummy []byte, err error) {
	users = make(map[string][]byte, len(entries))
	lines := make(map[string]int, len(entries))
	byCost := make(map[int]int)
	dummyCost := 0
	for _, e := range entries {
		if !validName(e.User) || strings.ContainsRune(e.User, ':') {
			return nil, nil, fmt.Errorf("htpasswd line %d: found user name %q; expected 1 to %d printable characters without ':'", e.Line, e.User, maxNameLen)
		}
		if first, dup := lines[e.User]; dup {
			return nil, nil, fmt.Errorf("htpasswd line %d: duplicate user %q; first defined on line %d", e.Line, e.User, first)
		}
		cost, problem := checkHash(string(e.Hash))
		if problem != "" {
			return nil, nil, fmt.Errorf("htpasswd line %d: user %q: %s", e.Line, e.User, problem)
		}
		lines[e.User] = e.Line
		users[e.User] = slices.Clone(e.Hash)
		byCost[cost]++
		if byCost[cost] > byCost[dummyCost] || (byCost[cost] == byCost[dummyCost] && cost > dummyCost) {
			dummyCost, dummy = cost, users[e.User]
		}
	}
	return users, dummy, nil
}

// setHeaders checks and canonicalises the trusted header names and lists what Strip removes.
func (a *Authenticator) setHeaders(cfg Config) error {
	a.stripNames = []string{"Proxy-Authorization", "Proxy-Authenticate"}
	for _, h := range []struct {
		name string
		dst  *string
	}{
		{cfg.TrustedHeader, &a.trustedHeader},
		{cfg.TrustedGroupsHeader, &a.groupsHeader},
	} {
		if h.name == "" {
			continue
		}
		if !httpguts.ValidHeaderFieldName(h.name) {
			return fmt.Errorf("trusted header %q: expected an HTTP header name such as X-Authenticated-User", h.name)
		}
		name := http.CanonicalHeaderKey(h.name)
		if slices.Contains(reservedHeaders, name) {
			return fmt.Errorf("trusted header %s: expected a header of its own; %s already means something to HTTP", name, name)
		}
		*h.dst = name
		a.stripNames = append(a.stripNames, name)
	}
	switch {
	case a.groupsHeader != "" && a.trustedHeader == "":
		return fmt.Errorf("trusted groups header %s is set without a trusted header; expected the header naming the user too", a.groupsHeader)
	case a.groupsHeader != "" && a.groupsHeader == a.trustedHeader:
		return fmt.Errorf("trusted groups header %s is also the trusted header; expected two different headers", a.groupsHeader)
	}
	return nil
}

// normalisePeers checks the trusted prefixes and puts them in the form ClientIP is compared
// in: masked, and IPv4 rather than IPv4-mapped IPv6.
func normalisePeers(peers []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(peers))
	for _, p := range peers {
		if !p.IsValid() {
			return nil, fmt.Errorf("trusted peer %v: expected a CIDR such as 10.0.0.0/8", p)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		if p.Bits() == 0 {
			return nil, fmt.Errorf("trusted peer %v would let every client name its own user; expected the CIDRs of the gateways in front of Signpost", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// invertGroups turns group → users into user → sorted, deduplicated groups.
func invertGroups(groups map[string][]string) (map[string][]string, error) {
	out := make(map[string][]string)
	for _, g := range slices.Sorted(maps.Keys(groups)) { // sorted, so the first error is stable
		if !validName(g) {
			return nil, fmt.Errorf("group name %q: expected 1 to %d printable characters", g, maxNameLen)
		}
		for _, u := range groups[g] {
			if !validName(u) {
				return nil, fmt.Errorf("group %s: found user name %q; expected 1 to %d printable characters", g, u, maxNameLen)
			}
			out[u] = append(out[u], g)
		}
	}
	for u, gs := range out {
		out[u] = slices.Compact(gs) // already sorted, since groups were visited in order
	}
	return out, nil
}

// quote returns s as an HTTP quoted-string (RFC 9110 §5.6.4).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
