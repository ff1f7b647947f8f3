package store

import (
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetrics adds the cache's counters to r: lookups answered from the
// cache, lookups that went to the store, and lookups the store failed
// (answered NoGrant). They read the counters Stats reads, so the hot path
// pays one atomic add and no label lookup.
func (c *GrantCache) RegisterMetrics(r prometheus.Registerer) error {
	for _, m := range []struct {
		name, help string
		value      func(GrantCacheStats) uint64
	}{
		{"grant_cache_hits_total", "Grant lookups answered from the cache.",
			func(s GrantCacheStats) uint64 { return s.Hits }},
		{"grant_cache_misses_total", "Grant lookups that went to the store (concurrent lookups of one key count once).",
			func(s GrantCacheStats) uint64 { return s.Misses }},
		{"grant_lookup_errors_total", "Grant lookups the store failed or did not answer in time; each was answered with no grant.",
			func(s GrantCacheStats) uint64 { return s.Errors }},
	} {
		err := r.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "signpost", Subsystem: "store", Name: m.name, Help: m.help,
		}, func() float64 { return float64(m.value(c.Stats())) }))
		if err != nil {
			return err
		}
	}
	return nil
}
