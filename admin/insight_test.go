package admin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/signpost-gateway/signpost/store"
	"github.com/signpost-gateway/signpost/usage"
)

// usageNow is the clock of the usage tests: the tracker's days and the
// server's "now" agree on it.
var usageNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

// newTracker returns a tracker that has seen 30 people on Zoom (10 today,
// 10 three days ago, 10 twenty days ago), 3 on Slack today, 3 on Box in the
// last week, and people on sites outside the catalog; Zoom has 500 seats,
// Slack 4, Box 6 and Miro 10 (unused).
func newTracker(t *testing.T, zoomName string) *usage.Tracker {
	t.Helper()
	tr := usage.New(usage.Options{})
	tr.SetApps([]usage.App{
		{ID: "zoom", Name: zoomName, Seats: 500},
		{ID: "slack", Name: "Slack", Seats: 4},
		{ID: "box", Name: "Box", Seats: 6},
		{ID: "miro", Name: "Miro", Seats: 10},
		{ID: "notion", Name: "Notion"},
	})
	for i := range 30 {
		at := usageNow
		switch {
		case i >= 20:
			at = usageNow.AddDate(0, 0, -20)
		case i >= 10:
			at = usageNow.AddDate(0, 0, -3)
		}
		user := fmt.Sprintf("user%02d", i)
		tr.Observe("zoom", user, at)
		tr.Observe("zoom", user, at.Add(time.Minute)) // a second request, the same person
	}
	for i := range 3 {
		tr.Observe("slack", fmt.Sprintf("user%02d", i), usageNow)
		tr.Observe("box", fmt.Sprintf("user%02d", i), usageNow.AddDate(0, 0, -6))
	}
	for i := range 8 {
		tr.ObserveUnknown("files.newtool.io:443", fmt.Sprintf("user%02d", i%5), usageNow.Add(time.Duration(i)*time.Minute))
	}
	tr.ObserveUnknown("www.example.com", "user01", usageNow.Add(-time.Hour))
	tr.ObserveUnknown("login.xn--80ak6aa92e.com", "user02", usageNow)
	tr.ObserveUnknown("login.xn--80ak6aa92e.com", "user03", usageNow)
	tr.ObserveUnknown("10.0.0.7", "user01", usageNow)  // an address: not counted
	tr.ObserveUnknown("wiki.corp", "user01", usageNow) // an intranet name: not counted
	return tr
}

// usageEnv is an env whose server has a tracker and usageNow for a clock.
func usageEnv(t *testing.T, tr *usage.Tracker, eo envOptions) *env {
	t.Helper()
	eo.noNotify = true
	configure := eo.configure
	eo.configure = func(o *Options) {
		o.Usage = func() *usage.Tracker { return tr }
		if configure != nil {
			configure(o)
		}
	}
	adjust := eo.server
	eo.server = func(s *server) {
		s.now = func() time.Time { return usageNow }
		if adjust != nil {
			adjust(s)
		}
	}
	return newEnv(t, eo)
}

type usageAnswer struct {
	Apps        []usageJSON `json:"apps"`
	GeneratedAt time.Time   `json:"generated_at"`
}

