package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeLeaf returns a certificate that expires at notAfter. CertCache reads
// only Leaf.NotAfter, so nothing needs signing.
func fakeLeaf(notAfter time.Time) *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{{0}}, Leaf: &x509.Certificate{NotAfter: notAfter}}
}

// countingGen returns a generator of fresh year-long leaves and a counter of
// its calls.
func countingGen() (func() (*tls.Certificate, error), *atomic.Int64) {
	var calls atomic.Int64
	return func() (*tls.Certificate, error) {
		calls.Add(1)
		return fakeLeaf(time.Now().Add(365 * 24 * time.Hour)), nil
	}, &calls
}

func mustFetch(t *testing.T, c *CertCache, host string, gen func() (*tls.Certificate, error)) *tls.Certificate {
	t.Helper()
	cert, err := c.Fetch(host, gen)
	if err != nil {
		t.Fatalf("Fetch(%q): %v", host, err)
	}
	return cert
}

func checkStats(t *testing.T, c *CertCache, wantHits, wantMisses uint64) {
	t.Helper()
	if hits, misses := c.Stats(); hits != wantHits || misses != wantMisses {
		t.Errorf("got hits=%d misses=%d; want hits=%d misses=%d", hits, misses, wantHits, wantMisses)
	}
}

func TestCertCacheHitAndMiss(t *testing.T) {
	c := NewCertCache(8)
	gen, calls := countingGen()

	first := mustFetch(t, c, "app.test", gen)
	checkStats(t, c, 0, 1)
	second := mustFetch(t, c, "app.test", gen)
	checkStats(t, c, 1, 1)
	if second != first {
		t.Error("got a different certificate on the second fetch; want the cached one")
	}
	if third := mustFetch(t, c, "APP.Test", gen); third != first {
		t.Error("got a different certificate for APP.Test; want hostnames compared case-insensitively")
	}
	checkStats(t, c, 2, 1)
	if other := mustFetch(t, c, "other.test", gen); other == first {
		t.Error("got app.test's certificate for other.test; want a separate entry per host")
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("got %d generator calls; want 2 (one per host)", got)
	}
	if got := c.Len(); got != 2 {
		t.Errorf("got Len %d; want 2", got)
	}
}

func TestCertCacheSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const callers = 16
		c := NewCertCache(8)
		release := make(chan struct{})
		var calls atomic.Int64
		gen := func() (*tls.Certificate, error) {
			calls.Add(1)
			<-release
			return fakeLeaf(time.Now().Add(365 * 24 * time.Hour)), nil
		}

		results := make([]*tls.Certificate, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() { results[i], errs[i] = c.Fetch("app.test", gen) })
		}
		// Every caller is now blocked: one in gen, the rest waiting for it.
		synctest.Wait()
		if got := calls.Load(); got != 1 {
			t.Errorf("got %d generator calls while %d callers wait; want 1", got, callers)
		}
		checkStats(t, c, 0, callers)

		close(release)
		wg.Wait()
		for i := range callers {
			if errs[i] != nil || results[i] != results[0] || results[0] == nil {
				t.Fatalf("got caller %d result %p, error %v; want every caller to get the same certificate", i, results[i], errs[i])
			}
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("got %d generator calls in all; want 1", got)
		}
		if again := mustFetch(t, c, "app.test", gen); again != results[0] {
			t.Error("got a new certificate after the shared generation; want it cached")
		}
		checkStats(t, c, 1, callers)
	})
}

func TestCertCacheErrorsAreSharedNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const callers = 4
		c := NewCertCache(8)
		boom := errors.New("boom")
		release := make(chan struct{})
		var calls atomic.Int64
		gen := func() (*tls.Certificate, error) {
			calls.Add(1)
			<-release
			return nil, boom
		}

		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() { _, errs[i] = c.Fetch("app.test", gen) })
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, boom) {
				t.Errorf("got caller %d error %v; want %v", i, err, boom)
			}
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("got %d generator calls; want 1 shared by %d callers", got, callers)
		}
		if got := c.Len(); got != 0 {
			t.Errorf("got Len %d after a failed generation; want 0", got)
		}

		good, goodCalls := countingGen()
		mustFetch(t, c, "app.test", good)
		if got := goodCalls.Load(); got != 1 {
			t.Errorf("got %d generator calls after a failure; want the next Fetch to generate again", got)
		}
	})
}

