package attack_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
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
	"testing/fstest"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	"github.com/signpost-gateway/signpost/ca"
	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/internal/testkit"
	"github.com/signpost-gateway/signpost/proxy"
	"github.com/signpost-gateway/signpost/store"
)

// policyYAML is the policy the attacks run against: Teams and OneDrive
// allowed, chat warned (Teams instead), file transfer blocked (OneDrive
// instead), and Google Sheets blocked on docs.google.com, whose other paths
// stay allowed. bücher.example is an admin's own app with an IDN domain,
// written in punycode as the configuration requires.
const policyYAML = `
apps:
  - id: buecher
    name: Bücher
    vendor: Test
    category: file-transfer
    homepage: https://xn--bcher-kva.example/
    domains: [xn--bcher-kva.example]
policy:
  default: {action: allow}
  rules:
    - {app: microsoft-teams, action: allow}
    - {app: onedrive, action: allow}
    - {category: chat, action: warn, alternative: microsoft-teams, reason: "Use Teams."}
    - {category: file-transfer, action: block, alternative: onedrive, reason: "No transfers."}
    - {app: google-sheets, action: block}
`

// loopbackOK lets the proxy reach the loopback test origins: the
// destination check refuses loopback unless an admin allowlists it. Only
// 127.0.0.1 is listed, so 127.0.0.2 stands in for "internal".
const loopbackOK = "proxy:\n  allow_destinations: [127.0.0.1/32]\n"

// originNames are the names the test origin's certificate covers.
var originNames = []string{"teams.microsoft.com", "slack.com", "acme.slack.com", "wetransfer.com",
	"docs.google.com", "xn--bcher-kva.example", "rebind.example"}

// resolver is the proxy's Resolve hook: every name goes to the test origin
// unless routes says otherwise, and a route with several answers gives the
// next one on each lookup (DNS rebinding). IP literals are returned as they
// are, so that the proxy's own destination check — not this resolver —
// decides whether they may be dialed. That check runs in
// net.Dialer.Control, before connect(2): the non-loopback addresses the
// tests name (metadata, private ranges) are refused without a packet sent.
type resolver struct {
	origin *testkit.Origin
	mu     sync.Mutex
	routes map[string][]string // "host:port" → answers, used in turn; the last repeats
	errs   map[string]error    // "host:port" → the lookup fails with this
	asked  []string
}

func newResolver(origin *testkit.Origin) *resolver {
	return &resolver{origin: origin, routes: map[string][]string{}, errs: map[string]error{}}
}

// fail makes lookups of hostport fail with err.
func (r *resolver) fail(hostport string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[hostport] = err
}

// route makes lookups of hostport answer with answers, one per lookup.
func (r *resolver) route(hostport string, answers ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes[hostport] = answers
}

// lookups returns every "host:port" the proxy asked for, in order.
func (r *resolver) lookups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.asked...)
}

// Resolve is the proxy.Options.Resolve hook.
func (r *resolver) Resolve(ctx context.Context, hostport string) (string, error) {
	r.mu.Lock()
	r.asked = append(r.asked, hostport)
	if err, ok := r.errs[hostport]; ok {
		r.mu.Unlock()
		return "", err
	}
	if answers, ok := r.routes[hostport]; ok && len(answers) > 0 {
		a := answers[0]
		if len(answers) > 1 {
			r.routes[hostport] = answers[1:]
		}
		r.mu.Unlock()
		return a, nil
	}
	r.mu.Unlock()
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if net.ParseIP(host) != nil {
		return hostport, nil
	}
	return r.origin.Resolve(ctx, hostport)
}

// gateway is the real proxy: goproxy with Signpost attached, served by
// proxy.NewServer on loopback, as the binary runs it.
type gateway struct {
	t      testing.TB
	origin *testkit.Origin
	res    *resolver
	ca     *ca.CA
	gw     *proxy.Gateway
	p      *goproxy.ProxyHttpServer
	srv    *http.Server
	reg    *prometheus.Registry
	logs   *testkit.LogBuffer
	store  store.Store
	key    []byte
	addr   string
	url    *url.URL

	closeOnce sync.Once
	closers   []func()
}

// setup says how a gateway is built.
type setup struct {
	yaml  string     // configuration (policyYAML is not added)
	store bool       // a real SQLite store behind the grant cache
	noCA  bool       // no interception CA
	level slog.Level // log level; the zero value is info
	dns   bool       // no Resolve hook: names resolve as the binary resolves them
}

func loadConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.LoadFS(fstest.MapFS{"signpost.yaml": {Data: []byte(yaml)}}, "", "test")
	if err != nil {
		t.Fatalf("loading test config: %v", err)
	}
	return cfg
}

func startGateway(t testing.TB, s setup) *gateway {
	t.Helper()
	origin := testkit.NewOrigin(t, originNames...)
	g := &gateway{t: t, origin: origin, logs: &testkit.LogBuffer{}, reg: prometheus.NewRegistry(),
		res: newResolver(origin)}
	cfg := loadConfig(t, s.yaml)
	if !s.noCA {
		c, err := ca.Generate(ca.Options{})
		if err != nil {
			t.Fatal(err)
		}
		g.ca = c
	}
	g.key = bytes.Repeat([]byte("k"), 32)
	logger := slog.New(slog.NewJSONHandler(g.logs, &slog.HandlerOptions{Level: s.level}))
	opts := proxy.Options{
		Config: cfg, CA: g.ca, Logger: logger, Registerer: g.reg, Resolve: g.res.Resolve,
		UpstreamTLS: &tls.Config{RootCAs: origin.Pool()}, PageKey: g.key,
	}
	if s.dns {
		opts.Resolve = nil
	}
	if s.store {
		st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "signpost.db"))
		if err != nil {
			t.Fatal(err)
		}
		gc := store.NewGrantCache(st, store.GrantCacheOptions{TTL: time.Minute})
		g.store, opts.Store, opts.Grants = gc, gc, gc
		g.closers = append(g.closers, func() { _ = st.Close() })
	}
	p, gw, err := proxy.NewProxy(opts)
	if err != nil {
		t.Fatal(err)
	}
	g.p, g.gw = p, gw
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.srv = proxy.NewServer(cfg.Proxy, p, logger)
	served := make(chan struct{})
	go func() { defer close(served); _ = g.srv.Serve(proxy.Listener(ln)) }()
	g.addr = ln.Addr().String()
	g.url = &url.URL{Scheme: "http", Host: g.addr}
	gw.SetSelf(g.addr)
	// Closing order: the listener and its connections, then the upstream
	// transport's idle connections, then the origins and the store.
	g.closers = append([]func(){func() {
		_ = g.srv.Close()
		<-served
		p.Tr.CloseIdleConnections()
		origin.HTTP.Close()
		origin.TLS.Close()
	}}, g.closers...)
	t.Cleanup(g.close)
	return g
}

// close stops everything the gateway started; it is safe to call twice.
func (g *gateway) close() {
	g.closeOnce.Do(func() {
		for _, c := range g.closers {
			c()
		}
	})
}

// client is an HTTP client configured to use the proxy. It trusts the
// origin's CA and Signpost's, and does not follow redirects.
func (g *gateway) client() *http.Client {
	return g.clientAs("")
}

// clientAs is client with Basic proxy credentials "user:password".
func (g *gateway) clientAs(userinfo string) *http.Client {
	pool := g.origin.Pool()
	if g.ca != nil {
		pool.AddCert(g.ca.Cert)
	}
	u := *g.url
	if user, pw, ok := strings.Cut(userinfo, ":"); ok {
		u.User = url.UserPassword(user, pw)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(&u), TLSClientConfig: &tls.Config{RootCAs: pool}}
	g.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// do sends a request through c, as a browser's navigation unless hdr sets
// Accept, and returns the answer with its body read.
func (g *gateway) do(c *http.Client, method, rawURL string, body io.Reader, hdr ...string) (*http.Response, string) {
	g.t.Helper()
	return do(g.t, c, method, rawURL, body, hdr...)
}

func (g *gateway) get(c *http.Client, rawURL string, hdr ...string) (*http.Response, string) {
	g.t.Helper()
	return do(g.t, c, "GET", rawURL, nil, hdr...)
}

// post sends a page action's form through c.
func (g *gateway) post(c *http.Client, rawURL string, form url.Values, hdr ...string) (*http.Response, string) {
	g.t.Helper()
	return post(g.t, c, rawURL, form, hdr...)
}

// dial opens a raw TCP connection to the proxy, closed when the test ends.
func (g *gateway) dial() net.Conn {
	g.t.Helper()
	return dialProxy(g.t, g.addr)
}

// do sends a request through c (a client of some proxy), as a browser's
// navigation unless hdr sets Accept, and returns the answer with its body
// read.
func do(t testing.TB, c *http.Client, method, rawURL string, body io.Reader, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s through the proxy: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, rawURL, err)
	}
	return resp, string(b)
}

