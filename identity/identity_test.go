package identity

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

var (
	hashesMu sync.Mutex
	hashes   = make(map[string]string) // password → MinCost bcrypt hash, shared by the tests
)

// testHash returns a real bcrypt hash of password at bcrypt.MinCost, made once per run.
func testHash(t testing.TB, password string) string {
	t.Helper()
	hashesMu.Lock()
	defer hashesMu.Unlock()
	if h, ok := hashes[password]; ok {
		return h
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashes[password] = string(h)
	return string(h)
}

// testConfig is the configuration most tests share: alice (password "secret"), bob
// ("hunter2") and dave ("letmein", in no group); a trusted gateway in 10.0.0.0/8 and
// 2001:db8::/32 that names users in X-Authenticated-User and groups in
// X-Authenticated-Groups.
func testConfig(t testing.TB) Config {
	t.Helper()
	return Config{
		Htpasswd: []HtpasswdEntry{
			{User: "alice", Hash: []byte(testHash(t, "secret")), Line: 1},
			{User: "bob", Hash: []byte(testHash(t, "hunter2")), Line: 2},
			{User: "dave", Hash: []byte(testHash(t, "letmein")), Line: 3},
		},
		TrustedHeader:       "X-Authenticated-User",
		TrustedGroupsHeader: "X-Authenticated-Groups",
		TrustedPeers:        []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
		Groups: map[string][]string{
			"staff":       {"alice", "bob", "alice"},
			"engineering": {"carol", "alice"},
			"admins":      {"carol"},
		},
	}
}

func newTestAuthenticator(t testing.TB, cfg Config) *Authenticator {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// basic returns a Proxy-Authorization value for user and password.
func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// connectRequest returns a CONNECT request from remote with the given headers.
func connectRequest(remote string, h http.Header) *http.Request {
	if h == nil {
		h = http.Header{}
	}
	return &http.Request{
		Method:     http.MethodConnect,
		URL:        &url.URL{Host: "slack.com:443"},
		Host:       "slack.com:443",
		Header:     h,
		RemoteAddr: remote,
	}
}

func TestIdentify(t *testing.T) {
	const (
		userHeader   = "X-Authenticated-User"
		groupsHeader = "X-Authenticated-Groups"
		untrusted    = "192.0.2.7:51000"
		gateway      = "10.1.2.3:40000"
	)
	ip := netip.MustParseAddr
	outsider, gatewayIP := ip("192.0.2.7"), ip("10.1.2.3")
	alice := Identity{ClientIP: outsider, User: "alice", Groups: []string{"engineering", "staff"}, Method: MethodBasic}

	tests := []struct {
		name        string
		requireAuth bool
		remote      string
		header      http.Header
		want        Identity
		wantErr     error // nil, ErrAuthRequired or ErrBadCredentials
		wantReason  string
	}{
		{name: "anonymous", remote: untrusted, want: Identity{ClientIP: outsider}},
		{
			name: "anonymous when auth is required", requireAuth: true, remote: untrusted,
			want: Identity{ClientIP: outsider}, wantErr: ErrAuthRequired, wantReason: reasonNoCredentials,
		},
		{
			name: "good Basic", remote: untrusted,
			header: http.Header{"Proxy-Authorization": {basic("alice", "secret")}}, want: alice,
		},
		{
			name: "good Basic when auth is required", requireAuth: true, remote: untrusted,
			header: http.Header{"Proxy-Authorization": {basic("alice", "secret")}}, want: alice,
		},
		{
			name: "scheme in lower case and extra spaces", remote: untrusted,
			header: http.Header{"Proxy-Authorization": {"basic   " + strings.TrimPrefix(basic("alice", "secret"), "Basic ")}},
			want:   alice,
		},
		{
			name: "user in no group", remote: untrusted,
			header: http.Header{"Proxy-Authorization": {basic("dave", "letmein")}},
			want:   Identity{ClientIP: outsider, User: "dave", Method: MethodBasic},
		},
		{
			name: "colons after the first belong to the password", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {basic("alice", "secret:more")}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonWrong,
		},
		{
			name: "wrong password", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {basic("alice", "Secret")}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonWrong,
		},
		{
			name: "wrong password when auth is required", requireAuth: true, remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {basic("alice", "hunter2")}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonWrong,
		},
		{
			name: "unknown user", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {basic("mallory", "secret")}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonWrong,
		},
		{
			name: "user names are case-sensitive", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {basic("Alice", "secret")}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonWrong,
		},
		{
			name: "malformed base64", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {"Basic !!!not-base64"}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonMalformed,
		},
		{
			name: "no colon", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonMalformed,
		},
		{
			name: "empty user", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {basic("", "secret")}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonMalformed,
		},
		{
			name: "NUL in the user", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {basic("al\x00ice", "secret")}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonMalformed,
		},
		{
			name: "scheme without credentials", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {"Basic"}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonMalformed,
		},
		{
			name: "empty header", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {""}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonScheme,
		},
		{
			name: "other scheme", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {"Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag"}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonScheme,
		},
		{
			name: "two Proxy-Authorization headers", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {basic("alice", "secret"), basic("bob", "hunter2")}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonMultiple,
		},
		{
			name: "header too long", remote: untrusted,
			header:  http.Header{"Proxy-Authorization": {basic("alice", strings.Repeat("x", maxBasicLen))}},
			want:    Identity{ClientIP: outsider},
			wantErr: ErrBadCredentials, wantReason: reasonMalformed,
		},
		{
			name: "trusted peer names the user and groups", remote: gateway,
			header: http.Header{userHeader: {"carol"}, groupsHeader: {"contractors, staff,,admins"}},
			want: Identity{
				ClientIP: gatewayIP, User: "carol", Method: MethodHeader,
				Groups: []string{"admins", "contractors", "engineering", "staff"},
			},
		},
		{
			name: "trusted peer names a user in no group", remote: gateway,
			header: http.Header{userHeader: {"erin@example.com"}},
			want:   Identity{ClientIP: gatewayIP, User: "erin@example.com", Method: MethodHeader},
		},
		{
			name: "trusted header wins over Basic", remote: gateway,
			header: http.Header{userHeader: {"carol"}, "Proxy-Authorization": {basic("alice", "wrong")}},
			want: Identity{
				ClientIP: gatewayIP, User: "carol", Method: MethodHeader,
				Groups: []string{"admins", "engineering"},
			},
		},
		{
			name: "trusted peer sends only Basic", remote: gateway,
			header: http.Header{"Proxy-Authorization": {basic("alice", "secret")}},
			want:   Identity{ClientIP: gatewayIP, User: "alice", Groups: []string{"engineering", "staff"}, Method: MethodBasic},
		},
		{
			name: "header from an untrusted peer is ignored", remote: untrusted,
			header: http.Header{userHeader: {"carol"}, groupsHeader: {"admins"}},
			want:   Identity{ClientIP: outsider},
		},
		{
			name: "header from an untrusted peer does not satisfy required auth", requireAuth: true, remote: untrusted,
			header: http.Header{userHeader: {"carol"}},
			want:   Identity{ClientIP: outsider}, wantErr: ErrAuthRequired, wantReason: reasonNoCredentials,
		},
		{
			name: "header from an untrusted peer falls back to Basic", remote: untrusted,
			header: http.Header{userHeader: {"carol"}, groupsHeader: {"admins"}, "Proxy-Authorization": {basic("alice", "secret")}},
			want:   alice,
		},
		{
			name: "IPv4-mapped trusted peer", remote: "[::ffff:10.1.2.3]:40000",
			header: http.Header{userHeader: {"carol"}},
			want:   Identity{ClientIP: gatewayIP, User: "carol", Method: MethodHeader, Groups: []string{"admins", "engineering"}},
		},
		{
			name: "IPv4-mapped untrusted peer", remote: "[::ffff:192.0.2.7]:51000",
			header: http.Header{userHeader: {"carol"}},
			want:   Identity{ClientIP: outsider},
		},
		{
			name: "IPv6 trusted peer", remote: "[2001:db8::5]:40000",
			header: http.Header{userHeader: {"carol"}},
			want:   Identity{ClientIP: ip("2001:db8::5"), User: "carol", Method: MethodHeader, Groups: []string{"admins", "engineering"}},
		},
		{
			name: "IPv6 peer with a zone", remote: "[fe80::1%eth0]:40000",
			header: http.Header{userHeader: {"carol"}},
			want:   Identity{ClientIP: ip("fe80::1%eth0")},
		},
		{
			name: "bare IP as RemoteAddr", remote: "10.1.2.3",
			header: http.Header{userHeader: {"carol"}},
			want:   Identity{ClientIP: gatewayIP, User: "carol", Method: MethodHeader, Groups: []string{"admins", "engineering"}},
		},
		{
			name: "unparseable RemoteAddr is never trusted", remote: "pipe",
			header: http.Header{userHeader: {"carol"}},
			want:   Identity{},
		},
		{
			name: "trusted header with surrounding spaces", remote: gateway,
			header: http.Header{userHeader: {" \tcarol "}},
			want:   Identity{ClientIP: gatewayIP, User: "carol", Method: MethodHeader, Groups: []string{"admins", "engineering"}},
		},
		{
			name: "trusted header with a control character is ignored", remote: gateway,
			header: http.Header{userHeader: {"car\x7fol"}, "Proxy-Authorization": {basic("alice", "secret")}},
			want:   Identity{ClientIP: gatewayIP, User: "alice", Groups: []string{"engineering", "staff"}, Method: MethodBasic},
		},
		{
			name: "trusted header with a bidi override is ignored", remote: gateway,
			header: http.Header{userHeader: {"eve\u202elive"}},
			want:   Identity{ClientIP: gatewayIP},
		},
		{
			name: "trusted header with invalid UTF-8 is ignored", remote: gateway,
			header: http.Header{userHeader: {"caro\xffl"}},
			want:   Identity{ClientIP: gatewayIP},
		},
		{
			name: "trusted header with a comma is ignored", remote: gateway,
			header: http.Header{userHeader: {"mallory, carol"}},
			want:   Identity{ClientIP: gatewayIP},
		},
		{
			name: "trusted header too long is ignored", remote: gateway,
			header: http.Header{userHeader: {strings.Repeat("c", maxNameLen+1)}},
			want:   Identity{ClientIP: gatewayIP},
		},
		{
			name: "empty trusted header is ignored", requireAuth: true, remote: gateway,
			header: http.Header{userHeader: {""}},
			want:   Identity{ClientIP: gatewayIP}, wantErr: ErrAuthRequired, wantReason: reasonNoCredentials,
		},
		{
			name: "repeated trusted header is ignored", remote: gateway,
			header: http.Header{userHeader: {"mallory", "carol"}},
			want:   Identity{ClientIP: gatewayIP},
		},
		{
			name: "groups header without a user header is ignored", remote: gateway,
			header: http.Header{groupsHeader: {"admins"}},
			want:   Identity{ClientIP: gatewayIP},
		},
		{
			name: "groups header with an invalid group is ignored as a whole", remote: gateway,
			header: http.Header{userHeader: {"bob"}, groupsHeader: {"admins, bad\x01group"}},
			want:   Identity{ClientIP: gatewayIP, User: "bob", Method: MethodHeader, Groups: []string{"staff"}},
		},
		{
			name: "repeated groups header is ignored", remote: gateway,
			header: http.Header{userHeader: {"bob"}, groupsHeader: {"admins", "auditors"}},
			want:   Identity{ClientIP: gatewayIP, User: "bob", Method: MethodHeader, Groups: []string{"staff"}},
		},
		{
			name: "too many header groups are ignored", remote: gateway,
			header: http.Header{userHeader: {"bob"}, groupsHeader: {strings.Repeat("g,", maxHeaderGroups) + "admins"}},
			want:   Identity{ClientIP: gatewayIP, User: "bob", Method: MethodHeader, Groups: []string{"staff"}},
		},
	}

	open, required := testConfig(t), testConfig(t)
	required.RequireAuth = true
	authenticators := map[bool]*Authenticator{false: newTestAuthenticator(t, open), true: newTestAuthenticator(t, required)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := authenticators[tt.requireAuth].Identify(connectRequest(tt.remote, tt.header))
			checkIdentity(t, got, tt.want)
			checkAuthError(t, err, tt.wantErr, tt.wantReason)
		})
	}
}

