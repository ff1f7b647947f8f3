package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/signpost-gateway/signpost/policy"
)

// fakeGrants is a Store whose ActiveGrant answers from a map and can be
// told to fail or to hang. The cache calls no other method in these
// tests, so the embedded Store stays nil.
type fakeGrants struct {
	Store

	mu     sync.Mutex
	grants map[grantKey]Grant
	calls  int
	err    error
	// block, when non-nil, holds ActiveGrant after it has read the grant
	// (as a slow database would) until it is closed or, unless
	// ignoreCtx, the lookup's context ends.
	block     chan struct{}
	ignoreCtx bool
}

func newFakeGrants() *fakeGrants {
	return &fakeGrants{grants: map[grantKey]Grant{}}
}

func (f *fakeGrants) put(subject, app string, src GrantSource, until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grants[grantKey{subject, app}] = Grant{Subject: subject, App: app, Source: src, ExpiresAt: until}
}

func (f *fakeGrants) set(fn func(f *fakeGrants)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeGrants) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeGrants) ActiveGrant(ctx context.Context, subject, app string, now time.Time) (*Grant, error) {
	f.mu.Lock()
	f.calls++
	g, ok := f.grants[grantKey{subject, app}]
	block, ignoreCtx, err := f.block, f.ignoreCtx, f.err
	f.mu.Unlock()
	if block != nil {
		if ignoreCtx {
			<-block
		} else {
			select {
			case <-block:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if !ok || !g.ActiveAt(now) {
		return nil, nil
	}
	return &g, nil
}

func wantKind(t *testing.T, c *GrantCache, subject, app string, want policy.GrantKind) {
	t.Helper()
	if got := c.Active(subject, app); got != want {
		t.Errorf("Active(%s, %s): got %v; want %v", subject, app, got, want)
	}
}

func wantCalls(t *testing.T, f *fakeGrants, want int) {
	t.Helper()
	if got := f.callCount(); got != want {
		t.Errorf("store lookups: got %d; want %d", got, want)
	}
}

func TestGrantCacheHitMissTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeGrants()
		c := NewGrantCache(f, GrantCacheOptions{TTL: 5 * time.Second})

		wantKind(t, c, "alice", "slack", policy.NoGrant)
		wantCalls(t, f, 1)
		wantKind(t, c, "alice", "slack", policy.NoGrant)
		wantCalls(t, f, 1)

		// Another node grants; the negative answer holds until the TTL ends.
		f.put("alice", "slack", SourceContinue, time.Now().Add(time.Hour))
		time.Sleep(5*time.Second - time.Nanosecond)
		wantKind(t, c, "alice", "slack", policy.NoGrant)
		wantCalls(t, f, 1)
		time.Sleep(time.Nanosecond)
		wantKind(t, c, "alice", "slack", policy.ContinueGrant)
		wantCalls(t, f, 2)
		wantKind(t, c, "alice", "slack", policy.ContinueGrant)
		wantCalls(t, f, 2)

		f.put("bob", "zoom", SourceApproval, time.Now().Add(time.Hour))
		wantKind(t, c, "bob", "zoom", policy.ApprovedGrant)
		f.put("carol", "zoom", "bribe", time.Now().Add(time.Hour))
		wantKind(t, c, "carol", "zoom", policy.NoGrant)

		if got, want := c.Stats(), (GrantCacheStats{Hits: 3, Misses: 4}); got != want {
			t.Errorf("Stats: got %+v; want %+v", got, want)
		}
	})
}

func TestGrantCacheGrantEndsBeforeTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeGrants()
		c := NewGrantCache(f, GrantCacheOptions{TTL: 5 * time.Second})
		f.put("alice", "slack", SourceContinue, time.Now().Add(2*time.Second))
		wantKind(t, c, "alice", "slack", policy.ContinueGrant)
		time.Sleep(2 * time.Second)
		wantKind(t, c, "alice", "slack", policy.NoGrant)
		wantCalls(t, f, 2)
	})
}

func TestGrantCacheInvalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeGrants()
		c := NewGrantCache(f, GrantCacheOptions{TTL: time.Hour})
		wantKind(t, c, "alice", "slack", policy.NoGrant)
		f.put("alice", "slack", SourceContinue, time.Now().Add(time.Hour))
		c.Invalidate("bob", "slack")
		c.Invalidate("alice", "zoom")
		wantKind(t, c, "alice", "slack", policy.NoGrant)
		c.Invalidate("alice", "slack")
		wantKind(t, c, "alice", "slack", policy.ContinueGrant)
		wantCalls(t, f, 2)
	})
}

func TestGrantCacheInvalidateDuringLookup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeGrants()
		c := NewGrantCache(f, GrantCacheOptions{TTL: time.Hour})
		release := make(chan struct{})
		f.set(func(f *fakeGrants) { f.block = release })

		// A lookup reads "no grant", then is slow to answer…
		first := make(chan policy.GrantKind)
		go func() { first <- c.Active("alice", "slack") }()
		synctest.Wait()
		// …while a continue is stored and invalidated.
		f.set(func(f *fakeGrants) { f.block = nil })
		f.put("alice", "slack", SourceContinue, time.Now().Add(time.Hour))
		c.Invalidate("alice", "slack")
		// A lookup after the write does not join the stale one.
		wantKind(t, c, "alice", "slack", policy.ContinueGrant)
		close(release)
		if got := <-first; got != policy.NoGrant {
			t.Errorf("the stale lookup: got %v; want NoGrant (what it read)", got)
		}
		synctest.Wait()
		// The stale answer was not cached over the fresh one.
		wantKind(t, c, "alice", "slack", policy.ContinueGrant)
		wantCalls(t, f, 2)
	})
}

func TestGrantCacheErrorsFailClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeGrants()
		c := NewGrantCache(f, GrantCacheOptions{TTL: time.Hour})
		f.put("alice", "slack", SourceApproval, time.Now().Add(time.Hour))
		f.set(func(f *fakeGrants) { f.err = fmt.Errorf("active grant: %w", ErrUnavailable) })

		wantKind(t, c, "alice", "slack", policy.NoGrant)
		// An error is not cached: the next lookup asks again.
		wantKind(t, c, "alice", "slack", policy.NoGrant)
		wantCalls(t, f, 2)
		if got := c.Stats().Errors; got != 2 {
			t.Errorf("Stats().Errors: got %d; want 2", got)
		}
		f.set(func(f *fakeGrants) { f.err = nil })
		wantKind(t, c, "alice", "slack", policy.ApprovedGrant)
	})
}

func TestGrantCacheTimeout(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ignoreCtx bool
	}{
		{"store honours its context", false},
		{"store ignores its context", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeGrants()
				c := NewGrantCache(f, GrantCacheOptions{LookupTimeout: 250 * time.Millisecond})
				f.put("alice", "slack", SourceApproval, time.Now().Add(time.Hour))
				release := make(chan struct{})
				f.set(func(f *fakeGrants) { f.block, f.ignoreCtx = release, tc.ignoreCtx })

				start := time.Now()
				wantKind(t, c, "alice", "slack", policy.NoGrant)
				if waited := time.Since(start); waited != 250*time.Millisecond {
					t.Errorf("Active waited %v; want the 250ms lookup timeout", waited)
				}
				synctest.Wait()
				// A lookup that ended with its context counts as an error;
				// one still hanging has not ended yet.
				wantErrors := uint64(1)
				if tc.ignoreCtx {
					wantErrors = 0
				}
				if got := c.Stats().Errors; got != wantErrors {
					t.Errorf("Stats().Errors: got %d; want %d", got, wantErrors)
				}
				close(release)
			})
		})
	}
}

func TestGrantCacheSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeGrants()
		c := NewGrantCache(f, GrantCacheOptions{TTL: time.Hour})
		f.put("alice", "slack", SourceContinue, time.Now().Add(time.Hour))
		release := make(chan struct{})
		f.set(func(f *fakeGrants) { f.block = release })

		const n = 10
		results := make(chan policy.GrantKind, n)
		for range n {
			go func() { results <- c.Active("alice", "slack") }()
		}
		synctest.Wait()
		wantCalls(t, f, 1)
		go func() { results <- c.Active("bob", "slack") }()
		synctest.Wait()
		wantCalls(t, f, 2)

		close(release)
		counts := map[policy.GrantKind]int{}
		for range n + 1 {
			counts[<-results]++
		}
		if counts[policy.ContinueGrant] != n || counts[policy.NoGrant] != 1 {
			t.Errorf("answers: got %v; want %d continue (alice) and 1 none (bob)", counts, n)
		}
		wantKind(t, c, "alice", "slack", policy.ContinueGrant)
		wantCalls(t, f, 2)
		if got := c.Stats().Misses; got != 2 {
			t.Errorf("Stats().Misses: got %d; want 2", got)
		}
	})
}

func TestGrantCacheEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeGrants()
		c := NewGrantCache(f, GrantCacheOptions{Size: 2, TTL: time.Hour})
		wantKind(t, c, "a", "slack", policy.NoGrant)
		wantKind(t, c, "b", "slack", policy.NoGrant)
		wantKind(t, c, "a", "slack", policy.NoGrant) // a is now the most recent
		wantKind(t, c, "c", "slack", policy.NoGrant) // evicts b
		wantCalls(t, f, 3)
		wantKind(t, c, "a", "slack", policy.NoGrant)
		wantCalls(t, f, 3)
		wantKind(t, c, "b", "slack", policy.NoGrant)
		wantCalls(t, f, 4)
	})
}

func TestGrantCacheEmptyKey(t *testing.T) {
	f := newFakeGrants()
	c := NewGrantCache(f, GrantCacheOptions{})
	wantKind(t, c, "", "slack", policy.NoGrant)
	wantKind(t, c, "alice", "", policy.NoGrant)
	wantCalls(t, f, 0)
}

func TestGrantCacheHitAllocs(t *testing.T) {
	f := newFakeGrants()
	c := NewGrantCache(f, GrantCacheOptions{TTL: time.Hour})
	f.put("alice", "slack", SourceContinue, time.Now().Add(2*time.Hour))
	wantKind(t, c, "alice", "slack", policy.ContinueGrant)
	allocs := testing.AllocsPerRun(1000, func() {
		if c.Active("alice", "slack") != policy.ContinueGrant {
			t.Fatal("Active: the cached grant went missing")
		}
	})
	if allocs != 0 {
		t.Errorf("allocations per cached lookup: got %v; want 0", allocs)
	}
	wantCalls(t, f, 1)
}

func TestGrantCacheMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeGrants()
		c := NewGrantCache(f, GrantCacheOptions{})
		reg := prometheus.NewPedanticRegistry()
		if err := c.RegisterMetrics(reg); err != nil {
			t.Fatalf("RegisterMetrics: %v", err)
		}
		c.Active("alice", "slack")
		c.Active("alice", "slack")
		c.Active("alice", "slack")
		f.set(func(f *fakeGrants) { f.err = ErrUnavailable })
		c.Active("bob", "slack")
		c.Invalidate("alice", "slack")
		c.Invalidate("carol", "zoom")
		c.Purge()
		want := `
# HELP signpost_store_grant_cache_hits_total Grant lookups answered from the cache.
# TYPE signpost_store_grant_cache_hits_total counter
signpost_store_grant_cache_hits_total 2
# HELP signpost_store_grant_cache_invalidations_total Cached grant answers forgotten because a grant changed, by a write through this node or one the change feed reported.
# TYPE signpost_store_grant_cache_invalidations_total counter
signpost_store_grant_cache_invalidations_total 2
# HELP signpost_store_grant_cache_misses_total Grant lookups that went to the store (concurrent lookups of one key count once).
# TYPE signpost_store_grant_cache_misses_total counter
signpost_store_grant_cache_misses_total 2
# HELP signpost_store_grant_cache_purges_total Times every cached grant answer was forgotten, as when the change feed connects or reconnects.
# TYPE signpost_store_grant_cache_purges_total counter
signpost_store_grant_cache_purges_total 1
# HELP signpost_store_grant_lookup_errors_total Grant lookups the store failed or did not answer in time; each was answered with no grant, or with a grant cached before that has not ended.
# TYPE signpost_store_grant_lookup_errors_total counter
signpost_store_grant_lookup_errors_total 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
			t.Error(err)
		}
		if err := c.RegisterMetrics(reg); err == nil {
			t.Error("RegisterMetrics twice: got no error; want the registry to refuse duplicates")
		}
	})
}

// TestGrantCacheOverSQLite proves that every write through the cache shows
// at once, with a TTL long enough that nothing else could explain it.
func TestGrantCacheOverSQLite(t *testing.T) {
	ctx := context.Background()
	s := openTestSQLite(t, filepath.Join(t.TempDir(), "signpost.db"))
	c := NewGrantCache(s, GrantCacheOptions{TTL: time.Hour})
	now := time.Now()

	wantKind(t, c, "alice", "zoom", policy.NoGrant)
	cont, err := c.AddGrant(ctx, Grant{Subject: "alice", App: "zoom", ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatalf("AddGrant: %v", err)
	}
	wantKind(t, c, "alice", "zoom", policy.ContinueGrant)

	req, err := c.CreateRequest(ctx, Request{Subject: "alice", App: "zoom", Justification: "customer calls"})
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	_, approval, err := c.Decide(ctx, req.ID, Decision{Approve: true, By: "admin", GrantFor: time.Hour})
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	wantKind(t, c, "alice", "zoom", policy.ApprovedGrant)
	if _, err := c.RevokeGrant(ctx, approval.ID, "admin"); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	wantKind(t, c, "alice", "zoom", policy.ContinueGrant)
	if _, err := c.RevokeGrant(ctx, cont.ID, "admin"); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	wantKind(t, c, "alice", "zoom", policy.NoGrant)

	// A write that bypasses the cache is not seen until invalidated.
	wantKind(t, c, "bob", "zoom", policy.NoGrant)
	if _, err := s.AddGrant(ctx, Grant{Subject: "bob", App: "zoom", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatalf("AddGrant: %v", err)
	}
	wantKind(t, c, "bob", "zoom", policy.NoGrant)
	c.Invalidate("bob", "zoom")
	wantKind(t, c, "bob", "zoom", policy.ContinueGrant)

	// A closed store fails closed.
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantKind(t, c, "carol", "zoom", policy.NoGrant)
	if got := c.Stats().Errors; got != 1 {
		t.Errorf("Stats().Errors after Close: got %d; want 1", got)
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping after Close: got no error; want one")
	}
}

func BenchmarkGrantCacheHit(b *testing.B) {
	f := newFakeGrants()
	c := NewGrantCache(f, GrantCacheOptions{TTL: time.Hour})
	f.put("alice@example.com", "slack", SourceApproval, time.Now().Add(2*time.Hour))
	c.Active("alice@example.com", "slack")
	b.ReportAllocs()
	for b.Loop() {
		if c.Active("alice@example.com", "slack") != policy.ApprovedGrant {
			b.Fatal("Active: the cached grant went missing")
		}
	}
}

func BenchmarkGrantCacheHitParallel(b *testing.B) {
	f := newFakeGrants()
	c := NewGrantCache(f, GrantCacheOptions{TTL: time.Hour})
	users := make([]string, 64)
	for i := range users {
		users[i] = fmt.Sprintf("user%02d@example.com", i)
		f.put(users[i], "slack", SourceContinue, time.Now().Add(2*time.Hour))
		c.Active(users[i], "slack")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Active(users[i%len(users)], "slack")
			i++
		}
	})
}

func TestGrantCacheHonoursCachedGrantsWhileStoreDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		down func(f *fakeGrants)
	}{
		{"store fails", func(f *fakeGrants) { f.err = fmt.Errorf("active grant: %w", ErrUnavailable) }},
		{"store hangs", func(f *fakeGrants) { f.block, f.ignoreCtx = make(chan struct{}), false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeGrants()
				c := NewGrantCache(f, GrantCacheOptions{TTL: 5 * time.Second, LookupTimeout: 250 * time.Millisecond})
				f.put("alice", "slack", SourceApproval, time.Now().Add(time.Hour))
				f.put("bob", "slack", SourceContinue, time.Now().Add(8*time.Second))
				wantKind(t, c, "alice", "slack", policy.ApprovedGrant)
				wantKind(t, c, "bob", "slack", policy.ContinueGrant)
				wantKind(t, c, "carol", "slack", policy.NoGrant)

				f.set(tc.down)
				time.Sleep(5 * time.Second) // every answer's TTL ends
				wantKind(t, c, "alice", "slack", policy.ApprovedGrant)
				wantKind(t, c, "bob", "slack", policy.ContinueGrant)
				wantKind(t, c, "carol", "slack", policy.NoGrant)
				wantKind(t, c, "dave", "slack", policy.NoGrant)
				synctest.Wait()
				if got := c.Stats().Errors; got != 4 {
					t.Errorf("Stats().Errors: got %d; want 4, one per key", got)
				}

				// The kept grants are asked about again once per TTL, not on
				// every lookup; bob's ends meanwhile and is not kept past its end.
				before := f.callCount()
				wantKind(t, c, "alice", "slack", policy.ApprovedGrant)
				wantCalls(t, f, before)
				time.Sleep(5 * time.Second)
				wantKind(t, c, "bob", "slack", policy.NoGrant)
				wantKind(t, c, "alice", "slack", policy.ApprovedGrant)

				// The store answers again: the fresh answer wins.
				f.set(func(f *fakeGrants) { f.err, f.block = nil, nil })
				f.put("alice", "slack", SourceContinue, time.Now().Add(time.Hour))
				time.Sleep(5 * time.Second)
				wantKind(t, c, "alice", "slack", policy.ContinueGrant)
				wantKind(t, c, "carol", "slack", policy.NoGrant)
				synctest.Wait()
			})
		})
	}
}

func TestGrantCachePurge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeGrants()
		c := NewGrantCache(f, GrantCacheOptions{TTL: time.Hour})
		wantKind(t, c, "alice", "slack", policy.NoGrant)
		wantKind(t, c, "bob", "zoom", policy.NoGrant)
		f.put("alice", "slack", SourceContinue, time.Now().Add(time.Hour))
		f.put("bob", "zoom", SourceApproval, time.Now().Add(time.Hour))

		// A lookup in flight when the purge comes does not store what it read.
		release := make(chan struct{})
		f.set(func(f *fakeGrants) { f.block = release })
		stale := make(chan policy.GrantKind)
		go func() { stale <- c.Active("carol", "miro") }()
		synctest.Wait()
		f.set(func(f *fakeGrants) { f.block = nil })
		c.Purge()
		f.put("carol", "miro", SourceContinue, time.Now().Add(time.Hour))
		close(release)
		if got := <-stale; got != policy.NoGrant {
			t.Errorf("lookup in flight across the purge: got %v; want NoGrant (what it read)", got)
		}

		wantKind(t, c, "alice", "slack", policy.ContinueGrant)
		wantKind(t, c, "bob", "zoom", policy.ApprovedGrant)
		wantKind(t, c, "carol", "miro", policy.ContinueGrant)
		wantCalls(t, f, 6)
		if got := c.Stats().Purges; got != 1 {
			t.Errorf("Stats().Purges: got %d; want 1", got)
		}
	})
}

// feedGrants is a fakeGrants with a change feed the test drives.
type feedGrants struct {
	*fakeGrants
	changes chan GrantChange
	err     error
}

func (f *feedGrants) Changes(ctx context.Context) (<-chan GrantChange, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.changes, nil
}

func TestGrantCacheWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &feedGrants{fakeGrants: newFakeGrants(), changes: make(chan GrantChange)}
		c := NewGrantCache(f, GrantCacheOptions{TTL: time.Hour})
		done := make(chan error, 1)
		go func() { done <- c.Watch(t.Context()) }()

		wantKind(t, c, "alice", "slack", policy.NoGrant)
		wantKind(t, c, "bob", "slack", policy.NoGrant)
		f.put("alice", "slack", SourceContinue, time.Now().Add(time.Hour))
		f.put("bob", "slack", SourceApproval, time.Now().Add(time.Hour))

		f.changes <- GrantChange{Subject: "alice", App: "slack"}
		synctest.Wait()
		wantKind(t, c, "alice", "slack", policy.ContinueGrant)
		wantKind(t, c, "bob", "slack", policy.NoGrant) // not named, still cached

		f.changes <- GrantChange{}
		synctest.Wait()
		wantKind(t, c, "bob", "slack", policy.ApprovedGrant)
		if got, want := c.Stats(), (GrantCacheStats{Hits: 1, Misses: 4, Invalidations: 1, Purges: 1}); got != want {
			t.Errorf("Stats: got %+v; want %+v", got, want)
		}

		close(f.changes)
		if err := <-done; err != nil {
			t.Errorf("Watch after the feed closed: got %v; want nil", err)
		}
	})
}

func TestGrantCacheWatchWithoutFeed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		store   Store
		wantErr bool
	}{
		{"store without a feed", newFakeGrants(), false},
		{"feed that cannot start", &feedGrants{fakeGrants: newFakeGrants(), err: fmt.Errorf("grant changes: %w", ErrUnavailable)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewGrantCache(tc.store, GrantCacheOptions{}).Watch(t.Context())
			if got := err != nil; got != tc.wantErr {
				t.Errorf("Watch: got error %v; want an error: %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, ErrUnavailable) {
				t.Errorf("Watch: got error %v; want it to wrap ErrUnavailable", err)
			}
		})
	}
}

// TestGrantCacheUsagePassesThrough saves and reads usage snapshots through
// the cache: they reach the store and touch no cached grant.
func TestGrantCacheUsagePassesThrough(t *testing.T) {
	ctx := context.Background()
	s := openTestSQLite(t, filepath.Join(t.TempDir(), "signpost.db"))
	c := NewGrantCache(s, GrantCacheOptions{TTL: time.Hour})
	at := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	if err := c.SaveUsage(ctx, "edge-1", []byte("sketches"), at); err != nil {
		t.Fatalf("SaveUsage through the cache: %v", err)
	}
	want := []UsageSnapshot{{Node: "edge-1", Data: []byte("sketches"), UpdatedAt: at}}
	for _, r := range []struct {
		name string
		s    Store
	}{{"the store", s}, {"the cache", c}} {
		got, err := r.s.UsageSnapshots(ctx, time.Time{})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("UsageSnapshots through %s: got %+v, %v; want %+v", r.name, got, err, want)
		}
	}
	err := c.SaveUsage(ctx, "", []byte("x"), at)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("SaveUsage through the cache without a node: got %v; want ErrInvalid", err)
	}
	if st := c.Stats(); st != (GrantCacheStats{}) {
		t.Errorf("cache stats after usage calls: got %+v; want all zero", st)
	}
}
