package admin

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signpost-gateway/signpost/store"
)

// metrics are the admin listener's metrics: what admins decide, and what
// waits for them.
type metrics struct {
	decisions *prometheus.CounterVec
	pending   prometheus.GaugeFunc
}

func newMetrics(s *server) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "signpost", Subsystem: "admin", Name: "decisions_total",
			Help: "Access requests decided and grants revoked by admins, by decision (approved, denied, revoked).",
		}, []string{"decision"}),
	}
	for _, d := range []string{"approved", "denied", "revoked"} {
		m.decisions.WithLabelValues(d)
	}
	m.pending = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "signpost", Subsystem: "admin", Name: "pending_requests",
		Help: "Access requests waiting for a decision (counted at scrape, up to 1000; -1 when the store does not answer).",
	}, func() float64 {
		st, err := s.store()
		if err != nil {
			return -1
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		list, err := st.Requests(ctx, store.RequestFilter{Status: store.StatusPending, Limit: store.MaxLimit})
		if err != nil {
			return -1
		}
		return float64(len(list))
	})
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.decisions, m.pending} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