func TestUsageAPI(t *testing.T) {
	e := usageEnv(t, newTracker(t, "Zoom"), envOptions{})
	resp := e.do(call{method: "GET", path: "/api/v1/usage", bearer: aliceSecret})
	if resp.status != 200 || resp.header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q; want 200 JSON\n%s", resp.status, resp.header.Get("Content-Type"), resp.body)
	}
	var got usageAnswer
	resp.decode(t, &got)
	if !got.GeneratedAt.Equal(usageNow) {
		t.Errorf("generated_at: got %v; want %v", got.GeneratedAt, usageNow)
	}
	share := func(f float64) *float64 { return &f }
	want := []usageJSON{
		{AppUsage: usage.AppUsage{App: "zoom", Name: "Zoom", Active1d: 10, Active7d: 20, Active30d: 30,
			Requests1d: 20, Requests7d: 40, Requests30d: 60, Seats: 500},
			Sentence: "Zoom: 30 active of 500 seats in 30 days", SeatUse: share(0.06), Underused: true},
		{AppUsage: usage.AppUsage{App: "box", Name: "Box", Active7d: 3, Active30d: 3, Requests7d: 3, Requests30d: 3, Seats: 6},
			Sentence: "Box: 3 active of 6 seats in 30 days", SeatUse: share(0.5), Underused: false},
		{AppUsage: usage.AppUsage{App: "slack", Name: "Slack", Active1d: 3, Active7d: 3, Active30d: 3,
			Requests1d: 3, Requests7d: 3, Requests30d: 3, Seats: 4},
			Sentence: "Slack: 3 active of 4 seats in 30 days", SeatUse: share(0.75), Underused: false},
		{AppUsage: usage.AppUsage{App: "miro", Name: "Miro", Seats: 10},
			Sentence: "Miro: 0 active of 10 seats in 30 days", SeatUse: share(0), Underused: true},
	}
	if len(got.Apps) != len(want) {
		t.Fatalf("got %d apps; want %d\n%s", len(got.Apps), len(want), resp.body)
	}
	for i, w := range want {
		g := got.Apps[i]
		if g.AppUsage != w.AppUsage || g.Sentence != w.Sentence || g.Underused != w.Underused ||
			g.SeatUse == nil || *g.SeatUse != *w.SeatUse {
			t.Errorf("app %d: got %+v (seat use %v); want %+v (seat use %v)", i, g, deref(g.SeatUse), w, *w.SeatUse)
		}
	}
	// The field names are the API's; an app without seats has no seat_use.
	for _, key := range []string{`"app":"zoom"`, `"active_1d":10`, `"active_7d":20`, `"active_30d":30`, `"seats":500`,
		`"seat_use":0.06`, `"underused":true`, `"sentence":"Zoom: 30 active of 500 seats in 30 days"`, `"generated_at":"2026-03-15T12:00:00Z"`} {
		if !strings.Contains(resp.body, key) {
			t.Errorf("the answer lacks %s\n%s", key, resp.body)
		}
	}
	if strings.Contains(resp.body, `"notion"`) {
		t.Errorf("an app without use or seats is listed:\n%s", resp.body)
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

type discoveryAnswer struct {
	Domains     []usage.Discovered `json:"domains"`
	GeneratedAt time.Time          `json:"generated_at"`
}

func TestDiscoveryAPI(t *testing.T) {
	tr := newTracker(t, "Zoom")
	e := usageEnv(t, tr, envOptions{})
	var all discoveryAnswer
	resp := e.do(call{method: "GET", path: "/api/v1/discovery", bearer: aliceSecret})
	resp.decode(t, &all)
	domains := func(ds []usage.Discovered) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Domain)
		}
		return out
	}
	if want := []string{"newtool.io", "xn--80ak6aa92e.com", "example.com"}; resp.status != 200 || !slices.Equal(domains(all.Domains), want) {
		t.Fatalf("got %d %v; want 200 %v\n%s", resp.status, domains(all.Domains), want, resp.body)
	}
	top := all.Domains[0]
	wantEntry := "- id: newtool\n  name: \"Newtool\"\n  category: uncategorized\n  domains: [newtool.io]\n"
	if top.Requests != 8 || top.RequestsOvercount != 0 || top.Users != 5 || top.CatalogEntry != wantEntry ||
		!top.FirstSeen.Equal(usageNow) || !top.LastSeen.Equal(usageNow.Add(7*time.Minute)) {
		t.Errorf("top domain: got %+v; want newtool.io, 8 requests, 5 people, seen from %v for 7 minutes, entry %q", top, usageNow, wantEntry)
	}
	if !strings.Contains(resp.body, `"catalog_entry":"- id: newtool\n`) || !all.GeneratedAt.Equal(usageNow) {
		t.Errorf("the answer lacks catalog_entry or generated_at:\n%s", resp.body)
	}

	var one discoveryAnswer
	e.do(call{method: "GET", path: "/api/v1/discovery?limit=1", bearer: aliceSecret}).decode(t, &one)
	if !slices.Equal(domains(one.Domains), []string{"newtool.io"}) {
		t.Errorf("limit=1: got %v; want [newtool.io]", domains(one.Domains))
	}
	if resp := e.do(call{method: "GET", path: "/api/v1/discovery?limit=100000", bearer: aliceSecret}); resp.status != 200 {
		t.Errorf("a limit beyond the most: got %d; want 200 (clamped)", resp.status)
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=x", "before=3"} {
		if resp := e.do(call{method: "GET", path: "/api/v1/discovery?" + q, bearer: aliceSecret}); resp.status != 400 ||
			!strings.Contains(resp.body, `"error"`) {
			t.Errorf("%s: got %d %s; want 400 JSON", q, resp.status, resp.body)
		}
	}

	// Once classified, a domain is no longer suggested.
	tr.ForgetDiscovered(func(d string) bool { return d == "newtool.io" })
	var after discoveryAnswer
	e.do(call{method: "GET", path: "/api/v1/discovery", bearer: aliceSecret}).decode(t, &after)
	if slices.Contains(domains(after.Domains), "newtool.io") {
		t.Errorf("after classifying newtool.io: got %v", domains(after.Domains))
	}
}

