package service

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's configuration metrics.
type metrics struct {
	reloads     *prometheus.CounterVec
	info        *prometheus.GaugeVec
	lastSuccess prometheus.Gauge
	storeUp     prometheus.Gauge
	// restartNeeded counts the start-only settings the configuration in
	// force changed (ConfigStatus.RestartNeeded).
	restartNeeded prometheus.Gauge

	pruned        *prometheus.CounterVec
	pruneFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "signpost", Subsystem: "config", Name: "reloads_total",
			Help: "Configuration reload attempts by result: ok (new rules in force), unchanged (same content), error (refused; the running rules stay).",
		}, []string{"result"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "signpost", Subsystem: "config", Name: "info",
			Help: "Always 1; the hash label identifies the configuration in force (the first 12 hex digits of its SHA-256).",
		}, []string{"hash"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "signpost", Subsystem: "config", Name: "last_success_timestamp_seconds",
			Help: "When the configuration in force was loaded, as a Unix time.",
		}),
	}
	m.storeUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "signpost", Subsystem: "store", Name: "up",
		Help: "1 when the access store answered the last readiness check, 0 when it did not (the node is degraded).",
	})
	m.storeUp.Set(1)
	m.pruned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "signpost", Subsystem: "store", Name: "pruned_rows_total",
		Help: "Rows this node deleted from the access store because they had been over for longer than store.retention, by table: requests, grants, audit.",
	}, []string{"table"})
	m.pruneFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "signpost", Subsystem: "store", Name: "prune_failures_total",
		Help: "Prunings of the access store that failed (the database did not answer, or took longer than 10 minutes); the next one, an hour later, goes on.",
	})
	m.restartNeeded = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "signpost", Subsystem: "config", Name: "restart_needed",
		Help: "Settings of the configuration in force that this node reads at start only (listeners and their timeouts, the upstream dialer, the store, the CA, the keys) and that differ from those it started with; GET /api/v1/config names them.",
	})
	reg.MustRegister(m.reloads, m.info, m.lastSuccess, m.storeUp, m.pruned, m.pruneFailures, m.restartNeeded)
	for _, r := range []string{"ok", "unchanged", "error"} {
		m.reloads.WithLabelValues(r)
	}
	for _, t := range []string{"requests", "grants", "audit"} {
		m.pruned.WithLabelValues(t)
	}
	return m
}
