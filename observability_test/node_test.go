// Package observability_test checks what Signpost gives to the tools admins
// already watch, against a real node: that every metric the Grafana dashboard
// (configs/grafana/) and the Prometheus alerting rules (configs/prometheus/)
// name is one a node really exports, that the rules pass promtool's checks and
// unit tests, and that neither the log nor /metrics ever carries a query
// string, a cookie, a password or an auth header.
//
// It owns no code of the product; it tests the dashboards and rules as files
// and the node as a black box (service.New/Start, loopback origins from
// internal/testkit), so that a renamed metric or a leaking log line fails here
// whichever package introduced it.
package observability_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/signpost-gateway/signpost/internal/testkit"
	"github.com/signpost-gateway/signpost/proxy"
	"github.com/signpost-gateway/signpost/service"
)

// Secrets the traffic carries. None may appear in the log or in /metrics.
const (
	userName      = "alice"
	userPassword  = "pr0xy-pa55word-9f3"
	wrongPassword = "wr0ng-pa55word-7c1"
	queryToken    = "s3cret-query-token-41d"
	cookieValue   = "c00kie-s3cret-82a"
	authHeader    = "Bearer auth-h3ader-s3cret-5e0"
	hookSecret    = "h00k-hmac-s3cret-key-6b2"
)

// nodeConfig is the node's configuration: one allowed app (with seats, for
// the usage figures), one warned and one blocked app, an htpasswd user
// (anonymous clients are still served), and a webhook to a loopback
// receiver so that the notify metrics have series.
// %s is the webhook's URL.
const nodeConfig = `proxy:
  allow_destinations: [127.0.0.1]
identity:
  htpasswd: users.htpasswd
policy:
  seats: {zoom: 500}
  rules:
    - {app: zoom, action: allow}
    - {app: slack, action: warn}
    - {app: wetransfer, action: block}
notify:
  webhooks:
    - {name: it-desk, url: "%s", format: json, secret_file: hook.secret}
`

// node is a running Signpost with its loopback origin, its JSON log and
// the webhook receiver's deliveries.
type node struct {
	t      testing.TB
	n      *service.Node
	origin *testkit.Origin
	dir    string
	token  string
	admin  string
	logs   *testkit.LogBuffer
	roots  *x509.CertPool // the origin's CA and the node's interception CA
	hooks  chan []byte    // webhook bodies, as the receiver gets them
	hook   string         // the webhook receiver's URL
	stop   func()         // shuts the node down, once
}

