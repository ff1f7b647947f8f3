package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Browser sessions are stateless: the cookie holds who signed in, with
// which token and until when, signed with HMAC-SHA256 under the session
// key. Nothing in it is secret; the signature makes it unforgeable. A
// session ends at its expiry, when its token is no longer configured, or
// when it signs out (remembered in memory until the expiry it would have
// reached).

const (
	// sessionTTL is how long a browser session lasts after signing in.
	sessionTTL = 12 * time.Hour
	// loginTTL is how long a sign-in form may be submitted after it was
	// served.
	loginTTL = 30 * time.Minute
	// maxCookieLen is the longest session cookie value decoded; a real one
	// is about 200 bytes.
	maxCookieLen = 1024
	// maxEnded bounds the signed-out sessions remembered; past it the
	// oldest are forgotten first.
	maxEnded = 10000
	// MinSessionKeyLen is the shortest Options.SessionKey used.
	MinSessionKeyLen = 32
)

// Cookie names. Over HTTPS they take the __Host- prefix, which makes the
// browser refuse them unless Secure, for path / and without a Domain, so
// that a sibling host cannot plant one.
const (
	sessionCookie = "signpost_admin"
	loginCookie   = "signpost_admin_login"
	hostPrefix    = "__Host-"
)

// Domains of the HMACs, so that no value signed for one use is accepted
// for another.
const (
	macSession = "signpost-admin-session\x00"
	macCSRF    = "signpost-admin-csrf\x00"
	macLogin   = "signpost-admin-login\x00"
	macToken   = "signpost-admin-token\x00"
)

// CSRF purposes: each form posts a token for its kind of action.
const (
	purposeDecide = "decide"
	purposeRevoke = "revoke"
	purposeLogout = "logout"
)

// session is what a session cookie holds.
type session struct {
	// ID identifies the session; CSRF tokens are bound to it.
	ID string `json:"sid"`
	// Actor is the name of the token signed in with.
	Actor string `json:"act"`
	// Token is the token's fingerprint (sessions.fingerprint), so that
	// removing a token ends its sessions.
	Token string `json:"tok"`
	// Expires is the end of the session, in Unix seconds.
	Expires int64 `json:"exp"`
}

// Reasons a session cookie is refused.
var (
	errSessionMalformed = errors.New("malformed session cookie")
	errSessionSignature = errors.New("session cookie signature does not match")
	errSessionExpired   = errors.New("session expired")
	errSessionEnded     = errors.New("session signed out")
)

// sessions signs and checks session cookies and CSRF tokens under one key.
type sessions struct {
	key []byte

	mu    sync.Mutex
	ended map[string]time.Time // signed-out session id → its expiry
}

// newSessions returns a keeper using key, or a random key when key is
// shorter than MinSessionKeyLen (the second result is then false).
func newSessions(key []byte) (*sessions, bool) {
	ok := len(key) >= MinSessionKeyLen
	if !ok {
		key = make([]byte, 32)
		// crypto/rand.Read never fails on the platforms Go supports.
		_, _ = rand.Read(key)
	}
	return &sessions{key: append([]byte(nil), key...), ended: map[string]time.Time{}}, ok
}

