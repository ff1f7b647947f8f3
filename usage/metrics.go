package usage

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	activeUsersDesc = prometheus.NewDesc("signpost_usage_active_users",
		"Estimated distinct users of an app over the last 1, 7 or 30 UTC days (window), for licence right-sizing.",
		[]string{"app", "window"}, nil)
	seatsDesc = prometheus.NewDesc("signpost_usage_seats",
		"Seats (licences) the company pays for, by app, as configured.",
		[]string{"app"}, nil)
)

// collector exports a Tracker's Report at each scrape.
type collector struct {
	t   *Tracker
	now func() time.Time
}

// Collector returns a Prometheus collector for t's figures, computed at
// each scrape: signpost_usage_active_users{app,window} with window 1d, 7d
// and 30d for every app in Report, and signpost_usage_seats{app} for apps
// with seats. Its labels are app ids and the three windows only, never a
// user or a host. Register it on the registry of the embedding service.
func (t *Tracker) Collector() prometheus.Collector {
	return &collector{t: t, now: time.Now}
}

// Describe sends the two metric descriptions.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activeUsersDesc
	ch <- seatsDesc
}

// Collect sends the current figures.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	// App ids are checked when they enter the tracker, so the constructors
	// cannot fail; an error still becomes an invalid metric, not a panic.
	send := func(desc *prometheus.Desc, v uint64, labels ...string) {
		m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, float64(v), labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- m
	}
	for _, u := range c.t.Report(c.now()) {
		send(activeUsersDesc, u.Active1d, u.App, "1d")
		send(activeUsersDesc, u.Active7d, u.App, "7d")
		send(activeUsersDesc, u.Active30d, u.App, "30d")
		if u.Seats > 0 {
			send(seatsDesc, uint64(u.Seats), u.App)
		}
	}
}
