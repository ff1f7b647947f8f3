package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultCertCacheSize is the number of leaves a CertCache holds when
// NewCertCache is given a size below 1.
const DefaultCertCacheSize = 1024

// RefreshBefore is how long before a cached leaf expires that CertCache stops
// serving it and mints a new one: a leaf of LeafValidity is served for its
// first six days. A client is never handed a leaf with less than this left,
// so a connection kept open for a day still presents a valid certificate.
const RefreshBefore = 24 * time.Hour

// errGenPanicked is what callers waiting on a generation get when the
// generating call panicked instead of returning.
var errGenPanicked = errors.New("leaf certificate generation panicked")

// CertCache caches minted leaf certificates by hostname, so that
// CA.ServerConfig mints a leaf for each intercepted host once rather than on
// every CONNECT. Its Fetch has the signature of goproxy's CertStorage, but
// Signpost passes it to ServerConfig rather than setting it as goproxy's
// CertStore, which only goproxy's own signer consults.
//
// It holds at most its size of leaves, evicting the least recently used. A
// leaf within RefreshBefore of its expiry is replaced rather than served.
// Concurrent misses for one hostname share a single generation, and a failed
// generation is returned to its callers but not cached. Hostnames are compared
// case-insensitively. A CertCache is safe for concurrent use.
type CertCache struct {
	leaves *lru.Cache[string, leaf]

	mu       sync.Mutex       // guards inflight and epoch
	inflight map[string]*call // hostname → generation in progress
	epoch    uint64           // bumped by Purge; a generation begun earlier is not cached

	hits, misses atomic.Uint64
}

// leaf is a cached certificate and when to stop serving it.
type leaf struct {
	cert      *tls.Certificate
	refreshAt time.Time
}

// call is one generation in progress; done is closed when cert and err are set.
type call struct {
	done chan struct{}
	cert *tls.Certificate
	err  error
}

// NewCertCache returns an empty cache holding up to size leaves; a size below
// 1 means DefaultCertCacheSize.
func NewCertCache(size int) *CertCache {
	if size < 1 {
		size = DefaultCertCacheSize
	}
	leaves, err := lru.New[string, leaf](size)
	if err != nil {
		// lru.New fails only for a size below 1, excluded above.
		panic(fmt.Sprintf("ca: lru.New(%d): %v", size, err))
	}
	return &CertCache{leaves: leaves, inflight: make(map[string]*call)}
}

// Fetch returns the cached leaf for hostname, or calls gen to mint one,
// caches it and returns it. CA.ServerConfig calls it once per intercepted
// CONNECT with the normalised hostname (lower case, no port) and a gen that
// mints a leaf for it.
//
// If a generation for hostname is already running, Fetch waits for it and
// returns its result instead of calling gen. An error from gen is returned
// as is and not cached, so the next Fetch tries again. A nil gen, a nil
// certificate from gen, or one whose expiry cannot be read, is an error.
func (c *CertCache) Fetch(hostname string, gen func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	if gen == nil {
		return nil, errors.New("fetch leaf certificate: nil generator")
	}
	// ToLower returns its argument without allocating when it has no
	// upper-case ASCII, which is the usual case.
	key := strings.ToLower(hostname)
	if l, ok := c.leaves.Get(key); ok && time.Now().Before(l.refreshAt) {
		c.hits.Add(1)
		return l.cert, nil
	}
	c.misses.Add(1)

	c.mu.Lock()
	// Another caller may have cached the leaf between Get above and Lock.
	if l, ok := c.leaves.Get(key); ok && time.Now().Before(l.refreshAt) {
		c.mu.Unlock()
		return l.cert, nil
	}
	if inflight, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		<-inflight.done
		return inflight.cert, inflight.err
	}
	cl := &call{done: make(chan struct{})}
	c.inflight[key] = cl
	epoch := c.epoch
	c.mu.Unlock()

	c.generate(key, epoch, cl, gen)
	return cl.cert, cl.err
}

// generate runs gen for the in-flight call cl, caches a good result unless
// Purge ran meanwhile, and releases the waiters, even if gen panics.
func (c *CertCache) generate(key string, epoch uint64, cl *call, gen func() (*tls.Certificate, error)) {
	returned := false
	defer func() {
		if !returned {
			// gen panicked; the panic continues up this goroutine, but
			// the waiters must not block forever.
			cl.cert, cl.err = nil, errGenPanicked
		}
		c.mu.Lock()
		delete(c.inflight, key)
		c.mu.Unlock()
		close(cl.done)
	}()

	cert, err := gen()
	returned = true
	if err != nil {
		cl.err = err
		return
	}
	refreshAt, err := refreshTime(cert)
	if err != nil {
		cl.err = fmt.Errorf("leaf certificate for %s: %w", key, err)
		return
	}
	cl.cert = cert
	c.mu.Lock()
	// Added while holding mu, so that a Purge either comes first (and the
	// epoch differs) or comes after and removes this leaf too.
	if c.epoch == epoch {
		c.leaves.Add(key, leaf{cert: cert, refreshAt: refreshAt})
	}
	c.mu.Unlock()
}

// refreshTime returns when cert should stop being served from the cache.
func refreshTime(cert *tls.Certificate) (time.Time, error) {
	if cert == nil {
		return time.Time{}, errors.New("generator returned no certificate")
	}
	x := cert.Leaf
	if x == nil {
		if len(cert.Certificate) == 0 {
			return time.Time{}, errors.New("generator returned an empty certificate chain")
		}
		var err error
		if x, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return time.Time{}, err
		}
	}
	return x.NotAfter.Add(-RefreshBefore), nil
}

// Stats returns how many Fetch calls were answered from the cache (hits) and
// how many were not (misses: a new or expiring leaf, including callers that
// waited for another caller's generation).
func (c *CertCache) Stats() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}

// Len returns the number of leaves cached.
func (c *CertCache) Len() int {
	return c.leaves.Len()
}

// Purge empties the cache, for example when the CA changes. A generation
// running meanwhile still answers its callers but is not cached.
func (c *CertCache) Purge() {
	c.mu.Lock()
	c.epoch++
	c.leaves.Purge()
	c.mu.Unlock()
}
