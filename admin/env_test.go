package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/html"

	"github.com/signpost-gateway/signpost/notify"
	"github.com/signpost-gateway/signpost/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds how long a test waits for something that should happen
// at once; reaching it is a failure, never a way to synchronise.
const waitLimit = 10 * time.Second

// Tokens of the test admins.
const (
	aliceSecret = "alice-0123456789abcdef"
	bobSecret   = "bob-0123456789abcdef"
)

// testKey is the session key of the test servers.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// env is an admin listener over a real SQLite store, with a webhook
// receiver behind a real notifier and a record of invalidations.
type env struct {
	t     *testing.T
	st    store.Store
	srv   *server
	http  *httptest.Server
	hooks chan notify.Payload

	mu          sync.Mutex
	invalidated []string // "subject|app"
}

// envOptions adjust an env before it starts.
type envOptions struct {
	tls       bool
	noNotify  bool
	appName   func(string) string
	configure func(*Options)
	// server adjusts the server after New, before it serves.
	server func(*server)
}

func newEnv(t *testing.T, eo envOptions) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+t.TempDir()+"/s.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, hooks: make(chan notify.Payload, 64)}
	o := Options{
		Tokens:     []Token{{Name: "alice", Secret: aliceSecret}, {Name: "bob", Secret: bobSecret}},
		Store:      st,
		SessionKey: testKey,
		AppName:    eo.appName,
		Invalidate: func(subject, app string) {
			e.mu.Lock()
			e.invalidated = append(e.invalidated, subject+"|"+app)
			e.mu.Unlock()
		},
	}
	if !eo.noNotify {
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var p notify.Payload
			if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
				t.Errorf("webhook body: %v", err)
			}
			e.hooks <- p
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(rcv.Close)
		n, err := notify.New([]notify.Target{{Name: "test", URL: rcv.URL, Secret: "0123456789abcdef-hook"}}, notify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		n.Start()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if err := n.Close(ctx); err != nil {
				t.Errorf("closing the notifier: %v", err)
			}
		})
		o.Notifier = n
	}
	if eo.configure != nil {
		eo.configure(&o)
	}
	e.srv = newServer(o)
	if eo.server != nil {
		eo.server(e.srv)
	}
	if eo.tls {
		e.http = httptest.NewTLSServer(e.srv.handler())
	} else {
		e.http = httptest.NewServer(e.srv.handler())
	}
	t.Cleanup(e.http.Close)
	return e
}

// invalidations returns the invalidations so far.
func (e *env) invalidations() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.invalidated...)
}

// hook waits for the next webhook event.
func (e *env) hook() notify.Payload {
	e.t.Helper()
	select {
	case p := <-e.hooks:
		return p
	case <-time.After(waitLimit):
		e.t.Fatal("no webhook event arrived")
		return notify.Payload{}
	}
}

// createRequest stores a pending request.
func (e *env) createRequest(subject, app, justification string) store.Request {
	e.t.Helper()
	r, err := e.st.CreateRequest(context.Background(), store.Request{
		Subject: subject, User: subject, App: app, AppName: strings.ToUpper(app[:1]) + app[1:],
		Justification: justification, URLHost: "www." + app + ".com",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// call is one request to the env's server.
type call struct {
	method, path string
	bearer       string       // "" sends none
	cookie       *http.Cookie // nil sends none
	json         any          // sent as application/json when not nil
	form         url.Values   // sent as a form when not nil
	header       map[string]string
}

// response is what came back, the body read.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends c without following redirects.
func (e *env) do(c call) response {
	e.t.Helper()
	var body io.Reader
	ct := ""
	switch {
	case c.json != nil:
		if s, ok := c.json.(string); ok {
			body = strings.NewReader(s)
		} else {
			b, err := json.Marshal(c.json)
			if err != nil {
				e.t.Fatal(err)
			}
			body = bytes.NewReader(b)
		}
		ct = "application/json"
	case c.form != nil:
		body = strings.NewReader(c.form.Encode())
		ct = "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequest(c.method, e.http.URL+c.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	client := e.http.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// decode reads a JSON answer into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

// cookie returns the cookie the response set under name, or nil.
func (r response) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn signs in through the form as the holder of secret and returns
// the session cookie.
func (e *env) signIn(secret string) *http.Cookie {
	e.t.Helper()
	page := e.do(call{method: "GET", path: "/login"})
	nonce := page.cookie(cookieName(loginCookie, e.secure()))
	if nonce == nil {
		e.t.Fatalf("GET /login set no sign-in cookie; headers %v", page.header)
	}
	resp := e.do(call{method: "POST", path: "/login", cookie: nonce,
		form: url.Values{"token": {secret}, "csrf": {csrfIn(e.t, page.body, "/login")}}})
	if resp.status != http.StatusSeeOther {
		e.t.Fatalf("sign-in: got %d; want 303; body %s", resp.status, resp.body)
	}
	c := resp.cookie(cookieName(sessionCookie, e.secure()))
	if c == nil {
		e.t.Fatal("sign-in set no session cookie")
	}
	return c
}

// secure reports whether the env's cookies are Secure (and __Host-).
func (e *env) secure() bool {
	return e.http.TLS != nil || e.srv.https
}

// csrfIn returns the CSRF token of the first form in page that posts to
// action.
func csrfIn(t *testing.T, page, action string) string {
	t.Helper()
	re := regexp.MustCompile(`action="` + regexp.QuoteMeta(action) + `"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]*)"`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form posting to %s with a CSRF token in the page:\n%s", action, page)
	}
	return m[1]
}

// The markup the pages may use: anything else in a page is a value that
// escaped its escaping, or a change to review.
var (
	allowedTags = set("html", "head", "meta", "title", "style", "body", "a", "header", "nav", "ul", "ol", "li",
		"main", "h1", "h2", "p", "form", "input", "label", "select", "option", "textarea", "button", "span",
		"strong", "div", "dl", "dt", "dd", "time", "article", "table", "caption", "thead", "tbody", "tr", "th",
		"td", "footer", "section", "pre", "code")
	allowedAttrs = set("href", "action", "method", "name", "value", "type", "id", "for", "class", "lang",
		"charset", "content", "rel", "role", "tabindex", "required", "maxlength", "rows", "selected",
		"autocomplete", "spellcheck", "datetime", "scope", "aria-current", "aria-labelledby",
		"aria-describedby", "aria-invalid", "aria-label")
)

func set(v ...string) map[string]bool {
	m := map[string]bool{}
	for _, s := range v {
		m[s] = true
	}
	return m
}

// checkMarkup parses a page and fails on any element or attribute outside
// the allowed sets, any link or form leaving this listener, and any style
// element beyond the one stylesheet.
func checkMarkup(t *testing.T, page string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	styles := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Errorf("parsing the page: %v", z.Err())
			}
			if styles != 1 {
				t.Errorf("got %d style elements; want 1", styles)
			}
			return
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if !allowedTags[tok.Data] {
				t.Errorf("the page holds a <%s> element", tok.Data)
			}
			if tok.Data == "style" {
				styles++
			}
			for _, a := range tok.Attr {
				if !allowedAttrs[a.Key] {
					t.Errorf("<%s> has the attribute %s=%q", tok.Data, a.Key, a.Val)
				}
				if (a.Key == "href" || a.Key == "action") && (!strings.HasPrefix(a.Val, "/") && !strings.HasPrefix(a.Val, "#") || strings.HasPrefix(a.Val, "//")) {
					t.Errorf("<%s %s=%q> leaves this listener", tok.Data, a.Key, a.Val)
				}
			}
		}
	}
}