// checkIdentity compares identities, telling a nil Groups from an empty one.
func checkIdentity(t *testing.T, got, want Identity) {
	t.Helper()
	if got.ClientIP != want.ClientIP || got.User != want.User || got.Method != want.Method ||
		!slices.Equal(got.Groups, want.Groups) || (got.Groups == nil) != (want.Groups == nil) {
		t.Errorf("got identity %+v; want %+v", got, want)
	}
}

// checkAuthError checks that err is nil when want is, and otherwise an *AuthError wrapping
// want with the given reason.
func checkAuthError(t *testing.T, err, want error, reason string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("got error %v; want nil", err)
		}
		return
	}
	var ae *AuthError
	if !errors.As(err, &ae) || !errors.Is(err, want) {
		t.Fatalf("got error %v; want an *AuthError wrapping %v", err, want)
	}
	if ae.Reason != reason {
		t.Errorf("got reason %q; want %q", ae.Reason, reason)
	}
}

func TestIdentifyErrorsNeverQuoteCredentials(t *testing.T) {
	a := newTestAuthenticator(t, testConfig(t))
	for _, value := range []string{
		basic("alice", "correct-horse-battery"),
		basic("correct-horse-battery", "x"),
		"Basic correct-horse-battery",
		"Bearer correct-horse-battery",
	} {
		_, err := a.Identify(connectRequest("192.0.2.7:1", http.Header{"Proxy-Authorization": {value}}))
		if err == nil {
			t.Fatalf("Identify with %q: got nil error; want one", value)
		}
		if strings.Contains(err.Error(), "correct-horse") {
			t.Errorf("got error %q; want it not to quote the credentials", err)
		}
	}
}

