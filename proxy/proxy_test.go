package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/signpost-gateway/signpost/ca"
	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/internal/testkit"
	"github.com/signpost-gateway/signpost/proxy"
)

// testPolicy is the policy most tests run: Teams allowed, chat warned with
// Teams as the alternative, file transfer blocked, and Google Sheets
// blocked on docs.google.com, whose other paths stay allowed.
const testPolicy = `
policy:
  default: {action: allow}
  rules:
    - {app: microsoft-teams, action: allow}
    - {app: onedrive, action: allow}
    - category: chat
      action: warn
      alternative: microsoft-teams
      reason: "Use Teams <b>please</b>"
    - {category: file-transfer, action: block, alternative: onedrive, reason: "No transfers."}
    - {app: google-sheets, action: block}
`

// allowLoopback lets the proxy reach the loopback origins: the destination
// check refuses loopback unless an admin allowlists it.
const allowLoopback = `
proxy:
  allow_destinations: [127.0.0.1]
`

// hostNames are the catalog names the origin's certificate covers.
var hostNames = []string{"teams.microsoft.com", "slack.com", "acme.slack.com", "wetransfer.com", "docs.google.com", "example.org",
	"acme.atlassian.net", "beta.atlassian.net"}

type harness struct {
	t      testing.TB
	origin *testkit.Origin
	ca     *ca.CA
	gw     *proxy.Gateway
	reg    *prometheus.Registry
	addr   string
	url    *url.URL
	logs   *testkit.LogBuffer
}

type setup struct {
	yaml string
	noCA bool
}

func loadConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.LoadFS(fstest.MapFS{"signpost.yaml": {Data: []byte(yaml)}}, "", "test")
	if err != nil {
		t.Fatalf("loading test config: %v", err)
	}
	return cfg
}

