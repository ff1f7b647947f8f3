package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signpost-gateway/signpost/classify"
)

// metrics are the proxy's Prometheus metrics. Labels are bounded: app ids
// come from the catalog (anything else is "unknown"), never a user, URL or
// raw host.
type metrics struct {
	decisions       *prometheus.CounterVec
	refusals        *prometheus.CounterVec
	upstreamErrors  *prometheus.CounterVec
	decisionSeconds prometheus.Histogram
	openTunnels     prometheus.GaugeFunc
	lookupHits      prometheus.CounterFunc
	lookupMisses    prometheus.CounterFunc
	tunnelBytes     *prometheus.CounterVec
	ttfb            prometheus.Histogram
	pageViews       *prometheus.CounterVec
	continues       *prometheus.CounterVec
	accessRequests  *prometheus.CounterVec
	certHits        prometheus.CounterFunc
	certMisses      prometheus.CounterFunc
}

func newMetrics(g *Gateway) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "signpost", Subsystem: "proxy", Name: "decisions_total",
			Help: "Decisions made, by path (connect, http, intercepted), app, category and action.",
		}, []string{"kind", "app", "category", "action"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "signpost", Subsystem: "proxy", Name: "refusals_total",
			Help: "Requests the proxy refused before any policy decision, by reason (client, port, auth, bad_host, no_ca, misdirected).",
		}, []string{"reason"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "signpost", Subsystem: "proxy", Name: "upstream_errors_total",
			Help: "Upstream connections or requests that failed, by kind (destination, timeout, dns, connect).",
		}, []string{"kind"}),
		decisionSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "signpost", Subsystem: "proxy", Name: "decision_duration_seconds",
			Help:    "Time from a request's arrival to Signpost's decision on it.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05},
		}),
	}
	m.tunnelBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "signpost", Subsystem: "proxy", Name: "tunnel_bytes_total",
		Help: "Bytes through closed CONNECT tunnels, by direction (up: to the origin, down: from it), as the kernel counted them.",
	}, []string{"direction"})
	m.ttfb = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "signpost", Subsystem: "proxy", Name: "upstream_ttfb_seconds",
		Help:    "Time from a forwarded request's arrival to the origin's response headers (plain HTTP and intercepted requests).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	})
	m.pageViews = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "signpost", Subsystem: "pages", Name: "views_total",
		Help: "Interstitial pages shown, by app and action (warn, block).",
	}, []string{"app", "action"})
	m.continues = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "signpost", Subsystem: "pages", Name: "continues_total",
		Help: "\"Continue\" clicks on warning pages that granted access, by app.",
	}, []string{"app"})
	m.accessRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "signpost", Subsystem: "pages", Name: "access_requests_total",
		Help: "Access requests people sent from block pages, by app.",
	}, []string{"app"})
	m.lookupHits = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "signpost", Subsystem: "proxy", Name: "host_cache_hits_total",
		Help: "Host classifications answered from the decision cache.",
	}, func() float64 { h, _ := g.lookupStats(); return float64(h) })
	m.lookupMisses = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "signpost", Subsystem: "proxy", Name: "host_cache_misses_total",
		Help: "Host classifications computed from the rules (the cache starts empty with each new configuration).",
	}, func() float64 { _, m := g.lookupStats(); return float64(m) })
	m.openTunnels = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "signpost", Subsystem: "proxy", Name: "open_tunnels",
		Help: "CONNECT tunnels open now (allowed and monitored traffic passing untouched).",
	}, func() float64 { return float64(g.tunnels.Open()) })
	if g.certs != nil {
		m.certHits = prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "signpost", Subsystem: "proxy", Name: "cert_cache_hits_total",
			Help: "Intercepted CONNECTs whose leaf certificate came from the cache.",
		}, func() float64 { h, _ := g.certs.Stats(); return float64(h) })
		m.certMisses = prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "signpost", Subsystem: "proxy", Name: "cert_cache_misses_total",
			Help: "Intercepted CONNECTs that needed a new leaf certificate.",
		}, func() float64 { _, mi := g.certs.Stats(); return float64(mi) })
	}
	return m
}

// labelApp is the app label: a catalog id, or "unknown".
func labelApp(a *classify.App) string {
	if a == nil {
		return "unknown"
	}
	return a.ID
}

// register adds the metrics to r.
func (m *metrics) register(r prometheus.Registerer) error {
	cs := []prometheus.Collector{m.decisions, m.refusals, m.upstreamErrors, m.decisionSeconds, m.openTunnels,
		m.pageViews, m.continues, m.accessRequests, m.tunnelBytes, m.ttfb, m.lookupHits, m.lookupMisses}
	if m.certHits != nil {
		cs = append(cs, m.certHits, m.certMisses)
	}
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
