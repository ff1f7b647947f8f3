package admin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/signpost-gateway/signpost/notify"
	"github.com/signpost-gateway/signpost/store"
)

// listJSON is the answer of GET /api/v1/requests.
type listJSON struct {
	Requests   []requestJSON `json:"requests"`
	NextBefore int64         `json:"next_before"`
	Next       string        `json:"next"`
}

// decisionJSON is the answer of approve and deny.
type decisionJSON struct {
	Request requestJSON `json:"request"`
	Grant   *grantJSON  `json:"grant"`
}

func ids(rs []requestJSON) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// TestAPIFlow walks the admin's work through the JSON API: list, read,
// approve, deny, decide twice, revoke, audit — with the grant cache told
// and the webhook sent each time.
func TestAPIFlow(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(o *Options) { o.BaseURL = "https://signpost-admin.example/" }})
	ctx := context.Background()
	r1 := e.createRequest("carol", "dropbox", "sharing files with a customer")
	r2 := e.createRequest("dave", "zoom", "a customer's webinar")
	r3 := e.createRequest("erin", "slack", "the vendor's support channel")

	// List, newest first, two a page.
	var page listJSON
	resp := e.do(call{method: "GET", path: "/api/v1/requests?status=pending&limit=2", bearer: aliceSecret})
	resp.decode(t, &page)
	if resp.status != 200 || !slices.Equal(ids(page.Requests), []int64{r3.ID, r2.ID}) || page.NextBefore != r2.ID {
		t.Fatalf("first page: got %d %v next %d; want 200 [%d %d] next %d", resp.status, ids(page.Requests), page.NextBefore, r3.ID, r2.ID, r2.ID)
	}
	want := fmt.Sprintf("/api/v1/requests?before=%d&limit=2&status=pending", r2.ID)
	if page.Next != want {
		t.Errorf("next: got %q; want %q", page.Next, want)
	}
	resp = e.do(call{method: "GET", path: page.Next, bearer: aliceSecret})
	page = listJSON{}
	resp.decode(t, &page)
	if !slices.Equal(ids(page.Requests), []int64{r1.ID}) || page.NextBefore != 0 || page.Next != "" {
		t.Fatalf("second page: got %v next %d %q; want [%d] and no next", ids(page.Requests), page.NextBefore, page.Next, r1.ID)
	}
	got := page.Requests[0]
	if got.Subject != "carol" || got.App != "dropbox" || got.AppName != "Dropbox" || got.Status != store.StatusPending ||
		got.Justification != "sharing files with a customer" || got.AdminURL != fmt.Sprintf("https://signpost-admin.example/requests/%d", r1.ID) {
		t.Errorf("request as listed: got %+v", got)
	}

	// Filters.
	for q, want := range map[string][]int64{
		"app=zoom":                 {r2.ID},
		"subject=erin":             {r3.ID},
		"subject=erin&app=zoom":    nil,
		"status=approved":          nil,
		"status=pending&app=slack": {r3.ID},
	} {
		var l listJSON
		e.do(call{method: "GET", path: "/api/v1/requests?" + q, bearer: aliceSecret}).decode(t, &l)
		if !slices.Equal(ids(l.Requests), want) {
			t.Errorf("%s: got %v; want %v", q, ids(l.Requests), want)
		}
	}

	// Approve r1 for 30 days, as bob.
	var dec decisionJSON
	resp = e.do(call{method: "POST", path: fmt.Sprintf("/api/v1/requests/%d/approve", r1.ID), bearer: bobSecret,
		json: map[string]string{"duration": "720h", "message": "ok for the project"}})
	resp.decode(t, &dec)
	if resp.status != 200 || dec.Request.Status != store.StatusApproved || dec.Request.DecidedBy != "bob" || dec.Grant == nil {
		t.Fatalf("approve: got %d %s; want 200, approved by bob, with a grant", resp.status, resp.body)
	}
	if dec.Grant.Source != store.SourceApproval || !dec.Grant.Active || dec.Grant.ExpiresAt.Sub(dec.Grant.CreatedAt) != 720*time.Hour ||
		dec.Grant.RequestID != r1.ID || dec.Request.GrantFor != "720h0m0s" || dec.Request.GrantSeconds != 720*3600 {
		t.Errorf("approval's grant: got %+v, grant_for %q", dec.Grant, dec.Request.GrantFor)
	}
	g, err := e.st.ActiveGrant(ctx, "carol", "dropbox", time.Now())
	if err != nil || g == nil || g.ID != dec.Grant.ID {
		t.Fatalf("store's active grant: got %+v, %v; want grant %d", g, err, dec.Grant.ID)
	}
	if inv := e.invalidations(); !slices.Equal(inv, []string{"carol|dropbox"}) {
		t.Errorf("invalidations after approve: got %v; want [carol|dropbox]", inv)
	}
	hook := e.hook()
	if hook.Type != notify.KindRequestDecided || hook.Request.ID != r1.ID || hook.Request.Status != "approved" ||
		hook.Request.DecidedBy != "bob" || hook.Request.Message != "ok for the project" || hook.Request.AppName != "Dropbox" ||
		hook.Request.AdminURL != fmt.Sprintf("https://signpost-admin.example/requests/%d", r1.ID) {
		t.Errorf("approve webhook: got %+v", hook)
	}

	// Deny r2, as alice.
	resp = e.do(call{method: "POST", path: fmt.Sprintf("/api/v1/requests/%d/deny", r2.ID), bearer: aliceSecret,
		json: map[string]string{"message": "Use Teams, which we pay for."}})
	dec = decisionJSON{}
	resp.decode(t, &dec)
	if resp.status != 200 || dec.Request.Status != store.StatusDenied || dec.Request.DecidedBy != "alice" || dec.Grant != nil {
		t.Fatalf("deny: got %d %s; want 200, denied by alice, no grant", resp.status, resp.body)
	}
	last, err := e.st.LatestDecided(ctx, "dave", "zoom")
	if err != nil || last == nil || last.Status != store.StatusDenied || last.Message != "Use Teams, which we pay for." {
		t.Fatalf("LatestDecided after deny: got %+v, %v; want the denial with its message", last, err)
	}
	if inv := e.invalidations(); len(inv) != 2 || inv[1] != "dave|zoom" {
		t.Errorf("invalidations after deny: got %v; want dave|zoom last", inv)
	}
	if hook := e.hook(); hook.Request.ID != r2.ID || hook.Request.Status != "denied" || hook.Request.DecidedBy != "alice" {
		t.Errorf("deny webhook: got %+v", hook)
	}

	// Deciding again is a conflict that says who decided.
	for _, c := range []struct {
		path string
		body map[string]string
		who  string
	}{
		{fmt.Sprintf("/api/v1/requests/%d/approve", r2.ID), map[string]string{"duration": "24h"}, "denied by alice"},
		{fmt.Sprintf("/api/v1/requests/%d/deny", r1.ID), map[string]string{"message": "no"}, "approved by bob"},
		{fmt.Sprintf("/api/v1/requests/%d/approve", r1.ID), map[string]string{"duration": "24h"}, "approved by bob"},
	} {
		resp := e.do(call{method: "POST", path: c.path, bearer: aliceSecret, json: c.body})
		if resp.status != http.StatusConflict || !strings.Contains(resp.body, c.who) {
			t.Errorf("%s again: got %d %s; want 409 naming %q", c.path, resp.status, resp.body, c.who)
		}
	}

	// The request, with its grant.
	var one struct {
		Request requestJSON `json:"request"`
		Grant   *grantJSON  `json:"grant"`
	}
	e.do(call{method: "GET", path: fmt.Sprintf("/api/v1/requests/%d", r1.ID), bearer: aliceSecret}).decode(t, &one)
	if one.Request.ID != r1.ID || one.Grant == nil || one.Grant.ID != dec1Grant(t, e, r1.ID) {
		t.Errorf("GET request: got %+v", one)
	}

	// Decided requests, merged from both statuses.
	var decided listJSON
	e.do(call{method: "GET", path: "/api/v1/requests?status=decided", bearer: aliceSecret}).decode(t, &decided)
	if !slices.Equal(ids(decided.Requests), []int64{r2.ID, r1.ID}) {
		t.Errorf("decided: got %v; want [%d %d]", ids(decided.Requests), r2.ID, r1.ID)
	}

	// Grants: active, then revoke.
	var grants struct {
		Grants []grantJSON `json:"grants"`
	}
	e.do(call{method: "GET", path: "/api/v1/grants?active=true&subject=carol", bearer: aliceSecret}).decode(t, &grants)
	if len(grants.Grants) != 1 || grants.Grants[0].App != "dropbox" || !grants.Grants[0].Active {
		t.Fatalf("active grants: got %+v; want carol's dropbox grant", grants.Grants)
	}
	gid := grants.Grants[0].ID
	resp = e.do(call{method: "POST", path: fmt.Sprintf("/api/v1/grants/%d/revoke", gid), bearer: aliceSecret})
	var revoked struct {
		Grant grantJSON `json:"grant"`
	}
	resp.decode(t, &revoked)
	if resp.status != 200 || revoked.Grant.Active || revoked.Grant.RevokedBy != "alice" || revoked.Grant.RevokedAt == nil {
		t.Fatalf("revoke: got %d %s; want 200, revoked by alice", resp.status, resp.body)
	}
	if g, err := e.st.ActiveGrant(ctx, "carol", "dropbox", time.Now()); err != nil || g != nil {
		t.Errorf("store's active grant after revoke: got %+v, %v; want none", g, err)
	}
	if inv := e.invalidations(); len(inv) != 3 || inv[2] != "carol|dropbox" {
		t.Errorf("invalidations after revoke: got %v; want carol|dropbox last", inv)
	}
	if hook := e.hook(); hook.Type != notify.KindRequestDecided || hook.Request.ID != r1.ID || hook.Request.Status != "revoked" || hook.Request.DecidedBy != "alice" {
		t.Errorf("revoke webhook: got %+v", hook)
	}
	grants.Grants = nil
	e.do(call{method: "GET", path: "/api/v1/grants?active=true", bearer: aliceSecret}).decode(t, &grants)
	if len(grants.Grants) != 0 {
		t.Errorf("active grants after revoke: got %+v; want none", grants.Grants)
	}
	grants.Grants = nil
	e.do(call{method: "GET", path: "/api/v1/grants", bearer: aliceSecret}).decode(t, &grants)
	if len(grants.Grants) != 1 || grants.Grants[0].Active {
		t.Errorf("all grants after revoke: got %+v; want the revoked one", grants.Grants)
	}
	if resp := e.do(call{method: "POST", path: fmt.Sprintf("/api/v1/grants/%d/revoke", gid), bearer: aliceSecret}); resp.status != http.StatusConflict {
		t.Errorf("revoke again: got %d %s; want 409", resp.status, resp.body)
	}

	// The audit trail names each actor.
	var audit struct {
		Entries []auditJSON `json:"entries"`
	}
	e.do(call{method: "GET", path: "/api/v1/audit?limit=3", bearer: aliceSecret}).decode(t, &audit)
	var trail []string
	for _, a := range audit.Entries {
		trail = append(trail, a.Actor+" "+a.Action)
	}
	wantTrail := []string{"alice " + store.ActionGrantRevoked, "alice " + store.ActionRequestDenied, "bob " + store.ActionRequestApproved}
	if !slices.Equal(trail, wantTrail) {
		t.Errorf("audit: got %v; want %v", trail, wantTrail)
	}
	select {
	case p := <-e.hooks:
		t.Errorf("an unexpected webhook event: %+v", p)
	default:
	}
}