func start(t testing.TB, s setup) *harness {
	t.Helper()
	h := &harness{t: t, origin: testkit.NewOrigin(t, hostNames...), logs: &testkit.LogBuffer{}, reg: prometheus.NewRegistry()}
	cfg := loadConfig(t, s.yaml)
	if !s.noCA {
		c, err := ca.Generate(ca.Options{})
		if err != nil {
			t.Fatal(err)
		}
		h.ca = c
	}
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p, gw, err := proxy.NewProxy(proxy.Options{
		Config:      cfg,
		CA:          h.ca,
		Logger:      logger,
		Registerer:  h.reg,
		Resolve:     h.origin.Resolve,
		UpstreamTLS: &tls.Config{RootCAs: h.origin.Pool()},
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
	gw.SetSelf(h.addr)
	h.url = &url.URL{Scheme: "http", Host: h.addr}
	return h
}

// client is a Go http.Client configured to use the proxy, trusting the
// origin's CA and (when there is one) Signpost's.
func (h *harness) client() *http.Client {
	pool := h.origin.Pool()
	if h.ca != nil {
		pool.AddCert(h.ca.Cert)
	}
	tr := &http.Transport{
		Proxy:           http.ProxyURL(h.url),
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (h *harness) get(c *http.Client, rawURL string, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	// A browser's navigation, unless the test says otherwise.
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("GET %s through the proxy: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, string(b)
}

// connect sends a raw CONNECT and returns the proxy's answer and the
// connection (open when the answer was 200).
func (h *harness) connect(authority string, hdr ...string) (*http.Response, string, net.Conn) {
	h.t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", authority, authority)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		h.t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil {
		h.t.Fatalf("reading CONNECT answer: %v", err)
	}
	body := ""
	if resp.StatusCode != http.StatusOK {
		bb, _ := io.ReadAll(resp.Body)
		body = string(bb)
	}
	return resp, body, c
}

func (h *harness) decisions(kind, app, action string) float64 {
	h.t.Helper()
	return counterValue(h.t, h.reg, "signpost_proxy_decisions_total", map[string]string{"kind": kind, "app": app, "action": action})
}

// counterValue returns the counter series of name whose labels include
// want, or 0 when there is none.
func counterValue(t testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range mf {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if l[k] != v {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestConnectAllowedIsTunneledUntouched(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	resp, body := h.get(h.client(), "https://teams.microsoft.com/v2/?x=1")
	if resp.StatusCode != 200 {
		t.Fatalf("status: got %d; want 200 (body %q)", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Origin") != "test-origin" {
		t.Fatalf("response did not come from the origin: %v", resp.Header)
	}
	// The client must see the origin's own certificate, not one minted by
	// Signpost: the chain verifies to the origin's CA.
	chain := resp.TLS.VerifiedChains[0]
	if got := chain[len(chain)-1]; !got.Equal(h.origin.CA) {
		t.Fatalf("chain root: got %q; want the origin's CA", got.Subject.CommonName)
	}
	if !resp.TLS.PeerCertificates[0].Equal(h.origin.Leaf) {
		t.Fatalf("leaf: got %q; want the origin's own leaf", resp.TLS.PeerCertificates[0].Subject.CommonName)
	}
	if got := h.decisions("connect", "microsoft-teams", "allow"); got != 1 {
		t.Fatalf("decisions{connect,microsoft-teams,allow}: got %v; want 1", got)
	}
	if h.ca != nil {
		if hits, misses := certStats(t, h); hits+misses != 0 {
			t.Fatalf("an allowed tunnel minted a certificate: hits %v misses %v", hits, misses)
		}
	}
}

func certStats(t *testing.T, h *harness) (float64, float64) {
	t.Helper()
	mf, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var hits, misses float64
	for _, f := range mf {
		switch f.GetName() {
		case "signpost_proxy_cert_cache_hits_total":
			hits = f.GetMetric()[0].GetCounter().GetValue()
		case "signpost_proxy_cert_cache_misses_total":
			misses = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return hits, misses
}

func TestConnectWarnAndBlockAreInterceptedWithThePage(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	c := h.client()
	tests := []struct {
		name, url  string
		status     int
		wantInBody []string
	}{
		{"warn", "https://acme.slack.com/messages?token=secret", 200,
			[]string{"Slack", "acme.slack.com", "Microsoft Teams", "https://teams.microsoft.com/", "Use Teams &lt;b&gt;please&lt;/b&gt;"}},
		{"block", "https://wetransfer.com/", 403, []string{"WeTransfer", "OneDrive", "No transfers."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.get(c, tt.url)
			if resp.StatusCode != tt.status {
				t.Fatalf("status: got %d; want %d", resp.StatusCode, tt.status)
			}
			for _, w := range tt.wantInBody {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
			if strings.Contains(body, "token=secret") {
				t.Errorf("page shows the URL's query")
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q; want no-store", got)
			}
			if resp.Header.Get("Content-Security-Policy") == "" {
				t.Errorf("no Content-Security-Policy")
			}
			leaf := resp.TLS.PeerCertificates[0]
			if err := leaf.CheckSignatureFrom(h.ca.Cert); err != nil {
				t.Fatalf("leaf is not signed by Signpost's CA: %v", err)
			}
			if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || leaf.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
				t.Errorf("leaf key: got %T; want ECDSA P-256", leaf.PublicKey)
			}
		})
	}
	if n := len(h.origin.Seen()); n != 0 {
		t.Fatalf("origin received %d requests for warned/blocked apps; want 0", n)
	}
	if got := h.decisions("intercepted", "slack", "warn"); got != 1 {
		t.Errorf("decisions{intercepted,slack,warn}: got %v; want 1", got)
	}
	if got := h.decisions("connect", "wetransfer", "block"); got != 1 {
		t.Errorf("decisions{connect,wetransfer,block}: got %v; want 1", got)
	}
	// The same host again reuses its leaf certificate.
	h.get(c, "https://wetransfer.com/again")
	c2 := h.client() // a new connection: a new CONNECT and TLS handshake
	h.get(c2, "https://wetransfer.com/third")
	if hits, _ := certStats(t, h); hits < 1 {
		t.Errorf("cert cache hits: got %v; want ≥ 1 after a second tunnel to the same host", hits)
	}
}

func TestConnectNeedingAPageWithoutCAIsRefusedWithReason(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy, noCA: true})
	resp, body, _ := h.connect("slack.com:443")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status: got %d; want 403", resp.StatusCode)
	}
	for _, w := range []string{"Slack", "warn", "interception is not configured"} {
		if !strings.Contains(body, w) {
			t.Errorf("reason %q lacks %q", body, w)
		}
	}
	// An allowed app still tunnels.
	resp, _ = h.get(h.client(), "https://teams.microsoft.com/")
	if resp.StatusCode != 200 {
		t.Fatalf("allowed app without CA: got %d; want 200", resp.StatusCode)
	}
}

// TestAcceptEncodingPassesAsSent: the proxy neither adds nor drops
// Accept-Encoding (Go's transport would add gzip and decompress in the
// proxy).
func TestAcceptEncodingPassesAsSent(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	noGzip := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(h.url), DisableCompression: true}}
	for _, hdr := range [][]string{nil, {"Accept-Encoding", "br"}} {
		resp, body := h.get(noGzip, "http://teams.microsoft.com/enc", hdr...)
		var seen testkit.Seen
		if err := json.Unmarshal([]byte(body), &seen); err != nil {
			t.Fatalf("origin answer (%d): %v: %s", resp.StatusCode, err, body)
		}
		want := ""
		if hdr != nil {
			want = hdr[1]
		}
		if got := seen.Header.Values("Accept-Encoding"); len(got) != len(hdr)/2 || want != "" && got[0] != want {
			t.Errorf("client sent Accept-Encoding %q; origin received %q", want, got)
		}
	}
}

func TestPlainHTTP(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	c := h.client()
	t.Run("allowed is forwarded with hop-by-hop headers removed", func(t *testing.T) {
		resp, body := h.get(c, "http://teams.microsoft.com/path?q=1",
			"Connection", "X-Secret-Hop, keep-alive", "X-Secret-Hop", "1", "Keep-Alive", "timeout=5",
			"Proxy-Authorization", "Basic Zm9vOmJhcg==", "Te", "trailers", "X-End-To-End", "kept")
		if resp.StatusCode != 200 {
			t.Fatalf("status: got %d; want 200: %s", resp.StatusCode, body)
		}
		var seen testkit.Seen
		if err := json.Unmarshal([]byte(body), &seen); err != nil {
			t.Fatalf("origin answer: %v: %s", err, body)
		}
		for _, k := range []string{"X-Secret-Hop", "Keep-Alive", "Proxy-Authorization", "Te", "Proxy-Connection"} {
			if v := seen.Header.Get(k); v != "" {
				t.Errorf("origin received %s: %q", k, v)
			}
		}
		if seen.Header.Get("X-End-To-End") != "kept" {
			t.Errorf("end-to-end header lost: %v", seen.Header)
		}
		if seen.Host != "teams.microsoft.com" || seen.Path != "/path" || seen.Query != "q=1" {
			t.Errorf("origin saw host %q path %q query %q", seen.Host, seen.Path, seen.Query)
		}
	})
	t.Run("warn page", func(t *testing.T) {
		resp, body := h.get(c, "http://slack.com/")
		if resp.StatusCode != 200 || !strings.Contains(body, "Microsoft Teams") {
			t.Fatalf("got %d %q; want 200 and the page", resp.StatusCode, body)
		}
	})
	t.Run("block page", func(t *testing.T) {
		resp, body := h.get(c, "http://wetransfer.com/")
		if resp.StatusCode != 403 || !strings.Contains(body, "WeTransfer") {
			t.Fatalf("got %d %q; want 403 and the page", resp.StatusCode, body)
		}
	})
	t.Run("Host header naming another site is overridden", func(t *testing.T) {
		// An absolute URI for an allowed host with a Host header naming a
		// blocked one must reach, and be decided as, the URI's host. Go's
		// client cannot send this mismatch, so write it by hand.
		conn, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET http://teams.microsoft.com/fronted HTTP/1.1\r\nHost: wetransfer.com\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var seen testkit.Seen
		if err := json.Unmarshal(body, &seen); err != nil {
			t.Fatalf("origin answer %d: %v: %s", resp.StatusCode, err, body)
		}
		if seen.Host != "teams.microsoft.com" {
			t.Fatalf("origin saw Host %q; want teams.microsoft.com", seen.Host)
		}
	})
	if n := len(h.origin.Seen()); n != 2 {
		t.Errorf("origin received %d requests; want 2 (the allowed ones)", n)
	}
}

func TestSplitHostDecidesEachRequestInsideTheTunnel(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	c := h.client()
	resp, body := h.get(c, "https://docs.google.com/spreadsheets/d/1")
	if resp.StatusCode != 403 || !strings.Contains(body, "Google Sheets") {
		t.Fatalf("sheets: got %d %q; want 403 page", resp.StatusCode, body)
	}
	resp, body = h.get(c, "https://docs.google.com/drawings/d/1")
	if resp.StatusCode != 200 || resp.Header.Get("X-Origin") != "test-origin" {
		t.Fatalf("drawings: got %d %q; want the origin's answer", resp.StatusCode, body)
	}
	// The path is cleaned before matching: no dot-segment evasion.
	req, _ := http.NewRequest("GET", "https://docs.google.com/x/../spreadsheets/d/1", nil)
	req.URL.Opaque = "//docs.google.com/x/../spreadsheets/d/1"
	resp2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 403 {
		t.Fatalf("dot-segment path: got %d; want 403", resp2.StatusCode)
	}
	if got := h.decisions("connect", "google-workspace", "split"); got < 1 {
		t.Errorf("decisions{connect,google-workspace,split}: got %v; want ≥ 1", got)
	}
}

// TestDomainPathRuleSplitsEverySite blocks an app of the admin's own that
// owns /wiki on every site under atlassian.net: on any site, /wiki gets the
// page and the rest reaches the origin (the Atlassian suite is allowed).
func TestDomainPathRuleSplitsEverySite(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy + "    - {app: confluence, action: block}\n" +
		"apps:\n  - {id: confluence, name: Confluence, category: docs, domain_paths: [atlassian.net/wiki]}\n"})
	c := h.client()
	for _, site := range []string{"acme.atlassian.net", "beta.atlassian.net"} {
		resp, body := h.get(c, "https://"+site+"/wiki/spaces/ENG")
		if resp.StatusCode != 403 || !strings.Contains(body, "Confluence") {
			t.Errorf("%s/wiki: got %d %q; want the block page for Confluence", site, resp.StatusCode, body)
		}
		resp, body = h.get(c, "https://"+site+"/browse/ENG-1")
		if resp.StatusCode != 200 || resp.Header.Get("X-Origin") != "test-origin" {
			t.Errorf("%s/browse: got %d %q; want the origin's answer", site, resp.StatusCode, body)
		}
	}
}

func TestDomainFrontingInsideAnInterceptedTunnelIsRefused(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	resp, _, conn := h.connect("docs.google.com:443")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: got %d; want 200", resp.StatusCode)
	}
	pool := x509.NewCertPool()
	pool.AddCert(h.ca.Cert)
	tc := tls.Client(conn, &tls.Config{ServerName: "docs.google.com", RootCAs: pool})
	fmt.Fprintf(tc, "GET /drawings HTTP/1.1\r\nHost: teams.microsoft.com\r\nConnection: close\r\n\r\n")
	r, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("inner Host naming another site: got %d; want 421", r.StatusCode)
	}
	if n := len(h.origin.Seen()); n != 0 {
		t.Fatalf("origin received %d requests; want 0", n)
	}
}

func TestNotAnOpenProxy(t *testing.T) {
	t.Run("client outside the allowed networks", func(t *testing.T) {
		h := start(t, setup{yaml: "proxy:\n  clients: [10.0.0.0/8]\n  allow_destinations: [127.0.0.1]\n" + testPolicy})
		resp, _, _ := h.connect("teams.microsoft.com:443")
		if resp.StatusCode != 403 {
			t.Errorf("CONNECT: got %d; want 403", resp.StatusCode)
		}
		resp, _ = h.get(h.client(), "http://teams.microsoft.com/")
		if resp.StatusCode != 403 {
			t.Errorf("GET: got %d; want 403", resp.StatusCode)
		}
		r, err := http.Get("http://" + h.addr + "/signpost/ca.crt")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 403 {
			t.Errorf("own route: got %d; want 403", r.StatusCode)
		}
		if n := len(h.origin.Seen()); n != 0 {
			t.Errorf("origin received %d requests; want 0", n)
		}
	})
	t.Run("CONNECT to a port not allowed", func(t *testing.T) {
		h := start(t, setup{yaml: allowLoopback + testPolicy})
		for _, a := range []string{"teams.microsoft.com:22", "teams.microsoft.com:8443", "teams.microsoft.com"} {
			resp, _, _ := h.connect(a)
			if resp.StatusCode == 200 {
				t.Errorf("CONNECT %s: got 200; want a refusal", a)
			}
		}
	})
	t.Run("destinations resolving to internal addresses", func(t *testing.T) {
		h := start(t, setup{yaml: testPolicy}) // loopback not allowlisted
		resp, body, _ := h.connect("teams.microsoft.com:443")
		if resp.StatusCode != 403 || strings.Contains(body, "127.0.0.1") {
			t.Errorf("CONNECT to a name resolving to loopback: got %d %q; want 403 without the address", resp.StatusCode, body)
		}
		resp, body = h.get(h.client(), "http://teams.microsoft.com/")
		if resp.StatusCode != 403 || strings.Contains(body, "127.0.0.1") {
			t.Errorf("GET to a name resolving to loopback: got %d %q; want 403 without the address", resp.StatusCode, body)
		}
		if n := len(h.origin.Seen()); n != 0 {
			t.Errorf("origin received %d requests; want 0", n)
		}
	})
	t.Run("the proxy's own listener", func(t *testing.T) {
		h := start(t, setup{yaml: allowLoopback + testPolicy})
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(h.url)}}
		resp, err := c.Get("http://" + h.addr + "/signpost/ca.crt")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("GET of the proxy itself through the proxy: got %d; want 403", resp.StatusCode)
		}
	})
}

