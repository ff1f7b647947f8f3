package admin

import (
	"cmp"
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-gateway/signpost/store"
	"github.com/signpost-gateway/signpost/usage"
)

// What admins learn from the figures: who uses which app against the
// seats paid for (usage), which tools outside the catalog people visit
// (discovery), and what people ask for and why (insights). The first two
// read Options.Usage and answer 404 without it; insights reads the access
// store.

const (
	// underusedShare is the share of seats below which an app's seats are
	// shown as underused: fewer than half of them used in 30 days.
	underusedShare = 0.5

	// defaultDiscoveryLimit is how many domains /api/v1/discovery returns
	// when not told, and how many the discovery page shows.
	defaultDiscoveryLimit = 50
	// maxDiscoveryLimit is the most /api/v1/discovery returns: the table's
	// default size, beyond which there is nothing to list.
	maxDiscoveryLimit = usage.DefaultDiscoveryCounters

	// insightRows bounds the work of insights: it reads at most this many
	// of the newest requests, and as many of the newest grants, and says
	// so in its answer.
	insightRows = 1000
	// maxJustifications is how many of an app's latest justifications
	// insights shows.
	maxJustifications = 20
)

// noUsage is the answer of the usage routes when Options.Usage is nil.
const noUsage = "usage is not collected on this node"

// usageJSON is one app's line of GET /api/v1/usage: the tracker's figures,
// the sentence that says them, and how much of the seats is used.
type usageJSON struct {
	usage.AppUsage
	// Sentence says the 30-day figure: "Zoom: 212 active of 500 seats in 30 days".
	Sentence string `json:"sentence"`
	// SeatUse is the 30-day active users over the seats (0.424); absent
	// when no seats are recorded.
	SeatUse *float64 `json:"seat_use,omitempty"`
	// Underused is true when fewer than half of the seats were used in 30 days.
	Underused bool `json:"underused"`
}

// Percent is SeatUse as a whole percentage ("42%"), "" without seats.
func (u usageJSON) Percent() string {
	if u.SeatUse == nil {
		return ""
	}
	return strconv.FormatFloat(math.Floor(*u.SeatUse*100), 'f', 0, 64) + "%"
}

// usageRows returns the tracker's report at now, with names from the
// catalog (Options.AppName) where it has them.
func (s *server) usageRows(now time.Time) []usageJSON {
	report := s.o.Usage().Report(now)
	out := make([]usageJSON, 0, len(report))
	for _, u := range report {
		u.Name = s.appName(u.App, u.Name)
		row := usageJSON{AppUsage: u, Sentence: u.Sentence()}
		if u.Seats > 0 {
			share := math.Round(float64(u.Active30d)/float64(u.Seats)*1000) / 1000
			row.SeatUse = &share
			row.Underused = float64(u.Active30d) < underusedShare*float64(u.Seats)
		}
		out = append(out, row)
	}
	return out
}

// apiUsage serves GET /api/v1/usage: seats against active users over 1,
// 7 and 30 days, per app.
func (s *server) apiUsage(w http.ResponseWriter, r *http.Request) {
	if s.o.Usage == nil {
		writeJSONError(w, http.StatusNotFound, noUsage)
		return
	}
	now := s.now()
	writeJSON(w, http.StatusOK, struct {
		Apps        []usageJSON `json:"apps"`
		GeneratedAt time.Time   `json:"generated_at"`
	}{s.usageRows(now), now.UTC()})
}

// apiDiscovery serves GET /api/v1/discovery?limit=: the domains outside
// the catalog with the most requests, each with a catalog entry to paste.
func (s *server) apiDiscovery(w http.ResponseWriter, r *http.Request) {
	if s.o.Usage == nil {
		writeJSONError(w, http.StatusNotFound, noUsage)
		return
	}
	limit, before, err := parsePage(r.URL.Query(), defaultDiscoveryLimit, maxDiscoveryLimit)
	if err == nil && before != 0 {
		err = badf("discovery is not paged; use limit (at most %d)", maxDiscoveryLimit)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Domains     []usage.Discovered `json:"domains"`
		GeneratedAt time.Time          `json:"generated_at"`
	}{s.o.Usage().Top(limit), s.now().UTC()})
}

