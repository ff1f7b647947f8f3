package admin

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAuthentication(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "signpost_test_total", Help: "test"}))
	h := New(Options{Tokens: []Token{{Name: "ops", Secret: "0123456789abcdef-token"}}, Gatherer: reg})
	srv := httptest.NewServer(h)
	defer srv.Close()
	tests := []struct {
		path, auth string
		want       int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/metrics", "", 401},
		{"/metrics", "Bearer wrong", 401},
		{"/metrics", "Basic MDEyMzQ1Njc4OWFiY2RlZi10b2tlbg==", 401},
		{"/metrics", "Bearer 0123456789abcdef-token", 200},
		{"/metrics", "Bearer 0123456789abcdef-token2", 401},
		{"/api/v1/anything", "", 401},
		{"/api/v1/anything", "Bearer 0123456789abcdef-token", 404},
		{"/api/v1/requests", "Bearer 0123456789abcdef-token", 503}, // no store configured
		{"/api/v1/requests/1/approve", "", 401},
		{"/api/v1/requests/1/approve", "Bearer 0123456789abcdef-token", 405},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.auth, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got %d; want %d", resp.StatusCode, tt.want)
			}
			if resp.StatusCode >= 400 && strings.HasPrefix(tt.path, "/api/") && resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%d Content-Type: got %q; want JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if resp.StatusCode == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 Allow: got %q; want POST", resp.Header.Get("Allow"))
			}
		})
	}
}

// TestAuthMatrix sends every kind of credential to API and browser routes.
func TestAuthMatrix(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	now := time.Now()
	sess := e.srv.sess
	name := cookieName(sessionCookie, e.secure())
	valid := sess.encode(sess.newSession(Token{Name: "alice", Secret: aliceSecret}, now))
	expired := sess.encode(sess.newSession(Token{Name: "alice", Secret: aliceSecret}, now.Add(-sessionTTL-time.Second)))
	otherKey, _ := newSessions([]byte("another-key-another-key-another-key"))
	foreign := otherKey.encode(otherKey.newSession(Token{Name: "alice", Secret: aliceSecret}, now))
	removedToken := sess.encode(sess.newSession(Token{Name: "carol", Secret: "carol-0123456789abcdef"}, now))
	renamed := sess.encode(sess.newSession(Token{Name: "bob", Secret: aliceSecret}, now))
	tampered := tamper(t, valid, func(s *session) { s.Actor = "bob" })
	extended := tamper(t, expired, func(s *session) { s.Expires = now.Add(time.Hour).Unix() })
	signedOut := sess.newSession(Token{Name: "alice", Secret: aliceSecret}, now)
	sess.end(signedOut, now)

	tests := []struct {
		name   string
		bearer string
		cookie string
		// ok is whether the request is let in: API 200 and page 200, else
		// API 401 and page 303 to /login (401 for a wrong bearer token).
		ok bool
	}{
		{"nothing", "", "", false},
		{"wrong bearer", "wrong-0123456789abcdef", "", false},
		{"right bearer", aliceSecret, "", true},
		{"second bearer", bobSecret, "", true},
		{"bearer prefix of a token", aliceSecret[:len(aliceSecret)-1], "", false},
		{"valid cookie", "", valid, true},
		{"expired cookie", "", expired, false},
		{"tampered cookie", "", tampered, false},
		{"tampered expiry", "", extended, false},
		{"cookie under another key", "", foreign, false},
		{"cookie of a removed token", "", removedToken, false},
		{"cookie naming another holder", "", renamed, false},
		{"signed-out cookie", "", sess.encode(signedOut), false},
		{"garbage cookie", "", "not.a-session", false},
		{"wrong bearer beside a valid cookie", "wrong-0123456789abcdef", valid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *http.Cookie
			if tt.cookie != "" {
				c = &http.Cookie{Name: name, Value: tt.cookie}
			}
			api := e.do(call{method: "GET", path: "/api/v1/requests", bearer: tt.bearer, cookie: c})
			wantAPI := map[bool]int{true: 200, false: 401}[tt.ok]
			if api.status != wantAPI {
				t.Errorf("API: got %d; want %d (%s)", api.status, wantAPI, api.body)
			}
			if !tt.ok && api.header.Get("Content-Type") != "application/json" {
				t.Errorf("API 401 Content-Type: got %q; want application/json", api.header.Get("Content-Type"))
			}
			page := e.do(call{method: "GET", path: "/history?before=5", bearer: tt.bearer, cookie: c})
			switch {
			case tt.ok:
				if page.status != 200 {
					t.Errorf("page: got %d; want 200", page.status)
				}
			case tt.bearer != "":
				if page.status != 401 {
					t.Errorf("page with a wrong bearer token: got %d; want 401", page.status)
				}
			default:
				if page.status != 303 || page.header.Get("Location") != "/login?next=%2Fhistory%3Fbefore%3D5" {
					t.Errorf("page: got %d to %q; want 303 to /login?next=%%2Fhistory%%3Fbefore%%3D5", page.status, page.header.Get("Location"))
				}
				if tt.cookie != "" {
					if del := page.cookie(name); del == nil || del.MaxAge >= 0 {
						t.Errorf("page with a bad cookie: got Set-Cookie %v; want the cookie deleted", del)
					}
				}
			}
		})
	}
}

