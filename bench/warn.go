package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"
)

// warnHost is the host the Signpost configuration warns on (an app in its
// own apps: list); every subdomain is warned too. Nothing resolves it: a
// warned CONNECT is answered by Signpost itself, with a leaf certificate
// from its CA, without dialing.
const warnHost = "warn.bench.test"

// browserHeaders are the request headers of a browser's navigation, which
// make Signpost answer with the HTML page rather than the short JSON
// explanation it gives API clients.
const browserHeaders = "Accept: text/html,application/xhtml+xml\r\n" +
	"Accept-Language: en\r\n" +
	"Sec-Fetch-Mode: navigate\r\n" +
	"Sec-Fetch-Dest: document\r\n" +
	"User-Agent: signpost-bench\r\n"

// WarnResult is the time to answer a warned host's page over HTTPS, one
// request at a time (the latency a person waits, not a throughput).
type WarnResult struct {
	// CachedLeaf is CONNECT, TLS handshake with the host's leaf already in
	// Signpost's cache, GET of the page and its whole body, on a new
	// connection each time: what a browser's first navigation costs.
	CachedLeaf Summary `json:"cached_leaf"`
	// KeepAlive is one GET of the page on an intercepted connection that
	// stays open: the cost of the page alone.
	KeepAlive Summary `json:"keep_alive"`
	// NewLeaf is CachedLeaf for a host name seen for the first time, so
	// that Signpost mints a leaf (a new P-256 key and a signature) for it.
	NewLeaf   Summary `json:"new_leaf"`
	PageBytes int64   `json:"page_bytes"`
	Errors    int     `json:"errors"`
	FirstErr  string  `json:"first_error,omitempty"`
}

// warnPages measures the warn page through proxy, trusting roots (the
// Signpost CA): for d on new connections with the leaf cached, for d on
// one kept-alive connection, and for newLeaves host names never seen.
func warnPages(ctx context.Context, proxy string, roots *x509.CertPool, d time.Duration, newLeaves int) WarnResult {
	var res WarnResult
	fail := func(err error) {
		res.Errors++
		if res.FirstErr == "" {
			res.FirstErr = err.Error()
		}
	}

	// Warm the leaf for warnHost, then time new connections to it.
	if n, err := onePage(ctx, proxy, warnHost, roots); err != nil {
		fail(err)
	} else {
		res.PageBytes = n
	}
	var lats []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end) && ctx.Err() == nil; {
		t0 := time.Now()
		if _, err := onePage(ctx, proxy, warnHost, roots); err != nil {
			fail(err)
			continue
		}
		lats = append(lats, time.Since(t0))
	}
	res.CachedLeaf = NewLatencies(lats).Summarize()

	lats = lats[:0]
	if c, err := pageConn(ctx, proxy, warnHost, roots); err != nil {
		fail(err)
	} else {
		for end := time.Now().Add(d); time.Now().Before(end) && ctx.Err() == nil; {
			t0 := time.Now()
			if err := pageOn(c, warnHost); err != nil {
				fail(err)
				c.Close()
				if c, err = pageConn(ctx, proxy, warnHost, roots); err != nil {
					fail(err)
					break
				}
				continue
			}
			lats = append(lats, time.Since(t0))
		}
		if c != nil {
			c.Close()
		}
	}
	res.KeepAlive = NewLatencies(lats).Summarize()

	// A nonce keeps the names new even if Signpost has seen a run before.
	nonce := time.Now().UnixNano() % 1e6
	lats = lats[:0]
	for i := range newLeaves {
		host := fmt.Sprintf("h%d-%d.%s", nonce, i, warnHost)
		t0 := time.Now()
		if _, err := onePage(ctx, proxy, host, roots); err != nil {
			fail(err)
			continue
		}
		lats = append(lats, time.Since(t0))
	}
	res.NewLeaf = NewLatencies(lats).Summarize()
	return res
}

// pageConn opens an intercepted connection to host:443 through proxy.
func pageConn(ctx context.Context, proxy, host string, roots *x509.CertPool) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := dialVia(ctx, proxy, host+":443")
	if err != nil {
		return nil, err
	}
	tc, err := startTLS(ctx, c, host, roots)
	if err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// pageOn fetches the page on c and checks that it is the warning.
func pageOn(c *conn, host string) error {
	_, err := pageBytes(c, host)
	return err
}

func pageBytes(c *conn, host string) (int64, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	status, n, err := c.roundTrip("/", host, browserHeaders)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK || n == 0 {
		return 0, fmt.Errorf("warn page for %s: got %d with %d bytes; want 200 with a page", host, status, n)
	}
	return n, nil
}

// onePage opens a new intercepted connection, fetches the page and closes.
func onePage(ctx context.Context, proxy, host string, roots *x509.CertPool) (int64, error) {
	c, err := pageConn(ctx, proxy, host, roots)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return pageBytes(c, host)
}
