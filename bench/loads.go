package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The Go load generator: the measurements wrk cannot make (a fixed request
// rate, CONNECT and TLS, websockets, bulk transfers, idle tunnels). Each
// function runs one measurement against one target and returns its figures.

// FixedRateResult is the latency of small GETs sent at a fixed rate, well
// below what any of the proxies can serve, so that the latency is the
// proxy's own work rather than queueing.
type FixedRateResult struct {
	Rate        float64 `json:"rate_per_s"`
	Connections int     `json:"connections"`
	Sent        int     `json:"sent"`
	Errors      int     `json:"errors"`
	Latency     Summary `json:"latency"`
}

// fixedRate sends small GETs for d at rate requests per second through
// proxy ("" for direct): conns workers, each on its own schedule, share a
// pool of at most conns keep-alive connections, so every request finds one
// idle. A request's latency runs from
// when it was due when its worker was still busy with the previous one
// (so a stall is not hidden by the requests it delayed), and from when it
// was sent otherwise (so timer slack is not counted).
func fixedRate(ctx context.Context, proxy, originHTTP string, rate float64, conns int, d time.Duration) FixedRateResult {
	tr := proxyTransport(proxy, conns)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + originHTTP + pathSmall
	interval := time.Duration(float64(time.Second) / rate * float64(conns))
	start := time.Now().Add(50 * time.Millisecond)
	end := start.Add(d)

	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lats := make([]time.Duration, 0, int(d/interval)+1)
			due := start.Add(interval * time.Duration(w) / time.Duration(conns))
			for ; due.Before(end) && ctx.Err() == nil; due = due.Add(interval) {
				sent := time.Now()
				if wait := due.Sub(sent); wait > 0 {
					time.Sleep(wait)
					sent = time.Now()
				} else {
					sent = due // late: the previous request held this worker
				}
				if err := getSmall(ctx, client, url); err != nil {
					errs.Add(1)
					continue
				}
				lats = append(lats, time.Since(sent))
			}
			mu.Lock()
			all = append(all, lats...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	l := NewLatencies(all)
	return FixedRateResult{Rate: rate, Connections: conns, Sent: l.Count() + int(errs.Load()),
		Errors: int(errs.Load()), Latency: l.Summarize()}
}

func getSmall(ctx context.Context, client *http.Client, url string) error {
	req, err := newRequest(ctx, url)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n != smallSize {
		return fmt.Errorf("got %d with %d bytes; want 200 with %d", resp.StatusCode, n, smallSize)
	}
	return nil
}

// TransferResult is the speed of 64 MiB responses over TLS through a
// CONNECT tunnel (or a direct TLS connection).
type TransferResult struct {
	Runs   int       `json:"runs"`
	MBps   float64   `json:"mb_per_s"` // the best run, 1 MB = 10^6 bytes
	Median float64   `json:"median_mb_per_s"`
	AllMBs []float64 `json:"all_mb_per_s"`
	Errors int       `json:"errors"`
	// ProxyCPUms is the proxy's CPU time per 64 MiB transfer.
	ProxyCPUms float64 `json:"proxy_cpu_ms_per_transfer,omitempty"`
}

// largeTransfers fetches the large resource runs times, each over a new
// tunnel. The clock runs from writing the request to reading the last
// byte; the tunnel and handshake are not counted.
func largeTransfers(ctx context.Context, proxy, originTLS string, roots *x509.CertPool, runs int) TransferResult {
	res := TransferResult{Runs: runs}
	for range runs {
		mbps, err := oneLargeTransfer(ctx, proxy, originTLS, roots)
		if err != nil {
			res.Errors++
			continue
		}
		res.AllMBs = append(res.AllMBs, mbps)
		res.MBps = max(res.MBps, mbps)
	}
	res.Median = median(res.AllMBs)
	return res
}

func oneLargeTransfer(ctx context.Context, proxy, originTLS string, roots *x509.CertPool) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := dialVia(ctx, proxy, originTLS)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	host, _, _ := net.SplitHostPort(originTLS)
	tc, err := startTLS(ctx, c, host, roots)
	if err != nil {
		return 0, err
	}
	defer tc.Close()
	start := time.Now()
	status, n, err := tc.roundTrip(pathLarge, originTLS, "Connection: close\r\n")
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK || n != largeSize {
		return 0, fmt.Errorf("large transfer: got %d with %d bytes; want 200 with %d", status, n, largeSize)
	}
	return float64(n) / 1e6 / elapsed.Seconds(), nil
}

// TunnelRateResult is how many new tunnels per second a target sets up,
// each with a TLS handshake and one small GET, without keep-alive.
type TunnelRateResult struct {
	Workers int     `json:"workers"`
	Done    int     `json:"done"`
	Errors  int     `json:"errors"`
	PerSec  float64 `json:"per_s"`
	Latency Summary `json:"latency"`
	// ProxyCPUus is the proxy's CPU time per tunnel, in microseconds.
	ProxyCPUus float64 `json:"proxy_cpu_us_per_tunnel,omitempty"`
}

// newTunnels runs workers loops for d, each opening a tunnel (or direct
// connection), completing a TLS handshake, fetching the small resource
// and closing.
func newTunnels(ctx context.Context, proxy, originTLS string, roots *x509.CertPool, workers int, d time.Duration) TunnelRateResult {
	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lats []time.Duration
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				if err := oneTunnel(ctx, proxy, originTLS, roots); err != nil {
					errs.Add(1)
					continue
				}
				lats = append(lats, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lats...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	l := NewLatencies(all)
	return TunnelRateResult{Workers: workers, Done: l.Count(), Errors: int(errs.Load()),
		PerSec: float64(l.Count()) / elapsed.Seconds(), Latency: l.Summarize()}
}

func oneTunnel(ctx context.Context, proxy, originTLS string, roots *x509.CertPool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := dialVia(ctx, proxy, originTLS)
	if err != nil {
		return err
	}
	defer c.Close()
	host, _, _ := net.SplitHostPort(originTLS)
	tc, err := startTLS(ctx, c, host, roots)
	if err != nil {
		return err
	}
	defer tc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl)
	}
	status, n, err := tc.roundTrip(pathSmall, originTLS, "Connection: close\r\n")
	if err != nil {
		return err
	}
	if status != http.StatusOK || n != smallSize {
		return fmt.Errorf("got %d with %d bytes; want 200 with %d", status, n, smallSize)
	}
	return nil
}