// The shapes of GET /api/v1/insights.
type (
	insightsJSON struct {
		Apps        []appInsight `json:"apps"`
		GeneratedAt time.Time    `json:"generated_at"`
		Scope       insightScope `json:"scope"`
	}
	// appInsight is what people asked of one app, within the scope.
	appInsight struct {
		App     string        `json:"app"`
		AppName string        `json:"app_name"`
		Counts  requestCounts `json:"requests"`
		// Requesters is how many people asked.
		Requesters int `json:"requesters"`
		// Continues counts the grants people gave themselves on a warn
		// page; Continuers how many people did.
		Continues   int        `json:"continues"`
		Continuers  int        `json:"continuers"`
		LastAskedAt *time.Time `json:"last_asked_at,omitempty"`
		// Justifications are the latest requests' reasons, newest first,
		// at most maxJustifications.
		Justifications []justificationJSON `json:"justifications"`
	}
	requestCounts struct {
		Total    int `json:"total"`
		Pending  int `json:"pending"`
		Approved int `json:"approved"`
		Denied   int `json:"denied"`
	}
	justificationJSON struct {
		RequestID     int64        `json:"request_id"`
		User          string       `json:"user"`
		Justification string       `json:"justification"`
		Status        store.Status `json:"status"`
		CreatedAt     time.Time    `json:"created_at"`
		AdminURL      string       `json:"admin_url"`
	}
	// insightScope says what the figures cover: the newest requests and
	// grants, up to a limit each, and whether that was all of them.
	insightScope struct {
		Requests         int        `json:"requests"`
		RequestsLimit    int        `json:"requests_limit"`
		RequestsComplete bool       `json:"requests_complete"`
		RequestsSince    *time.Time `json:"requests_since,omitempty"`
		Grants           int        `json:"grants"`
		GrantsLimit      int        `json:"grants_limit"`
		GrantsComplete   bool       `json:"grants_complete"`
		GrantsSince      *time.Time `json:"grants_since,omitempty"`
		// JustificationsPerApp is the most justifications listed per app.
		JustificationsPerApp int `json:"justifications_per_app"`
	}
)

// StatusClass is the class the pages give the request's status.
func (j justificationJSON) StatusClass() string {
	switch j.Status {
	case store.StatusPending, store.StatusApproved, store.StatusDenied:
		return "state-" + string(j.Status)
	default:
		return ""
	}
}

// readNewest pages through a listing, newest first, with pages of at most
// page rows, until it holds rows of them or the listing ends. It reports
// whether it read the whole listing.
func readNewest[T any](rows, page int, list func(limit int, before int64) ([]T, error), id func(T) int64) ([]T, bool, error) {
	var out []T
	var before int64
	// One row beyond rows is read to know whether there are more.
	for len(out) <= rows {
		n := min(page, rows+1-len(out))
		got, err := list(n, before)
		if err != nil {
			return nil, false, err
		}
		out = append(out, got...)
		if len(got) < n {
			return out, true, nil
		}
		before = id(got[len(got)-1])
	}
	return out[:rows], false, nil
}