// tamper changes a session cookie's payload and keeps its signature.
func tamper(t *testing.T, cookie string, change func(*session)) string {
	t.Helper()
	p, sig, _ := strings.Cut(cookie, ".")
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		t.Fatal(err)
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	change(&s)
	b, _ = json.Marshal(s)
	return base64.RawURLEncoding.EncodeToString(b) + "." + sig
}

func TestMetricsOpenAndReadiness(t *testing.T) {
	degraded := New(Options{Degraded: func() string { return "access store unreachable" }})
	rec := httptest.NewRecorder()
	degraded.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"degraded"`) || !strings.Contains(rec.Body.String(), "store unreachable") {
		t.Errorf("degraded /readyz: got %d %s; want 200 and the reason", rec.Code, rec.Body.String())
	}
	notReady := errors.New("rules not loaded")
	h := New(Options{Gatherer: prometheus.NewRegistry(), MetricsOpen: true, Ready: func() error { return notReady }})
	for path, want := range map[string]int{"/metrics": 200, "/readyz": 503, "/api/v1/requests": 401, "/": 303} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s: got %d; want %d", path, rec.Code, want)
		}
		if path == "/readyz" && !strings.Contains(rec.Body.String(), "rules not loaded") {
			t.Errorf("/readyz body: %s", rec.Body.String())
		}
	}
}

func TestReloadAndConfigStatus(t *testing.T) {
	fail := false
	h := New(Options{
		Tokens: []Token{{Name: "ops", Secret: aliceSecret}},
		Reload: func() (ConfigStatus, error) {
			if fail {
				return ConfigStatus{}, errors.New("apps.yaml:3: found x; expected y\npolicy.yaml:9: unknown app")
			}
			return ConfigStatus{Hash: "abc"}, nil
		},
		ConfigStatus: func() ConfigStatus { return ConfigStatus{Hash: "abc"} },
	})
	do := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", "Bearer "+aliceSecret)
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("POST", "/api/v1/reload"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"abc"`) {
		t.Errorf("reload: got %d %s; want 200 with the status", rec.Code, rec.Body)
	}
	fail = true
	rec := do("POST", "/api/v1/reload")
	var got struct{ Problems []string }
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	if rec.Code != 422 || len(got.Problems) != 2 {
		t.Errorf("refused reload: got %d %s; want 422 with two problems", rec.Code, rec.Body)
	}
	if rec := do("GET", "/api/v1/config"); rec.Code != 200 {
		t.Errorf("config: got %d; want 200", rec.Code)
	}
	if rec := do("GET", "/api/v1/reload"); rec.Code != 405 {
		t.Errorf("GET reload: got %d; want 405", rec.Code)
	}
}

var styleRE = regexp.MustCompile(`(?s)<style>(.*?)</style>`)