func TestProxyAuthentication(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "users.htpasswd")
	if err := os.WriteFile(pw, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := allowLoopback + testPolicy + `
identity:
  htpasswd: ` + pw + `
  require_auth: true
  trusted_header: X-Authenticated-User
  trusted_peers: [10.9.9.9]
groups:
  chatters: [alice]
`
	yaml = strings.Replace(yaml, "  rules:\n", "  rules:\n    - {category: chat, group: chatters, action: allow}\n", 1)
	h := start(t, setup{yaml: yaml})

	resp, _, _ := h.connect("teams.microsoft.com:443")
	if resp.StatusCode != http.StatusProxyAuthRequired || !strings.HasPrefix(resp.Header.Get("Proxy-Authenticate"), "Basic ") {
		t.Fatalf("CONNECT without credentials: got %d %q; want 407 with a Basic challenge", resp.StatusCode, resp.Header.Get("Proxy-Authenticate"))
	}
	bad := "Basic " + b64("alice:wrong")
	if resp, _, _ := h.connect("teams.microsoft.com:443", "Proxy-Authorization", bad); resp.StatusCode != 407 {
		t.Fatalf("CONNECT with a wrong password: got %d; want 407", resp.StatusCode)
	}

	u := *h.url
	u.User = url.UserPassword("alice", "s3cret")
	pool := h.origin.Pool()
	pool.AddCert(h.ca.Cert)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&u), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	// alice is in "chatters", for whom chat is allowed: Slack tunnels.
	r, body := h.get(c, "https://slack.com/", "X-Authenticated-User", "mallory")
	if r.StatusCode != 200 || r.Header.Get("X-Origin") != "test-origin" {
		t.Fatalf("authenticated group member to Slack: got %d %q; want the origin", r.StatusCode, body)
	}
	r, body = h.get(c, "http://teams.microsoft.com/", "X-Authenticated-User", "mallory")
	var seen testkit.Seen
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		t.Fatalf("origin answer %d: %v: %s", r.StatusCode, err, body)
	}
	for _, k := range []string{"Proxy-Authorization", "X-Authenticated-User"} {
		if v := seen.Header.Get(k); v != "" {
			t.Errorf("origin received %s: %q", k, v)
		}
	}
	if !strings.Contains(h.logs.String(), `"user":"alice"`) {
		t.Errorf("decision log lacks the user:\n%s", h.logs.String())
	}
	if strings.Contains(h.logs.String(), "s3cret") || strings.Contains(h.logs.String(), b64("alice:s3cret")) {
		t.Errorf("log contains the password")
	}
}

