package classify

import (
	"fmt"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultCacheSize is the number of normalised hosts a Matcher remembers when Options.CacheSize is 0.
const DefaultCacheSize = 16384

// CacheStats counts Lookup calls that were answered from the cache and calls that were not.
// Lookups of malformed hosts count as neither.
type CacheStats struct {
	Hits   uint64
	Misses uint64
}

// lookupCache remembers the HostMatch of recently seen normalised hosts. It belongs to one
// Matcher, so a reload (a new Matcher) can never answer from rules it no longer has.
type lookupCache struct {
	lru    *lru.Cache[string, *HostMatch] // nil when caching is disabled
	hits   atomic.Uint64
	misses atomic.Uint64
}

// newLookupCache returns a cache of the given size: 0 means DefaultCacheSize, a negative size
// disables caching.
func newLookupCache(size int) (*lookupCache, error) {
	c := &lookupCache{}
	if size < 0 {
		return c, nil
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	l, err := lru.New[string, *HostMatch](size)
	if err != nil {
		return nil, fmt.Errorf("create lookup cache: %w", err)
	}
	c.lru = l
	return c, nil
}

// get returns the cached match for a normalised host.
func (c *lookupCache) get(host string) (*HostMatch, bool) {
	if c.lru != nil {
		if hm, ok := c.lru.Get(host); ok {
			c.hits.Add(1)
			return hm, true
		}
	}
	c.misses.Add(1)
	return nil, false
}

// add remembers hm under hm.Host, which must not share memory with a caller's buffer.
func (c *lookupCache) add(hm *HostMatch) {
	if c.lru != nil {
		c.lru.Add(hm.Host, hm)
	}
}

// len returns the number of cached hosts.
func (c *lookupCache) len() int {
	if c.lru == nil {
		return 0
	}
	return c.lru.Len()
}

// stats returns the hit and miss counts so far.
func (c *lookupCache) stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}
