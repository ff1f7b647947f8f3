package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// verifier holds what makes password checks affordable on a proxy's hot path: a cache of
// successful checks, a limit on concurrent bcrypt runs, and the checks now running.
type verifier struct {
	// salt is random per Authenticator, so cache keys are useless outside this process.
	salt [32]byte
	ttl  time.Duration
	// cache maps cacheKey(user, password) to a successful check. Failures are never cached:
	// a wrong password is refused afresh every time.
	cache *lru.Cache[[32]byte, cacheEntry]
	// slots holds one token per bcrypt comparison running; its capacity is the limit.
	slots chan struct{}
	// compare is bcrypt.CompareHashAndPassword; tests replace it to watch the checks.
	compare func(hash, password []byte) error

	mu      sync.Mutex
	flights map[[32]byte]*flight // checks running now, by cache key
}

// cacheEntry is a successful check.
type cacheEntry struct{ expires time.Time }

// flight is one running check that concurrent requests with the same credentials (a
// browser opening six connections at once, say) wait for instead of running their own.
type flight struct {
	done chan struct{} // closed when ok and err are set
	ok   bool
	err  error // set when the check's owner gave up waiting for a slot
}

// init sets v up for Config's cache settings and slots concurrent checks. golang-lru's
// plain Cache is used rather than its expirable variant because the latter starts a cleanup
// goroutine that never exits, and an Authenticator is rebuilt on every reload; expiry is
// checked on lookup instead, and the LRU bound keeps stale entries few.
func (v *verifier) init(size int, ttl time.Duration, slots int, compare func(hash, password []byte) error) error {
	cache, err := lru.New[[32]byte, cacheEntry](size)
	if err != nil {
		return fmt.Errorf("verification cache: %w", err)
	}
	v.ttl = ttl
	v.cache = cache
	v.slots = make(chan struct{}, slots)
	v.compare = compare
	v.flights = make(map[[32]byte]*flight)
	rand.Read(v.salt[:]) // never fails: since Go 1.24 crypto/rand crashes the program instead
	return nil
}

// cacheKey returns SHA-256(salt ‖ user ‖ NUL ‖ password). The user holds no NUL (parseBasic
// sees to it), so no two user/password pairs share a key.
func (v *verifier) cacheKey(user, password []byte) [32]byte {
	var stack [len(v.salt) + maxBasicLen + 1]byte
	buf := append(append(append(append(stack[:0], v.salt[:]...), user...), 0), password...)
	key := sha256.Sum256(buf)
	clear(buf)
	return key
}

// verify checks password for user: from the cache when a recent check succeeded, else by
// joining a running check of the same credentials, else by running bcrypt. It returns nil,
// an *AuthError with ErrBadCredentials, or the wrapped error of ctx ending while waiting.
func (a *Authenticator) verify(ctx context.Context, user, password []byte) error {
	key := a.cacheKey(user, password)
	if e, ok := a.cache.Get(key); ok && time.Now().Before(e.expires) {
		return nil
	}
	for {
		a.mu.Lock()
		f, running := a.flights[key]
		if !running {
			f = &flight{done: make(chan struct{})}
			a.flights[key] = f
		}
		a.mu.Unlock()

		if !running {
			f.ok, f.err = a.check(ctx, user, password)
			if f.ok {
				a.cache.Add(key, cacheEntry{expires: time.Now().Add(a.ttl)})
			}
			a.mu.Lock()
			delete(a.flights, key)
			a.mu.Unlock()
			close(f.done)
			return f.result()
		}

		select {
		case <-f.done:
			if f.err == nil {
				return f.result()
			}
			// The check's owner gave up waiting for a slot; try again, perhaps as the owner.
		case <-ctx.Done():
			return fmt.Errorf("identity: waiting for a password check: %w", ctx.Err())
		}
	}
}

// result turns a finished flight into verify's answer.
func (f *flight) result() error {
	switch {
	case f.err != nil:
		return fmt.Errorf("identity: waiting for a password check: %w", f.err)
	case !f.ok:
		return &AuthError{Err: ErrBadCredentials, Reason: reasonWrong}
	default:
		return nil
	}
}

// check runs one bcrypt comparison once a slot is free, and reports whether user exists and
// password matches. An unknown user is compared against a real hash of the most common
// cost, and the result thrown away, so that it takes as long as a known one. err is set
// only when ctx ends first.
func (a *Authenticator) check(ctx context.Context, user, password []byte) (ok bool, err error) {
	hash, known := a.users[string(user)]
	if !known {
		hash = a.dummyHash
	}
	if hash == nil { // there are no users at all, so there is nothing to hide
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	// compare is called through a func value, which the compiler cannot see into; handing
	// it a copy keeps password, and Identify's decode buffer, off the heap on the fast path.
	pw := bytes.Clone(password)
	err = a.compare(hash, pw)
	clear(pw)
	<-a.slots
	return known && err == nil, nil
}