// Resources are a proxy process's resident memory, open file descriptors
// (all, and how many are sockets and pipes) and, for Go proxies,
// goroutines and the heap and stacks in use (-1 when not known).
type Resources struct {
	RSSKiB     int64 `json:"rss_kib"`
	FDs        int   `json:"fds"`
	Sockets    int   `json:"sockets"`
	Pipes      int   `json:"pipes"`
	Goroutines int   `json:"goroutines"`
	HeapKiB    int64 `json:"heap_inuse_kib"`
	StackKiB   int64 `json:"stack_inuse_kib"`
}

// IdleResult is what holding many idle websocket tunnels costs a proxy,
// and whether it gives everything back once they close.
type IdleResult struct {
	Tunnels      int       `json:"tunnels"`
	Opened       int       `json:"opened"`
	OpenSeconds  float64   `json:"open_seconds"`
	Before       Resources `json:"before"`
	With         Resources `json:"with_tunnels"`
	After        Resources `json:"after_close"`
	PerTunnelKiB float64   `json:"rss_per_tunnel_kib"`
	// HeapPerTunnel and StackPerTunnel split a Go proxy's growth between
	// heap and goroutine stacks, in KiB per tunnel.
	HeapPerTunnel  float64 `json:"heap_per_tunnel_kib,omitempty"`
	StackPerTunnel float64 `json:"stack_per_tunnel_kib,omitempty"`
	EchoErrors     int     `json:"echo_errors"` // tunnels that no longer echoed after idling
	Returned       bool    `json:"returned_to_baseline"`
	Error          string  `json:"error,omitempty"`
}

// idleTunnels opens n websocket tunnels through t, lets them idle for
// settle, samples the proxy's resources (and calls held, when not nil,
// while the tunnels are open), checks that every tunnel still echoes,
// closes them all and waits (up to drain) for the proxy's sockets and
// goroutines to return to what they were before.
func idleTunnels(ctx context.Context, t *target, originTLS string, roots *x509.CertPool, n int, settle, drain time.Duration, held func()) IdleResult {
	res := IdleResult{Tunnels: n}
	var err error
	if res.Before, err = t.resources(ctx); err != nil {
		res.Error = err.Error()
		return res
	}
	tunnels := make([]*wsTunnel, n)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				octx, cancel := context.WithTimeout(ctx, 10*time.Second)
				w, err := openWebsocket(octx, t.Proxy, originTLS, roots)
				cancel()
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					continue
				}
				tunnels[i] = w
			}
		}()
	}
	wg.Wait()
	res.OpenSeconds = time.Since(start).Seconds()
	for _, w := range tunnels {
		if w != nil {
			res.Opened++
		}
	}
	closeAll := func() {
		for _, w := range tunnels {
			if w != nil {
				w.Close()
			}
		}
	}
	if firstErr != nil {
		res.Error = fmt.Sprintf("%d of %d tunnels failed to open; first: %v", n-res.Opened, n, firstErr)
	}
	time.Sleep(settle) // the tunnels idle: this wait is the measurement, not synchronisation
	if res.With, err = t.resources(ctx); err != nil {
		closeAll()
		res.Error = joinErrs(res.Error, err.Error())
		return res
	}
	if held != nil {
		held()
	}
	if n := float64(res.Opened); n > 0 {
		res.PerTunnelKiB = float64(res.With.RSSKiB-res.Before.RSSKiB) / n
		if res.Before.HeapKiB >= 0 {
			res.HeapPerTunnel = float64(res.With.HeapKiB-res.Before.HeapKiB) / n
			res.StackPerTunnel = float64(res.With.StackKiB-res.Before.StackKiB) / n
		}
	}
	for _, w := range tunnels {
		if w != nil && w.echo("still there?") != nil {
			res.EchoErrors++
		}
	}
	closeAll()
	res.After, res.Returned = t.waitBaseline(ctx, res.Before, drain)
	return res
}

// joinErrs joins error texts with "; ", skipping empty ones.
func joinErrs(texts ...string) string {
	var out []string
	for _, t := range texts {
		if t != "" {
			out = append(out, t)
		}
	}
	return strings.Join(out, "; ")
}

// waitBaseline polls the target's resources until its sockets and
// goroutines are back at (or below) base, or timeout passes, and returns
// the last sample and whether they returned. Pipes are not waited for: Go
// keeps its splice pipes pooled until a garbage collection, which an idle
// process runs only every two minutes; the report shows them apart.
func (t *target) waitBaseline(ctx context.Context, base Resources, timeout time.Duration) (Resources, bool) {
	deadline := time.Now().Add(timeout)
	for {
		r, err := t.resources(ctx)
		if err == nil && r.Sockets <= base.Sockets && r.Goroutines <= base.Goroutines {
			return r, true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return r, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