// dec1Grant returns the id of the grant request id's approval made.
func dec1Grant(t *testing.T, e *env, id int64) int64 {
	t.Helper()
	gs, err := e.st.Grants(context.Background(), store.GrantFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.RequestID == id {
			return g.ID
		}
	}
	t.Fatalf("no grant for request %d", id)
	return 0
}

// TestAPIBadInput sends what a client may get wrong.
func TestAPIBadInput(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	r := e.createRequest("carol", "dropbox", "files")
	approve := fmt.Sprintf("/api/v1/requests/%d/approve", r.ID)
	deny := fmt.Sprintf("/api/v1/requests/%d/deny", r.ID)
	tests := []struct {
		name, method, path string
		json               any
		header             map[string]string
		want               int
		says               string
	}{
		{"no duration", "POST", approve, map[string]string{}, nil, 400, "duration is required"},
		{"bad duration", "POST", approve, map[string]string{"duration": "a month"}, nil, 400, `found duration "a month"`},
		{"negative duration", "POST", approve, map[string]string{"duration": "-1h"}, nil, 400, "at least 1m0s"},
		{"too short", "POST", approve, map[string]string{"duration": "30s"}, nil, 400, "at least 1m0s"},
		{"too long", "POST", approve, map[string]string{"duration": "3651d"}, nil, 400, "days from 1 to 3650"},
		{"message too long", "POST", approve, map[string]string{"duration": "1d", "message": strings.Repeat("é", store.MaxMessage+1)}, nil, 400, "1001 characters"},
		{"unknown field", "POST", approve, map[string]string{"duration": "1d", "until": "tomorrow"}, nil, 400, "unknown field"},
		{"two objects", "POST", approve, `{"duration":"1d"} {}`, nil, 400, "data after"},
		{"not JSON", "POST", approve, `duration=1d`, nil, 400, "not the JSON object"},
		{"empty body", "POST", approve, ``, nil, 400, "empty"},
		{"form body", "POST", approve, nil, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 400, "application/json"},
		{"too big", "POST", approve, `{"message":"` + strings.Repeat("a", maxBody) + `"}`, nil, 400, "larger than"},
		{"deny without message", "POST", deny, map[string]string{}, nil, 400, "message is required"},
		{"deny with blank message", "POST", deny, map[string]string{"message": " \n "}, nil, 400, "message is required"},
		{"deny with NUL", "POST", deny, map[string]string{"message": "a\x00b"}, nil, 400, "not valid text"},
		{"id not a number", "POST", "/api/v1/requests/abc/deny", map[string]string{"message": "no"}, nil, 400, `found id "abc"`},
		{"id zero", "GET", "/api/v1/requests/0", nil, nil, 400, "positive"},
		{"no such request", "POST", "/api/v1/requests/999/deny", map[string]string{"message": "no"}, nil, 404, "not found"},
		{"no such request to read", "GET", "/api/v1/requests/999", nil, nil, 404, "not found"},
		{"no such grant", "POST", "/api/v1/grants/999/revoke", nil, nil, 404, "not found"},
		{"bad status", "GET", "/api/v1/requests?status=open", nil, nil, 400, `found status "open"`},
		{"bad limit", "GET", "/api/v1/requests?limit=-1", nil, nil, 400, "found limit"},
		{"bad before", "GET", "/api/v1/grants?before=x", nil, nil, 400, "found before"},
		{"bad active", "GET", "/api/v1/grants?active=maybe", nil, nil, 400, "found active"},
		{"long subject", "GET", "/api/v1/requests?subject=" + strings.Repeat("s", store.MaxName+1), nil, nil, 400, "subject"},
		{"audit with a bad before", "GET", "/api/v1/audit?before=0", nil, nil, 400, "found before"},
		{"wrong method", "DELETE", "/api/v1/requests", nil, nil, 405, "use GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(call{method: tt.method, path: tt.path, bearer: aliceSecret, json: tt.json, header: tt.header})
			var answer struct {
				Error  string `json:"error"`
				Status int    `json:"status"`
			}
			resp.decode(t, &answer)
			if resp.status != tt.want || answer.Status != tt.want || !strings.Contains(answer.Error, tt.says) {
				t.Errorf("got %d %s; want %d saying %q", resp.status, resp.body, tt.want, tt.says)
			}
			if ct := resp.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type: got %q; want application/json", ct)
			}
		})
	}
	if got, err := e.st.Request(context.Background(), r.ID); err != nil || got.Status != store.StatusPending {
		t.Errorf("after bad input: got %v, %v; want the request still pending", got.Status, err)
	}
	if inv := e.invalidations(); len(inv) != 0 {
		t.Errorf("invalidations after bad input: got %v; want none", inv)
	}
}