func b64(s string) string {
	return base64Std(s)
}

func TestServesItsCA(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	resp, err := http.Get("http://" + h.addr + "/signpost/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, h.ca.CertPEM) {
		t.Fatalf("GET /signpost/ca.crt: got %d, %d bytes; want 200 and the CA's PEM", resp.StatusCode, len(body))
	}
	resp, err = http.Get("http://" + h.addr + "/anything")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("GET /anything on the proxy port: got %d; want 404", resp.StatusCode)
	}
}

func TestUpstreamFailureIsAFriendlyPage(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	h.origin.HTTP.Close() // plain-HTTP origin gone: connection refused
	resp, body := h.get(h.client(), "http://teams.microsoft.com/")
	if resp.StatusCode != 502 {
		t.Fatalf("status: got %d; want 502", resp.StatusCode)
	}
	if strings.Contains(body, "dial tcp") || strings.Contains(body, "connection refused") {
		t.Fatalf("page leaks Go's error text: %s", body)
	}
	resp, body = h.get(h.client(), "http://teams.microsoft.com/", "Accept", "application/json")
	var j struct {
		Status    int    `json:"status"`
		Reference string `json:"reference"`
	}
	if err := json.Unmarshal([]byte(body), &j); err != nil || j.Status != 502 || j.Reference == "" {
		t.Fatalf("JSON error: got %q (%v); want status 502 and a reference", body, err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("Content-Type: got %q", resp.Header.Get("Content-Type"))
	}
}

func TestAttachToAnotherGateway(t *testing.T) {
	// Another gateway owns a goproxy server with its own handler for one
	// host, registered first; Signpost is attached with one call.
	origin := testkit.NewOrigin(t, hostNames...)
	p := goproxy.NewProxyHttpServer()
	p.OnRequest(goproxy.DstHostIs("example.org")).DoFunc(func(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
		return r, goproxy.NewResponse(r, "text/plain", 299, "theirs")
	})
	cfg := loadConfig(t, allowLoopback+testPolicy)
	reg := prometheus.NewRegistry()
	if _, err := proxy.Attach(p, proxy.Options{Config: cfg, Registerer: reg, Resolve: origin.Resolve, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: ln.Addr().String()})}}
	for _, tt := range []struct {
		url    string
		status int
	}{
		{"http://example.org/", 299},
		{"http://wetransfer.com/", 403},
		{"http://teams.microsoft.com/", 200},
	} {
		resp, err := c.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("GET %s: got %d; want %d", tt.url, resp.StatusCode, tt.status)
		}
	}
	// On another gateway's server goproxy relays an allowed tunnel, bytes
	// sent with the CONNECT included.
	if resp, leaf := getThroughEarlyTunnel(t, ln.Addr().String(), "teams.microsoft.com", "", 0, origin.Pool()); resp.StatusCode != 200 || !leaf.Equal(origin.Leaf) {
		t.Errorf("tunnel on another gateway's server: got %s", resp.Status)
	}
	// A forwarded request is counted when goproxy has closed the origin's
	// body, which may be just after the client got its answer.
	deadline := time.Now().Add(5 * time.Second)
	for testutil.CollectAndCount(reg, "signpost_proxy_decisions_total") != 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.CollectAndCount(reg, "signpost_proxy_decisions_total"); got != 3 {
		t.Errorf("decision series: got %d; want 3 (two plain, one CONNECT)", got)
	}
}

