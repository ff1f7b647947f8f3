package service_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signpost-gateway/signpost/service"
)

// postgresDSN is the test server, as the store's tests find it.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("SIGNPOST_TEST_POSTGRES")
	if dsn == "skip" {
		t.Skip("SIGNPOST_TEST_POSTGRES=skip")
	}
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	return dsn
}

// freshSchema creates a schema for one test and returns a DSN using it.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := postgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL at %s is not reachable (set SIGNPOST_TEST_POSTGRES): %v", base, err)
	}
	defer conn.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "fleet_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

var fleetFieldRE = regexp.MustCompile(`name="(ctx|csrf)" value="([^"]*)"`)

// fleet is two nodes on one PostgreSQL schema, with shared form and
// session keys, as a fleet behind a balancer runs.
type fleet struct {
	t    *testing.T
	a, b *node
}

// startFleet starts a fleet whose policy has rules (rule lines, indented
// as list items of policy.rules), whose requests section adds requests
// (", key: value" pairs), and whose configuration ends with extra
// (top-level sections). People are named by the X-Authenticated-User
// header.
func startFleet(t *testing.T, rules, requests, extra string) *fleet {
	t.Helper()
	dsn := freshSchema(t)
	keys := t.TempDir()
	for _, f := range []string{"form.key", "session.key"} {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		if err := os.WriteFile(filepath.Join(keys, f), k, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := "proxy:\n  allow_destinations: [127.0.0.1]\npolicy:\n  rules:\n" + rules +
		"identity: {trusted_header: X-Authenticated-User, trusted_peers: [127.0.0.1]}\n" +
		"requests: {form_key_file: " + filepath.Join(keys, "form.key") + requests + "}\n" +
		"admin: {session_key_file: " + filepath.Join(keys, "session.key") + "}\n" + extra
	withStore := func(o *service.Options) { o.Store = dsn; o.DisableWatch = true }
	return &fleet{t: t, a: startNode(t, cfg, withStore), b: startNode(t, cfg, withStore)}
}

// client returns a client of n that trusts both nodes' CAs and the
// origin, follows no redirect and keeps no connection alive. A user other
// than "" is named in every CONNECT, which is where an intercepted
// tunnel's identity comes from (a plain-HTTP request names its own).
func (f *fleet) client(n *node, user string) *http.Client {
	f.t.Helper()
	pool := n.origin.Pool()
	for _, m := range []*node{f.a, f.b} {
		pem, err := os.ReadFile(filepath.Join(m.data, "ca", "ca.crt"))
		if err != nil {
			f.t.Fatal(err)
		}
		pool.AppendCertsFromPEM(pem)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: n.n.ProxyAddr().String()}),
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}
	if user != "" {
		tr.ProxyConnectHeader = http.Header{"X-Authenticated-User": {user}}
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches u as a browser would.
func (f *fleet) get(c *http.Client, u string) (*http.Response, string) {
	f.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// post sends the form of page whose action is action to u, with extra
// fields.
func (f *fleet) post(c *http.Client, u, page, action string, extra url.Values) *http.Response {
	f.t.Helper()
	i := strings.Index(page, `action="`+action+`"`)
	if i < 0 {
		f.t.Fatalf("no form for %s", action)
	}
	form := url.Values{}
	for _, m := range fleetFieldRE.FindAllStringSubmatch(page[i:], 2) {
		form.Set(m[1], strings.ReplaceAll(m[2], "&#43;", "+"))
	}
	for k, v := range extra {
		form[k] = v
	}
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestFleetSharesGrantsAndRequests runs two nodes on one PostgreSQL, with
// shared form and session keys, as a fleet behind a balancer does: a
// continue on one node is honoured by the other within 2 seconds, a form
// from one node is accepted by the other, every node's admin view shows
// each request once, and an approval on one is honoured by the other.
func TestFleetSharesGrantsAndRequests(t *testing.T) {
	f := startFleet(t, "    - {app: slack, action: warn}\n    - {app: wetransfer, action: block}\n", "", "")
	a, b := f.a, f.b
	clientOf := func(n *node) *http.Client { return f.client(n, "") }
	get, post := f.get, f.post
	within := func(what string, d time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > d {
				t.Fatalf("%s: not within %v", what, d)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	ca, cb := clientOf(a), clientOf(b)

	// Node B has seen (and cached) the warning before the continue.
	if resp, _ := get(cb, "https://slack.com/"); resp.Header.Get("X-Origin") != "" {
		t.Fatal("slack reached the origin through B before any continue")
	}
	// The page comes from A, the continue goes to B: the forms' key is shared.
	_, page := get(ca, "https://slack.com/channel")
	if resp := post(cb, "https://slack.com/.signpost/continue", page, "/.signpost/continue", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("continue on B with A's form: %d", resp.StatusCode)
	}
	took := within("A honours B's continue", 2*time.Second, func() bool {
		resp, _ := get(ca, "https://slack.com/")
		return resp.Header.Get("X-Origin") == "test-origin"
	})
	t.Logf("a continue on B was honoured by A after %v", took)

	// A request on A is listed once by B's admin API; B approves; A honours it.
	_, page = get(ca, "https://wetransfer.com/")
	if resp := post(ca, "https://wetransfer.com/.signpost/request", page, "/.signpost/request",
		url.Values{"justification": {"Large video files for the agency."}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("request on A: %d", resp.StatusCode)
	}
	for _, n := range []*node{a, b} {
		code, body := n.api("GET", "/api/v1/requests?status=pending")
		list, _ := body["requests"].([]any)
		if code != 200 || len(list) != 1 {
			t.Fatalf("admin API of %s: %d with %d pending; want the one request", n.n.AdminAddr(), code, len(list))
		}
	}
	_, body := b.api("GET", "/api/v1/requests?status=pending")
	id := int64(body["requests"].([]any)[0].(map[string]any)["id"].(float64))
	if code, _ := b.apiJSON("POST", fmt.Sprintf("/api/v1/requests/%d/approve", id), `{"duration":"24h"}`); code != 200 {
		t.Fatalf("approve on B: %d", code)
	}
	took = within("A honours B's approval", 2*time.Second, func() bool {
		resp, _ := get(ca, "https://wetransfer.com/")
		return resp.Header.Get("X-Origin") == "test-origin"
	})
	t.Logf("an approval on B was honoured by A after %v", took)

	// Usage: alice and bob use Slack through A, bob and carol through B.
	// Merged sketches count bob once: 3 people, on both nodes.
	asUser := func(n *node, user string) {
		req, _ := http.NewRequest("GET", "http://slack.com/", nil)
		req.Header.Set("X-Authenticated-User", user)
		resp, err := clientOf(n).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	asUser(a, "alice")
	asUser(a, "bob")
	asUser(b, "bob")
	asUser(b, "carol")
	a.n.SyncUsage()
	b.n.SyncUsage()
	a.n.SyncUsage()
	for _, n := range []*node{a, b} {
		if m := n.scrape(); !strings.Contains(m, `signpost_usage_active_users{app="slack",window="30d"} 4`) {
			// 4: alice, bob, carol and the anonymous ip:127.0.0.1 of the steps above.
			t.Errorf("node %s: fleet-wide Slack users not 4:\n%s", n.n.AdminAddr(), grepLines(m, "signpost_usage_active_users{app=\"slack\""))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestFleetHourlyLimitsHoldAcrossNodes allows each person one continue and
// one access request per hour: the first, on node A, goes through; the
// second, on node B, which has seen none from that person, is refused
// with 429; another person is not held back by it. Alice and Bob are
// warned (continues), Carol and Dave blocked (requests).
func TestFleetHourlyLimitsHoldAcrossNodes(t *testing.T) {
	f := startFleet(t, "    - {app: slack, group: warned, action: warn}\n    - {app: wetransfer, group: warned, action: warn}\n"+
		"    - {app: slack, action: block}\n    - {app: wetransfer, action: block}\n",
		", continues_per_hour: 1, requests_per_hour: 1", "groups: {warned: [alice, bob]}\n")
	act := func(n *node, user, host, action string, extra url.Values) int {
		t.Helper()
		c := f.client(n, user)
		_, page := f.get(c, "https://"+host+"/")
		return f.post(c, "https://"+host+action, page, action, extra).StatusCode
	}
	why := url.Values{"justification": {"Our customer shares files this way."}}
	for _, step := range []struct {
		what       string
		n          *node
		user, host string
		action     string
		extra      url.Values
		want       int
	}{
		{"carol's request on A", f.a, "carol", "slack.com", "/.signpost/request", why, http.StatusSeeOther},
		{"carol's second request, on B", f.b, "carol", "wetransfer.com", "/.signpost/request", why, http.StatusTooManyRequests},
		{"dave's request on B", f.b, "dave", "wetransfer.com", "/.signpost/request", why, http.StatusSeeOther},
		{"alice's continue on A", f.a, "alice", "slack.com", "/.signpost/continue", nil, http.StatusSeeOther},
		{"alice's second continue, on B", f.b, "alice", "wetransfer.com", "/.signpost/continue", nil, http.StatusTooManyRequests},
		{"bob's continue on B", f.b, "bob", "wetransfer.com", "/.signpost/continue", nil, http.StatusSeeOther},
	} {
		if got := act(step.n, step.user, step.host, step.action, step.extra); got != step.want {
			t.Errorf("%s: got %d; want %d", step.what, got, step.want)
		}
	}
}
