package store

import (
	"context"
	"fmt"
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
	// here when the store has no change feed, or its feed is down; this
	// node's own writes through the cache show at once, and the others'
	// within moments while Watch runs over a store with a feed.
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
	// was answered NoGrant, or with the grant cached before if it has not
	// ended.
	Errors uint64
	// Invalidations are answers forgotten because a grant changed: by a
	// write through the cache, or one the store's change feed reported.
	Invalidations uint64
	// Purges are times every answer was forgotten: the change feed
	// (re)connected, or Purge was called.
	Purges uint64
}

// GrantCache is the proxy's view of grants: a policy.Grants that answers
// from a short-TTL LRU cache and asks the store only on a miss. It is also
// a Store: reads pass through, and the writes that change grants (AddGrant,
// Decide, RevokeGrant) invalidate the answer they change, so a person who
// clicks "continue" is let through on the very next request. Hand the
// GrantCache, not the store under it, to everything that writes.
//
// Lookups fail closed: when the store errs or is slow, Active answers
// NoGrant, so the rule's action applies, and counts it. The one exception
// keeps a database outage from undoing what people were granted: a grant
// the cache held (past its TTL, but not past the grant's own end) is
// still honoured while the store cannot be asked.
//
// Over a store shared by several nodes (a ChangeFeed), run Watch so that
// the other nodes' writes show within moments rather than after the TTL.
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

	hits, misses, errors, invalidations, purges atomic.Uint64
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
	// ends is when the grant itself ends (zero for NoGrant): how long the
	// answer may stand in for a store that cannot answer.
	ends time.Time
}

// fallback is what an entry still says when the store cannot be asked at
// now: its grant, if it has not ended.
func (e grantEntry) fallback(now time.Time) (policy.GrantKind, bool) {
	if e.kind == policy.NoGrant || !now.Before(e.ends) {
		return policy.NoGrant, false
	}
	return e.kind, true
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
	// its key is invalidated: lookups of the key keep answering after the
	// timeout as when the store fails (see stale), without starting a
	// goroutine each.
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case <-f.done:
		return f.kind
	case <-t.C:
		return c.stale(k, time.Now())
	}
}

// stale answers for k from what the cache held before, trusted or not,
// when the store cannot answer: a grant that has not ended, or NoGrant.
func (c *GrantCache) stale(k grantKey, now time.Time) policy.GrantKind {
	if e, ok := c.cache.Peek(k); ok {
		kind, _ := e.fallback(now)
		return kind
	}
	return policy.NoGrant
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
		e.kind, e.ends = kindOf(g.Source), g.ExpiresAt
		// A grant that ends within the TTL is not trusted past its end.
		if g.ExpiresAt.Before(e.until) {
			e.until = g.ExpiresAt
		}
	}
	c.mu.Lock()
	if c.inflight[k] == f {
		delete(c.inflight, k)
		switch old, ok := c.cache.Peek(k); {
		case err == nil:
			c.cache.Add(k, e)
		case ok:
			// The store failed. A grant held before still stands, until
			// it ends, and is asked about again after a TTL; an absence is
			// not kept, so the next lookup asks again.
			if kind, held := old.fallback(now); held {
				e = grantEntry{kind: kind, until: now.Add(c.ttl), ends: old.ends}
				if old.ends.Before(e.until) {
					e.until = old.ends
				}
				c.cache.Add(k, e)
			}
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
// and Watch call it; call it after writing grants through another path.
func (c *GrantCache) Invalidate(subject, app string) {
	k := grantKey{subject, app}
	c.mu.Lock()
	delete(c.inflight, k)
	c.cache.Remove(k)
	c.mu.Unlock()
	c.invalidations.Add(1)
}

// Purge forgets every answer and every lookup in flight. Watch calls it
// when the change feed (re)connects, since it may have missed changes.
func (c *GrantCache) Purge() {
	c.mu.Lock()
	clear(c.inflight)
	c.cache.Purge()
	c.mu.Unlock()
	c.purges.Add(1)
}

// Watch applies the store's grant changes to the cache, Invalidate for
// each change and Purge when the feed (re)connects, until ctx ends or the
// store closes; run it in its own goroutine. The feed reconnects by
// itself, and the TTL bounds staleness while it is down. Over a store
// without a feed (SQLite, one node) Watch returns nil at once: the
// cache's own writes are the only ones. It returns an error only if the
// feed cannot start (the store is closed, ctx has ended).
func (c *GrantCache) Watch(ctx context.Context) error {
	feed, ok := c.store.(ChangeFeed)
	if !ok {
		return nil
	}
	changes, err := feed.Changes(ctx)
	if err != nil {
		return fmt.Errorf("watch grant changes: %w", err)
	}
	for ch := range changes {
		if ch.All() {
			c.Purge()
		} else {
			c.Invalidate(ch.Subject, ch.App)
		}
	}
	return nil
}

// Stats returns what the lookups have done so far.
func (c *GrantCache) Stats() GrantCacheStats {
	return GrantCacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Errors: c.errors.Load(),
		Invalidations: c.invalidations.Load(), Purges: c.purges.Load(),
	}
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

// Activity implements Store.
func (c *GrantCache) Activity(ctx context.Context, subject string, since time.Time) (Activity, error) {
	return c.store.Activity(ctx, subject, since)
}

// Audit implements Store.
func (c *GrantCache) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	return c.store.Audit(ctx, limit)
}

// AuditEntries implements Store.
func (c *GrantCache) AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	return c.store.AuditEntries(ctx, f)
}

// SaveUsage implements Store; a usage snapshot changes no grant.
func (c *GrantCache) SaveUsage(ctx context.Context, node string, data []byte, at time.Time) error {
	return c.store.SaveUsage(ctx, node, data, at)
}

// UsageSnapshots implements Store.
func (c *GrantCache) UsageSnapshots(ctx context.Context, since time.Time) ([]UsageSnapshot, error) {
	return c.store.UsageSnapshots(ctx, since)
}

// Prune implements Store; it deletes only grants that have ended, which
// the cache already answers as none.
func (c *GrantCache) Prune(ctx context.Context, cutoff time.Time) (Pruned, error) {
	return c.store.Prune(ctx, cutoff)
}

// Ping implements Store.
func (c *GrantCache) Ping(ctx context.Context) error {
	return c.store.Ping(ctx)
}

// Close implements Store: it closes the store under the cache.
func (c *GrantCache) Close() error {
	return c.store.Close()
}