// insightsFixture stores requests and grants for the insights tests:
//
//	notion: carol approved, dave denied, erin pending, carol again pending
//	zoom:   frank pending, and one continue by frank
//	slack:  continues by gina, hank and gina again
func insightsFixture(t *testing.T, e *env) (notion []store.Request, zoom store.Request) {
	t.Helper()
	ctx := context.Background()
	decide := func(id int64, approve bool, msg string) {
		t.Helper()
		d := store.Decision{Approve: approve, By: "alice", Message: msg}
		if approve {
			d.GrantFor = 24 * time.Hour
		}
		if _, _, err := e.st.Decide(ctx, id, d); err != nil {
			t.Fatal(err)
		}
	}
	r1 := e.createRequest("carol", "notion", "meeting notes with the agency")
	decide(r1.ID, true, "")
	r2 := e.createRequest("dave", "notion", "my own wiki")
	decide(r2.ID, false, "Use Confluence.")
	r3 := e.createRequest("erin", "notion", "the agency shares its roadmap there")
	r4 := e.createRequest("carol", "notion", "again, for the new project")
	zoom = e.createRequest("frank", "zoom", "a customer's webinar")
	for _, g := range []struct{ subject, app string }{{"frank", "zoom"}, {"gina", "slack"}, {"hank", "slack"}, {"gina", "slack"}} {
		now := time.Now()
		if _, err := e.st.AddGrant(ctx, store.Grant{Subject: g.subject, App: g.app, Source: store.SourceContinue,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int64{r1.ID, r2.ID, r3.ID, r4.ID} {
		r, err := e.st.Request(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		notion = append(notion, r)
	}
	return notion, zoom
}

// countingStore records the listings insights asks for.
type countingStore struct {
	store.Store
	mu       sync.Mutex
	requests []store.RequestFilter
	grants   []store.GrantFilter
}

func (c *countingStore) Requests(ctx context.Context, f store.RequestFilter) ([]store.Request, error) {
	c.mu.Lock()
	c.requests = append(c.requests, f)
	c.mu.Unlock()
	return c.Store.Requests(ctx, f)
}

func (c *countingStore) Grants(ctx context.Context, f store.GrantFilter) ([]store.Grant, error) {
	c.mu.Lock()
	c.grants = append(c.grants, f)
	c.mu.Unlock()
	return c.Store.Grants(ctx, f)
}

func TestInsightsAPI(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true, appName: func(id string) string {
		return map[string]string{"slack": "Slack"}[id]
	}})
	notion, zoom := insightsFixture(t, e)
	resp := e.do(call{method: "GET", path: "/api/v1/insights", bearer: aliceSecret})
	if resp.status != 200 {
		t.Fatalf("got %d; want 200\n%s", resp.status, resp.body)
	}
	var got insightsJSON
	resp.decode(t, &got)

	type summary struct {
		app, name                         string
		counts                            requestCounts
		requesters, continues, continuers int
		reasons                           []int64
	}
	var sums []summary
	for _, a := range got.Apps {
		s := summary{a.App, a.AppName, a.Counts, a.Requesters, a.Continues, a.Continuers, nil}
		for _, j := range a.Justifications {
			s.reasons = append(s.reasons, j.RequestID)
		}
		sums = append(sums, s)
	}
	want := []summary{
		{"notion", "Notion", requestCounts{Total: 4, Pending: 2, Approved: 1, Denied: 1}, 3, 0, 0,
			[]int64{notion[3].ID, notion[2].ID, notion[1].ID, notion[0].ID}},
		{"zoom", "Zoom", requestCounts{Total: 1, Pending: 1}, 1, 1, 1, []int64{zoom.ID}},
		{"slack", "Slack", requestCounts{}, 0, 3, 2, nil},
	}
	if fmt.Sprint(sums) != fmt.Sprint(want) {
		t.Errorf("apps:\n got %v\nwant %v", sums, want)
	}
	if len(got.Apps) == 3 {
		n := got.Apps[0]
		j := n.Justifications[2]
		if j.User != "dave" || j.Justification != "my own wiki" || j.Status != store.StatusDenied ||
			!j.CreatedAt.Equal(notion[1].CreatedAt) || j.AdminURL != fmt.Sprintf("/requests/%d", notion[1].ID) {
			t.Errorf("dave's justification: got %+v", j)
		}
		if n.LastAskedAt == nil || !n.LastAskedAt.Equal(notion[3].CreatedAt) {
			t.Errorf("notion last asked: got %v; want %v", n.LastAskedAt, notion[3].CreatedAt)
		}
		if got.Apps[2].Justifications == nil || !strings.Contains(resp.body, `"justifications":[]`) {
			t.Errorf("an app nobody asked for: got justifications %v; want []", got.Apps[2].Justifications)
		}
	}
	sc := got.Scope
	if sc.Requests != 5 || !sc.RequestsComplete || sc.RequestsLimit != insightRows || sc.Grants != 5 || !sc.GrantsComplete ||
		sc.GrantsLimit != insightRows || sc.JustificationsPerApp != maxJustifications || sc.RequestsSince == nil ||
		!sc.RequestsSince.Equal(notion[0].CreatedAt) || sc.GrantsSince == nil {
		t.Errorf("scope: got %+v; want 5 requests and 5 grants (4 continues, 1 approval), all of them, since the first", sc)
	}
	for _, key := range []string{`"requests":{"total":4,"pending":2,"approved":1,"denied":1}`, `"requesters":3`, `"continues":3`,
		`"continuers":2`, `"request_id":`, `"justification":"my own wiki"`, `"status":"denied"`, `"scope":{"requests":5,"requests_limit":1000,"requests_complete":true`} {
		if !strings.Contains(resp.body, key) {
			t.Errorf("the answer lacks %s\n%s", key, resp.body)
		}
	}
}

// TestInsightsBounded reads through small pages, stops at the bound and
// says so, and lists at most maxJustifications per app.
func TestInsightsBounded(t *testing.T) {
	var cs *countingStore
	e := newEnv(t, envOptions{noNotify: true,
		configure: func(o *Options) {
			cs = &countingStore{Store: o.Store}
			o.Store = cs
		},
		server: func(s *server) { s.insightRows, s.insightPage = 25, 4 }})
	for i := range maxJustifications + 2 {
		e.createRequest(fmt.Sprintf("user%02d", i), "notion", fmt.Sprintf("reason %d", i))
	}
	latest := e.createRequest("zed", "miro", "boards")

	var got insightsJSON
	e.do(call{method: "GET", path: "/api/v1/insights", bearer: aliceSecret}).decode(t, &got)
	if len(got.Apps) != 2 || got.Apps[0].App != "notion" || got.Apps[0].Counts.Total != maxJustifications+2 ||
		len(got.Apps[0].Justifications) != maxJustifications || got.Apps[0].Justifications[0].Justification != fmt.Sprintf("reason %d", maxJustifications+1) {
		t.Fatalf("got %+v; want notion with %d requests and the newest %d reasons", got.Apps, maxJustifications+2, maxJustifications)
	}
	if sc := got.Scope; sc.Requests != maxJustifications+3 || !sc.RequestsComplete || sc.Grants != 0 || !sc.GrantsComplete {
		t.Errorf("scope: got %+v; want all %d requests and no grants", sc, maxJustifications+3)
	}
	// 23 requests in pages of 4: 6 pages, the last short, each after the
	// previous page's last id.
	cs.mu.Lock()
	calls := slices.Clone(cs.requests)
	cs.mu.Unlock()
	if len(calls) != 6 || calls[0].BeforeID != 0 || calls[0].Limit != 4 || calls[1].BeforeID != latest.ID-3 {
		t.Errorf("store calls: got %+v; want 6 pages of 4 after each other", calls)
	}

	// Past the bound: the newest 25 only, and the answer says so.
	for i := range 5 {
		e.createRequest(fmt.Sprintf("late%d", i), "figma", "designs")
	}
	e.do(call{method: "GET", path: "/api/v1/insights", bearer: aliceSecret}).decode(t, &got)
	if sc := got.Scope; sc.Requests != 25 || sc.RequestsComplete || sc.RequestsLimit != 25 {
		t.Errorf("scope past the bound: got %+v; want 25 requests, not complete", sc)
	}
	page := e.do(call{method: "GET", path: "/insights", bearer: aliceSecret})
	if want := "Counted over the newest 25 requests, since "; !strings.Contains(page.body, want) ||
		!strings.Contains(page.body, "(older ones are left out), and all 0 grants.") {
		t.Errorf("the page does not say it left older requests out:\n%s", page.body)
	}
	total := 0
	for _, a := range got.Apps {
		total += a.Counts.Total
	}
	if total != 25 || got.Apps[0].App != "notion" || got.Apps[0].Counts.Total != 19 {
		t.Errorf("counted past the bound: got %d requests, first app %+v; want 25 (19 of them notion)", total, got.Apps[0])
	}
}

func TestReadNewest(t *testing.T) {
	tests := []struct {
		name              string
		total, rows, page int
		wantLen           int
		wantComplete      bool
		wantCalls         int
	}{
		{"empty", 0, 10, 4, 0, true, 1},
		{"fewer than a page", 3, 10, 4, 3, true, 1},
		{"exactly a page", 4, 10, 4, 4, true, 2},
		{"several pages", 9, 10, 4, 9, true, 3},
		{"exactly the bound", 10, 10, 4, 10, true, 3},
		{"exactly the bound in whole pages", 8, 8, 4, 8, true, 3},
		{"one past the bound in whole pages", 9, 8, 4, 8, false, 3},
		{"past the bound", 11, 10, 4, 10, false, 3},
		{"far past the bound", 100, 10, 4, 10, false, 3},
		{"one big page", 100, 10, 1000, 10, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			list := func(limit int, before int64) ([]int64, error) {
				calls++
				var out []int64
				for id := int64(tt.total); id >= 1 && len(out) < limit; id-- {
					if before == 0 || id < before {
						out = append(out, id)
					}
				}
				return out, nil
			}
			got, complete, err := readNewest(tt.rows, tt.page, list, func(id int64) int64 { return id })
			if err != nil || len(got) != tt.wantLen || complete != tt.wantComplete || calls != tt.wantCalls {
				t.Fatalf("got %d rows, complete %v, %d calls, %v; want %d, %v, %d calls", len(got), complete, calls, err,
					tt.wantLen, tt.wantComplete, tt.wantCalls)
			}
			for i, id := range got {
				if want := int64(tt.total - i); id != want {
					t.Fatalf("row %d: got id %d; want %d (newest first, no gap)", i, id, want)
				}
			}
		})
	}
	boom := fmt.Errorf("boom: %w", store.ErrUnavailable)
	if _, _, err := readNewest(10, 4, func(int, int64) ([]int64, error) { return nil, boom }, func(id int64) int64 { return id }); err != boom {
		t.Errorf("a failing listing: got %v; want its error", err)
	}
}

// codeTexts returns the text of every <code> element in page, as a
// browser would copy it.
func codeTexts(t *testing.T, page string) []string {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	var out []string
	in := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatal(z.Err())
			}
			return out
		case html.StartTagToken:
			if name, _ := z.TagName(); string(name) == "code" {
				in = true
				out = append(out, "")
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); string(name) == "code" {
				in = false
			}
		case html.TextToken:
			if in {
				out[len(out)-1] += string(z.Text())
			}
		}
	}
}

