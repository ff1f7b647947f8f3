package service_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/service"
)

// TestReloadUnderLoad changes the rules many times while clients send
// plain-HTTP and HTTPS requests through the proxy without pause,
// alternating a good change and a bad one. It asserts that no request
// fails, that every answer is what one of the two good rule sets says, that
// a bad change never takes effect, and that every good change is noticed by
// the watcher (not an API call) and applied by the proxy. How fast is
// measured, not asserted: the test logs the slowest write-to-swap time and
// BenchmarkReloadLatency measures it alone.
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	n := startNode(t, warnSlack)
	caPEM, err := os.ReadFile(filepath.Join(n.data, "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := n.origin.Pool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("cannot read the node's CA")
	}
	proxyURL := &url.URL{Scheme: "http", Host: n.n.ProxyAddr().String()}
	newClient := func(keepAlive bool) *http.Client {
		tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool},
			DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 4}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	// classify says which rule set answered: the origin (slack allowed) or
	// Signpost's page (slack warned). Anything else is a failure.
	classify := func(c *http.Client, u string) (string, error) {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return "", err
		}
		switch {
		case resp.StatusCode == 200 && resp.Header.Get("X-Origin") == "test-origin":
			return "allow", nil
		case resp.StatusCode == 200 && resp.Header.Get("Content-Security-Policy") != "":
			return "warn", nil
		default:
			return "", fmt.Errorf("%s: unexpected answer %d", u, resp.StatusCode)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var total, failed atomic.Int64
	errs := make(chan error, 1)
	for i := 0; i < 8; i++ {
		u := "http://slack.com/"
		if i%2 == 1 {
			u = "https://slack.com/"
		}
		c := newClient(i%4 < 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := classify(c, u); err != nil && failed.Add(1) == 1 {
					errs <- err
				}
				total.Add(1)
			}
		}()
	}

	probe := newClient(false)
	waitFor := func(want string) {
		t.Helper()
		start := time.Now()
	retry:
		for time.Since(start) < 10*time.Second {
			for _, u := range []string{"http://slack.com/", "https://slack.com/"} {
				got, err := classify(probe, u)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					continue retry
				}
			}
			return
		}
		t.Fatalf("the proxy did not apply %q within 10s of the swap", want)
	}
	writeAt := func(cfg string, atomicReplace bool) time.Time {
		t.Helper()
		path := filepath.Join(n.dir, "signpost.yaml")
		if atomicReplace {
			tmp := filepath.Join(n.dir, ".signpost.yaml.tmp")
			if err := os.WriteFile(tmp, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	var slowest time.Duration
	const rounds = 6
	for i := 0; i < rounds; i++ {
		before := n.n.Status()
		writeAt(badChange, i%2 == 0)
		// The bad change is refused: the status says so, the rules stay.
		deadline := time.Now().Add(10 * time.Second)
		for st := n.n.Status(); st.LastAttempt.Equal(before.LastAttempt) || st.LastResult != "error"; st = n.n.Status() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the bad change was not noticed within 10s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if st := n.n.Status(); st.Hash != before.Hash {
			t.Fatalf("round %d: a bad change took effect", i)
		}
		next, want := allowAll, "allow"
		if i%2 == 1 {
			next, want = warnSlack, "warn"
		}
		written := writeAt(next, i%2 == 1)
		// The node records when the new rules took effect; the probe's own
		// requests would add their latency to the figure.
		deadline = time.Now().Add(10 * time.Second)
		for n.n.Status().Hash == before.Hash {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the good change was not loaded within 10s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if d := n.n.Status().LoadedAt.Sub(written); d > slowest {
			slowest = d
		}
		waitFor(want)
	}
	cancel()
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("%d of %d requests failed; first: %v", failed.Load(), total.Load(), err)
	default:
	}
	t.Logf("%d requests during %d good and %d bad changes, none failed; slowest swap %v after the write",
		total.Load(), rounds, rounds, slowest)
	if total.Load() < 100 {
		t.Fatalf("only %d requests ran; the load test did not load", total.Load())
	}
}

func BenchmarkReloadLatency(b *testing.B) {
	n := startNode(b, warnSlack)
	cfgs := []string{allowAll, warnSlack}
	for i := 0; b.Loop(); i++ {
		before := n.n.Status().Hash
		path := filepath.Join(n.dir, "signpost.yaml")
		if err := os.WriteFile(path, []byte(cfgs[i%2]), 0o644); err != nil {
			b.Fatal(err)
		}
		for n.n.Status().Hash == before {
			time.Sleep(time.Millisecond)
		}
	}
}

// BenchmarkReload100k measures one reload of a 100,000-domain
// configuration, from the files to the swap: read, validate, compile,
// build the ruleset, swap (the watcher's debounce not included).
func BenchmarkReload100k(b *testing.B) {
	n := startNode(b, warnSlack, func(o *service.Options) { o.DisableWatch = true })
	var cfgs [2]string
	for i := range cfgs {
		var sb strings.Builder
		sb.WriteString(allowAll + "apps:\n")
		for app := 0; app < 1000; app++ {
			fmt.Fprintf(&sb, "  - id: synthetic-%d\n    name: Synthetic %d\n    category: synthetic\n    domains:\n", app, app)
			for d := 0; d < 100; d++ {
				fmt.Fprintf(&sb, "      - d%d.app%d.v%d.example\n", d, app, i)
			}
		}
		cfgs[i] = sb.String()
	}
	path := filepath.Join(n.dir, "signpost.yaml")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		if err := os.WriteFile(path, []byte(cfgs[i%2]), 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := n.n.Reload(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := len(n.n.Config().Patterns); got < 100_000 {
		b.Fatalf("loaded %d patterns", got)
	}
}