func TestCurlThroughTheProxy(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required (scripts/install-deps.sh installs it)")
	}
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	dir := t.TempDir()
	originCA := filepath.Join(dir, "origin.pem")
	signpostCA := filepath.Join(dir, "signpost.pem")
	if err := os.WriteFile(originCA, h.origin.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(signpostCA, h.ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url, cacert, want string
		status                  string
	}{
		{"allowed https", "https://teams.microsoft.com/", originCA, "test-origin", "200"},
		{"warned https", "https://slack.com/", signpostCA, "Microsoft Teams", "200"},
		{"blocked https", "https://wetransfer.com/", signpostCA, "WeTransfer", "403"},
		{"blocked http", "http://wetransfer.com/", "", "WeTransfer", "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-sS", "--noproxy", "", "-x", "http://" + h.addr, "-D", "-", "-w", "\n%{http_code}", tt.url}
			if tt.cacert != "" {
				args = append(args, "--cacert", tt.cacert)
			}
			cmd := exec.Command(curl, args...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("curl %v: %v\n%s", args, err, out)
			}
			s := string(out)
			if !strings.Contains(s, tt.want) || !strings.HasSuffix(s, "\n"+tt.status) {
				t.Fatalf("curl %s: got\n%s\nwant %q and status %s", tt.url, s, tt.want, tt.status)
			}
		})
	}
	// curl without Signpost's CA refuses the intercepted page: interception
	// is visible, never silent.
	cmd := exec.Command(curl, "-sS", "--noproxy", "", "-x", "http://"+h.addr, "--cacert", originCA, "https://slack.com/")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("curl trusted an intercepted connection without Signpost's CA:\n%s", out)
	}
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParentProxy(t *testing.T) {
	// A bare goproxy stands in for the organisation's parent proxy; it
	// reaches the test origin through the same loopback resolver.
	origin := testkit.NewOrigin(t, hostNames...)
	parent := goproxy.NewProxyHttpServer()
	parent.Logger = log.New(io.Discard, "", 0)
	parent.Tr.Proxy = nil
	parent.ConnectDial = nil
	parent.Tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		a, err := origin.Resolve(ctx, addr)
		if err != nil {
			return nil, err
		}
		var d net.Dialer
		return d.DialContext(ctx, network, a)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	parent.OnRequest().HandleConnectFunc(func(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		mu.Lock()
		seen["CONNECT "+host]++
		mu.Unlock()
		return nil, ""
	})
	parent.OnRequest().DoFunc(func(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
		mu.Lock()
		seen["GET "+r.URL.Host]++
		mu.Unlock()
		return r, nil
	})
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	psrv := &http.Server{Handler: parent}
	go func() { _ = psrv.Serve(pln) }()
	t.Cleanup(func() { _ = psrv.Close() })

	// Signpost itself may not reach loopback: only the parent, which the
	// admin named, is exempt from the destination check.
	cfg := loadConfig(t, "proxy:\n  parent_proxy: http://"+pln.Addr().String()+"\n"+testPolicy)
	p, _, err := proxy.NewProxy(proxy.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), UpstreamTLS: &tls.Config{RootCAs: origin.Pool()}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := proxy.NewServer(cfg.Proxy, p, slog.New(slog.DiscardHandler))
	go func() { _ = srv.Serve(proxy.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })

	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: ln.Addr().String()}), TLSClientConfig: &tls.Config{RootCAs: origin.Pool()}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	for _, u := range []string{"http://teams.microsoft.com/a", "https://teams.microsoft.com/b"} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Origin") != "test-origin" {
			t.Fatalf("GET %s: got %d from %q; want the origin", u, resp.StatusCode, resp.Header.Get("X-Origin"))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["GET teams.microsoft.com"] != 1 || seen["CONNECT teams.microsoft.com:443"] != 1 {
		t.Fatalf("parent saw %v; want one GET and one CONNECT", seen)
	}
}

