package usage_test

import (
	"fmt"
	"time"

	"github.com/signpost-gateway/signpost/usage"
)

func Example() {
	tr := usage.New(usage.Options{})
	tr.SetApps([]usage.App{{ID: "zoom", Name: "Zoom", Seats: 500}})

	// The proxy, once per decision: catalog apps by id, other hosts by name.
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	for i := range 212 {
		tr.Observe("zoom", fmt.Sprintf("user%d", i), now.AddDate(0, 0, -(i%30)))
	}
	tr.ObserveUnknown("app.newtool.io:443", "user1", now)

	for _, u := range tr.Report(now) {
		fmt.Println(u.Sentence())
	}
	for _, d := range tr.Top(10) {
		fmt.Printf("%s: %d requests by %d people\n%s", d.Domain, d.Requests, d.Users, d.CatalogEntry)
	}
	// Output:
	// Zoom: 212 active of 500 seats in 30 days
	// newtool.io: 1 requests by 1 people
	// - id: newtool
	//   name: "Newtool"
	//   category: uncategorized
	//   domains: [newtool.io]
}