// insights groups the newest requests and grants by app: what was asked,
// what became of it, who continued past a warning, and why people asked.
func (s *server) insights(ctx context.Context) (insightsJSON, error) {
	st, err := s.store()
	if err != nil {
		return insightsJSON{}, err
	}
	requests, reqAll, err := readNewest(s.insightRows, s.insightPage,
		func(limit int, before int64) ([]store.Request, error) {
			return st.Requests(ctx, store.RequestFilter{Limit: limit, BeforeID: before})
		}, func(r store.Request) int64 { return r.ID })
	if err != nil {
		return insightsJSON{}, err
	}
	grants, grantAll, err := readNewest(s.insightRows, s.insightPage,
		func(limit int, before int64) ([]store.Grant, error) {
			return st.Grants(ctx, store.GrantFilter{Limit: limit, BeforeID: before})
		}, func(g store.Grant) int64 { return g.ID })
	if err != nil {
		return insightsJSON{}, err
	}

	out := insightsJSON{GeneratedAt: s.now().UTC(), Scope: insightScope{
		Requests: len(requests), RequestsLimit: s.insightRows, RequestsComplete: reqAll,
		Grants: len(grants), GrantsLimit: s.insightRows, GrantsComplete: grantAll,
		JustificationsPerApp: maxJustifications,
	}}
	if n := len(requests); n > 0 {
		out.Scope.RequestsSince = &requests[n-1].CreatedAt
	}
	if n := len(grants); n > 0 {
		out.Scope.GrantsSince = &grants[n-1].CreatedAt
	}

	type tally struct {
		a                      appInsight
		storedName             string
		requesters, continuers map[string]bool
	}
	byApp := map[string]*tally{}
	get := func(app string) *tally {
		t := byApp[app]
		if t == nil {
			t = &tally{a: appInsight{App: app, Justifications: []justificationJSON{}},
				requesters: map[string]bool{}, continuers: map[string]bool{}}
			byApp[app] = t
		}
		return t
	}
	// Requests come newest first, so the first of each app is its latest.
	for _, r := range requests {
		t := get(r.App)
		c := &t.a.Counts
		c.Total++
		switch r.Status {
		case store.StatusPending:
			c.Pending++
		case store.StatusApproved:
			c.Approved++
		case store.StatusDenied:
			c.Denied++
		}
		t.requesters[r.Subject] = true
		if t.a.LastAskedAt == nil {
			t.a.LastAskedAt = &r.CreatedAt
			t.storedName = r.AppName
		}
		if len(t.a.Justifications) < maxJustifications {
			t.a.Justifications = append(t.a.Justifications, justificationJSON{
				RequestID: r.ID, User: displayUser(r), Justification: r.Justification,
				Status: r.Status, CreatedAt: r.CreatedAt, AdminURL: s.requestURL(r.ID),
			})
		}
	}
	for _, g := range grants {
		if g.Source != store.SourceContinue {
			continue
		}
		t := get(g.App)
		t.a.Continues++
		t.continuers[g.Subject] = true
	}
	out.Apps = make([]appInsight, 0, len(byApp))
	for _, t := range byApp {
		t.a.AppName = s.appName(t.a.App, t.storedName)
		t.a.Requesters, t.a.Continuers = len(t.requesters), len(t.continuers)
		out.Apps = append(out.Apps, t.a)
	}
	// The most asked for first, then the most continued past.
	slices.SortFunc(out.Apps, func(x, y appInsight) int {
		if c := cmp.Compare(y.Counts.Total, x.Counts.Total); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Continues, x.Continues); c != 0 {
			return c
		}
		return strings.Compare(x.App, y.App)
	})
	return out, nil
}

// apiInsights serves GET /api/v1/insights: per app, the requests and what
// became of them, the continues, and the latest justifications, over the
// newest insightRows requests and grants.
func (s *server) apiInsights(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := storeCtx(r)
	defer cancel()
	in, err := s.insights(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

// usagePage serves GET /usage: active users against seats, per app.
func (s *server) usagePage(w http.ResponseWriter, r *http.Request) {
	if s.o.Usage == nil {
		s.renderError(w, r, http.StatusNotFound, "Usage is not collected on this node.")
		return
	}
	now := s.now()
	body := struct {
		Rows        []usageJSON
		GeneratedAt time.Time
		Underused   int
	}{Rows: s.usageRows(now), GeneratedAt: now}
	for _, row := range body.Rows {
		if row.Underused {
			body.Underused++
		}
	}
	s.render(w, r, http.StatusOK, "usage", "Usage and licences", "/usage", body)
}

// discoveryPage serves GET /discovery: the most visited domains outside
// the catalog, each with a catalog entry to paste.
func (s *server) discoveryPage(w http.ResponseWriter, r *http.Request) {
	if s.o.Usage == nil {
		s.renderError(w, r, http.StatusNotFound, "Usage is not collected on this node, so no unknown tools are discovered.")
		return
	}
	body := struct {
		Domains []usage.Discovered
		Limit   int
	}{s.o.Usage().Top(defaultDiscoveryLimit), defaultDiscoveryLimit}
	s.render(w, r, http.StatusOK, "discovery", "Discovered tools", "/discovery", body)
}

// insightsPage serves GET /insights: what people ask for, per app.
func (s *server) insightsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := storeCtx(r)
	defer cancel()
	in, err := s.insights(ctx)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "insights", "What people ask for", "/insights", in)
}