func TestNew(t *testing.T) {
	hash := []byte(testHash(t, "secret"))
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // a substring of the error; "" for success
	}{
		{name: "shared test config", edit: func(*Config) {}},
		{name: "zero config", edit: func(c *Config) { *c = Config{} }},
		{
			name:    "duplicate htpasswd user",
			edit:    func(c *Config) { c.Htpasswd = append(c.Htpasswd, HtpasswdEntry{User: "alice", Hash: hash, Line: 9}) },
			wantErr: `htpasswd line 9: duplicate user "alice"; first defined on line 1`,
		},
		{
			name:    "non-bcrypt hash",
			edit:    func(c *Config) { c.Htpasswd[0].Hash = []byte("$apr1$O7GqIkKy$wjQ5cGe0Da1GGd9J2pcAY0") },
			wantErr: `htpasswd line 1: user "alice": found an Apache MD5 ($apr1$) hash; expected bcrypt`,
		},
		{
			name:    "htpasswd user with a colon",
			edit:    func(c *Config) { c.Htpasswd[0].User = "al:ice" },
			wantErr: `htpasswd line 1: found user name "al:ice"`,
		},
		{
			name:    "realm with a control character",
			edit:    func(c *Config) { c.Realm = "Sign\npost" },
			wantErr: `realm "Sign\npost": expected 1 to 256 printable characters`,
		},
		{
			name:    "invalid header name",
			edit:    func(c *Config) { c.TrustedHeader = "X User" },
			wantErr: `trusted header "X User": expected an HTTP header name`,
		},
		{
			name:    "reserved header name",
			edit:    func(c *Config) { c.TrustedHeader = "proxy-authorization" },
			wantErr: `trusted header Proxy-Authorization: expected a header of its own`,
		},
		{
			name:    "groups header without user header",
			edit:    func(c *Config) { c.TrustedHeader = "" },
			wantErr: `trusted groups header X-Authenticated-Groups is set without a trusted header`,
		},
		{
			name:    "groups header equal to user header",
			edit:    func(c *Config) { c.TrustedGroupsHeader = "x-authenticated-user" },
			wantErr: `trusted groups header X-Authenticated-User is also the trusted header`,
		},
		{
			name:    "trusted header without peers",
			edit:    func(c *Config) { c.TrustedPeers = nil },
			wantErr: `trusted header X-Authenticated-User is set without trusted peers`,
		},
		{
			name:    "peer prefix of everyone",
			edit:    func(c *Config) { c.TrustedPeers = append(c.TrustedPeers, netip.MustParsePrefix("0.0.0.0/0")) },
			wantErr: `trusted peer 0.0.0.0/0 would let every client name its own user`,
		},
		{
			name:    "IPv4-mapped prefix of everyone",
			edit:    func(c *Config) { c.TrustedPeers = []netip.Prefix{netip.MustParsePrefix("::ffff:0.0.0.0/96")} },
			wantErr: `trusted peer 0.0.0.0/0 would let every client name its own user`,
		},
		{
			name:    "invalid peer prefix",
			edit:    func(c *Config) { c.TrustedPeers = []netip.Prefix{{}} },
			wantErr: `trusted peer invalid Prefix: expected a CIDR`,
		},
		{
			name: "required auth without a way to authenticate",
			edit: func(c *Config) {
				*c = Config{RequireAuth: true}
			},
			wantErr: `authentication is required but there are neither htpasswd users nor a trusted header`,
		},
		{
			name: "required auth with only a trusted header",
			edit: func(c *Config) { c.RequireAuth, c.Htpasswd = true, nil },
		},
		{
			name:    "empty group name",
			edit:    func(c *Config) { c.Groups[""] = []string{"alice"} },
			wantErr: `group name "": expected 1 to 256 printable characters`,
		},
		{
			name:    "invalid user in a group",
			edit:    func(c *Config) { c.Groups["staff"] = []string{"alice", "bo\x00b"} },
			wantErr: `group staff: found user name "bo\x00b"`,
		},
		{
			name:    "negative cache size",
			edit:    func(c *Config) { c.CacheSize = -1 },
			wantErr: `cache size -1 and TTL 0s: expected zero (the default) or more`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.edit(&cfg)
			a, err := New(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v; want nil", err)
			case tt.wantErr == "" && a == nil:
				t.Fatal("got a nil Authenticator and no error; want an Authenticator")
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewMapsIPv4MappedPeers(t *testing.T) {
	cfg := testConfig(t)
	cfg.TrustedPeers = []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}
	a := newTestAuthenticator(t, cfg)
	for _, remote := range []string{"10.9.8.7:1", "[::ffff:10.9.8.7]:1"} {
		got, err := a.Identify(connectRequest(remote, http.Header{"X-Authenticated-User": {"carol"}}))
		if err != nil || got.Method != MethodHeader {
			t.Errorf("Identify from %s: got %+v, %v; want the header honoured", remote, got, err)
		}
	}
}

func TestNewDoesNotKeepCallersSlices(t *testing.T) {
	cfg := testConfig(t)
	a := newTestAuthenticator(t, cfg)
	clear(cfg.Htpasswd[0].Hash)
	cfg.Groups["staff"][0] = "mallory"
	got, err := a.Identify(connectRequest("192.0.2.7:1", http.Header{"Proxy-Authorization": {basic("alice", "secret")}}))
	if err != nil {
		t.Fatalf("got error %v after the caller changed its Config; want nil", err)
	}
	if want := []string{"engineering", "staff"}; !slices.Equal(got.Groups, want) {
		t.Errorf("got groups %q; want %q", got.Groups, want)
	}
}

func TestChallenge(t *testing.T) {
	tests := []struct {
		realm, want string
	}{
		{"", `Basic realm="Signpost", charset="UTF-8"`},
		{"Acme Corp", `Basic realm="Acme Corp", charset="UTF-8"`},
		{`Say "hi" \o/`, `Basic realm="Say \"hi\" \\o/", charset="UTF-8"`},
	}
	for _, tt := range tests {
		t.Run(tt.realm, func(t *testing.T) {
			a := newTestAuthenticator(t, Config{Realm: tt.realm})
			if got := a.Challenge(); got != tt.want {
				t.Errorf("got %s; want %s", got, tt.want)
			}
		})
	}
}

func TestStrip(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		in   http.Header
		want http.Header
	}{
		{
			name: "credentials and trusted headers",
			cfg:  testConfig(t),
			in: http.Header{
				"Proxy-Authorization":    {basic("alice", "secret")},
				"Proxy-Authenticate":     {`Basic realm="x"`},
				"X-Authenticated-User":   {"carol"},
				"X-Authenticated-Groups": {"admins"},
				"x-authenticated-user":   {"built by hand, not canonical"},
				"Accept":                 {"*/*"},
				"Authorization":          {"Bearer for-the-origin"},
			},
			want: http.Header{
				"Accept":        {"*/*"},
				"Authorization": {"Bearer for-the-origin"},
			},
		},
		{
			name: "no trusted headers configured",
			cfg:  Config{},
			in: http.Header{
				"Proxy-Authorization":  {basic("alice", "secret")},
				"X-Authenticated-User": {"carol"},
			},
			want: http.Header{"X-Authenticated-User": {"carol"}},
		},
		{name: "empty", cfg: Config{}, in: http.Header{}, want: http.Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newTestAuthenticator(t, tt.cfg).Strip(tt.in)
			if len(tt.in) != len(tt.want) {
				t.Fatalf("got %v; want %v", tt.in, tt.want)
			}
			for k, v := range tt.want {
				if !slices.Equal(tt.in[k], v) {
					t.Errorf("got %v; want %v", tt.in, tt.want)
				}
			}
		})
	}
}