func TestCertCacheRefreshesExpiringLeaves(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lifetime  time.Duration // of the generated leaf
		wait      time.Duration // between the two fetches
		wantCalls int64
	}{
		{"fresh leaf is served", 48 * time.Hour, 0, 1},
		{"leaf expiring within 24h is replaced at once", 23 * time.Hour, 0, 2},
		{"leaf entering its last 24h is replaced", 48 * time.Hour, 25 * time.Hour, 2},
		{"leaf just outside its last 24h is served", 48 * time.Hour, 23 * time.Hour, 1},
		{"expired leaf is replaced", time.Hour, 2 * time.Hour, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := NewCertCache(8)
				var calls atomic.Int64
				gen := func() (*tls.Certificate, error) {
					calls.Add(1)
					return fakeLeaf(time.Now().Add(tc.lifetime)), nil
				}
				first := mustFetch(t, c, "app.test", gen)
				time.Sleep(tc.wait) // advances the bubble's fake clock
				second := mustFetch(t, c, "app.test", gen)
				if got := calls.Load(); got != tc.wantCalls {
					t.Errorf("got %d generator calls; want %d", got, tc.wantCalls)
				}
				if replaced := second != first; replaced != (tc.wantCalls == 2) {
					t.Errorf("got certificate replaced=%v; want %v", replaced, tc.wantCalls == 2)
				}
			})
		})
	}
}

func TestCertCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := NewCertCache(2)
	gen, calls := countingGen()
	mustFetch(t, c, "a.test", gen)
	mustFetch(t, c, "b.test", gen)
	mustFetch(t, c, "a.test", gen) // a is now more recent than b
	mustFetch(t, c, "c.test", gen) // evicts b
	if got := calls.Load(); got != 3 {
		t.Fatalf("got %d generator calls; want 3", got)
	}
	mustFetch(t, c, "a.test", gen)
	if got := calls.Load(); got != 3 {
		t.Errorf("got %d generator calls after refetching a.test; want 3 (a.test still cached)", got)
	}
	mustFetch(t, c, "b.test", gen)
	if got := calls.Load(); got != 4 {
		t.Errorf("got %d generator calls after refetching b.test; want 4 (b.test evicted)", got)
	}
	if got := c.Len(); got != 2 {
		t.Errorf("got Len %d; want 2", got)
	}
}

func TestCertCachePurge(t *testing.T) {
	c := NewCertCache(8)
	gen, calls := countingGen()
	first := mustFetch(t, c, "app.test", gen)
	c.Purge()
	if got := c.Len(); got != 0 {
		t.Errorf("got Len %d after Purge; want 0", got)
	}
	if again := mustFetch(t, c, "app.test", gen); again == first || calls.Load() != 2 {
		t.Errorf("got %d generator calls and the old certificate=%v; want a new leaf after Purge", calls.Load(), again == first)
	}
}

func TestCertCachePurgeDuringGeneration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCertCache(8)
		release := make(chan struct{})
		gen := func() (*tls.Certificate, error) {
			<-release
			return fakeLeaf(time.Now().Add(365 * 24 * time.Hour)), nil
		}
		var got *tls.Certificate
		var err error
		done := make(chan struct{})
		go func() {
			got, err = c.Fetch("app.test", gen)
			close(done)
		}()
		synctest.Wait()
		c.Purge()
		close(release)
		<-done
		if err != nil || got == nil {
			t.Fatalf("got %v, %v; want the caller still answered", got, err)
		}
		if n := c.Len(); n != 0 {
			t.Errorf("got Len %d; want a leaf begun before Purge left uncached", n)
		}
	})
}

func TestCertCacheGeneratorPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCertCache(8)
		release := make(chan struct{})
		gen := func() (*tls.Certificate, error) {
			<-release
			panic("signer exploded")
		}
		recovered := make(chan any, 1)
		go func() {
			defer func() { recovered <- recover() }()
			_, _ = c.Fetch("app.test", gen)
		}()
		synctest.Wait() // the first caller is inside gen
		waiterErr := make(chan error, 1)
		go func() {
			_, err := c.Fetch("app.test", gen)
			waiterErr <- err
		}()
		synctest.Wait() // the second caller waits for the first
		close(release)

		if r := <-recovered; r != "signer exploded" {
			t.Errorf("got panic %v in the generating caller; want the generator's panic to propagate", r)
		}
		if err := <-waiterErr; !errors.Is(err, errGenPanicked) {
			t.Errorf("got waiter error %v; want %v", err, errGenPanicked)
		}
		good, calls := countingGen()
		mustFetch(t, c, "app.test", good)
		if calls.Load() != 1 {
			t.Error("got no generation after a panic; want the in-flight entry cleared")
		}
	})
}

func TestCertCacheRejectsBadGenerators(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func() (*tls.Certificate, error)
		want string
	}{
		{"nil generator", nil, "nil generator"},
		{"nil certificate", func() (*tls.Certificate, error) { return nil, nil }, "generator returned no certificate"},
		{"empty chain", func() (*tls.Certificate, error) { return &tls.Certificate{}, nil }, "empty certificate chain"},
		{"unparsable leaf", func() (*tls.Certificate, error) {
			return &tls.Certificate{Certificate: [][]byte{[]byte("not DER")}}, nil
		}, "leaf certificate for app.test:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCertCache(8)
			cert, err := c.Fetch("app.test", tc.gen)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, %v; want an error containing %q", cert, err, tc.want)
			}
			if n := c.Len(); n != 0 {
				t.Errorf("got Len %d; want nothing cached", n)
			}
		})
	}
}

func TestCertCacheParsesLeafWhenUnset(t *testing.T) {
	ca := mustGenerate(t)
	c := NewCertCache(8)
	// The CA certificate stands in for a leaf: only its DER and expiry matter.
	gen := func() (*tls.Certificate, error) {
		return &tls.Certificate{Certificate: [][]byte{ca.Cert.Raw}}, nil
	}
	first := mustFetch(t, c, "app.test", gen)
	if second := mustFetch(t, c, "app.test", gen); second != first {
		t.Error("got a new certificate; want the one whose expiry was read from its DER cached")
	}
}

func TestNewCertCacheDefaultSize(t *testing.T) {
	for _, size := range []int{0, -1} {
		c := NewCertCache(size)
		gen, _ := countingGen()
		for _, host := range []string{"a.test", "b.test", "c.test"} {
			mustFetch(t, c, host, gen)
		}
		if got := c.Len(); got != 3 {
			t.Errorf("NewCertCache(%d): got Len %d; want 3 (default size %d)", size, got, DefaultCertCacheSize)
		}
	}
}

func TestCertCacheHitDoesNotAllocate(t *testing.T) {
	c := NewCertCache(8)
	gen, _ := countingGen()
	mustFetch(t, c, "app.test", gen)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Fetch("app.test", gen); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("got %v allocations per cached Fetch; want 0", allocs)
	}
}

func BenchmarkFetchHit(b *testing.B) {
	c := NewCertCache(DefaultCertCacheSize)
	gen, _ := countingGen()
	if _, err := c.Fetch("app.test", gen); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Fetch("app.test", gen); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFetchHitParallel(b *testing.B) {
	c := NewCertCache(DefaultCertCacheSize)
	gen, _ := countingGen()
	if _, err := c.Fetch("app.test", gen); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Fetch("app.test", gen); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
