package usage

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// base is noon UTC on an ordinary day; tests count days from it.
var base = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return base.AddDate(0, 0, -n) }

// users returns n distinct random subjects from rng.
func users(rng *rand.Rand, prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d-%016x", prefix, i, rng.Uint64())
	}
	return out
}

// assertNear fails unless got is within tol (a fraction) of want.
func assertNear(t *testing.T, what string, got, want uint64, tol float64) {
	t.Helper()
	if want == 0 {
		if got != 0 {
			t.Errorf("%s: got %d; want 0", what, got)
		}
		return
	}
	if e := math.Abs(float64(got)-float64(want)) / float64(want); e > tol {
		t.Errorf("%s: got %d; want %d within %.1f%% (off by %.2f%%)", what, got, want, tol*100, e*100)
	}
}

func TestCardinality(t *testing.T) {
	for _, n := range []int{1, 10, 100, 1000, denseAfter + 1, 10000, 50000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			tr := New(Options{})
			us := users(rng, "u", n)
			// Each user comes back three times, interleaved, as people do.
			for range 3 {
				for _, u := range us {
					tr.Observe("zoom", u, base)
				}
			}
			assertNear(t, "Window(zoom, 1)", tr.Window("zoom", 1, base), uint64(n), 0.02)
			if got := tr.Report(base)[0].Requests1d; got != uint64(3*n) {
				t.Errorf("Requests1d: got %d; want %d", got, 3*n)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	today := users(rng, "today-", 300)
	threeDaysAgo := append(users(rng, "three-", 200), today[:100]...) // 100 of them also today
	tenDaysAgo := users(rng, "ten-", 400)
	fortyDaysAgo := users(rng, "forty-", 500) // outside every window

	tr := New(Options{})
	observeAll := func(at time.Time, us []string) {
		for _, u := range us {
			tr.Observe("slack", u, at)
		}
	}
	observeAll(daysAgo(40), fortyDaysAgo)
	observeAll(daysAgo(10), tenDaysAgo)
	observeAll(daysAgo(3), threeDaysAgo)
	observeAll(base, today)

	for _, tc := range []struct {
		days int
		want uint64
	}{
		{1, 300},
		{3, 300},
		{4, 500},         // today + 3 days ago, overlap counted once
		{7, 500},         //
		{11, 900},        // + 10 days ago
		{30, 900},        //
		{MaxWindow, 900}, // 40 days ago is older than the ring
		{0, 300},         // clamped to 1
		{1000, 900},      // clamped to MaxWindow
	} {
		t.Run(fmt.Sprintf("%d days", tc.days), func(t *testing.T) {
			assertNear(t, "Window", tr.Window("slack", tc.days, base), tc.want, 0.02)
		})
	}
	t.Run("another app", func(t *testing.T) {
		if got := tr.Window("zoom", 30, base); got != 0 {
			t.Errorf("Window(zoom): got %d; want 0", got)
		}
	})
	t.Run("windows move with now", func(t *testing.T) {
		// Seen from 5 days later, "today" is 5 days ago and "10 days ago" 15.
		later := base.AddDate(0, 0, 5)
		assertNear(t, "1 day", tr.Window("slack", 1, later), 0, 0)
		assertNear(t, "7 days", tr.Window("slack", 7, later), 300, 0.02)
		assertNear(t, "30 days", tr.Window("slack", 30, later), 900, 0.02)
	})
}

func TestRing(t *testing.T) {
	t.Run("a day 31 days later takes the slot", func(t *testing.T) {
		tr := New(Options{})
		tr.Observe("zoom", "alice", base)
		later := base.AddDate(0, 0, ringDays)
		tr.Observe("zoom", "bob", later)
		tr.Observe("zoom", "carol", later)
		if got := tr.Window("zoom", 1, later); got != 2 {
			t.Errorf("Window on the later day: got %d; want 2", got)
		}
		if got := tr.Window("zoom", 1, base); got != 0 {
			t.Errorf("Window on the overwritten day: got %d; want 0", got)
		}
	})
	t.Run("a late observation older than the ring is dropped", func(t *testing.T) {
		tr := New(Options{})
		later := base.AddDate(0, 0, ringDays)
		tr.Observe("zoom", "bob", later)
		tr.Observe("zoom", "alice", base) // same slot, 31 days older
		if got := tr.Window("zoom", 1, later); got != 1 {
			t.Errorf("Window: got %d; want 1", got)
		}
		if got := tr.Report(later)[0].Requests1d; got != 1 {
			t.Errorf("Requests1d: got %d; want 1", got)
		}
	})
	t.Run("a late observation for yesterday lands in yesterday", func(t *testing.T) {
		tr := New(Options{})
		for i := range 2000 { // today's sketch is dense
			tr.Observe("zoom", fmt.Sprint("today", i), base)
		}
		// Report keeps the union of the days before today; the late
		// observations below must show all the same.
		if got := tr.Report(base)[0].Requests7d; got != 2000 {
			t.Errorf("Requests7d before: got %d; want 2000", got)
		}
		tr.Observe("zoom", "late", daysAgo(1))
		tr.Observe("zoom", "late", daysAgo(1))
		if got := tr.Report(base)[0].Requests7d; got != 2002 {
			t.Errorf("Requests7d: got %d; want 2002", got)
		}
		assertNear(t, "7 days", tr.Window("zoom", 7, base), 2001, 0.02)
		assertNear(t, "Active7d", tr.Report(base)[0].Active7d, 2001, 0.02)
		for i := range 500 {
			tr.Observe("zoom", fmt.Sprint("late", i), daysAgo(9))
		}
		r := tr.Report(base)[0]
		assertNear(t, "Active30d after 500 more late users", r.Active30d, 2501, 0.02)
		if r.Requests30d != 2502 {
			t.Errorf("Requests30d: got %d; want 2502", r.Requests30d)
		}
	})
}

func TestObserveIgnores(t *testing.T) {
	for _, app := range []string{"", UnknownApp, "Zoom", "-zoom", "zoom-", "zo om", "zoom\xff",
		"a-very-long-app-id-that-is-longer-than-any-catalog-id-could-ever-be-x"} {
		t.Run(fmt.Sprintf("%q", app), func(t *testing.T) {
			tr := New(Options{})
			tr.Observe(app, "alice", base)
			if got := tr.Report(base); len(got) != 0 {
				t.Errorf("Report: got %+v; want nothing", got)
			}
		})
	}
	t.Run("empty user counts the request only", func(t *testing.T) {
		tr := New(Options{})
		tr.Observe("zoom", "", base)
		r := tr.Report(base)
		if len(r) != 1 || r[0].Requests1d != 1 || r[0].Active1d != 0 {
			t.Errorf("Report: got %+v; want 1 request and no user", r)
		}
	})
}

func TestMaxApps(t *testing.T) {
	tr := New(Options{MaxApps: 10})
	for i := range 2000 {
		tr.Observe(fmt.Sprintf("app-%d", i), "alice", base)
	}
	if got := len(tr.Report(base)); got != 10 {
		t.Errorf("apps tracked: got %d; want 10", got)
	}
	if got := len(*tr.apps.Load()); got != 10 {
		t.Errorf("app states: got %d; want 10", got)
	}
}

func TestReport(t *testing.T) {
	tr := New(Options{})
	tr.SetApps([]App{
		{ID: "zoom", Name: "Zoom", Seats: 500},
		{ID: "slack", Name: "Slack"},
		{ID: "microsoft-teams", Name: "Microsoft Teams", Seats: 10},
		{ID: "box", Name: "Box", Seats: 1},
		{ID: "Bad Id", Name: "Ignored", Seats: 3},
	})
	for i := range 212 {
		tr.Observe("zoom", fmt.Sprint("user", i), daysAgo(i%20))
	}
	for i := range 3 {
		tr.Observe("slack", fmt.Sprint("user", i), base)
		tr.Observe("slack", fmt.Sprint("user", i), daysAgo(10))
	}
	tr.Observe("box", "user1", base)
	tr.Observe("dropbox", "user1", daysAgo(35)) // older than 30 days, no seats: not reported

	got := tr.Report(base)
	want := []struct {
		app         string
		a1, a7, a30 uint64
		r1, r7, r30 uint64
		sentence    string
	}{
		{"zoom", 11, 77, 212, 11, 77, 212, "Zoom: 212 active of 500 seats in 30 days"},
		{"slack", 3, 3, 3, 3, 3, 6, "Slack: 3 active in 30 days"},
		{"box", 1, 1, 1, 1, 1, 1, "Box: 1 active of 1 seat in 30 days"},
		{"microsoft-teams", 0, 0, 0, 0, 0, 0, "Microsoft Teams: 0 active of 10 seats in 30 days"},
	}
	if len(got) != len(want) {
		t.Fatalf("Report: got %d apps (%+v); want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.App != w.app {
			t.Errorf("Report[%d].App: got %q; want %q", i, g.App, w.app)
			continue
		}
		if g.Active1d != w.a1 || g.Active7d != w.a7 || g.Active30d != w.a30 {
			t.Errorf("%s active: got %d/%d/%d; want %d/%d/%d", w.app, g.Active1d, g.Active7d, g.Active30d, w.a1, w.a7, w.a30)
		}
		if g.Requests1d != w.r1 || g.Requests7d != w.r7 || g.Requests30d != w.r30 {
			t.Errorf("%s requests: got %d/%d/%d; want %d/%d/%d", w.app, g.Requests1d, g.Requests7d, g.Requests30d, w.r1, w.r7, w.r30)
		}
		if s := g.Sentence(); s != w.sentence {
			t.Errorf("%s sentence: got %q; want %q", w.app, s, w.sentence)
		}
	}
}

func TestSentence(t *testing.T) {
	for _, tc := range []struct {
		name string
		u    AppUsage
		want string
	}{
		{"seats", AppUsage{App: "zoom", Name: "Zoom", Active30d: 212, Seats: 500}, "Zoom: 212 active of 500 seats in 30 days"},
		{"one seat", AppUsage{App: "zoom", Name: "Zoom", Active30d: 1, Seats: 1}, "Zoom: 1 active of 1 seat in 30 days"},
		{"no seats", AppUsage{App: "zoom", Name: "Zoom", Active30d: 7}, "Zoom: 7 active in 30 days"},
		{"no name", AppUsage{App: "zoom", Active30d: 7}, "zoom: 7 active in 30 days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.u.Sentence(); got != tc.want {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}

func TestDayOf(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(secondsPerDay-1, 0), 0},
		{time.Unix(secondsPerDay, 0), 1},
		{time.Unix(-1, 0), -1},
		{time.Unix(-secondsPerDay, 0), -1},
		{time.Unix(-secondsPerDay-1, 0), -2},
		// A local time is counted by its UTC day.
		{time.Date(2026, 3, 15, 23, 30, 0, 0, time.FixedZone("UTC-2", -2*3600)), dayOf(time.Date(2026, 3, 16, 1, 30, 0, 0, time.UTC))},
	} {
		t.Run(tc.at.String(), func(t *testing.T) {
			if got := dayOf(tc.at); got != tc.want {
				t.Errorf("dayOf: got %d; want %d", got, tc.want)
			}
			if s := slotOf(tc.want); s < 0 || s >= ringDays {
				t.Errorf("slotOf(%d): got %d; want 0..%d", tc.want, s, ringDays-1)
			}
		})
	}
}

func TestObserveAllocs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		users int
	}{
		{"sparse day", 500},
		{"dense day", 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Options{})
			us := users(rand.New(rand.NewPCG(1, 2)), "u", tc.users)
			for _, u := range us {
				tr.Observe("zoom", u, base)
			}
			i := 0
			allocs := testing.AllocsPerRun(1000, func() {
				tr.Observe("zoom", us[i%len(us)], base)
				i++
			})
			if allocs != 0 {
				t.Errorf("allocations per Observe of a returning user: got %v; want 0", allocs)
			}
		})
	}
}