// mac returns the HMAC-SHA256 of domain and the parts, each part ended by
// a NUL so that ("ab", "c") and ("a", "bc") differ.
func (k *sessions) mac(domain string, parts ...string) []byte {
	h := hmac.New(sha256.New, k.key)
	h.Write([]byte(domain))
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// fingerprint identifies a token's secret without revealing it.
func (k *sessions) fingerprint(secret string) string {
	return b64(k.mac(macToken, secret)[:12])
}

// newSession starts a session for the holder of t at now.
func (k *sessions) newSession(t Token, now time.Time) session {
	return session{ID: randomID(), Actor: t.Name, Token: k.fingerprint(t.Secret), Expires: now.Add(sessionTTL).Unix()}
}

// encode returns the cookie value of s: base64url(JSON) "." base64url(HMAC).
func (k *sessions) encode(s session) string {
	// Marshalling a struct of strings and an int cannot fail.
	payload, _ := json.Marshal(s)
	p := b64(payload)
	return p + "." + b64(k.mac(macSession, p))
}

// decode checks a cookie value's signature, expiry and sign-out, and
// returns its session. The signature is checked before the payload is
// parsed, so a forged cookie reaches no JSON decoder.
func (k *sessions) decode(v string, now time.Time) (session, error) {
	if len(v) > maxCookieLen {
		return session{}, errSessionMalformed
	}
	p, sig, ok := strings.Cut(v, ".")
	if !ok {
		return session{}, errSessionMalformed
	}
	got, err := unb64(sig)
	if err != nil {
		return session{}, errSessionMalformed
	}
	if !hmac.Equal(got, k.mac(macSession, p)) {
		return session{}, errSessionSignature
	}
	payload, err := unb64(p)
	if err != nil {
		return session{}, errSessionMalformed
	}
	var s session
	if err := json.Unmarshal(payload, &s); err != nil || s.ID == "" || s.Actor == "" || s.Token == "" {
		return session{}, errSessionMalformed
	}
	if now.Unix() >= s.Expires {
		return session{}, errSessionExpired
	}
	k.mu.Lock()
	_, ended := k.ended[s.ID]
	k.mu.Unlock()
	if ended {
		return session{}, errSessionEnded
	}
	return s, nil
}

// end remembers that s signed out, until it would have expired.
func (k *sessions) end(s session, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, exp := range k.ended {
		if now.Unix() >= exp.Unix() {
			delete(k.ended, id)
		}
	}
	if len(k.ended) >= maxEnded {
		// Forget the session closest to its expiry: it is the one whose
		// cookie is least likely to still be used.
		var oldest string
		for id, exp := range k.ended {
			if oldest == "" || exp.Before(k.ended[oldest]) {
				oldest = id
			}
		}
		delete(k.ended, oldest)
	}
	k.ended[s.ID] = time.Unix(s.Expires, 0)
}

// csrf returns the CSRF token of a session's forms for one purpose.
func (k *sessions) csrf(sid, purpose string) string {
	return b64(k.mac(macCSRF, sid, purpose))
}

// checkCSRF reports whether got is the CSRF token for sid and purpose.
func (k *sessions) checkCSRF(sid, purpose, got string) bool {
	b, err := unb64(got)
	return err == nil && hmac.Equal(b, k.mac(macCSRF, sid, purpose))
}

// loginCSRF returns the token the sign-in form carries for the random
// nonce in the browser's sign-in cookie. There is no session yet to bind
// it to; the nonce stands in for one.
func (k *sessions) loginCSRF(nonce string) string {
	return b64(k.mac(macLogin, nonce))
}

// checkLoginCSRF reports whether got is the sign-in token for nonce.
func (k *sessions) checkLoginCSRF(nonce, got string) bool {
	b, err := unb64(got)
	return nonce != "" && err == nil && hmac.Equal(b, k.mac(macLogin, nonce))
}

// randomID returns 128 random bits, base64url-encoded.
func randomID() string {
	var b [16]byte
	// crypto/rand.Read never fails on the platforms Go supports.
	_, _ = rand.Read(b[:])
	return b64(b[:])
}

// cookieName returns name as the cookie is called over the request's
// scheme.
func cookieName(name string, secure bool) string {
	if secure {
		return hostPrefix + name
	}
	return name
}

// newCookie returns a cookie for this listener: HttpOnly, SameSite=Strict,
// path /, Secure (and __Host-) when the browser reached us over HTTPS. It
// lasts maxAge; zero or less deletes the cookie.
func newCookie(name, value string, maxAge time.Duration, secure bool) *http.Cookie {
	c := &http.Cookie{
		Name: cookieName(name, secure), Value: value, Path: "/",
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
		MaxAge: int(maxAge / time.Second),
	}
	if c.MaxAge <= 0 {
		c.MaxAge, c.Value = -1, ""
	}
	return c
}

// b64 encodes as unpadded base64url.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// unb64 decodes unpadded base64url strictly: unused bits must be zero, so
// that each value has one spelling and a signature cannot be respelled.
// The decoder skips line breaks, so they are refused first.
func unb64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	return base64.RawURLEncoding.Strict().DecodeString(s)
}
