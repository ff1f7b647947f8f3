package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/store"
)

func TestSignIn(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			e := newEnv(t, envOptions{noNotify: true, tls: tls})
			page := e.do(call{method: "GET", path: "/login?next=%2Fgrants"})
			if page.status != 200 || !strings.Contains(page.body, `<label for="token">`) || !strings.Contains(page.body, `name="next" value="/grants"`) {
				t.Fatalf("GET /login: got %d\n%s", page.status, page.body)
			}
			nonce := page.cookie(cookieName(loginCookie, tls))
			if nonce == nil {
				t.Fatal("no sign-in cookie")
			}
			resp := e.do(call{method: "POST", path: "/login", cookie: nonce,
				form: url.Values{"token": {" " + bobSecret + "\n"}, "csrf": {csrfIn(t, page.body, "/login")}, "next": {"/grants"}}})
			if resp.status != http.StatusSeeOther || resp.header.Get("Location") != "/grants" {
				t.Fatalf("POST /login: got %d to %q; want 303 to /grants", resp.status, resp.header.Get("Location"))
			}
			c := resp.cookie(cookieName(sessionCookie, tls))
			if c == nil {
				t.Fatalf("no session cookie named %q in %v", cookieName(sessionCookie, tls), resp.header["Set-Cookie"])
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != tls || c.Domain != "" ||
				c.MaxAge != int(sessionTTL/time.Second) {
				t.Errorf("session cookie: got %+v; want HttpOnly, SameSite=Strict, Path=/, Secure=%v, 12 h", c, tls)
			}
			if del := resp.cookie(cookieName(loginCookie, tls)); del == nil || del.MaxAge >= 0 {
				t.Errorf("sign-in cookie after signing in: got %v; want it deleted", del)
			}
			home := e.do(call{method: "GET", path: "/", cookie: c})
			if home.status != 200 || !strings.Contains(home.body, "Signed in as <strong>bob</strong>") {
				t.Errorf("GET / signed in: got %d\n%s", home.status, home.body)
			}
		})
	}
}

