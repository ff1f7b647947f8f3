package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/signpost-gateway/signpost/policy"
)

// GrantCacheOptions configure a GrantCache. Zero fields take the defaults.
type GrantCacheOptions struct {
	// Size bounds the number of (subject, app) answers kept; 0 means 10000.
	Size int
	// TTL is how long an answer, a grant or its absence, is trusted; 0
	// means 5 s. It bounds how long another node's write takes to show
	// here; this node's own writes through the cache show at once.
	TTL time.Duration
	// LookupTimeout bounds how long Active waits for the store on a miss;
	// 0 means 250 ms.
	LookupTimeout time.Duration
}

// GrantCacheStats count what a GrantCache's lookups did.
type GrantCacheStats struct {
	// Hits were answered from the cache.
	Hits uint64
	// Misses went to the store (concurrent misses for one key count once).
	Misses uint64
	// Errors are misses the store failed or did not answer in time; each
	// was answered NoGrant.
	Errors uint64
}

// GrantCache is the proxy's view of grants: a policy.Grants that answers
// from a short-TTL LRU cache and asks the store only on a miss. It is also
// a Store: reads pass through, and the writes that change grants (AddGrant,
// Decide, RevokeGrant) invalidate the answer they change, so a person who
// clicks "continue" is let through on the very next request. Hand the
// GrantCache, not the store under it, to everything that writes.
//
// Lookups fail closed: when the store errs or is slow, Active answers
// NoGrant, so the rule's action applies, and counts it.
type GrantCache struct {
	store   Store
	cache   *lru.Cache[grantKey, grantEntry]
	ttl     time.Duration
	timeout time.Duration

	// mu guards inflight. A key's flight is removed when it lands or when
	// the key is invalidated; a flight that finds itself removed does not
	// store its answer, which may predate the write.
	mu       sync.Mutex
	inflight map[grantKey]*grantFlight

	hits, misses, errors atomic.Uint64
}

var (
	_ policy.Grants = (*GrantCache)(nil)
	_ Store         = (*GrantCache)(nil)
)

// grantKey is a comparable key, so that a lookup builds no string.
type grantKey struct{ subject, app string }

// grantEntry is a cached answer and when it stops being trusted.
type grantEntry struct {
	kind  policy.GrantKind
	until time.Time
}

// grantFlight is one store lookup that concurrent misses share.
type grantFlight struct {
	done chan struct{}
	kind policy.GrantKind // set before done is closed
}

// NewGrantCache returns a cache over s.
func NewGrantCache(s Store, o GrantCacheOptions) *GrantCache {
	if o.Size <= 0 {
		o.Size = 10000
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Second
	}
	if o.LookupTimeout <= 0 {
		o.LookupTimeout = 250 * time.Millisecond
	}
	// lru.New fails only for a size below 1.
	c, _ := lru.New[grantKey, grantEntry](o.Size)
	return &GrantCache{
		store: s, cache: c, ttl: o.TTL, timeout: o.LookupTimeout,
		inflight: make(map[grantKey]*grantFlight),
	}
}

// Active implements policy.Grants: the kind of grant subject holds for app
// now. A cached answer is a map lookup; a miss waits for the store at most
// LookupTimeout, sharing the lookup with concurrent misses for the same
// key, and answers NoGrant if the store fails.
func (c *GrantCache) Active(subject, app string) policy.GrantKind {
	if subject == "" || app == "" {
		return policy.NoGrant
	}
	k := grantKey{subject, app}
	if e, ok := c.cache.Get(k); ok && time.Now().Before(e.until) {
		c.hits.Add(1)
		return e.kind
	}
	return c.miss(k)
}

// miss joins or starts the lookup of k and waits for it, at most the timeout.
func (c *GrantCache) miss(k grantKey) policy.GrantKind {
	c.mu.Lock()
	// A flight may have landed since the caller looked.
	if e, ok := c.cache.Peek(k); ok && time.Now().Before(e.until) {
		c.mu.Unlock()
		c.hits.Add(1)
		return e.kind
	}
	f := c.inflight[k]
	if f == nil {
		f = &grantFlight{done: make(chan struct{})}
		c.inflight[k] = f
		c.misses.Add(1)
		go c.fetch(k, f)
	}
	c.mu.Unlock()

	// The flight has the same deadline; this timer is for a store that
	// ignores its context. Such a flight stays in flight until it lands or
	// its key is invalidated: lookups of the key keep failing closed after
	// the timeout, without starting a goroutine each.
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case <-f.done:
		return f.kind
	case <-t.C:
		return policy.NoGrant
	}
}

