package admin

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSessionCookie(t *testing.T) {
	k, ok := newSessions(testKey)
	if !ok {
		t.Fatal("a 32-byte key was refused")
	}
	now := time.Unix(1_700_000_000, 0)
	s := k.newSession(Token{Name: "alice", Secret: aliceSecret}, now)
	v := k.encode(s)
	got, err := k.decode(v, now.Add(sessionTTL-time.Second))
	if err != nil || got != s {
		t.Fatalf("round trip: got %+v, %v; want %+v", got, err, s)
	}
	if strings.Contains(v, aliceSecret) {
		t.Error("the cookie holds the token")
	}
	other, _ := newSessions([]byte(strings.Repeat("k", 32)))
	tests := []struct {
		name  string
		value string
		at    time.Time
		want  error
	}{
		{"at expiry", v, now.Add(sessionTTL), errSessionExpired},
		{"long after", v, now.Add(48 * time.Hour), errSessionExpired},
		{"another key", other.encode(s), now, errSessionSignature},
		{"actor changed", tamper(t, v, func(s *session) { s.Actor = "bob" }), now, errSessionSignature},
		{"another cookie's signature", swapSignature(v, k.encode(k.newSession(Token{Name: "bob", Secret: bobSecret}, now))), now, errSessionSignature},
		{"line break in signature", v[:len(v)-3] + "\n" + v[len(v)-3:], now, errSessionMalformed},
		{"no dot", strings.ReplaceAll(v, ".", ""), now, errSessionMalformed},
		{"signature not base64", v + "!", now, errSessionMalformed},
		{"empty", "", now, errSessionMalformed},
		{"too long", strings.Repeat("a", maxCookieLen+1), now, errSessionMalformed},
		{"signed garbage", signed(k, "bm90IGpzb24"), now, errSessionMalformed},
		{"signed empty object", signed(k, "e30"), now, errSessionMalformed},
		{"signed bad base64", signed(k, "!!"), now, errSessionMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := k.decode(tt.value, tt.at); !errors.Is(err, tt.want) {
				t.Errorf("got %v; want %v", err, tt.want)
			}
		})
	}

	k.end(s, now)
	if _, err := k.decode(v, now); !errors.Is(err, errSessionEnded) {
		t.Errorf("after sign-out: got %v; want %v", err, errSessionEnded)
	}
	// A sign-out is forgotten once the session has expired anyway.
	later := k.newSession(Token{Name: "bob", Secret: bobSecret}, now.Add(sessionTTL))
	k.end(later, now.Add(sessionTTL))
	if _, still := k.ended[s.ID]; still || len(k.ended) != 1 {
		t.Errorf("ended sessions after expiry: got %d entries; want only the new one", len(k.ended))
	}
}

// swapSignature returns a's payload with b's signature.
func swapSignature(a, b string) string {
	p, _, _ := strings.Cut(a, ".")
	_, sig, _ := strings.Cut(b, ".")
	return p + "." + sig
}

// signed makes a cookie value with a good signature over payload p.
func signed(k *sessions, p string) string {
	return p + "." + b64(k.mac(macSession, p))
}

func TestSessionKeyTooShort(t *testing.T) {
	k, ok := newSessions([]byte("short"))
	if ok || len(k.key) < MinSessionKeyLen {
		t.Errorf("short key: got ok %v and a %d-byte key; want a random key of at least %d bytes", ok, len(k.key), MinSessionKeyLen)
	}
	k2, _ := newSessions(nil)
	if string(k.key) == string(k2.key) {
		t.Error("two random keys are equal")
	}
}

func TestEndedSessionsBounded(t *testing.T) {
	k, _ := newSessions(testKey)
	now := time.Unix(1_700_000_000, 0)
	for i := range maxEnded + 10 {
		k.end(session{ID: string(rune('a'+i%26)) + strings.Repeat("x", i%7) + time.Duration(i).String(), Expires: now.Add(time.Hour).Unix() + int64(i)}, now)
	}
	if len(k.ended) > maxEnded {
		t.Errorf("got %d ended sessions remembered; want at most %d", len(k.ended), maxEnded)
	}
}

func TestCSRFTokens(t *testing.T) {
	k, _ := newSessions(testKey)
	tok := k.csrf("sid-1", purposeDecide)
	tests := []struct {
		name, sid, purpose, token string
		want                      bool
	}{
		{"right", "sid-1", purposeDecide, tok, true},
		{"other purpose", "sid-1", purposeRevoke, tok, false},
		{"other session", "sid-2", purposeDecide, tok, false},
		{"empty", "sid-1", purposeDecide, "", false},
		{"not base64", "sid-1", purposeDecide, "%%%", false},
		{"session id and purpose run together", "sid-1d", "ecide", tok, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k.checkCSRF(tt.sid, tt.purpose, tt.token); got != tt.want {
				t.Errorf("got %v; want %v", got, tt.want)
			}
		})
	}
	if k.checkLoginCSRF("", k.loginCSRF("")) {
		t.Error("a sign-in token for an empty nonce was accepted")
	}
	if !k.checkLoginCSRF("nonce", k.loginCSRF("nonce")) || k.checkLoginCSRF("nonce2", k.loginCSRF("nonce")) {
		t.Error("sign-in tokens are not bound to their nonce")
	}
	if k.checkLoginCSRF("sid-1", tok) {
		t.Error("a form's CSRF token was accepted as a sign-in token")
	}
}

// FuzzSessionDecode checks that no cookie value makes decode panic and
// that none is accepted without the server's signature.
func FuzzSessionDecode(f *testing.F) {
	k, _ := newSessions(testKey)
	now := time.Unix(1_700_000_000, 0)
	good := k.encode(k.newSession(Token{Name: "alice", Secret: aliceSecret}, now))
	for _, seed := range []string{good, "", ".", "a.b", good + "x", strings.Replace(good, ".", "..", 1), signed(k, "e30")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, err := k.decode(v, now)
		if err != nil {
			return
		}
		if s.ID == "" || s.Actor == "" || s.Token == "" || s.Expires <= now.Unix() {
			t.Fatalf("accepted an incomplete or expired session %+v", s)
		}
		p, _, _ := strings.Cut(v, ".")
		if v != p+"."+b64(k.mac(macSession, p)) {
			t.Fatalf("accepted %q, which the server did not sign", v)
		}
	})
}
