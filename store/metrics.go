package store

import (
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetrics adds the cache's counters to r: lookups answered from the
// cache, lookups that went to the store, lookups the store failed,
// answers invalidated, and purges (change feed reconnections). They read the counters Stats reads, so the hot path
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
		{"grant_lookup_errors_total", "Grant lookups the store failed or did not answer in time; each was answered with no grant, or with a grant cached before that has not ended.",
			func(s GrantCacheStats) uint64 { return s.Errors }},
		{"grant_cache_invalidations_total", "Cached grant answers forgotten because a grant changed, by a write through this node or one the change feed reported.",
			func(s GrantCacheStats) uint64 { return s.Invalidations }},
		{"grant_cache_purges_total", "Times every cached grant answer was forgotten, as when the change feed connects or reconnects.",
			func(s GrantCacheStats) uint64 { return s.Purges }},
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