func TestGroupsOf(t *testing.T) {
	a := newTestAuthenticator(t, testConfig(t))
	tests := []struct {
		user string
		want []string
	}{
		{"alice", []string{"engineering", "staff"}},
		{"carol", []string{"admins", "engineering"}},
		{"dave", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got := a.GroupsOf(tt.user)
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
	t.Run("caller owns the slice", func(t *testing.T) {
		a.GroupsOf("alice")[0] = "admins"
		if got := a.GroupsOf("alice"); got[0] != "engineering" {
			t.Errorf("got %q after changing an earlier result; want [engineering staff]", got)
		}
	})
}

func TestMethodString(t *testing.T) {
	for m, want := range map[Method]string{MethodNone: "none", MethodBasic: "basic", MethodHeader: "header", 7: "method(7)"} {
		if got := m.String(); got != want {
			t.Errorf("Method(%d).String() = %q; want %q", uint8(m), got, want)
		}
	}
}

func TestAuthError(t *testing.T) {
	err := error(&AuthError{Err: ErrBadCredentials, Reason: reasonWrong})
	if !errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrAuthRequired) {
		t.Errorf("got errors.Is(bad, ErrBadCredentials) = %v, (bad, ErrAuthRequired) = %v; want true, false",
			errors.Is(err, ErrBadCredentials), errors.Is(err, ErrAuthRequired))
	}
	if got, want := err.Error(), "identity: bad proxy credentials: unknown user or wrong password"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

func TestBuildUsersPicksDummyOfCommonestCost(t *testing.T) {
	cost5, err := bcrypt.GenerateFromPassword([]byte("x"), 5)
	if err != nil {
		t.Fatal(err)
	}
	cost5b, err := bcrypt.GenerateFromPassword([]byte("y"), 5)
	if err != nil {
		t.Fatal(err)
	}
	_, dummy, err := buildUsers([]HtpasswdEntry{
		{User: "a", Hash: []byte(testHash(t, "secret")), Line: 1},
		{User: "b", Hash: cost5, Line: 2},
		{User: "c", Hash: cost5b, Line: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := bcrypt.Cost(dummy); got != 5 {
		t.Errorf("got a dummy hash of cost %d; want 5, the commonest", got)
	}
}