// fetch asks the store for k and lands the flight.
func (c *GrantCache) fetch(k grantKey, f *grantFlight) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	now := time.Now()
	g, err := c.store.ActiveGrant(ctx, k.subject, k.app, now)
	cancel()
	e := grantEntry{kind: policy.NoGrant, until: now.Add(c.ttl)}
	if err != nil {
		c.errors.Add(1)
	} else if g != nil {
		e.kind = kindOf(g.Source)
		// A grant that ends within the TTL is not trusted past its end.
		if g.ExpiresAt.Before(e.until) {
			e.until = g.ExpiresAt
		}
	}
	c.mu.Lock()
	if c.inflight[k] == f {
		delete(c.inflight, k)
		// An error is not cached: the next lookup asks again.
		if err == nil {
			c.cache.Add(k, e)
		}
	}
	c.mu.Unlock()
	f.kind = e.kind
	close(f.done)
}

// kindOf maps a grant's source onto what it lifts; an unknown source lifts
// nothing.
func kindOf(s GrantSource) policy.GrantKind {
	switch s {
	case SourceApproval:
		return policy.ApprovedGrant
	case SourceContinue:
		return policy.ContinueGrant
	default:
		return policy.NoGrant
	}
}

// Invalidate forgets the answer for subject and app, and any lookup of it
// in flight, so the next Active asks the store. The cache's own writes
// call it; call it after writing grants through another path.
func (c *GrantCache) Invalidate(subject, app string) {
	k := grantKey{subject, app}
	c.mu.Lock()
	delete(c.inflight, k)
	c.cache.Remove(k)
	c.mu.Unlock()
}

// Stats returns what the lookups have done so far.
func (c *GrantCache) Stats() GrantCacheStats {
	return GrantCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Errors: c.errors.Load()}
}

// AddGrant implements Store and invalidates the grant's subject and app.
func (c *GrantCache) AddGrant(ctx context.Context, g Grant) (Grant, error) {
	// Invalidated even on an error: the write may have committed.
	defer c.Invalidate(g.Subject, g.App)
	return c.store.AddGrant(ctx, g)
}

// Decide implements Store and invalidates the request's subject and app.
func (c *GrantCache) Decide(ctx context.Context, id int64, d Decision) (Request, *Grant, error) {
	r, g, err := c.store.Decide(ctx, id, d)
	if err == nil {
		c.Invalidate(r.Subject, r.App)
	}
	return r, g, err
}

// RevokeGrant implements Store and invalidates the grant's subject and app.
func (c *GrantCache) RevokeGrant(ctx context.Context, id int64, by string) (Grant, error) {
	g, err := c.store.RevokeGrant(ctx, id, by)
	if err == nil {
		c.Invalidate(g.Subject, g.App)
	}
	return g, err
}

// CreateRequest implements Store; a request changes no grant.
func (c *GrantCache) CreateRequest(ctx context.Context, r Request) (Request, error) {
	return c.store.CreateRequest(ctx, r)
}

// Request implements Store.
func (c *GrantCache) Request(ctx context.Context, id int64) (Request, error) {
	return c.store.Request(ctx, id)
}

// Requests implements Store.
func (c *GrantCache) Requests(ctx context.Context, f RequestFilter) ([]Request, error) {
	return c.store.Requests(ctx, f)
}

// ActiveGrant implements Store; it asks the store, bypassing the cache.
func (c *GrantCache) ActiveGrant(ctx context.Context, subject, app string, now time.Time) (*Grant, error) {
	return c.store.ActiveGrant(ctx, subject, app, now)
}

// Grants implements Store.
func (c *GrantCache) Grants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	return c.store.Grants(ctx, f)
}

// CountRequesters implements Store.
func (c *GrantCache) CountRequesters(ctx context.Context, app string) (int, error) {
	return c.store.CountRequesters(ctx, app)
}

// LatestDecided implements Store.
func (c *GrantCache) LatestDecided(ctx context.Context, subject, app string) (*Request, error) {
	return c.store.LatestDecided(ctx, subject, app)
}

// PendingFor implements Store.
func (c *GrantCache) PendingFor(ctx context.Context, subject, app string) (*Request, error) {
	return c.store.PendingFor(ctx, subject, app)
}

// Audit implements Store.
func (c *GrantCache) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	return c.store.Audit(ctx, limit)
}

// Ping implements Store.
func (c *GrantCache) Ping(ctx context.Context) error {
	return c.store.Ping(ctx)
}

// Close implements Store: it closes the store under the cache.
func (c *GrantCache) Close() error {
	return c.store.Close()
}
