package attack_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/internal/testkit"
	"github.com/signpost-gateway/signpost/proxy"
	"github.com/signpost-gateway/signpost/service"
)

// node is one real Signpost node (service.Node): proxy and admin
// listeners, SQLite store, CA and keys in a data directory, as `signpost
// run` starts it, with names resolved by the test resolver.
type node struct {
	t      testing.TB
	n      *service.Node
	origin *testkit.Origin
	res    *resolver
	logs   *testkit.LogBuffer
	dir    string // configuration directory
	data   string // data directory
	token  string
	admin  string // http://ADMIN
}

// startNode writes files (name → content; "signpost.yaml" is the
// configuration) into a new configuration directory and starts a node on
// it with debug logging.
func startNode(t testing.TB, files map[string]string) *node {
	t.Helper()
	origin := testkit.NewOrigin(t, originNames...)
	nd := &node{t: t, origin: origin, res: newResolver(origin),
		logs: &testkit.LogBuffer{}, dir: t.TempDir(), data: t.TempDir()}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(nd.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := newNode(nd.dir, nd.data, nd.res, nd.logs, origin)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatalf("starting the node: %v", err)
	}
	nd.n = n
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	tok, err := os.ReadFile(filepath.Join(nd.data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	nd.token = strings.TrimSpace(string(tok))
	nd.admin = "http://" + n.AdminAddr().String()
	return nd
}

// newNode builds (but does not start) a node on dir and data.
func newNode(dir, data string, res *resolver, logs io.Writer, origin *testkit.Origin) (*service.Node, error) {
	return service.New(service.Options{
		ConfigDir: dir, DataDir: data, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DisableWatch: true,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Proxy:  proxy.Options{Resolve: res.Resolve, UpstreamTLS: &tls.Config{RootCAs: origin.Pool()}},
	})
}

// write replaces the node's configuration file and reloads it.
func (nd *node) write(cfg string) {
	nd.t.Helper()
	if err := os.WriteFile(filepath.Join(nd.dir, "signpost.yaml"), []byte(cfg), 0o600); err != nil {
		nd.t.Fatal(err)
	}
	if err := nd.n.Reload(); err != nil {
		nd.t.Fatalf("reload: %v", err)
	}
}

// proxyAddr is the node's proxy listener.
func (nd *node) proxyAddr() string { return nd.n.ProxyAddr().String() }

// client is an HTTP client using the node's proxy, trusting the origin's
// and the node's CA, as userinfo ("user:password") when not "".
func (nd *node) client(userinfo string) *http.Client {
	pool := nd.origin.Pool()
	caPEM, err := os.ReadFile(filepath.Join(nd.data, "ca", "ca.crt"))
	if err != nil {
		nd.t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	u := &url.URL{Scheme: "http", Host: nd.proxyAddr()}
	if user, pw, ok := strings.Cut(userinfo, ":"); ok {
		u.User = url.UserPassword(user, pw)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{RootCAs: pool}}
	nd.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// adminDo sends a request to the admin listener with the given
// Authorization header ("" for none) and returns the status and body.
func (nd *node) adminDo(method, path, authorization, contentType, body string) (*http.Response, string) {
	nd.t.Helper()
	req, err := http.NewRequest(method, nd.admin+path, strings.NewReader(body))
	if err != nil {
		nd.t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		nd.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// api is adminDo with the node's token, decoding a JSON answer.
func (nd *node) api(method, path, body string) (int, map[string]any) {
	nd.t.Helper()
	resp, b := nd.adminDo(method, path, "Bearer "+nd.token, "application/json", body)
	var m map[string]any
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		nd.t.Fatalf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// port returns the port of a host:port.
func port(t testing.TB, hostport string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