// post sends a page action's form through c.
func post(t testing.TB, c *http.Client, rawURL string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	hdr = append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)
	return do(t, c, "POST", rawURL, strings.NewReader(form.Encode()), hdr...)
}

// dialProxy opens a raw TCP connection to addr, closed when the test ends.
func dialProxy(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	return c
}

// raw writes a request exactly as given and reads one answer.
func (g *gateway) raw(request string) (*http.Response, string) {
	g.t.Helper()
	c := g.dial()
	if _, err := io.WriteString(c, request); err != nil {
		g.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		g.t.Fatalf("reading the answer to %q: %v", firstLine(request), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// rawAll writes a request exactly as given and returns everything the
// proxy sends until it closes the connection (or the deadline passes).
func (g *gateway) rawAll(request string) string {
	g.t.Helper()
	c := g.dial()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		g.t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// connect sends a raw CONNECT and returns the answer, its body (when not
// 200) and the connection.
func (g *gateway) connect(authority string, hdr ...string) (*http.Response, string, net.Conn) {
	g.t.Helper()
	return connectVia(g.t, g.addr, authority, hdr...)
}

// connectVia sends a raw CONNECT to the proxy at addr.
func connectVia(t testing.TB, addr, authority string, hdr ...string) (*http.Response, string, net.Conn) {
	t.Helper()
	c := dialProxy(t, addr)
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\n", authority)
	if httpguts.ValidHostHeader(authority) {
		fmt.Fprintf(&b, "Host: %s\r\n", authority)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatalf("reading the answer to CONNECT %s: %v", authority, err)
	}
	body := ""
	if resp.StatusCode != http.StatusOK {
		bb, _ := io.ReadAll(resp.Body)
		body = string(bb)
	}
	return resp, body, c
}

// tlsInside starts TLS inside an accepted CONNECT, with serverName as SNI,
// trusting Signpost's CA (or nothing, when insecure).
func (g *gateway) tlsInside(c net.Conn, serverName string, insecure bool) *tls.Conn {
	g.t.Helper()
	pool := x509.NewCertPool()
	if g.ca != nil {
		pool.AddCert(g.ca.Cert)
	}
	return g.handshake(c, &tls.Config{ServerName: serverName, RootCAs: pool, InsecureSkipVerify: insecure})
}

// tlsInsidePool starts TLS inside an accepted CONNECT trusting pool.
func (g *gateway) tlsInsidePool(c net.Conn, serverName string, pool *x509.CertPool) *tls.Conn {
	g.t.Helper()
	return g.handshake(c, &tls.Config{ServerName: serverName, RootCAs: pool})
}

func (g *gateway) handshake(c net.Conn, cfg *tls.Config) *tls.Conn {
	g.t.Helper()
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		g.t.Fatalf("TLS inside the tunnel (SNI %q): %v", cfg.ServerName, err)
	}
	return tc
}

// exchange writes one request on c and reads one answer.
func exchange(t testing.TB, c net.Conn, request string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", firstLine(request), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// counter returns the value of the series of metric name whose labels
// include want.
func (g *gateway) counter(name string, want map[string]string) float64 {
	g.t.Helper()
	mf, err := g.reg.Gather()
	if err != nil {
		g.t.Fatal(err)
	}
	var sum float64
	for _, f := range mf {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if l[k] != v {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// decisions counts decisions of kind for app with action.
func (g *gateway) decisions(kind, app, action string) float64 {
	g.t.Helper()
	return g.counter("signpost_proxy_decisions_total", map[string]string{"kind": kind, "app": app, "action": action})
}

// seenPaths lists the paths the origin received, for "the origin never saw
// it" assertions.
func (g *gateway) seenPaths() []string {
	var out []string
	for _, s := range g.origin.Seen() {
		out = append(out, s.Host+s.Path)
	}
	return out
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

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// startGatewayOrigin starts a test origin answering for originNames.
func startGatewayOrigin(t testing.TB) *testkit.Origin {
	t.Helper()
	return testkit.NewOrigin(t, originNames...)
}

// closedAddr returns a loopback address nothing listens on: connecting
// to it is refused.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
