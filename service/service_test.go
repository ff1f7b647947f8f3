package service_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/signpost-gateway/signpost/internal/testkit"
	"github.com/signpost-gateway/signpost/proxy"
	"github.com/signpost-gateway/signpost/service"
	"github.com/signpost-gateway/signpost/store"
)

const (
	warnSlack = "proxy:\n  allow_destinations: [127.0.0.1]\npolicy:\n  rules:\n    - {app: slack, action: warn}\n"
	allowAll  = "proxy:\n  allow_destinations: [127.0.0.1]\npolicy:\n  rules:\n    - {app: slack, action: allow}\n"
	badChange = "proxy:\n  allow_destinations: [127.0.0.1]\npolicy:\n  rules:\n    - {app: slakc, action: allow}\n"
)

type node struct {
	t      testing.TB
	n      *service.Node
	origin *testkit.Origin
	data   string
	dir    string
	token  string
	client *http.Client
	admin  string
}

func startNode(t testing.TB, cfg string, opts ...func(*service.Options)) *node {
	t.Helper()
	origin := testkit.NewOrigin(t, "slack.com", "wetransfer.com")
	dir := t.TempDir()
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "signpost.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	o := service.Options{
		ConfigDir: dir, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DataDir: data,
		Logger: slog.New(slog.DiscardHandler),
		Proxy:  proxy.Options{Resolve: origin.Resolve, UpstreamTLS: &tls.Config{RootCAs: origin.Pool()}},
	}
	for _, f := range opts {
		f(&o)
	}
	data = o.DataDir
	n, err := service.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	tok, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: n.ProxyAddr().String()})}
	t.Cleanup(tr.CloseIdleConnections)
	return &node{t: t, n: n, origin: origin, data: data, dir: dir, token: strings.TrimSpace(string(tok)), client: &http.Client{Transport: tr}, admin: "http://" + n.AdminAddr().String()}
}

func (n *node) write(cfg string) {
	n.t.Helper()
	if err := os.WriteFile(filepath.Join(n.dir, "signpost.yaml"), []byte(cfg), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) api(method, path string) (int, map[string]any) {
	n.t.Helper()
	return n.apiJSON(method, path, "")
}

// apiJSON calls the admin API with a JSON body ("" for none).
func (n *node) apiJSON(method, path, body string) (int, map[string]any) {
	n.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, n.admin+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	got, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(got, &m); err != nil {
		n.t.Fatalf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, got)
	}
	return resp.StatusCode, m
}

// scrape returns the node's /metrics.
func (n *node) scrape() string {
	n.t.Helper()
	return n.get("/metrics")
}

