package proxy_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signpost-gateway/signpost/ca"
	"github.com/signpost-gateway/signpost/internal/testkit"
	"github.com/signpost-gateway/signpost/proxy"
	"github.com/signpost-gateway/signpost/store"
)

// pageHarness runs the proxy with a real SQLite store behind the grant
// cache, as the binary does.
type pageHarness struct {
	*harness
	store *store.GrantCache
}

func startWithStore(t *testing.T, yaml string) *pageHarness {
	t.Helper()
	h := &harness{t: t, origin: testkit.NewOrigin(t, hostNames...), logs: &testkit.LogBuffer{}, reg: prometheus.NewRegistry()}
	cfg := loadConfig(t, yaml)
	c, err := ca.Generate(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.ca = c
	s, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "signpost.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	gc := store.NewGrantCache(s, store.GrantCacheOptions{TTL: time.Hour})
	logger := slog.New(slog.NewJSONHandler(h.logs, nil))
	p, gw, err := proxy.NewProxy(proxy.Options{
		Config: cfg, CA: c, Logger: logger, Registerer: h.reg, Resolve: h.origin.Resolve,
		UpstreamTLS: &tls.Config{RootCAs: h.origin.Pool()}, Store: gc, Grants: gc,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.gw = gw
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := proxy.NewServer(cfg.Proxy, p, logger)
	go func() { _ = srv.Serve(proxy.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	h.addr = ln.Addr().String()
	h.url = &url.URL{Scheme: "http", Host: h.addr}
	return &pageHarness{harness: h, store: gc}
}

var fieldRE = regexp.MustCompile(`name="(ctx|csrf)" value="([^"]*)"`)

// formOf returns the hidden fields of the page's form posting to action.
func formOf(t *testing.T, page, action string) url.Values {
	t.Helper()
	i := strings.Index(page, `action="`+action+`"`)
	if i < 0 {
		t.Fatalf("page has no form posting to %s:\n%s", action, page)
	}
	v := url.Values{}
	for _, m := range fieldRE.FindAllStringSubmatch(page[i:], 2) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("ctx") == "" || v.Get("csrf") == "" {
		t.Fatalf("form %s lacks ctx/csrf", action)
	}
	return v
}

func (h *pageHarness) post(c *http.Client, rawURL string, form url.Values, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", rawURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("POST %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestContinueGrantsAndTunnelsTheNextConnection(t *testing.T) {
	h := startWithStore(t, allowLoopback+testPolicy)
	c := h.client()
	resp, page := h.get(c, "https://acme.slack.com/messages/C1?x=1")
	if resp.StatusCode != 200 || !strings.Contains(page, "8 hours") {
		t.Fatalf("warn page: %d, lacks the continue duration:\n%s", resp.StatusCode, page)
	}
	form := formOf(t, page, "/.signpost/continue")
	resp, _ = h.post(c, "https://acme.slack.com/.signpost/continue", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("continue: got %d; want 303", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "https://acme.slack.com/messages/C1?x=1" {
		t.Fatalf("continue leads to %q; want the original URL on the same host", loc)
	}
	if !resp.Close {
		t.Fatal("continue did not close the intercepted connection")
	}
	// The next connection is a new CONNECT, now tunneled untouched to the
	// origin: the client sees the origin's own certificate.
	resp, _ = h.get(c, "https://acme.slack.com/messages/C1?x=1")
	if resp.Header.Get("X-Origin") != "test-origin" || !resp.TLS.PeerCertificates[0].Equal(h.origin.Leaf) {
		t.Fatalf("after continue: got %d from %q; want the origin, untouched", resp.StatusCode, resp.Header.Get("X-Origin"))
	}
	// The same form cannot be used twice.
	resp, _ = h.post(c, "https://slack.com/.signpost/continue", form)
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatal("a continue form was accepted on another host or twice")
	}
	grants, err := h.store.Grants(context.Background(), store.GrantFilter{ActiveAt: time.Now(), App: "slack"})
	if err != nil || len(grants) != 1 || grants[0].Source != store.SourceContinue || grants[0].ExpiresAt.Sub(grants[0].CreatedAt) != 8*time.Hour {
		t.Fatalf("grants: %+v %v; want one 8-hour continue", grants, err)
	}
}

func TestRequestAccessThenApprovalThenDenialMessage(t *testing.T) {
	h := startWithStore(t, allowLoopback+testPolicy)
	c := h.client()
	resp, page := h.get(c, "https://wetransfer.com/")
	if resp.StatusCode != 403 {
		t.Fatalf("block page: %d", resp.StatusCode)
	}
	form := formOf(t, page, "/.signpost/request")
	form.Set("justification", "Sending 4 GB of <b>video</b> to our agency.")
	resp, _ = h.post(c, "https://wetransfer.com/.signpost/request", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.signpost/requests?received=1" {
		t.Fatalf("request: got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, status := h.get(c, "https://wetransfer.com/.signpost/requests?received=1")
	if resp.StatusCode != 200 || !strings.Contains(status, "WeTransfer") || !strings.Contains(status, "&lt;b&gt;video&lt;/b&gt;") {
		t.Fatalf("status page: %d\n%s", resp.StatusCode, status)
	}
	reqs, err := h.store.Requests(context.Background(), store.RequestFilter{App: "wetransfer"})
	if err != nil || len(reqs) != 1 || reqs[0].Subject != "ip:127.0.0.1" || reqs[0].URLHost != "wetransfer.com" {
		t.Fatalf("stored requests: %+v %v", reqs, err)
	}
	// While pending, the page says so instead of offering a second form.
	_, page = h.get(c, "https://wetransfer.com/")
	if strings.Contains(page, `action="/.signpost/request"`) {
		t.Fatal("the page offers a second request while one is pending")
	}
	// An admin approves: the grant cache is invalidated by the write, and
	// the next CONNECT reaches the origin.
	if _, _, err := h.store.Decide(context.Background(), reqs[0].ID, store.Decision{Approve: true, By: "admin", GrantFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	c2 := h.client()
	resp, _ = h.get(c2, "https://wetransfer.com/")
	if resp.Header.Get("X-Origin") != "test-origin" {
		t.Fatalf("after approval: got %d; want the origin", resp.StatusCode)
	}
}

func TestDenialMessageIsShownNextTime(t *testing.T) {
	h := startWithStore(t, allowLoopback+testPolicy)
	c := h.client()
	_, page := h.get(c, "https://wetransfer.com/")
	form := formOf(t, page, "/.signpost/request")
	form.Set("justification", "Need it")
	h.post(c, "https://wetransfer.com/.signpost/request", form)
	reqs, _ := h.store.Requests(context.Background(), store.RequestFilter{App: "wetransfer"})
	if len(reqs) != 1 {
		t.Fatalf("got %d requests", len(reqs))
	}
	if _, _, err := h.store.Decide(context.Background(), reqs[0].ID, store.Decision{Approve: false, By: "admin", Message: "Use OneDrive <links>, they expire."}); err != nil {
		t.Fatal(err)
	}
	_, page = h.get(c, "https://wetransfer.com/")
	if !strings.Contains(page, "Use OneDrive &lt;links&gt;, they expire.") {
		t.Fatalf("the denial message is not on the page:\n%s", page)
	}
	if !strings.Contains(page, `action="/.signpost/request"`) {
		t.Fatal("after a denial the person cannot ask again")
	}
}

func TestPageActionsRefuseForgeries(t *testing.T) {
	h := startWithStore(t, allowLoopback+testPolicy+"requests: {requests_per_hour: 1}\n")
	c := h.client()
	_, page := h.get(c, "https://wetransfer.com/")
	form := formOf(t, page, "/.signpost/request")
	form.Set("justification", "ok")
	tamper := func(key, value string) url.Values {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set(key, value)
		return f
	}
	tests := []struct {
		name   string
		url    string
		form   url.Values
		hdr    []string
		status int
	}{
		{"missing CSRF token", "https://wetransfer.com/.signpost/request", tamper("csrf", ""), nil, 403},
		{"forged context", "https://wetransfer.com/.signpost/request", tamper("ctx", "eyJzIjoiaXA6MTI3LjAuMC4xIn0.AAAA"), nil, 403},
		{"cross-site origin", "https://wetransfer.com/.signpost/request", form, []string{"Origin", "https://evil.example"}, 403},
		{"cross-site fetch", "https://wetransfer.com/.signpost/request", form, []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"form of another host", "https://slack.com/.signpost/request", form, nil, 403},
		{"empty justification", "https://wetransfer.com/.signpost/request", tamper("justification", "   "), nil, 400},
		{"oversized justification", "https://wetransfer.com/.signpost/request", tamper("justification", strings.Repeat("x", 1001)), nil, 400},
		{"oversized body", "https://wetransfer.com/.signpost/request", tamper("justification", strings.Repeat("x", 20000)), nil, 413},
		{"GET on an action", "", nil, nil, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			if tt.form == nil {
				resp, _ = h.get(c, "https://wetransfer.com/.signpost/request")
			} else {
				resp, _ = h.post(c, tt.url, tt.form, tt.hdr...)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("got %d; want %d", resp.StatusCode, tt.status)
			}
		})
	}
	if reqs, _ := h.store.Requests(context.Background(), store.RequestFilter{}); len(reqs) != 0 {
		t.Fatalf("forgeries stored %d requests", len(reqs))
	}
	// Then the real one; the forgeries above were refused before the rate
	// limit counted them.
	resp, _ := h.post(c, "https://wetransfer.com/.signpost/request", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.signpost/requests?received=1" {
		t.Fatalf("valid request: got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The same form again is a replay.
	resp, _ = h.post(c, "https://wetransfer.com/.signpost/request", form)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("replayed form: got %d; want 403", resp.StatusCode)
	}
	// A second app's request exceeds the limit of 1 an hour.
	_, page = h.get(c, "https://docs.google.com/spreadsheets/d/1")
	sheets := formOf(t, page, "/.signpost/request")
	sheets.Set("justification", "A shared budget sheet from a customer.")
	resp, _ = h.post(c, "https://docs.google.com/.signpost/request", sheets)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second request within the hour: got %d; want 429", resp.StatusCode)
	}
	resp, _ = h.post(c, "https://wetransfer.com/.signpost/continue", form)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("continue on a blocked app: got %d; want 403", resp.StatusCode)
	}
	if reqs, _ := h.store.Requests(context.Background(), store.RequestFilter{}); len(reqs) != 1 {
		t.Fatalf("stored %d requests; want 1", len(reqs))
	}
}

func TestFetchRequestsGetJSON(t *testing.T) {
	h := startWithStore(t, allowLoopback+testPolicy)
	resp, body := h.get(h.client(), "https://acme.slack.com/api/conversations.list", "Accept", "application/json", "Sec-Fetch-Mode", "cors")
	var e map[string]string
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	if resp.StatusCode != 200 || e["action"] != "warn" || e["app"] != "slack" || e["alternative"] != "Microsoft Teams" || e["page_url"] == "" {
		t.Fatalf("JSON explanation: %d %v", resp.StatusCode, e)
	}
}

func TestPooledInterceptedConnectionIsSentToANewTunnelAfterContinue(t *testing.T) {
	h := startWithStore(t, allowLoopback+testPolicy)
	// A browser keeps a spare intercepted connection to the host in its
	// pool while the person clicks Continue on another one.
	resp, _, spare := h.connect("slack.com:443")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	pool := h.origin.Pool()
	pool.AddCert(h.ca.Cert)
	tc := tls.Client(spare, &tls.Config{ServerName: "slack.com", RootCAs: pool})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	_, page := h.get(c, "https://slack.com/channel?x=1")
	if resp, _ := h.post(c, "https://slack.com/.signpost/continue", formOf(t, page, "/.signpost/continue")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("continue: %d", resp.StatusCode)
	}
	// The browser now reuses the spare connection: it is redirected to the
	// same URL on a new connection, never served through interception.
	if _, err := io.WriteString(tc, "GET /channel?x=1 HTTP/1.1\r\nHost: slack.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadResponse(bufioReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusTemporaryRedirect || r.Header.Get("Location") != "https://slack.com/channel?x=1" || !r.Close {
		t.Fatalf("reused intercepted connection: got %d to %q (close %v); want 307 to the same URL, closing", r.StatusCode, r.Header.Get("Location"), r.Close)
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// countingStore counts the per-person reads a page makes.
type countingStore struct {
	store.Store
	mu      sync.Mutex
	pending int
}

func (c *countingStore) PendingFor(ctx context.Context, subject, app string) (*store.Request, error) {
	c.mu.Lock()
	c.pending++
	c.mu.Unlock()
	return c.Store.PendingFor(ctx, subject, app)
}

func (c *countingStore) reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending
}

func TestPageViewsReuseWhatTheStoreSaid(t *testing.T) {
	h := startWithStore(t, allowLoopback+testPolicy)
	cs := &countingStore{Store: h.store}
	h.gw.SetStoreForTest(cs)
	c := h.client()
	_, page := h.get(c, "https://wetransfer.com/")
	h.get(c, "https://wetransfer.com/again")
	if n := cs.reads(); n != 1 {
		t.Fatalf("two page views read the person's requests %d times; want once", n)
	}
	// A request invalidates what was read: the next page says it is pending.
	form := formOf(t, page, "/.signpost/request")
	form.Set("justification", "Sending a 4 GB video to the agency.")
	if resp, _ := h.post(c, "https://wetransfer.com/.signpost/request", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("request: %d", resp.StatusCode)
	}
	_, page = h.get(c, "https://wetransfer.com/")
	if strings.Contains(page, `action="/.signpost/request"`) {
		t.Fatal("after a request the page still offers the form: the cached state was not invalidated")
	}
}