// TestAPIStoreUnavailable answers 503 when the store is closed or missing.
func TestAPIStoreUnavailable(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	e.st.Close()
	noStore := newEnv(t, envOptions{noNotify: true, configure: func(o *Options) { o.Store = nil }})
	for _, env := range []*env{e, noStore} {
		for _, c := range []call{
			{method: "GET", path: "/api/v1/requests"},
			{method: "GET", path: "/api/v1/grants"},
			{method: "GET", path: "/api/v1/audit"},
			{method: "GET", path: "/api/v1/requests/1"},
			{method: "POST", path: "/api/v1/requests/1/deny", json: map[string]string{"message": "no"}},
			{method: "POST", path: "/api/v1/grants/1/revoke"},
		} {
			c.bearer = aliceSecret
			if resp := env.do(c); resp.status != http.StatusServiceUnavailable {
				t.Errorf("%s %s: got %d %s; want 503", c.method, c.path, resp.status, resp.body)
			}
		}
		if resp := env.do(call{method: "GET", path: "/", bearer: aliceSecret}); resp.status != http.StatusServiceUnavailable {
			t.Errorf("page: got %d; want 503", resp.status)
		}
	}
}

// TestAPISessionWrites checks that a browser session may use the API, and
// must write as application/json.
func TestAPISessionWrites(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	r := e.createRequest("carol", "dropbox", "files")
	c := e.signIn(aliceSecret)
	path := fmt.Sprintf("/api/v1/requests/%d/deny", r.ID)
	if resp := e.do(call{method: "POST", path: path, cookie: c, form: map[string][]string{"message": {"no"}}}); resp.status != http.StatusForbidden {
		t.Errorf("form post with a session: got %d %s; want 403", resp.status, resp.body)
	}
	resp := e.do(call{method: "POST", path: path, cookie: c, json: map[string]string{"message": "no"},
		header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	if resp.status != http.StatusForbidden {
		t.Errorf("cross-site JSON post: got %d %s; want 403", resp.status, resp.body)
	}
	resp = e.do(call{method: "POST", path: path, cookie: c, json: map[string]string{"message": "no"},
		header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	var dec decisionJSON
	resp.decode(t, &dec)
	if resp.status != 200 || dec.Request.DecidedBy != "alice" {
		t.Errorf("JSON post with a session: got %d %s; want 200 decided by alice", resp.status, resp.body)
	}
}

func TestParseGrantFor(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"720h", 720 * time.Hour, true},
		{"30d", 30 * 24 * time.Hour, true},
		{" 1d ", 24 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"87600h", store.MaxGrantFor, true},
		{"3650d", store.MaxGrantFor, true},
		{"1m", time.Minute, true},
		{"", 0, false},
		{"59s", 0, false},
		{"87601h", 0, false},
		{"0d", 0, false},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"forever", 0, false},
		{"9999999999999h", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseGrantFor(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("got %v, %v; want %v (ok %v)", got, err, tt.want, tt.ok)
			}
		})
	}
	for _, c := range grantChoices {
		if _, err := parseGrantFor(c.value); err != nil {
			t.Errorf("the pages' choice %q is refused: %v", c.label, err)
		}
	}
}

