package notify

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a delivery, the values of deliveries_total's result label.
const (
	// resultOK: the receiver answered 2xx.
	resultOK = "ok"
	// resultRetry: an attempt failed and another is scheduled.
	resultRetry = "retry"
	// resultFailed: the event will not be sent to this target (last attempt failed, or an
	// answer not worth retrying).
	resultFailed = "failed"
	// resultDropped: the event was never sent, or abandoned, because the queue was full or
	// the notifier was closing.
	resultDropped = "dropped"
)

var results = []string{resultOK, resultRetry, resultFailed, resultDropped}

// metrics are the package's Prometheus metrics. The only label values are target names,
// which come from configuration and are checked by New, and the four results.
type metrics struct {
	deliveries *prometheus.CounterVec
	queueLen   *prometheus.GaugeVec
	duration   *prometheus.HistogramVec
}

func newMetrics(workers []*worker) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "signpost", Subsystem: "notify", Name: "deliveries_total",
			Help: "Webhook deliveries by target and result: ok (delivered), retry (an attempt failed; another is scheduled), failed (given up), dropped (queue full or shutting down).",
		}, []string{"target", "result"}),
		queueLen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "signpost", Subsystem: "notify", Name: "queue_length",
			Help: "Events waiting in a target's queue, not counting the one being delivered.",
		}, []string{"target"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "signpost", Subsystem: "notify", Name: "delivery_duration_seconds",
			Help:    "Time of one delivery attempt, from sending the request to reading the answer (or failing), by target.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"target"}),
	}
	for _, w := range workers {
		m.add(w.t.Name)
	}
	return m
}

// add makes target's series, so that a rate() over a fresh target reads 0,
// not nothing.
func (m *metrics) add(target string) {
	for _, r := range results {
		m.deliveries.WithLabelValues(target, r)
	}
	m.queueLen.WithLabelValues(target)
	m.duration.WithLabelValues(target)
}

// register adds the metrics to r.
func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.deliveries, m.queueLen, m.duration} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) result(target, result string) {
	m.deliveries.WithLabelValues(target, result).Inc()
}

func (m *metrics) queued(target string)   { m.queueLen.WithLabelValues(target).Inc() }
func (m *metrics) dequeued(target string) { m.queueLen.WithLabelValues(target).Dec() }

func (m *metrics) observe(target string, d time.Duration) {
	m.duration.WithLabelValues(target).Observe(d.Seconds())
}