func TestPolicyChangeAndOpenTunnels(t *testing.T) {
	for _, closeBlocked := range []bool{false, true} {
		t.Run(fmt.Sprintf("close_blocked_tunnels=%v", closeBlocked), func(t *testing.T) {
			h := start(t, setup{yaml: allowLoopback + testPolicy})
			tr := &http.Transport{Proxy: http.ProxyURL(h.url), TLSClientConfig: &tls.Config{RootCAs: h.origin.Pool()}}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			get := func() error {
				resp, err := c.Get("https://teams.microsoft.com/")
				if err != nil {
					return err
				}
				// Read to the end so the connection can be reused.
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.Header.Get("X-Origin") != "test-origin" {
					return fmt.Errorf("status %d without the origin", resp.StatusCode)
				}
				return nil
			}
			if err := get(); err != nil {
				t.Fatal(err)
			}
			if n := h.gw.OpenTunnels(); n != 1 {
				t.Fatalf("open tunnels: got %d; want 1", n)
			}
			blocked := "policy:\n  rules:\n    - {app: microsoft-teams, action: block}\n"
			extra := ""
			if closeBlocked {
				extra = "  close_blocked_tunnels: true\n"
			}
			if err := h.gw.Swap(loadConfig(t, allowLoopback+extra+blocked)); err != nil {
				t.Fatal(err)
			}
			if closeBlocked {
				if n := h.gw.OpenTunnels(); n != 0 {
					t.Fatalf("open tunnels after the change: got %d; want 0", n)
				}
				// The kept-alive connection is gone: the next request opens a new
				// CONNECT, which the new rules intercept (no Signpost CA in this
				// client's pool, so TLS fails).
				if err := get(); err == nil {
					t.Fatal("request after the change reached the origin")
				}
			} else {
				// The open tunnel keeps working; new CONNECTs follow the new rules.
				if err := get(); err != nil {
					t.Fatalf("request on the open tunnel: %v", err)
				}
				if n := h.gw.OpenTunnels(); n != 1 {
					t.Fatalf("open tunnels: got %d; want 1", n)
				}
				resp, _, _ := h.connect("teams.microsoft.com:443")
				if resp.StatusCode != 200 {
					t.Fatalf("new CONNECT: got %d", resp.StatusCode)
				}
				if got := h.decisions("connect", "microsoft-teams", "block"); got != 1 {
					t.Fatalf("new CONNECT decided as block %v times; want 1", got)
				}
			}
		})
	}
}