// TestSecurityHeaders checks the headers of pages and API answers, and
// that the CSP's hash is that of the page's one stylesheet.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	for _, path := range []string{"/", "/login", "/history", "/grants", "/audit", "/api/v1/requests", "/nowhere"} {
		t.Run(path, func(t *testing.T) {
			r := e.do(call{method: "GET", path: path, bearer: aliceSecret})
			want := map[string]string{
				"X-Content-Type-Options":  "nosniff",
				"Cache-Control":           "no-store",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
				"Content-Security-Policy": "default-src 'none'; style-src '" + cssHash + "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s: got %q; want %q", k, got, v)
				}
			}
			if strings.HasPrefix(path, "/api/") {
				return
			}
			if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type: got %q; want text/html", ct)
			}
			m := styleRE.FindStringSubmatch(r.body)
			if m == nil {
				t.Fatal("no <style> in the page")
			}
			sum := sha256.Sum256([]byte(m[1]))
			if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != cssHash {
				t.Errorf("style hash: got %s; want the CSP's %s", got, cssHash)
			}
			checkMarkup(t, r.body)
		})
	}
}

// TestBaseURL checks what BaseURL changes: absolute links, Secure cookies
// behind a TLS-ending proxy, and its origin trusted when a proxy rewrites
// the Host; and that a bad BaseURL or session key is logged, not fatal.
func TestBaseURL(t *testing.T) {
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	e := newEnv(t, envOptions{noNotify: true, configure: func(o *Options) {
		o.BaseURL = "https://signpost-admin.example/"
		o.Logger = logger
	}})
	r := e.createRequest("carol", "dropbox", "files")
	page := e.do(call{method: "GET", path: "/login"})
	if c := page.cookie(hostPrefix + loginCookie); c == nil || !c.Secure {
		t.Errorf("sign-in cookie behind an https BaseURL: got %v; want __Host- and Secure", c)
	}
	var one struct {
		Request requestJSON `json:"request"`
	}
	e.do(call{method: "GET", path: fmt.Sprintf("/api/v1/requests/%d", r.ID), bearer: aliceSecret}).decode(t, &one)
	if want := fmt.Sprintf("https://signpost-admin.example/requests/%d", r.ID); one.Request.AdminURL != want {
		t.Errorf("admin_url: got %q; want %q", one.Request.AdminURL, want)
	}
	deny := fmt.Sprintf("/api/v1/requests/%d/deny", r.ID)
	if resp := e.do(call{method: "POST", path: deny, bearer: aliceSecret, json: map[string]string{"message": "no"},
		header: map[string]string{"Origin": "https://evil.example"}}); resp.status != http.StatusForbidden {
		t.Errorf("foreign origin: got %d; want 403", resp.status)
	}
	if resp := e.do(call{method: "POST", path: deny, bearer: aliceSecret, json: map[string]string{"message": "no"},
		header: map[string]string{"Origin": "https://signpost-admin.example"}}); resp.status != http.StatusOK {
		t.Errorf("BaseURL's origin through a proxy: got %d %s; want 200", resp.status, resp.body)
	}

	logs.Reset()
	bad := newEnv(t, envOptions{noNotify: true, configure: func(o *Options) {
		o.BaseURL = "signpost-admin:8443"
		o.SessionKey = []byte("short")
		o.Logger = logger
	}})
	for _, want := range []string{"admin base URL is not an absolute http(s) URL", "admin session key is too short"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	r = bad.createRequest("carol", "dropbox", "files")
	bad.do(call{method: "GET", path: fmt.Sprintf("/api/v1/requests/%d", r.ID), bearer: aliceSecret}).decode(t, &one)
	if want := fmt.Sprintf("/requests/%d", r.ID); one.Request.AdminURL != want {
		t.Errorf("admin_url with a bad BaseURL: got %q; want %q", one.Request.AdminURL, want)
	}
	bad.signIn(aliceSecret) // a random key still signs sessions
}

func TestRequestURL(t *testing.T) {
	for base, want := range map[string]string{"": "/requests/7", "https://a.example": "https://a.example/requests/7", "https://a.example/x/": "https://a.example/x/requests/7"} {
		if got := RequestURL(base, 7); got != want {
			t.Errorf("RequestURL(%q, 7): got %q; want %q", base, got, want)
		}
	}
}