// TestUsagePages renders the three pages with hostile names and
// justifications, and checks what they say and that nothing escaped its
// escaping.
func TestUsagePages(t *testing.T) {
	tr := newTracker(t, "Zoom "+hostileScript)
	e := usageEnv(t, tr, envOptions{appName: func(id string) string {
		if id == "notion" {
			return "Notion " + hostileAttr
		}
		return ""
	}})
	ctx := context.Background()
	insightsFixture(t, e)
	if _, err := e.st.CreateRequest(ctx, store.Request{Subject: "ip:10.0.0.9", User: "Mallory " + hostileScript,
		App: "dropbox" + hostileStyle, AppName: hostileScript,
		Justification: hostileScript + "\n" + hostileAttr + "\n" + hostileURL}); err != nil {
		t.Fatal(err)
	}
	c := e.signIn(aliceSecret)
	tests := []struct {
		path        string
		says, lacks []string
	}{
		{"/usage", []string{
			"Zoom &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;: 30 active of 500 seats in 30 days",
			"Slack: 3 active of 4 seats in 30 days",
			`<tr class="under">`, `<span class="state state-under">under half used</span>`, "6%", "75%", "50%",
			"2 apps use fewer than half of their seats",
			`<a href="/usage" aria-current="page">Usage</a>`,
		}, []string{"Notion"}},
		{"/discovery", []string{
			`<h2 id="domain-0">newtool.io</h2>`, `<h2 id="domain-1">xn--80ak6aa92e.com</h2>`,
			"<dt>People</dt><dd>5 ", `<time datetime="2026-03-15T12:00:00Z">2026-03-15 12:00 UTC</time>`,
			"name: &#34;Newtool&#34;", "<code>apps:</code> list",
			`<a href="/discovery" aria-current="page">Discovery</a>`,
		}, []string{"10.0.0.7", "corp"}},
		{"/insights", []string{
			"Notion &#34;&gt;&lt;img src=x onerror=alert(1)&gt;", "again, for the new project",
			`<td>Mallory &lt;script&gt;`, "Nobody asked for slack; 2 people continued past its warning 3 times.",
			`<span class="state state-denied">denied</span>`, "Counted over all 6 requests, and all 5 grants.",
			`<a href="/insights" aria-current="page">Insights</a>`, "<td>3 people</td>", "<td>1 person</td>",
		}, []string{"Use Confluence." /* the admin's reply, not a reason */, "older ones are left out"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := e.do(call{method: "GET", path: tt.path, cookie: c})
			if resp.status != 200 || resp.header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("got %d %q; want 200 HTML\n%s", resp.status, resp.header.Get("Content-Type"), resp.body)
			}
			for _, want := range tt.says {
				if !strings.Contains(resp.body, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			for _, not := range tt.lacks {
				if strings.Contains(resp.body, not) {
					t.Errorf("the page holds %q", not)
				}
			}
			for _, raw := range []string{hostileScript, hostileAttr, hostileStyle, "<img", "<script", `href="javascript`} {
				if strings.Contains(resp.body, raw) {
					t.Errorf("the page holds %q unescaped", raw)
				}
			}
			checkMarkup(t, resp.body)
			if resp.header.Get("Content-Security-Policy") != csp {
				t.Errorf("CSP: got %q; want %q", resp.header.Get("Content-Security-Policy"), csp)
			}
		})
	}

	// Copied from the page, each catalog entry is the tracker's, byte for byte.
	page := e.do(call{method: "GET", path: "/discovery", cookie: c})
	var want []string
	for _, d := range tr.Top(defaultDiscoveryLimit) {
		want = append(want, d.CatalogEntry)
	}
	if got := codeTexts(t, page.body)[1:]; !slices.Equal(got, want) { // the first is "apps:" in the hint
		t.Errorf("catalog entries on the page:\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(page.body, "name: &#34;Аррӏе&#34;") {
		t.Errorf("the homograph domain's entry does not show its Unicode name beside the punycode domain")
	}
}

// TestDiscoveryOvercount shows a count inherited from a displaced domain
// as such.
func TestDiscoveryOvercount(t *testing.T) {
	tr := usage.New(usage.Options{DiscoveryCounters: 1})
	for range 3 {
		tr.ObserveUnknown("a.example.com", "carol", usageNow)
	}
	tr.ObserveUnknown("app.newtool.io", "dave", usageNow)
	e := usageEnv(t, tr, envOptions{})
	page := e.do(call{method: "GET", path: "/discovery", bearer: aliceSecret})
	if want := "<dt>Requests</dt><dd>4 <span class=\"meta\">(up to 3 of them may belong to less visited domains it displaced)</span></dd>"; !strings.Contains(page.body, want) {
		t.Errorf("the page lacks %s\n%s", want, page.body)
	}
	var got discoveryAnswer
	e.do(call{method: "GET", path: "/api/v1/discovery", bearer: aliceSecret}).decode(t, &got)
	if len(got.Domains) != 1 || got.Domains[0].Domain != "newtool.io" || got.Domains[0].Requests != 4 || got.Domains[0].RequestsOvercount != 3 {
		t.Errorf("got %+v; want newtool.io with 4 requests, 3 of them possibly another domain's", got.Domains)
	}
}

// TestUsagePagesEmpty renders the pages before anything was counted.
func TestUsagePagesEmpty(t *testing.T) {
	e := usageEnv(t, usage.New(usage.Options{}), envOptions{})
	for path, says := range map[string]string{
		"/usage":     "No catalog app has been used yet, and the policy records no seats.",
		"/discovery": "No domain outside the catalog has been visited yet.",
		"/insights":  "Nobody has asked for access or continued past a warning yet.",
	} {
		resp := e.do(call{method: "GET", path: path, bearer: aliceSecret})
		if resp.status != 200 || !strings.Contains(resp.body, says) {
			t.Errorf("%s: got %d; want 200 saying %q\n%s", path, resp.status, says, resp.body)
		}
		checkMarkup(t, resp.body)
	}
	for path, want := range map[string]string{"/api/v1/usage": `"apps":[]`, "/api/v1/discovery": `"domains":[]`, "/api/v1/insights": `"apps":[]`} {
		if resp := e.do(call{method: "GET", path: path, bearer: aliceSecret}); resp.status != 200 || !strings.Contains(resp.body, want) {
			t.Errorf("%s: got %d %s; want 200 with %s", path, resp.status, resp.body, want)
		}
	}
}

// TestUsageNotCollected: without a tracker the usage routes answer 404
// and the navigation leaves them out; insights still works from the store.
func TestUsageNotCollected(t *testing.T) {
	e := newEnv(t, envOptions{noNotify: true})
	for _, path := range []string{"/api/v1/usage", "/api/v1/discovery"} {
		resp := e.do(call{method: "GET", path: path, bearer: aliceSecret})
		if resp.status != 404 || resp.header.Get("Content-Type") != "application/json" || !strings.Contains(resp.body, noUsage) {
			t.Errorf("%s: got %d %q %s; want 404 JSON saying %q", path, resp.status, resp.header.Get("Content-Type"), resp.body, noUsage)
		}
	}
	for _, path := range []string{"/usage", "/discovery"} {
		resp := e.do(call{method: "GET", path: path, bearer: aliceSecret})
		if resp.status != 404 || !strings.Contains(resp.body, "Usage is not collected on this node") {
			t.Errorf("%s: got %d; want 404 saying usage is not collected\n%s", path, resp.status, resp.body)
		}
		checkMarkup(t, resp.body)
	}
	home := e.do(call{method: "GET", path: "/insights", bearer: aliceSecret})
	if home.status != 200 || strings.Contains(home.body, `href="/usage"`) || strings.Contains(home.body, `href="/discovery"`) ||
		!strings.Contains(home.body, `href="/insights"`) {
		t.Errorf("without usage: got %d; want 200, a link to insights and none to usage or discovery\n%s", home.status, home.body)
	}
	noStore := newEnv(t, envOptions{noNotify: true, configure: func(o *Options) { o.Store = nil }})
	if resp := noStore.do(call{method: "GET", path: "/api/v1/insights", bearer: aliceSecret}); resp.status != 503 {
		t.Errorf("insights without a store: got %d; want 503", resp.status)
	}
	if resp := noStore.do(call{method: "GET", path: "/insights", bearer: aliceSecret}); resp.status != 503 {
		t.Errorf("insights page without a store: got %d; want 503", resp.status)
	}
}

// TestUsageAuth: the new routes need a token or a session like the rest.
func TestUsageAuth(t *testing.T) {
	e := usageEnv(t, newTracker(t, "Zoom"), envOptions{})
	c := e.signIn(bobSecret)
	for _, path := range []string{"/api/v1/usage", "/api/v1/discovery", "/api/v1/insights"} {
		t.Run(path, func(t *testing.T) {
			if resp := e.do(call{method: "GET", path: path}); resp.status != 401 || resp.header.Get("WWW-Authenticate") == "" {
				t.Errorf("no credentials: got %d; want 401 with WWW-Authenticate", resp.status)
			}
			if resp := e.do(call{method: "GET", path: path, bearer: "wrong-0123456789abcdef"}); resp.status != 401 {
				t.Errorf("wrong token: got %d; want 401", resp.status)
			}
			if resp := e.do(call{method: "GET", path: path, cookie: c}); resp.status != 200 {
				t.Errorf("session: got %d; want 200", resp.status)
			}
			resp := e.do(call{method: "POST", path: path, bearer: aliceSecret, json: map[string]string{}})
			if resp.status != 405 || resp.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("POST: got %d Allow %q; want 405 Allow GET, HEAD", resp.status, resp.header.Get("Allow"))
			}
		})
	}
	for _, path := range []string{"/usage", "/discovery", "/insights"} {
		t.Run(path, func(t *testing.T) {
			resp := e.do(call{method: "GET", path: path})
			if resp.status != 303 || resp.header.Get("Location") != "/login?next=%2F"+path[1:] {
				t.Errorf("no session: got %d to %q; want 303 to the sign-in page", resp.status, resp.header.Get("Location"))
			}
			if resp := e.do(call{method: "GET", path: path, bearer: "wrong-0123456789abcdef"}); resp.status != 401 {
				t.Errorf("wrong token: got %d; want 401", resp.status)
			}
			if resp := e.do(call{method: "POST", path: path, cookie: c}); resp.status != 405 {
				t.Errorf("POST: got %d; want 405", resp.status)
			}
		})
	}
}