// TestConcurrent runs every entry point at once; -race checks the locking,
// and the totals check that no observation was lost.
func TestConcurrent(t *testing.T) {
	tr := New(Options{DiscoveryCounters: 50})
	other := New(Options{})
	other.Observe("zoom", "someone", base)
	const workers, perWorker = 4, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				u := fmt.Sprintf("w%d-u%d", w, i%300)
				tr.Observe([]string{"zoom", "slack", "box"}[i%3], u, base)
				tr.ObserveUnknown(fmt.Sprintf("h%d.example%d.com", i, i%97), u, base)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			tr.Report(base)
			tr.Top(10)
			tr.Window("zoom", 7, base)
			if _, err := tr.Snapshot(); err != nil {
				t.Errorf("Snapshot: %v", err)
			}
			if err := other.Merge(tr); err != nil {
				t.Errorf("Merge: %v", err)
			}
		}
	})
	wg.Wait()
	var requests uint64
	for _, u := range tr.Report(base) {
		requests += u.Requests1d
	}
	if requests != workers*perWorker {
		t.Errorf("requests counted: got %d; want %d", requests, workers*perWorker)
	}
	// Zoom gets every third request, so the users i%300 that are multiples of 3.
	assertNear(t, "distinct zoom users", tr.Window("zoom", 1, base), workers*100, 0.02)
	var domainRequests uint64
	for _, d := range tr.Top(1000) {
		domainRequests += d.Requests
	}
	if domainRequests != workers*perWorker {
		t.Errorf("domain requests (97 domains, 50 counters): got %d; want %d", domainRequests, workers*perWorker)
	}
}