// get returns the body of an admin page, fetched with the node's token.
func (n *node) get(path string) string {
	n.t.Helper()
	req, _ := http.NewRequest("GET", n.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// slackAction tells from the answer which rule set decided http://slack.com/.
func (n *node) slackAction() string {
	n.t.Helper()
	resp, err := n.client.Get("http://slack.com/")
	if err != nil {
		n.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Origin") == "test-origin" {
		return "allow"
	}
	return "warn"
}

func TestReloadThroughTheAdminAPI(t *testing.T) {
	// Without the watcher, so that only the API reloads and the counts
	// below are exact.
	n := startNode(t, warnSlack, func(o *service.Options) { o.DisableWatch = true })
	if got := n.slackAction(); got != "warn" {
		t.Fatalf("before any change: %s; want warn", got)
	}
	_, before := n.api("GET", "/api/v1/config")
	hash := before["hash"].(string)

	n.write(badChange)
	code, body := n.api("POST", "/api/v1/reload")
	if code != http.StatusUnprocessableEntity || !strings.Contains(body["problems"].([]any)[0].(string), "signpost.yaml:5: unknown app \"slakc\"") {
		t.Fatalf("bad change: %d %v; want 422 naming signpost.yaml:5", code, body)
	}
	_, st := n.api("GET", "/api/v1/config")
	if st["hash"] != hash || st["last_result"] != "error" || !strings.Contains(st["last_error"].(string), "slakc") {
		t.Fatalf("after a bad change: %v; want the old hash and the error", st)
	}
	if got := n.slackAction(); got != "warn" {
		t.Fatalf("after a bad change the running rules must stay: %s", got)
	}
	if resp, err := http.Get(n.admin + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz after a bad change: %v %v; want ready", resp, err)
	}

	pacURL := "http://" + n.n.ProxyAddr().String() + "/proxy.pac"
	pacGet := func(etag string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", pacURL, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("ETag")
	}
	code, oldTag := pacGet("")
	if code != 200 || oldTag == "" {
		t.Fatalf("PAC: %d, ETag %q", code, oldTag)
	}
	if code, _ := pacGet(oldTag); code != http.StatusNotModified {
		t.Fatalf("PAC with a matching If-None-Match: got %d; want 304", code)
	}

	n.write(allowAll + "pac: {exclude: [corp.example]}\n")
	code, body = n.api("POST", "/api/v1/reload")
	if code != 200 || body["hash"] == hash || body["last_result"] != "ok" {
		t.Fatalf("good change: %d %v", code, body)
	}
	if got := n.slackAction(); got != "allow" {
		t.Fatalf("after a good change: %s; want allow", got)
	}
	// The PAC file follows the rules: a new ETag, and the old one no
	// longer matches.
	code, newTag := pacGet(oldTag)
	if code != 200 || newTag == oldTag {
		t.Fatalf("PAC after the change: %d, ETag %q (was %q); want 200 and a new ETag", code, newTag, oldTag)
	}
	code, body = n.api("POST", "/api/v1/reload")
	if code != 200 || body["last_result"] != "unchanged" {
		t.Fatalf("reload without a change: %d %v", code, body)
	}
	m := n.scrape()
	for _, want := range []string{
		`signpost_config_reloads_total{result="error"} 1`,
		`signpost_config_reloads_total{result="ok"} 1`,
		`signpost_config_reloads_total{result="unchanged"} 1`,
		`signpost_config_info{hash="` + body["hash"].(string)[:12] + `"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Count(m, "signpost_config_info{") != 1 {
		t.Errorf("config info has more than one series:\n%s", m)
	}
}

// TestUsageIsCountedAndKept checks the usage figures end to end: people's
// requests through the proxy become distinct-user counts per app (and
// unclassified domains), exported as metrics, and survive a restart.
func TestUsageIsCountedAndKept(t *testing.T) {
	data := t.TempDir()
	cfg := strings.Replace(allowAll, "policy:\n", "policy:\n  seats: {slack: 50}\n", 1)
	n := startNode(t, cfg, func(o *service.Options) { o.DataDir = data; o.DisableWatch = true })
	if got := n.slackAction(); got != "allow" {
		t.Fatalf("slack: %s", got)
	}
	want := []string{
		`signpost_usage_active_users{app="slack",window="30d"} 1`,
		`signpost_usage_seats{app="slack"} 50`,
	}
	m := n.scrape()
	for _, w := range want {
		if !strings.Contains(m, w) {
			t.Fatalf("metrics lack %s", w)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// A new process on the same data directory knows the figures.
	again := startNode(t, cfg, func(o *service.Options) { o.DataDir = data; o.DisableWatch = true })
	m = again.scrape()
	for _, w := range want {
		if !strings.Contains(m, w) {
			t.Fatalf("after a restart, metrics lack %s", w)
		}
	}
}

// TestRetentionPrunesTheStore starts a node on a store holding a grant
// that ended long ago and one in force: the node deletes the first, by
// itself, keeps the second, counts it in its metrics and audits it.
func TestRetentionPrunesTheStore(t *testing.T) {
	data := t.TempDir()
	dsn := "sqlite:" + filepath.Join(data, "signpost.db")
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old, err := s.AddGrant(ctx, store.Grant{Subject: "alice", App: "slack", CreatedAt: now.AddDate(0, 0, -40), ExpiresAt: now.AddDate(0, 0, -39)})
	if err != nil {
		t.Fatal(err)
	}
	live, err := s.AddGrant(ctx, store.Grant{Subject: "bob", App: "slack", CreatedAt: now.AddDate(0, 0, -40), ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	n := startNode(t, allowAll+"store:\n  retention: 720h\n", func(o *service.Options) { o.DataDir = data; o.DisableWatch = true })
	want := []string{
		`signpost_store_pruned_rows_total{table="grants"} 1`,
		`signpost_store_pruned_rows_total{table="audit"} 2`,
		`signpost_store_pruned_rows_total{table="requests"} 0`,
		`signpost_store_prune_failures_total 0`,
	}
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for m := n.scrape(); !strings.Contains(m, want[0]); m = n.scrape() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the node did not prune within 10s; metrics:\n%s", grepLines(m, "signpost_store_prune"))
		}
		<-tick.C
	}
	m := n.scrape()
	for _, w := range want {
		if !strings.Contains(m, w) {
			t.Errorf("metrics lack %s; have:\n%s", w, grepLines(m, "signpost_store_prune"))
		}
	}
	code, body := n.api("GET", "/api/v1/grants")
	if code != 200 {
		t.Fatalf("GET /api/v1/grants: %d %v", code, body)
	}
	raw, _ := json.Marshal(body)
	if !strings.Contains(string(raw), `"subject":"bob"`) || strings.Contains(string(raw), `"subject":"alice"`) {
		t.Errorf("grants after pruning: %s; want bob's (grant %d) and not alice's (grant %d)", raw, live.ID, old.ID)
	}
	code, body = n.api("GET", "/api/v1/audit")
	raw, _ = json.Marshal(body)
	if code != 200 || !strings.Contains(string(raw), `"action":"store.pruned"`) || !strings.Contains(string(raw), "deleted 0 requests, 1 grants, 2 audit entries") {
		t.Errorf("audit after pruning: %d %s; want a store.pruned entry with the counts", code, raw)
	}
	if page := n.get("/audit"); !strings.Contains(page, "kept for 30 days (<code>store.retention</code>)") {
		t.Errorf("the audit page does not state the configured retention:\n%s", page)
	}
}

// TestAdminTokensAreReadAgainOnReload replaces the admin token file and
// reloads: the old token stops working and the new one works, though the
// rules did not change; a token file the node must refuse (readable by
// others) leaves the tokens in force.
func TestAdminTokensAreReadAgainOnReload(t *testing.T) {
	n := startNode(t, allowAll, func(o *service.Options) { o.DisableWatch = true })
	status := func(method, path, token string) int {
		t.Helper()
		req, _ := http.NewRequest(method, n.admin+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	file := filepath.Join(n.data, "admin-token")
	const rotated = "ops:rotated-0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(file, []byte(rotated+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := status("POST", "/api/v1/reload", n.token); got != http.StatusOK {
		t.Fatalf("reload with the token in force: %d", got)
	}
	newToken := strings.TrimPrefix(rotated, "ops:")
	if got := status("GET", "/api/v1/config", n.token); got != http.StatusUnauthorized {
		t.Errorf("the replaced token after the reload: got %d; want 401", got)
	}
	if got := status("GET", "/api/v1/config", newToken); got != http.StatusOK {
		t.Errorf("the new token after the reload: got %d; want 200", got)
	}

	if err := os.WriteFile(file, []byte("ops:refused-0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	status("POST", "/api/v1/reload", newToken)
	if got := status("GET", "/api/v1/config", newToken); got != http.StatusOK {
		t.Errorf("the token in force after a reload that read a refused file: got %d; want 200", got)
	}
	if got := status("GET", "/api/v1/config", "refused-0123456789abcdef0123456789abcdef"); got != http.StatusUnauthorized {
		t.Errorf("a token from the refused file: got %d; want 401", got)
	}
}

// TestWebhookAddedByReload adds a webhook to the configuration of a
// running node and reloads: the next access request reaches it.
func TestWebhookAddedByReload(t *testing.T) {
	got := make(chan string, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
		w.WriteHeader(http.StatusOK)
	}))
	defer hook.Close()
	cfg := "proxy:\n  allow_destinations: [127.0.0.1]\npolicy:\n  rules:\n    - {app: wetransfer, action: block}\n"
	n := startNode(t, cfg, func(o *service.Options) { o.DisableWatch = true })
	n.write(cfg + "notify:\n  webhooks:\n    - {name: it-chat, url: \"" + hook.URL + "/hook\", format: slack}\n")
	if code, body := n.api("POST", "/api/v1/reload"); code != http.StatusOK {
		t.Fatalf("reload: %d %v", code, body)
	}
	f := &fleet{t: t, a: n, b: n}
	c := f.client(n, "")
	_, page := f.get(c, "https://wetransfer.com/")
	if resp := f.post(c, "https://wetransfer.com/.signpost/request", page, "/.signpost/request",
		url.Values{"justification": {"Large video files for the agency."}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("request: %d", resp.StatusCode)
	}
	select {
	case b := <-got:
		if !strings.Contains(b, "WeTransfer") {
			t.Errorf("the webhook added by the reload got %q; want the request for WeTransfer", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook added by the reload got nothing within 10s")
	}
}

// TestHtpasswdChangeAppliesOnReload replaces the htpasswd file alone (the
// YAML stays as it was) and reloads: the user taken out is refused, the
// one put in is let through.
func TestHtpasswdChangeAppliesOnReload(t *testing.T) {
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	cfg := allowAll + "identity: {htpasswd: users.htpasswd, require_auth: true}\n"
	n := startNode(t, cfg, func(o *service.Options) {
		o.DisableWatch = true
		if err := os.WriteFile(filepath.Join(o.ConfigDir, "users.htpasswd"), []byte("alice:"+hash("alice-pw")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	status := func(user, pw string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://slack.com/", nil)
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pw)))
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("alice", "alice-pw"); got != http.StatusOK {
		t.Fatalf("alice before the change: %d; want 200", got)
	}
	if err := os.WriteFile(filepath.Join(n.dir, "users.htpasswd"), []byte("bob:"+hash("bob-pw")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := n.api("POST", "/api/v1/reload"); code != http.StatusOK || body["last_result"] != "ok" {
		t.Fatalf("reload after the htpasswd change: %d %v; want ok (a change)", code, body)
	}
	if got := status("alice", "alice-pw"); got != http.StatusProxyAuthRequired {
		t.Errorf("alice, taken out of the file: %d; want 407", got)
	}
	if got := status("bob", "bob-pw"); got != http.StatusOK {
		t.Errorf("bob, put in the file: %d; want 200", got)
	}
}

// TestReloadAppliesAllowDestinations takes the origin's address out of
// proxy.allow_destinations and reloads: the next request to it is refused,
// though the proxy had a kept-alive connection to it.
func TestReloadAppliesAllowDestinations(t *testing.T) {
	n := startNode(t, allowAll, func(o *service.Options) { o.DisableWatch = true })
	if got := n.slackAction(); got != "allow" {
		t.Fatalf("slack before the change: %s; want the origin reached", got)
	}
	n.write(strings.Replace(allowAll, "proxy:\n  allow_destinations: [127.0.0.1]\n", "", 1))
	if code, body := n.api("POST", "/api/v1/reload"); code != http.StatusOK || body["last_result"] != "ok" {
		t.Fatalf("reload: %d %v", code, body)
	}
	resp, err := n.client.Get("http://slack.com/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Origin") != "" || resp.StatusCode == http.StatusOK {
		t.Errorf("slack after loopback left allow_destinations: %d from %q; want it refused before the origin", resp.StatusCode, resp.Header.Get("X-Origin"))
	}
}

// TestReloadNamesSettingsThatNeedARestart changes settings a node reads at
// start only: the reload applies the rest and names those in the log and
// in GET /api/v1/config, until they are set back.
func TestReloadNamesSettingsThatNeedARestart(t *testing.T) {
	logs := &testkit.LogBuffer{}
	n := startNode(t, allowAll, func(o *service.Options) {
		o.DisableWatch = true
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	n.write(strings.Replace(allowAll, "proxy:\n", "proxy:\n  read_header_timeout: 20s\n", 1) + "admin: {url: https://signpost-admin.corp.example}\n")
	code, body := n.api("POST", "/api/v1/reload")
	if code != http.StatusOK || body["last_result"] != "ok" {
		t.Fatalf("reload: %d %v", code, body)
	}
	got, _ := body["restart_needed"].([]any)
	if len(got) != 2 || got[0] != "proxy.read_header_timeout" || got[1] != "admin.url" {
		t.Errorf("restart_needed: %v; want proxy.read_header_timeout and admin.url", body["restart_needed"])
	}
	if !strings.Contains(logs.String(), "apply only after a restart") || !strings.Contains(logs.String(), "proxy.read_header_timeout") {
		t.Errorf("the log does not name the settings that need a restart:\n%s", logs.String())
	}
	if m := n.scrape(); !strings.Contains(m, "signpost_config_restart_needed 2") {
		t.Errorf("metrics lack signpost_config_restart_needed 2:\n%s", grepLines(m, "restart_needed"))
	}
	hash, _ := body["hash"].(string)
	if page := n.get("/config"); !strings.Contains(page, "<code>proxy.read_header_timeout</code>") || hash == "" || !strings.Contains(page, hash) {
		t.Errorf("the admin configuration page does not show the hash %q and what needs a restart:\n%s", hash, page)
	}
	n.write(allowAll)
	if code, body = n.api("POST", "/api/v1/reload"); code != http.StatusOK || body["restart_needed"] != nil {
		t.Errorf("reload after setting them back: %d, restart_needed %v; want none", code, body["restart_needed"])
	}
	if m := n.scrape(); !strings.Contains(m, "signpost_config_restart_needed 0") {
		t.Errorf("metrics after setting them back lack signpost_config_restart_needed 0:\n%s", grepLines(m, "restart_needed"))
	}
}