func TestTunnelBytesAreCountedWhenItCloses(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	big := strings.Repeat("x", 256<<10)
	h.origin.Handle = func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) }
	resp, _, conn := h.connect("teams.microsoft.com:443")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "teams.microsoft.com", RootCAs: h.origin.Pool()})
	fmt.Fprintf(tc, "GET /big HTTP/1.1\r\nHost: teams.microsoft.com\r\nConnection: close\r\n\r\n")
	r, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, r.Body)
	r.Body.Close()
	tc.Close()
	if n != int64(len(big)) {
		t.Fatalf("read %d bytes; want %d", n, len(big))
	}
	// The tunnel ends when both sides have closed; its bytes are counted
	// then, from the kernel's own figures.
	deadline := time.Now().Add(5 * time.Second)
	for {
		down := counterValue(t, h.reg, "signpost_proxy_tunnel_bytes_total", map[string]string{"direction": "down"})
		if down >= float64(len(big)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tunnel bytes down: %v; want ≥ %d", down, len(big))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(h.logs.String(), `"msg":"tunnel closed"`) || !strings.Contains(h.logs.String(), `"app":"microsoft-teams","bytes_up":`) {
		t.Fatalf("no tunnel-closed line with bytes:\n%s", h.logs.String())
	}
}

func TestDecisionLinesCarryBytes(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	h.origin.Handle = func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, strings.Repeat("b", 1234)) }
	c := h.client()
	h.get(c, "http://teams.microsoft.com/x")
	_, page := h.get(c, "http://wetransfer.com/")
	var forwarded, paged bool
	// The forwarded request's line is written when goproxy closes the
	// origin's body, which may be just after the client has read it.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !(forwarded && paged); time.Sleep(10 * time.Millisecond) {
		for _, l := range strings.Split(h.logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil || m["msg"] != "decision" {
				continue
			}
			switch m["app"] {
			case "microsoft-teams":
				forwarded = m["bytes"] == float64(1234)
			case "wetransfer":
				paged = m["bytes"] == float64(len(page))
			}
		}
	}
	if !forwarded || !paged {
		t.Fatalf("decision lines lack the bytes sent (forwarded %v, page %v):\n%s", forwarded, paged, h.logs.String())
	}
}
