package identity

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
)

// countingCompare wraps bcrypt.CompareHashAndPassword, counting calls and keeping the hashes
// compared against.
type countingCompare struct {
	mu     sync.Mutex
	calls  int
	hashes [][]byte
}

func (c *countingCompare) compare(hash, password []byte) error {
	c.mu.Lock()
	c.calls++
	c.hashes = append(c.hashes, hash)
	c.mu.Unlock()
	return bcrypt.CompareHashAndPassword(hash, password)
}

func (c *countingCompare) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// gatedCompare is a compare that blocks until released, so tests can hold bcrypt slots.
type gatedCompare struct {
	running atomic.Int32  // comparisons in progress
	most    atomic.Int32  // the most ever in progress at once
	calls   atomic.Int32  // comparisons started
	release chan struct{} // one receive lets one comparison finish
}

func newGatedCompare() *gatedCompare { return &gatedCompare{release: make(chan struct{})} }

func (g *gatedCompare) compare(hash, password []byte) error {
	g.calls.Add(1)
	n := g.running.Add(1)
	for {
		m := g.most.Load()
		if n <= m || g.most.CompareAndSwap(m, n) {
			break
		}
	}
	<-g.release
	g.running.Add(-1)
	return bcrypt.CompareHashAndPassword(hash, password)
}

// identifyBasic runs Identify for a Basic login from an untrusted address with ctx.
func identifyBasic(ctx context.Context, a *Authenticator, user, password string) (Identity, error) {
	r := connectRequest("192.0.2.7:51000", http.Header{"Proxy-Authorization": {basic(user, password)}})
	return a.Identify(r.WithContext(ctx))
}

func TestVerifyCachesSuccessOnly(t *testing.T) {
	a := newTestAuthenticator(t, testConfig(t))
	var c countingCompare
	a.compare = c.compare

	steps := []struct {
		user, password string
		wantErr        error
		wantCalls      int // cumulative bcrypt comparisons after the step
	}{
		{"alice", "secret", nil, 1},
		{"alice", "secret", nil, 1}, // from the cache
		{"alice", "wrong", ErrBadCredentials, 2},
		{"alice", "wrong", ErrBadCredentials, 3}, // failures are not cached
		{"mallory", "secret", ErrBadCredentials, 4},
		{"bob", "hunter2", nil, 5},
		{"alice", "secret", nil, 5},
	}
	for i, s := range steps {
		_, err := identifyBasic(context.Background(), a, s.user, s.password)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
			t.Fatalf("step %d (%s): got error %v; want %v", i, s.user, err, s.wantErr)
		}
		if got := c.count(); got != s.wantCalls {
			t.Fatalf("step %d (%s): got %d bcrypt comparisons so far; want %d", i, s.user, got, s.wantCalls)
		}
	}
}

func TestVerifyUnknownUserSpendsOneComparison(t *testing.T) {
	cfg := testConfig(t)
	a := newTestAuthenticator(t, cfg)
	var c countingCompare
	a.compare = c.compare

	// The password is alice's, so only discarding the dummy comparison's result refuses it.
	_, err := identifyBasic(context.Background(), a, "mallory", "secret")
	if !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("got error %v; want ErrBadCredentials", err)
	}
	if c.count() != 1 {
		t.Fatalf("got %d bcrypt comparisons for an unknown user; want 1", c.count())
	}
	known := false
	for _, e := range cfg.Htpasswd {
		known = known || bytes.Equal(c.hashes[0], e.Hash)
	}
	if !known {
		t.Errorf("got a comparison against %q; want one against a real user's hash, of a real cost", c.hashes[0])
	}
}

func TestWithoutUsersBasicIsIgnored(t *testing.T) {
	// With no htpasswd, Basic is not an identity source: credentials a
	// browser cached for another proxy neither fail nor cost a bcrypt run.
	a := newTestAuthenticator(t, Config{})
	var c countingCompare
	a.compare = c.compare
	id, err := identifyBasic(context.Background(), a, "alice", "secret")
	if err != nil {
		t.Fatalf("got error %v; want none", err)
	}
	if id.User != "" || id.Method != MethodNone {
		t.Errorf("got user %q (%v); want anonymous", id.User, id.Method)
	}
	if c.count() != 0 {
		t.Errorf("got %d bcrypt comparisons with no users configured; want 0", c.count())
	}
}

func TestVerifyCacheExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.CacheTTL = time.Minute
		a := newTestAuthenticator(t, cfg)
		var c countingCompare
		a.compare = c.compare

		login := func(wantCalls int) {
			t.Helper()
			if _, err := identifyBasic(context.Background(), a, "alice", "secret"); err != nil {
				t.Fatalf("got error %v; want nil", err)
			}
			if got := c.count(); got != wantCalls {
				t.Fatalf("got %d bcrypt comparisons; want %d", got, wantCalls)
			}
		}
		login(1)
		time.Sleep(59 * time.Second) // the bubble's fake clock
		login(1)
		time.Sleep(2 * time.Second) // past the first check's TTL
		login(2)
	})
}

func TestVerifySharesConcurrentChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newTestAuthenticator(t, testConfig(t))
		g := newGatedCompare()
		a.compare = g.compare

		const n = 6 // a browser's connections per host
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := identifyBasic(context.Background(), a, "alice", "secret")
				errs <- err
			}()
		}
		synctest.Wait()
		if got := g.calls.Load(); got != 1 {
			t.Fatalf("got %d bcrypt comparisons for %d identical logins; want 1", got, n)
		}
		g.release <- struct{}{}
		for range n {
			if err := <-errs; err != nil {
				t.Errorf("got error %v; want nil", err)
			}
		}
		// A wrong password shared by concurrent requests is refused to each of them.
		for range 2 {
			go func() {
				_, err := identifyBasic(context.Background(), a, "alice", "wrong")
				errs <- err
			}()
		}
		synctest.Wait()
		g.release <- struct{}{}
		for range 2 {
			if err := <-errs; !errors.Is(err, ErrBadCredentials) {
				t.Errorf("got error %v; want ErrBadCredentials", err)
			}
		}
		if got := g.calls.Load(); got != 2 {
			t.Errorf("got %d bcrypt comparisons in all; want 2", got)
		}
	})
}

func TestVerifyLimitsConcurrentBcrypt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newTestAuthenticator(t, testConfig(t))
		g := newGatedCompare()
		a.compare = g.compare
		a.slots = make(chan struct{}, 2)

		passwords := []string{"a", "b", "c", "d", "e"} // all different, so none are shared
		errs := make(chan error, len(passwords))
		for _, p := range passwords {
			go func() {
				_, err := identifyBasic(context.Background(), a, "alice", p)
				errs <- err
			}()
		}
		for done := 0; done < len(passwords); done++ {
			synctest.Wait()
			want := int32(min(2, len(passwords)-done))
			if got := g.running.Load(); got != want {
				t.Fatalf("with %d checks finished: got %d comparisons running; want %d", done, got, want)
			}
			g.release <- struct{}{}
			if err := <-errs; !errors.Is(err, ErrBadCredentials) {
				t.Errorf("got error %v; want ErrBadCredentials", err)
			}
		}
		if got := g.most.Load(); got != 2 {
			t.Errorf("got at most %d comparisons at once; want 2", got)
		}
	})
}

func TestVerifyGivesUpWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newTestAuthenticator(t, testConfig(t))
		g := newGatedCompare()
		a.compare = g.compare
		a.slots = make(chan struct{}, 1)

		// bob's check holds the only slot.
		bobDone := make(chan error, 1)
		go func() {
			_, err := identifyBasic(context.Background(), a, "bob", "hunter2")
			bobDone <- err
		}()
		synctest.Wait()

		// alice's check waits for it, then her client goes away.
		ctx, cancel := context.WithCancel(context.Background())
		aliceDone := make(chan error, 1)
		go func() {
			id, err := identifyBasic(ctx, a, "alice", "secret")
			if id.User != "" {
				err = errors.New("got user " + id.User + "; want none")
			}
			aliceDone <- err
		}()
		synctest.Wait()
		cancel()
		err := <-aliceDone
		var ae *AuthError
		if !errors.Is(err, context.Canceled) || errors.As(err, &ae) {
			t.Errorf("got error %v; want context.Canceled, not an *AuthError", err)
		}

		g.release <- struct{}{}
		if err := <-bobDone; err != nil {
			t.Errorf("bob: got error %v; want nil", err)
		}
		if got := g.calls.Load(); got != 1 {
			t.Errorf("got %d bcrypt comparisons; want 1 (alice's never ran)", got)
		}
	})
}

func TestVerifyWaiterTakesOverAbandonedCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newTestAuthenticator(t, testConfig(t))
		g := newGatedCompare()
		a.compare = g.compare
		a.slots = make(chan struct{}, 1)

		bobDone := make(chan error, 1)
		go func() {
			_, err := identifyBasic(context.Background(), a, "bob", "hunter2")
			bobDone <- err
		}()
		synctest.Wait() // bob holds the only slot

		// The first alice request owns the check and waits for a slot; the second waits for it.
		ctx, cancel := context.WithCancel(context.Background())
		firstDone, secondDone := make(chan error, 1), make(chan error, 1)
		go func() {
			_, err := identifyBasic(ctx, a, "alice", "secret")
			firstDone <- err
		}()
		synctest.Wait()
		go func() {
			_, err := identifyBasic(context.Background(), a, "alice", "secret")
			secondDone <- err
		}()
		synctest.Wait()

		cancel() // the owner gives up; the second request must take the check over
		if err := <-firstDone; !errors.Is(err, context.Canceled) {
			t.Errorf("first: got error %v; want context.Canceled", err)
		}
		g.release <- struct{}{} // bob finishes, freeing the slot
		if err := <-bobDone; err != nil {
			t.Errorf("bob: got error %v; want nil", err)
		}
		synctest.Wait()
		g.release <- struct{}{}
		if err := <-secondDone; err != nil {
			t.Errorf("second: got error %v; want nil", err)
		}
		if got := g.calls.Load(); got != 2 {
			t.Errorf("got %d bcrypt comparisons; want 2 (bob's and the second alice's)", got)
		}
	})
}

func TestCacheKey(t *testing.T) {
	a := newTestAuthenticator(t, Config{})
	b := newTestAuthenticator(t, Config{})
	k := a.cacheKey([]byte("alice"), []byte("secret"))
	if k == b.cacheKey([]byte("alice"), []byte("secret")) {
		t.Error("got equal keys from two Authenticators; want each salted differently")
	}
	if k != a.cacheKey([]byte("alice"), []byte("secret")) {
		t.Error("got different keys for the same credentials; want equal")
	}
	if a.cacheKey([]byte("ali"), []byte("cesecret")) == k {
		t.Error("got equal keys for ali/cesecret and alice/secret; want different")
	}
	if bytes.Contains(k[:], []byte("secret")) {
		t.Errorf("got key %x containing the password; want a hash", k)
	}
}

func TestIdentifyCachedBasicAllocations(t *testing.T) {
	a := newTestAuthenticator(t, testConfig(t))
	r := connectRequest("192.0.2.7:51000", http.Header{"Proxy-Authorization": {basic("alice", "secret")}})
	if _, err := a.Identify(r); err != nil {
		t.Fatal(err)
	}
	// One for the user string, one for the caller's copy of the groups.
	if got := testing.AllocsPerRun(100, func() { _, _ = a.Identify(r) }); got > 2 {
		t.Errorf("got %v allocations per cached Basic login; want at most 2", got)
	}
}

func BenchmarkIdentifyCachedBasic(b *testing.B) {
	a := newTestAuthenticator(b, testConfig(b))
	r := connectRequest("192.0.2.7:51000", http.Header{"Proxy-Authorization": {basic("alice", "secret")}})
	if _, err := a.Identify(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Identify(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIdentifyTrustedHeader(b *testing.B) {
	a := newTestAuthenticator(b, testConfig(b))
	r := connectRequest("10.1.2.3:40000", http.Header{"X-Authenticated-User": {"carol"}, "X-Authenticated-Groups": {"contractors"}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Identify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNewStartsNoGoroutines guards the choice of golang-lru's plain Cache: the expirable
// one starts a goroutine that never ends, one more with every reload.
func TestNewStartsNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	for range 3 {
		newTestAuthenticator(t, testConfig(t))
	}
	goleak.VerifyNone(t, before)
}