// startNode writes the configuration (its webhook pointing at a loopback
// receiver) and an htpasswd file, and starts a node on loopback
// that logs JSON at debug level, the most a node ever logs.
func startNode(t testing.TB) *node {
	t.Helper()
	hooks := make(chan []byte, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case hooks <- b:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	origin := testkit.NewOrigin(t, "zoom.us", "slack.com", "wetransfer.com")
	dir, data := t.TempDir(), t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(userPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "users.htpasswd"), userName+":"+string(hash)+"\n")
	writeFile(t, filepath.Join(dir, "hook.secret"), hookSecret+"\n")
	hook := receiver.URL + "/hook"
	writeFile(t, filepath.Join(dir, "signpost.yaml"), strings.Replace(nodeConfig, "%s", hook, 1))

	logs := &testkit.LogBuffer{}
	n, err := service.New(service.Options{
		ConfigDir: dir, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DataDir: data,
		DisableWatch: true, Version: "v0.0.0-test",
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Proxy:  proxy.Options{Resolve: origin.Resolve, UpstreamTLS: &tls.Config{RootCAs: origin.Pool()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutting the node down: %v", err)
		}
	})
	t.Cleanup(stop)
	tok, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(data, "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := origin.Pool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("the node's CA certificate does not parse")
	}
	return &node{t: t, n: n, origin: origin, dir: dir, token: strings.TrimSpace(string(tok)),
		admin: "http://" + n.AdminAddr().String(), logs: logs, roots: roots, hooks: hooks, hook: hook, stop: stop}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// client returns a client that uses the node as its proxy with the given
// Basic credentials ("" for none); Go's transport sends them as
// Proxy-Authorization on plain requests and on CONNECT alike. It follows
// no redirects, so each answer is the proxy's own.
func (n *node) client(password string) *http.Client {
	n.t.Helper()
	u := &url.URL{Scheme: "http", Host: n.n.ProxyAddr().String()}
	if password != "" {
		u.User = url.UserPassword(userName, password)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{RootCAs: n.roots}}
	n.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// do sends one request carrying a cookie and an Authorization header, as a
// browser would to a site it is signed in to, and returns the status and
// body.
func (n *node) do(c *http.Client, method, rawURL string, form url.Values) (int, string) {
	n.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Cookie", "session="+cookieValue)
	req.Header.Set("Authorization", authHeader)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatalf("%s %s: reading the answer: %v", method, rawURL, err)
	}
	return resp.StatusCode, string(b)
}

var fieldRE = regexp.MustCompile(`name="(ctx|csrf)" value="([^"]*)"`)

// formOf returns the hidden fields of the page's form posting to action.
func formOf(t testing.TB, page, action string) url.Values {
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

// traffic is what drive sent, for the checks that follow.
type traffic struct {
	// formSecrets are the signed contexts and CSRF tokens of the forms the
	// pages carried: bound to one person, they must stay out of the log.
	formSecrets []string
}

// drive sends the traffic every check here needs, each request carrying a
// query token, a cookie and an Authorization header: an allowed request
// (plain, and through a tunnel that then closes), a warned one (plain, and
// intercepted over HTTPS) followed by "continue", a blocked one followed by
// an access request (which a webhook announces), an upstream failure, a
// wrong proxy password, and a configuration reload through the admin API.
func (n *node) drive() traffic {
	t := n.t
	t.Helper()
	var tr traffic
	c := n.client(userPassword)
	q := "?token=" + queryToken

	want := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: got status %d; want %d", what, got, want)
		}
	}
	code, body := n.do(c, "GET", "http://zoom.us/j/123"+q, nil)
	want("allowed plain request", code, http.StatusOK)
	if !strings.Contains(body, queryToken) {
		t.Fatalf("the origin did not get the allowed request's query: %s", body)
	}
	// The tunnel's own client, so that closing its connection closes the
	// tunnel: its bytes are counted (and logged) when it closes.
	tc := n.client(userPassword)
	code, _ = n.do(tc, "GET", "https://zoom.us/j/123"+q, nil)
	want("allowed request through a tunnel", code, http.StatusOK)
	tc.CloseIdleConnections()
	n.waitLog(`"msg":"tunnel closed"`)

	code, page := n.do(c, "GET", "https://slack.com/messages"+q, nil)
	want("warned request, intercepted", code, http.StatusOK)
	f := formOf(t, page, proxy.ActionPrefix+"continue")
	tr.formSecrets = append(tr.formSecrets, f.Get("ctx"), f.Get("csrf"))

	code, page = n.do(c, "GET", "http://slack.com/messages"+q, nil)
	want("warned plain request", code, http.StatusOK)
	f = formOf(t, page, proxy.ActionPrefix+"continue")
	tr.formSecrets = append(tr.formSecrets, f.Get("ctx"), f.Get("csrf"))
	code, _ = n.do(c, "POST", "http://slack.com"+proxy.ActionPrefix+"continue", f)
	want("continue", code, http.StatusSeeOther)

	code, page = n.do(c, "GET", "http://wetransfer.com/upload"+q, nil)
	want("blocked request", code, http.StatusForbidden)
	f = formOf(t, page, proxy.ActionPrefix+"request")
	tr.formSecrets = append(tr.formSecrets, f.Get("ctx"), f.Get("csrf"))
	f.Set("justification", "Sending the launch video to our agency.")
	code, _ = n.do(c, "POST", "http://wetransfer.com"+proxy.ActionPrefix+"request", f)
	want("access request", code, http.StatusSeeOther)
	select {
	case <-n.hooks:
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook did not announce the access request within 10 s")
	}

	// 127.0.0.2 is loopback but not in allow_destinations: the destination
	// guard refuses the dial, an upstream error of kind "destination".
	code, _ = n.do(c, "GET", "http://127.0.0.2:1/"+q, nil)
	want("request to a refused destination", code, http.StatusForbidden)

	code, _ = n.do(n.client(wrongPassword), "GET", "http://zoom.us/"+q, nil)
	want("wrong proxy password", code, http.StatusProxyAuthRequired)

	writeFile(t, filepath.Join(n.dir, "signpost.yaml"),
		strings.Replace(nodeConfig, "%s", n.hook, 1)+"requests: {requests_per_hour: 5}\n")
	code, _ = n.adminGet("POST", "/api/v1/reload")
	want("reload through the admin API", code, http.StatusOK)
	return tr
}

// waitLog waits until the log holds s: the node logs some lines after the
// answer that caused them has gone out.
func (n *node) waitLog(s string) {
	n.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(n.logs.String(), s); {
		if time.Now().After(deadline) {
			n.t.Fatalf("the log did not show %s within 10 s:\n%s", s, n.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// adminGet sends an authenticated request to the admin listener.
func (n *node) adminGet(method, path string) (int, string) {
	n.t.Helper()
	req, err := http.NewRequest(method, n.admin+path, nil)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape returns the node's /metrics in the Prometheus text format.
func (n *node) scrape() string {
	n.t.Helper()
	code, body := n.adminGet("GET", "/metrics")
	if code != http.StatusOK {
		n.t.Fatalf("GET /metrics: got %d; want 200", code)
	}
	return body
}