// FuzzParseGrantFor checks that no duration makes the parser panic and
// that what it accepts is within the store's limits.
func FuzzParseGrantFor(f *testing.F) {
	for _, s := range []string{"720h", "30d", "1m", "3650d", "87600h1ns", "-1d", "1e9h", "0x10d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseGrantFor(s)
		if err == nil && (d < minGrantFor || d > store.MaxGrantFor) {
			t.Fatalf("accepted %q as %v, outside [%v, %v]", s, d, minGrantFor, store.MaxGrantFor)
		}
	})
}

// TestDecidedPaging pages through decided requests across both statuses.
func TestDecidedPaging(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	ctx := context.Background()
	var want []int64
	for i := range 7 {
		r := e.createRequest(fmt.Sprintf("user%d", i), "dropbox", "files")
		if i == 3 {
			continue // stays pending
		}
		d := store.Decision{By: "alice", Message: "no"}
		if i%2 == 0 {
			d = store.Decision{Approve: true, By: "alice", GrantFor: time.Hour}
		}
		if _, _, err := e.st.Decide(ctx, r.ID, d); err != nil {
			t.Fatal(err)
		}
		want = append([]int64{r.ID}, want...)
	}
	var got []int64
	path := "/api/v1/requests?status=decided&limit=4"
	for path != "" {
		var l listJSON
		e.do(call{method: "GET", path: path, bearer: aliceSecret}).decode(t, &l)
		if len(l.Requests) > 4 {
			t.Fatalf("page of %d; want at most 4", len(l.Requests))
		}
		got = append(got, ids(l.Requests)...)
		path = l.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v; want %v", got, want)
	}
}

func TestDecisionMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, envOptions{noNotify: true, configure: func(o *Options) { o.Registerer = reg }})
	r1 := e.createRequest("carol", "dropbox", "sharing files with a customer")
	e.createRequest("dave", "zoom", "a customer's webinar")
	e.createRequest("erin", "slack", "the vendor's support channel")
	if got := testutil.ToFloat64(e.srv.metrics.pending); got != 3 {
		t.Fatalf("pending requests: got %v; want 3", got)
	}
	resp := e.do(call{method: "POST", path: fmt.Sprintf("/api/v1/requests/%d/approve", r1.ID), bearer: bobSecret,
		json: map[string]string{"duration": "24h"}})
	if resp.status != 200 {
		t.Fatalf("approve: %d %s", resp.status, resp.body)
	}
	if got := testutil.ToFloat64(e.srv.metrics.decisions.WithLabelValues("approved")); got != 1 {
		t.Errorf("approved decisions: got %v; want 1", got)
	}
	if got := testutil.ToFloat64(e.srv.metrics.pending); got != 2 {
		t.Errorf("pending after one approval: got %v; want 2", got)
	}
	if n := testutil.CollectAndCount(reg, "signpost_admin_decisions_total"); n != 3 {
		t.Errorf("decision series: got %d; want approved, denied, revoked", n)
	}
}
