package usage

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollectorValues(t *testing.T) {
	tr := New(Options{})
	tr.SetApps([]App{{ID: "zoom", Name: "Zoom", Seats: 500}, {ID: "microsoft-teams", Seats: 10}})
	now := time.Now()
	tr.Observe("zoom", "alice", now)
	tr.Observe("zoom", "bob", now)
	tr.Observe("zoom", "carol", now.AddDate(0, 0, -3))
	tr.Observe("zoom", "dave", now.AddDate(0, 0, -20))
	tr.ObserveUnknown("www.newtool.io", "alice", now)

	want := `
# HELP signpost_usage_active_users Estimated distinct users of an app over the last 1, 7 or 30 UTC days (window), for licence right-sizing.
# TYPE signpost_usage_active_users gauge
signpost_usage_active_users{app="microsoft-teams",window="1d"} 0
signpost_usage_active_users{app="microsoft-teams",window="30d"} 0
signpost_usage_active_users{app="microsoft-teams",window="7d"} 0
signpost_usage_active_users{app="zoom",window="1d"} 2
signpost_usage_active_users{app="zoom",window="30d"} 4
signpost_usage_active_users{app="zoom",window="7d"} 3
# HELP signpost_usage_seats Seats (licences) the company pays for, by app, as configured.
# TYPE signpost_usage_seats gauge
signpost_usage_seats{app="microsoft-teams"} 10
signpost_usage_seats{app="zoom"} 500
`
	if err := testutil.CollectAndCompare(tr.Collector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(tr.Collector())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestCollectorSeriesBounded sends traffic from 10,000 random users to the
// catalog apps and to 10,000 random hosts outside it, and checks that the
// number of series depends on the apps only.
func TestCollectorSeriesBounded(t *testing.T) {
	tr := New(Options{})
	tr.SetApps([]App{{ID: "zoom", Seats: 500}, {ID: "slack"}, {ID: "box"}})
	c := tr.Collector()
	apps := []string{"zoom", "slack", "box"}
	rng := rand.New(rand.NewPCG(11, 11))
	now := time.Now()
	traffic := func(n int) {
		for i := range n {
			user := fmt.Sprintf("user-%016x", rng.Uint64())
			tr.Observe(apps[i%len(apps)], user, now)
			tr.ObserveUnknown(fmt.Sprintf("h%016x.d%016x.com", rng.Uint64(), rng.Uint64()), user, now)
		}
	}
	traffic(len(apps))
	before := testutil.CollectAndCount(c)
	traffic(10_000)
	after := testutil.CollectAndCount(c)
	const want = 3*3 + 1 // three windows per app, seats for zoom
	if before != want || after != want {
		t.Errorf("series: got %d after a few requests and %d after 10,000 users and hosts; want %d both times", before, after, want)
	}
	if got := len(tr.Top(DefaultDiscoveryCounters + 1)); got != DefaultDiscoveryCounters {
		t.Errorf("discovered domains kept: got %d; want %d", got, DefaultDiscoveryCounters)
	}
}