func TestSignInRefused(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	page := e.do(call{method: "GET", path: "/login"})
	nonce := page.cookie(loginCookie)
	csrf := csrfIn(t, page.body, "/login")
	tests := []struct {
		name   string
		cookie *http.Cookie
		form   url.Values
		header map[string]string
		want   int
		says   string
	}{
		{"wrong token", nonce, url.Values{"token": {"wrong-0123456789abcdef"}, "csrf": {csrf}}, nil, 401, "That token is not accepted."},
		{"empty token", nonce, url.Values{"token": {""}, "csrf": {csrf}}, nil, 401, "That token is not accepted."},
		{"no CSRF token", nonce, url.Values{"token": {aliceSecret}}, nil, 403, "expired"},
		{"no sign-in cookie", nil, url.Values{"token": {aliceSecret}, "csrf": {csrf}}, nil, 403, "expired"},
		{"another nonce", &http.Cookie{Name: loginCookie, Value: randomID()}, url.Values{"token": {aliceSecret}, "csrf": {csrf}}, nil, 403, "expired"},
		{"cross-site", nonce, url.Values{"token": {aliceSecret}, "csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "another site"},
		{"other origin", nonce, url.Values{"token": {aliceSecret}, "csrf": {csrf}}, map[string]string{"Origin": "https://evil.example"}, 403, "another site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(call{method: "POST", path: "/login", cookie: tt.cookie, form: tt.form, header: tt.header})
			if resp.status != tt.want || !strings.Contains(resp.body, tt.says) {
				t.Errorf("got %d; want %d saying %q\n%s", resp.status, tt.want, tt.says, resp.body)
			}
			if resp.cookie(sessionCookie) != nil {
				t.Error("a session cookie was set")
			}
		})
	}
}

func TestLocalNext(t *testing.T) {
	tests := map[string]string{
		"/grants":                       "/grants",
		"/requests/4?done=x":            "/requests/4?done=x",
		"":                              "/",
		"grants":                        "/",
		"//evil.example":                "/",
		"///evil.example":               "/",
		"/\\evil.example":               "/",
		"https://evil.example":          "/",
		"/\t/evil.example":              "/",
		"/login":                        "/",
		"/logout?x=1":                   "/",
		"/%2F%2Fevil.example":           "/%2F%2Fevil.example", // a path on this listener
		"/" + strings.Repeat("a", 3000): "/",
	}
	for in, want := range tests {
		if got := localNext(in); got != want {
			t.Errorf("localNext(%q): got %q; want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"/": "/", "/grants": "/grants", "/history": "/history", "/requests/12": "/requests/12",
		"/requests/012": "/", "/requests/-1": "/", "/requests/1/x": "/", "//evil": "/", "/audit": "/", "https://evil": "/"} {
		if got := backTo(in); got != want {
			t.Errorf("backTo(%q): got %q; want %q", in, got, want)
		}
	}
}

// TestPageFlow approves, denies and revokes through the HTML forms.
func TestPageFlow(t *testing.T) {
	e := newEnv(t, envOptions{})
	r1 := e.createRequest("carol", "dropbox", "files for a customer")
	r2 := e.createRequest("dave", "zoom", "a webinar")
	c := e.signIn(aliceSecret)

	home := e.do(call{method: "GET", path: "/", cookie: c})
	for _, want := range []string{
		fmt.Sprintf(`action="/requests/%d/approve"`, r1.ID), fmt.Sprintf(`action="/requests/%d/deny"`, r2.ID),
		`<option value="720h" selected>30 days</option>`, `<option value="87600h">Until revoked (10 years)</option>`,
		fmt.Sprintf(`<label for="deny-message-%d">`, r1.ID), `required maxlength="1000"`, "files for a customer",
	} {
		if !strings.Contains(home.body, want) {
			t.Errorf("pending page lacks %q", want)
		}
	}
	csrf := csrfIn(t, home.body, fmt.Sprintf("/requests/%d/approve", r1.ID))
	post := func(path string, form url.Values) response {
		t.Helper()
		return e.do(call{method: "POST", path: path, cookie: c, form: form, header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	}

	resp := post(fmt.Sprintf("/requests/%d/approve", r1.ID), url.Values{"csrf": {csrf}, "duration": {"168h"}, "back": {"/"}})
	if resp.status != http.StatusSeeOther || resp.header.Get("Location") != fmt.Sprintf("/?done=approved&id=%d", r1.ID) {
		t.Fatalf("approve: got %d to %q\n%s", resp.status, resp.header.Get("Location"), resp.body)
	}
	if hook := e.hook(); hook.Request.ID != r1.ID || hook.Request.Status != "approved" || hook.Request.DecidedBy != "alice" {
		t.Errorf("approve webhook: got %+v", hook)
	}
	flashed := e.do(call{method: "GET", path: resp.header.Get("Location"), cookie: c})
	if !strings.Contains(flashed.body, fmt.Sprintf(`<p class="flash" role="status">Request %d approved.</p>`, r1.ID)) {
		t.Errorf("no flash after approving:\n%s", flashed.body)
	}

	resp = post(fmt.Sprintf("/requests/%d/deny", r2.ID), url.Values{"csrf": {csrf}, "message": {""}, "back": {"/"}})
	if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, "message is required") {
		t.Errorf("deny without a message: got %d; want 400 saying the message is required\n%s", resp.status, resp.body)
	}
	resp = post(fmt.Sprintf("/requests/%d/deny", r2.ID), url.Values{"csrf": {csrf}, "message": {"Use Teams."}, "back": {fmt.Sprintf("/requests/%d", r2.ID)}})
	if resp.status != http.StatusSeeOther || resp.header.Get("Location") != fmt.Sprintf("/requests/%d?done=denied&id=%d", r2.ID, r2.ID) {
		t.Fatalf("deny: got %d to %q", resp.status, resp.header.Get("Location"))
	}
	e.hook()
	resp = post(fmt.Sprintf("/requests/%d/deny", r2.ID), url.Values{"csrf": {csrf}, "message": {"again"}})
	if resp.status != http.StatusConflict || !strings.Contains(resp.body, "already denied by alice") {
		t.Errorf("deny twice: got %d; want 409 naming alice\n%s", resp.status, resp.body)
	}

	history := e.do(call{method: "GET", path: "/history", cookie: c})
	for _, want := range []string{"Use Teams.", "state-denied", "state-approved", "for 7 days", `<th scope="col">Decision</th>`} {
		if !strings.Contains(history.body, want) {
			t.Errorf("history lacks %q", want)
		}
	}

	grants := e.do(call{method: "GET", path: "/grants", cookie: c})
	gs, err := e.st.Grants(context.Background(), store.GrantFilter{})
	if err != nil || len(gs) != 1 {
		t.Fatalf("grants: %v %v", gs, err)
	}
	if !strings.Contains(grants.body, fmt.Sprintf(`action="/grants/%d/revoke"`, gs[0].ID)) {
		t.Fatalf("grants page lacks the revoke form:\n%s", grants.body)
	}
	revokeCSRF := csrfIn(t, grants.body, fmt.Sprintf("/grants/%d/revoke", gs[0].ID))
	if revokeCSRF == csrf {
		t.Error("the revoke form carries the decide forms' CSRF token; want one per purpose")
	}
	if resp := post(fmt.Sprintf("/grants/%d/revoke", gs[0].ID), url.Values{"csrf": {csrf}}); resp.status != http.StatusForbidden {
		t.Errorf("revoke with the decide token: got %d; want 403", resp.status)
	}
	resp = post(fmt.Sprintf("/grants/%d/revoke", gs[0].ID), url.Values{"csrf": {revokeCSRF}, "back": {"/grants"}})
	if resp.status != http.StatusSeeOther || resp.header.Get("Location") != fmt.Sprintf("/grants?done=revoked&id=%d", gs[0].ID) {
		t.Fatalf("revoke: got %d to %q", resp.status, resp.header.Get("Location"))
	}
	if hook := e.hook(); hook.Request.ID != r1.ID || hook.Request.Status != "revoked" {
		t.Errorf("revoke webhook: got %+v", hook)
	}
	if g, _ := e.st.ActiveGrant(context.Background(), "carol", "dropbox", time.Now()); g != nil {
		t.Errorf("grant still active after revoke: %+v", g)
	}
	if inv := e.invalidations(); len(inv) != 3 {
		t.Errorf("invalidations: got %v; want approve, deny and revoke", inv)
	}
	detail := e.do(call{method: "GET", path: fmt.Sprintf("/requests/%d", r1.ID), cookie: c})
	if !strings.Contains(detail.body, "The grant was revoked by alice") {
		t.Errorf("request page after revoke:\n%s", detail.body)
	}
	audit := e.do(call{method: "GET", path: "/audit", cookie: c})
	for _, want := range []string{store.ActionGrantRevoked, store.ActionRequestDenied, store.ActionRequestApproved} {
		if !strings.Contains(audit.body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
}

// TestCSRF posts the forms without, with wrong and with foreign tokens,
// and from other sites.
func TestCSRF(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	r := e.createRequest("carol", "dropbox", "files")
	alice := e.signIn(aliceSecret)
	bob := e.signIn(bobSecret)
	home := e.do(call{method: "GET", path: "/", cookie: alice})
	path := fmt.Sprintf("/requests/%d/deny", r.ID)
	aliceCSRF := csrfIn(t, home.body, path)
	bobCSRF := csrfIn(t, e.do(call{method: "GET", path: "/", cookie: bob}).body, path)
	tests := []struct {
		name   string
		cookie *http.Cookie
		bearer string
		csrf   string
		header map[string]string
		want   int
	}{
		{"missing", alice, "", "", nil, 403},
		{"wrong", alice, "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil, 403},
		{"another session's", alice, "", bobCSRF, nil, 403},
		{"logout purpose", alice, "", e.srv.sess.csrf(sessionID(t, e, alice), purposeLogout), nil, 403},
		{"cross-site fetch", alice, "", aliceCSRF, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site fetch", alice, "", aliceCSRF, map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"foreign origin", alice, "", aliceCSRF, map[string]string{"Origin": "https://evil.example"}, 403},
		{"null origin", alice, "", aliceCSRF, map[string]string{"Origin": "null"}, 403},
		{"bearer needs no token", nil, bobSecret, "", nil, 303},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(call{method: "POST", path: path, cookie: tt.cookie, bearer: tt.bearer, header: tt.header,
				form: url.Values{"csrf": {tt.csrf}, "message": {"no"}}})
			if resp.status != tt.want {
				t.Errorf("got %d; want %d\n%s", resp.status, tt.want, resp.body)
			}
		})
	}
	got, err := e.st.Request(context.Background(), r.ID)
	if err != nil || got.DecidedBy != "bob" {
		t.Errorf("decided by: got %q, %v; want bob (by bearer), nobody else", got.DecidedBy, err)
	}
	// The right token, same-origin, on a decided request: past CSRF, the store answers.
	resp := e.do(call{method: "POST", path: path, cookie: alice, form: url.Values{"csrf": {aliceCSRF}, "message": {"no"}},
		header: map[string]string{"Origin": e.http.URL}})
	if resp.status != http.StatusConflict {
		t.Errorf("right token and origin: got %d; want 409 from the store", resp.status)
	}
}

// sessionID returns the id inside a session cookie.
func sessionID(t *testing.T, e *env, c *http.Cookie) string {
	t.Helper()
	s, err := e.srv.sess.decode(c.Value, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

func TestSignOut(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	c := e.signIn(aliceSecret)
	home := e.do(call{method: "GET", path: "/", cookie: c})
	csrf := e.srv.sess.csrf(sessionID(t, e, c), purposeLogout)
	if !strings.Contains(home.body, `value="`+csrf+`"`) {
		t.Fatal("the page has no sign-out form with its token")
	}
	if resp := e.do(call{method: "POST", path: "/logout", cookie: c}); resp.status != http.StatusForbidden {
		t.Errorf("sign out without a token: got %d; want 403", resp.status)
	}
	resp := e.do(call{method: "POST", path: "/logout", cookie: c, form: url.Values{"csrf": {csrf}}})
	if resp.status != http.StatusSeeOther || resp.header.Get("Location") != "/login" {
		t.Fatalf("sign out: got %d to %q; want 303 to /login", resp.status, resp.header.Get("Location"))
	}
	if del := resp.cookie(sessionCookie); del == nil || del.MaxAge >= 0 {
		t.Errorf("session cookie after sign-out: got %v; want it deleted", del)
	}
	if resp := e.do(call{method: "GET", path: "/", cookie: c}); resp.status != http.StatusSeeOther {
		t.Errorf("old cookie after sign-out: got %d; want 303 to /login", resp.status)
	}
	if resp := e.do(call{method: "GET", path: "/api/v1/requests", cookie: c}); resp.status != http.StatusUnauthorized {
		t.Errorf("old cookie on the API after sign-out: got %d; want 401", resp.status)
	}
}

// Hostile values, as a person or an admin might type them.
const (
	hostileScript = `<script>alert("x")</script>`
	hostileAttr   = `"><img src=x onerror=alert(1)>`
	hostileURL    = `javascript:alert(1)`
	hostileStyle  = `</style><style>*{display:none}</style>`
)

// TestHostileValuesEscaped renders every page with hostile justifications,
// names, hosts, app names and messages, and checks that none arrives as
// markup.
func TestHostileValuesEscaped(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true, appName: func(id string) string { return "App " + hostileAttr }})
	ctx := context.Background()
	r, err := e.st.CreateRequest(ctx, store.Request{
		Subject: "ip:10.0.0.1" + hostileAttr, User: "Mallory " + hostileScript, App: "dropbox" + hostileStyle,
		AppName: hostileScript, Justification: hostileScript + "\n" + hostileAttr + "\n" + hostileURL, URLHost: "evil" + hostileAttr,
	})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := e.st.CreateRequest(ctx, store.Request{Subject: "bob" + hostileScript, App: "slack", Justification: hostileStyle})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.Decide(ctx, r.ID, store.Decision{Approve: true, By: "alice", GrantFor: time.Hour, Message: hostileScript}); err != nil {
		t.Fatal(err)
	}
	other, err := e.st.CreateRequest(ctx, store.Request{Subject: "eve", App: "zoom", Justification: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.Decide(ctx, other.ID, store.Decision{By: "alice", Message: hostileAttr + "\n" + hostileStyle}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/history", "/grants", "/audit", fmt.Sprintf("/requests/%d", r.ID), fmt.Sprintf("/requests/%d", pending.ID), fmt.Sprintf("/requests/%d", other.ID)} {
		t.Run(path, func(t *testing.T) {
			resp := e.do(call{method: "GET", path: path, bearer: aliceSecret})
			if resp.status != 200 {
				t.Fatalf("got %d; want 200", resp.status)
			}
			for _, raw := range []string{hostileScript, hostileAttr, hostileStyle, "<img", "onerror=alert(1)>", "<script", `href="javascript`} {
				if strings.Contains(resp.body, raw) {
					t.Errorf("the page holds %q unescaped", raw)
				}
			}
			checkMarkup(t, resp.body)
			// Escaped, the values are still shown.
			if shown := "&lt;img src=x onerror=alert(1)&gt;"; !strings.Contains(resp.body, shown) {
				t.Errorf("the page does not show the hostile text escaped (%s)", shown)
			}
		})
	}
	// The API keeps the text as it was written: escaping is the reader's job.
	var one struct {
		Request requestJSON `json:"request"`
	}
	e.do(call{method: "GET", path: fmt.Sprintf("/api/v1/requests/%d", r.ID), bearer: aliceSecret}).decode(t, &one)
	if one.Request.Justification != hostileScript+"\n"+hostileAttr+"\n"+hostileURL || one.Request.Message != hostileScript {
		t.Errorf("API text: got %q / %q; want it as written", one.Request.Justification, one.Request.Message)
	}
}

func TestPageErrors(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/requests/999", 404},
		{"GET", "/requests/abc", 400},
		{"GET", "/nowhere", 404},
		{"POST", "/history", 405},
		{"GET", "/requests/1/approve", 405},
		{"PUT", "/login", 405},
		{"GET", "/history?before=-3", 400},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp := e.do(call{method: tt.method, path: tt.path, bearer: aliceSecret})
			if resp.status != tt.want || resp.header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("got %d %q; want %d as HTML", resp.status, resp.header.Get("Content-Type"), tt.want)
			}
		})
	}
}

// TestPaging pages the pending list.
func TestPaging(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	for i := range pageLimit + 3 {
		e.createRequest(fmt.Sprintf("user%02d", i), "dropbox", "files")
	}
	first := e.do(call{method: "GET", path: "/", bearer: aliceSecret})
	if n := strings.Count(first.body, `class="approve-form"`); n != pageLimit {
		t.Errorf("first page: got %d requests; want %d", n, pageLimit)
	}
	next := `<a href="/?before=4" rel="next">Older</a>`
	if !strings.Contains(first.body, next) {
		t.Fatalf("first page lacks %s", next)
	}
	second := e.do(call{method: "GET", path: "/?before=4", bearer: aliceSecret})
	if n := strings.Count(second.body, `class="approve-form"`); n != 3 || strings.Contains(second.body, `rel="next"`) ||
		!strings.Contains(second.body, `<a href="/">Newest</a>`) {
		t.Errorf("second page: got %d requests\n%s", n, second.body)
	}
}

func TestHumanFor(t *testing.T) {
	tests := map[time.Duration]string{
		24 * time.Hour:        "for 1 day",
		7 * 24 * time.Hour:    "for 7 days",
		time.Hour:             "for 1 hour",
		36 * time.Hour:        "for 36 hours",
		90 * time.Minute:      "for 1h30m0s",
		store.MaxGrantFor:     "until revoked",
		store.MaxGrantFor - 1: "until revoked",
	}
	for d, want := range tests {
		if got := humanFor(d); got != want {
			t.Errorf("humanFor(%v): got %q; want %q", d, got, want)
		}
	}
}

// FuzzLocalNext checks that no "next" parameter leads a browser off this
// listener after signing in.
func FuzzLocalNext(f *testing.F) {
	for _, s := range []string{"/grants", "//evil.example", "/\\evil", "https://evil", "/%2F%2Fevil", "/a/../..//evil", "/\t/evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := localNext(next)
		if got == "/" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.Contains(got, "\\") {
			t.Fatalf("localNext(%q) = %q, which may leave this listener", next, got)
		}
		// Where the browser actually goes: http.Redirect cleans the path.
		rec := httptest.NewRecorder()
		http.Redirect(rec, httptest.NewRequest("POST", "/login", nil), got, http.StatusSeeOther)
		loc := rec.Header().Get("Location")
		if l, err := url.Parse(loc); err != nil || l.Host != "" || l.Scheme != "" || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
			t.Fatalf("localNext(%q) = %q redirects to %q", next, got, loc)
		}
	})
}

// TestAuditPageStatesTheRetention shows the configured retention on the
// audit page, as days, as a duration, or as for ever.
func TestAuditPageStatesTheRetention(t *testing.T) {
	for _, tc := range []struct {
		keep time.Duration
		want string
	}{
		{365 * 24 * time.Hour, "kept for 365 days"},
		{36 * time.Hour, "kept for 36h0m0s"},
		{0, "kept for ever"},
	} {
		e := newEnv(t, envOptions{noNotify: true, configure: func(o *Options) {
			o.Retention = func() time.Duration { return tc.keep }
		}})
		e.createRequest("carol", "dropbox", "files")
		c := e.signIn(aliceSecret)
		audit := e.do(call{method: "GET", path: "/audit", cookie: c})
		if !strings.Contains(audit.body, tc.want+" (<code>store.retention</code>)") {
			t.Errorf("retention %v: audit page lacks %q:\n%s", tc.keep, tc.want, audit.body)
		}
	}
	e := newEnv(t, envOptions{noNotify: true})
	c := e.signIn(aliceSecret)
	if audit := e.do(call{method: "GET", path: "/audit", cookie: c}); strings.Contains(audit.body, "store.retention") {
		t.Errorf("without a Retention option the audit page states one:\n%s", audit.body)
	}
}

// TestAuditIsPaged reads the whole audit trail, a page at a time, through
// the API and through the HTML view: every entry once, newest first.
func TestAuditIsPaged(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	ctx := context.Background()
	now := time.Now()
	const n = auditPageLimit + 3
	for i := range n {
		if _, err := e.st.AddGrant(ctx, store.Grant{Subject: fmt.Sprintf("user-%03d", i), App: "slack", ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}

	var ids []int64
	path := "/api/v1/audit?limit=90"
	for pages := 0; path != ""; pages++ {
		if pages > n {
			t.Fatal("the API's pages do not end")
		}
		var page struct {
			Entries []auditJSON `json:"entries"`
			Next    string      `json:"next"`
		}
		e.do(call{method: "GET", path: path, bearer: aliceSecret}).decode(t, &page)
		for _, a := range page.Entries {
			ids = append(ids, a.ID)
		}
		path = page.Next
	}
	newestFirst := slices.IsSortedFunc(ids, func(a, b int64) int { return cmp.Compare(b, a) })
	if len(ids) != n || !newestFirst || len(slices.Compact(slices.Clone(ids))) != n {
		t.Errorf("audit through the API: %d entries, newest first %v; want all %d once, newest first", len(ids), newestFirst, n)
	}

	c := e.signIn(aliceSecret)
	first := e.do(call{method: "GET", path: "/audit", cookie: c})
	if got := strings.Count(first.body, "<tr>") - 1; got != auditPageLimit {
		t.Errorf("audit page: %d rows; want %d", got, auditPageLimit)
	}
	next := regexp.MustCompile(`<a href="(/audit\?before=\d+)" rel="next">Older</a>`).FindStringSubmatch(first.body)
	if next == nil {
		t.Fatalf("audit page without a link to older entries:\n%s", first.body)
	}
	older := e.do(call{method: "GET", path: strings.ReplaceAll(next[1], "&amp;", "&"), cookie: c})
	if got := strings.Count(older.body, "<tr>") - 1; got != 3 {
		t.Errorf("older audit page: %d rows; want 3", got)
	}
	if !strings.Contains(older.body, "user-000") || strings.Contains(older.body, `rel="next"`) || !strings.Contains(older.body, `<a href="/audit">Newest</a>`) {
		t.Errorf("the last audit page: want the oldest entry, a link to the newest and none further:\n%s", older.body)
	}
}

// TestConfigurationPage shows the configuration in force, a refused
// change with its problems, the settings that need a restart, and reloads
// from its button, which needs the session's CSRF token.
func TestConfigurationPage(t *testing.T) {
	st := ConfigStatus{Hash: "0123456789abcdef", LoadedAt: time.Now(), Dir: "/etc/signpost", Apps: 118, Rules: 3, LastResult: "ok",
		Files: []config.File{{Name: "/etc/signpost/policy.yaml", SHA256: "feedface"}}}
	reloads := 0
	e := newEnv(t, envOptions{noNotify: true, configure: func(o *Options) {
		o.ConfigStatus = func() ConfigStatus { return st }
		o.Reload = func() (ConfigStatus, error) {
			reloads++
			st.LastResult, st.LastError = "error", "policy.yaml:9: found app \"slakc\"; expected an app id <b>"
			st.RestartNeeded = []string{"proxy.listen"}
			return st, errors.New(st.LastError)
		}
	}})
	c := e.signIn(aliceSecret)
	page := e.do(call{method: "GET", path: "/config", cookie: c})
	for _, want := range []string{"0123456789abcdef", "/etc/signpost/policy.yaml", "feedface", "118 apps, 3 rules", `<a href="/config"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("configuration page lacks %q:\n%s", want, page.body)
		}
	}
	if resp := e.do(call{method: "POST", path: "/config/reload", cookie: c, form: url.Values{"csrf": {"forged"}}}); resp.status != http.StatusForbidden || reloads != 0 {
		t.Fatalf("reload with a forged CSRF token: %d, %d reloads; want 403 and none", resp.status, reloads)
	}
	resp := e.do(call{method: "POST", path: "/config/reload", cookie: c, form: url.Values{"csrf": {csrfIn(t, page.body, "/config/reload")}}})
	if resp.status != http.StatusSeeOther || resp.header.Get("Location") != "/config?done=reload-refused" || reloads != 1 {
		t.Fatalf("reload: %d to %q, %d reloads; want 303 to the page saying it was refused, one reload", resp.status, resp.header.Get("Location"), reloads)
	}
	after := e.do(call{method: "GET", path: "/config?done=reload-refused", cookie: c})
	for _, want := range []string{"was refused; the one in force stays", "found app &#34;slakc&#34;; expected an app id &lt;b&gt;", "<code>proxy.listen</code>"} {
		if !strings.Contains(after.body, want) {
			t.Errorf("configuration page after a refused reload lacks %q:\n%s", want, after.body)
		}
	}
	if e := newEnv(t, envOptions{noNotify: true}); strings.Contains(e.do(call{method: "GET", path: "/", bearer: aliceSecret}).body, `href="/config"`) {
		t.Error("the navigation links to /config without a ConfigStatus")
	}
}
