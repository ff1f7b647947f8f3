package attack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/signpost-gateway/signpost/internal/testkit"
	"github.com/signpost-gateway/signpost/store"
)

// statusLines counts the HTTP responses in a raw transcript.
func statusLines(transcript string) int {
	return strings.Count("\n"+transcript, "\nHTTP/1.1 ")
}

// followUp is a second request pipelined behind an attack, aimed at an
// allowed host so that it would reach the origin if it were read as a
// request of its own.
const followUp = "GET http://teams.microsoft.com/after HTTP/1.1\r\nHost: teams.microsoft.com\r\nConnection: close\r\n\r\n"

// TestRequestSmugglingShapesAreRejected: framing that two parsers could
// read differently is refused with an error, the connection is closed, and
// nothing reaches the origin — neither the request nor what follows it.
func TestRequestSmugglingShapesAreRejected(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	const post = "POST http://teams.microsoft.com/a HTTP/1.1\r\nHost: teams.microsoft.com\r\n"
	tests := []struct{ name, head, body string }{
		{"two Content-Lengths that differ", "Content-Length: 5\r\nContent-Length: 50\r\n", "hello"},
		{"Content-Length list", "Content-Length: 5, 50\r\n", "hello"},
		{"signed Content-Length", "Content-Length: +5\r\n", "hello"},
		{"hex Content-Length", "Content-Length: 0x5\r\n", "hello"},
		{"negative Content-Length", "Content-Length: -1\r\n", ""},
		{"unknown transfer coding", "Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"},
		{"two transfer codings", "Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"},
		{"two Transfer-Encoding fields", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n"},
		{"space before the colon", "Transfer-Encoding : chunked\r\n", "0\r\n\r\n"},
		{"bare CR in a field value", "X-A: a\rb\r\nContent-Length: 0\r\n", ""},
		{"NUL in a field value", "X-A: a\x00b\r\nContent-Length: 0\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := g.rawAll(post + tt.head + "\r\n" + tt.body + followUp)
			status := 0
			fmt.Sscanf(out, "HTTP/1.1 %d", &status)
			if status < 400 || status >= 500 && status != http.StatusNotImplemented {
				t.Fatalf("got status %d; want 400 or 501:\n%s", status, out)
			}
			if n := statusLines(out); n != 1 {
				t.Fatalf("the proxy answered %d times on one connection; want 1 (then close):\n%s", n, out)
			}
		})
	}
	if seen := g.seenPaths(); len(seen) != 0 {
		t.Fatalf("origin received %v; want nothing", seen)
	}
}

// echoBodies makes the origin answer with the body it received.
func echoBodies(o *testkit.Origin) {
	o.Handle = func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Origin", "test-origin")
		_, _ = fmt.Fprintf(w, "body=%q", b)
	}
}

// clte is a request with both Content-Length and Transfer-Encoding: a
// front end that frames by Content-Length sees a 4-byte body and then a
// request for what follows; Signpost frames by chunks.
const clte = "POST http://teams.microsoft.com/a HTTP/1.1\r\nHost: teams.microsoft.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"

// TestContentLengthWithTransferEncodingCannotBypassPolicy: whatever the
// framing, every request the proxy reads is decided on its own; bytes
// after a chunked body are a request like any other, and a blocked host
// stays blocked.
func TestContentLengthWithTransferEncodingCannotBypassPolicy(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	echoBodies(g.origin)
	out := g.rawAll(clte + "GET http://wetransfer.com/smuggled HTTP/1.1\r\nHost: wetransfer.com\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
	if !strings.Contains(out, `body="hello"`) {
		t.Fatalf("the origin did not receive the chunk-framed body:\n%s", out)
	}
	// The connection closes after a chunked request, so the bytes after
	// the body are never read as a request (TestContentLength…IsRejected).
	if n := statusLines(out); n != 1 {
		t.Fatalf("the proxy answered %d times; want once, then close:\n%s", n, out)
	}
	for _, s := range g.seenPaths() {
		if strings.Contains(s, "smuggled") {
			t.Fatalf("origin received %s", s)
		}
	}
}

// TestContentLengthWithTransferEncodingIsRejected is RFC 9112 §6.1: a
// request with both may be read by its chunks, but then the connection
// must be closed after the answer, so that what a Content-Length-framing
// front end (a trusted gateway setting identity headers, say) sent as the
// next request is never read as one.
func TestContentLengthWithTransferEncodingIsRejected(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	out := g.rawAll(clte + followUp)
	if n := statusLines(out); n != 1 {
		t.Fatalf("the proxy answered %d times on one connection; want 1 (400, or the answer and close):\n%s", n, out)
	}
	for _, s := range g.seenPaths() {
		if strings.HasSuffix(s, "/after") {
			t.Fatalf("origin received the request pipelined behind CL+TE: %v", g.seenPaths())
		}
	}
}

// TestObsoleteLineFoldingIsRejected: a header continued on the next line
// (obs-fold, RFC 9112 §5.2) is read differently by different parsers; the
// issue requires a 400.
func TestObsoleteLineFoldingIsRejected(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	resp, body := g.raw("GET http://teams.microsoft.com/a HTTP/1.1\r\nHost: teams.microsoft.com\r\nX-A: 1\r\n folded\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got %d; want 400\n%s", resp.StatusCode, body)
	}
	if seen := g.seenPaths(); len(seen) != 0 {
		t.Fatalf("origin received %v; want nothing", seen)
	}
	// Folds are looked for in heads only: a body whose lines start with
	// spaces, and the request after it on the same connection, go through.
	echoBodies(g.origin)
	indented := "a\r\n  indented\r\n\tand tabbed\r\n"
	out := g.rawAll(fmt.Sprintf("POST http://teams.microsoft.com/b HTTP/1.1\r\nHost: teams.microsoft.com\r\nContent-Length: %d\r\n\r\n%s", len(indented), indented) +
		"GET http://teams.microsoft.com/c HTTP/1.1\r\nHost: teams.microsoft.com\r\nConnection: close\r\n\r\n")
	if n := strings.Count(out, "HTTP/1.1 200"); n != 2 || !strings.Contains(out, `body="a\r\n  indented\r\n\tand tabbed\r\n"`) {
		t.Fatalf("got:\n%s\nwant two 200s, the first echoing the indented body", out)
	}
}

// TestDuplicateIdenticalContentLengthIsOneLength: identical duplicates
// are merged (RFC 9110 §8.6 allows it): both readers agree on the length,
// so nothing can be smuggled behind it.
func TestDuplicateIdenticalContentLengthIsOneLength(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	echoBodies(g.origin)
	out := g.rawAll("POST http://teams.microsoft.com/a HTTP/1.1\r\nHost: teams.microsoft.com\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
	if !strings.Contains(out, "HTTP/1.1 200") || !strings.Contains(out, `body="hello"`) {
		t.Fatalf("got:\n%s\nwant the origin's answer with body \"hello\"", out)
	}
}

// TestMalformedChunksAreRefused: a chunked body that breaks off is an
// error; the bytes inside it never become a request, and the connection
// is closed.
func TestMalformedChunksAreRefused(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML, store: true})
	smuggled := "GET http://teams.microsoft.com/smuggled HTTP/1.1\r\nHost: teams.microsoft.com\r\n\r\n"
	bodies := []struct{ name, body string }{
		{"chunk size not hex", "zz\r\n" + smuggled},
		{"chunk size overflows", "ffffffffffffffffff\r\n" + smuggled},
		{"chunk longer than its size", "5\r\nhello" + smuggled},
		{"chunk size with junk", "5 ;x\x00\r\nhello\r\n0\r\n\r\n" + smuggled},
	}
	targets := []string{"http://teams.microsoft.com/a", "http://wetransfer.com/b", "http://wetransfer.com/.signpost/request"}
	for _, target := range targets {
		for _, b := range bodies {
			t.Run(target+"/"+b.name, func(t *testing.T) {
				req := "POST " + target + " HTTP/1.1\r\nHost: " + hostOf(target) + "\r\nAccept: application/json\r\n" +
					"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n" + b.body
				out := g.rawAll(req)
				status := 0
				fmt.Sscanf(out, "HTTP/1.1 %d", &status)
				if status < 400 {
					t.Fatalf("got status %d; want an error:\n%s", status, out)
				}
				if n := statusLines(out); n != 1 {
					t.Fatalf("the proxy answered %d times; want 1:\n%s", n, out)
				}
			})
		}
	}
	for _, s := range g.seenPaths() {
		if strings.Contains(s, "smuggled") {
			t.Fatalf("origin received %s", s)
		}
	}
}

// readUntilClosed reads c until the proxy closes it and returns how long
// that took; it fails the test when the deadline passes first.
func readUntilClosed(t *testing.T, c net.Conn, deadline time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(deadline))
	_, err := io.Copy(io.Discard, c)
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the proxy kept the connection open for %v", elapsed.Round(time.Millisecond))
	}
	return elapsed
}

// slowYAML sets the shortest timeouts the configuration accepts.
const slowYAML = loopbackOK + "  read_header_timeout: 1s\n  idle_timeout: 1s\n"

// TestSlowHeadersAreCut: a client that opens connections and sends
// headers slowly (slowloris) is cut off by read_header_timeout; an idle
// keep-alive connection by idle_timeout.
func TestSlowHeadersAreCut(t *testing.T) {
	g := startGateway(t, setup{yaml: slowYAML + policyYAML})
	partial := []struct{ name, bytes string }{
		{"request line only", "GET http://teams.microsoft.com/ HTTP/1.1\r\n"},
		{"half a header", "GET http://teams.microsoft.com/ HTTP/1.1\r\nHost: tea"},
		{"partial CONNECT", "CONNECT teams.microsoft.com:443 HTTP/1.1\r\nHo"},
		{"nothing at all", ""},
	}
	// Each case waits about a second for the cut; they run side by side.
	for _, tt := range partial {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialProxy(t, g.addr)
			if _, err := io.WriteString(c, tt.bytes); err != nil {
				t.Fatal(err)
			}
			if d := readUntilClosed(t, c, 6*time.Second); d < 900*time.Millisecond {
				t.Fatalf("closed after %v; want about read_header_timeout (1s)", d)
			}
		})
	}
	t.Run("headers drip-fed", func(t *testing.T) {
		t.Parallel()
		c := dialProxy(t, g.addr)
		io.WriteString(c, "GET http://teams.microsoft.com/ HTTP/1.1\r\n")
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(150 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := fmt.Fprintf(c, "X-Drip-%d: %d\r\n", i, i); err != nil {
						return
					}
				}
			}
		}()
		readUntilClosed(t, c, 6*time.Second)
	})
	t.Run("idle keep-alive connection", func(t *testing.T) {
		t.Parallel()
		c := dialProxy(t, g.addr)
		resp, _ := exchange(t, c, "GET http://teams.microsoft.com/ HTTP/1.1\r\nHost: teams.microsoft.com\r\n\r\n")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got %d", resp.StatusCode)
		}
		readUntilClosed(t, c, 6*time.Second)
	})
}

// TestSlowClientsInsideAnInterceptedTunnelAreCut: the same slowloris
// inside an intercepted CONNECT. goproxy hijacks the connection and reads
// the TLS handshake and the inner requests without any deadline.
func TestSlowClientsInsideAnInterceptedTunnelAreCut(t *testing.T) {
	g := startGateway(t, setup{yaml: slowYAML + policyYAML})
	t.Run("no ClientHello", func(t *testing.T) {
		_, _, c := g.connect("wetransfer.com:443")
		readUntilClosed(t, c, 6*time.Second)
	})
	t.Run("half a request after the handshake", func(t *testing.T) {
		_, _, c := g.connect("wetransfer.com:443")
		tc := g.tlsInside(c, "wetransfer.com", false)
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: wet")
		readUntilClosed(t, tc, 6*time.Second)
	})
}

// TestOversizedHeadersAreRefused: header blocks beyond max_header_bytes
// are refused with 431 before anything is decided or dialed.
func TestOversizedHeadersAreRefused(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + "  max_header_bytes: 4096\n" + policyYAML})
	many := strings.Repeat("X-N: v\r\n", 4000)
	tests := []struct{ name, req string }{
		{"one huge header", "GET http://teams.microsoft.com/ HTTP/1.1\r\nHost: teams.microsoft.com\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"},
		{"many headers", "GET http://teams.microsoft.com/ HTTP/1.1\r\nHost: teams.microsoft.com\r\n" + many + "\r\n"},
		{"huge request line", "GET http://teams.microsoft.com/" + strings.Repeat("a", 64<<10) + " HTTP/1.1\r\nHost: teams.microsoft.com\r\n\r\n"},
		{"huge CONNECT", "CONNECT teams.microsoft.com:443 HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := g.rawAll(tt.req)
			if !strings.HasPrefix(out, "HTTP/1.1 431 ") {
				t.Fatalf("got %q; want 431", firstLine(out))
			}
		})
	}
	if seen := g.seenPaths(); len(seen) != 0 {
		t.Fatalf("origin received %v; want nothing", seen)
	}
}

// TestOversizedHeadersInsideAnInterceptedTunnelAreRefused: the same limit
// must hold for requests inside an intercepted tunnel, which goproxy reads
// itself, without net/http's limit.
func TestOversizedHeadersInsideAnInterceptedTunnelAreRefused(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + "  max_header_bytes: 4096\n" + policyYAML})
	_, _, c := g.connect("wetransfer.com:443")
	tc := g.tlsInside(c, "wetransfer.com", false)
	go io.WriteString(tc, "GET / HTTP/1.1\r\nHost: wetransfer.com\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
	_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err == nil && resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("got %d; want 431 or the connection closed", resp.StatusCode)
	}
}

// TestOversizedPageActionBodiesAreRefused: a page action reads at most
// 16 KiB, whatever the framing says, and stores nothing from a refused
// post.
func TestOversizedPageActionBodiesAreRefused(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML, store: true})
	c := g.client()
	_, page := g.get(c, "http://wetransfer.com/")
	form := formOf(t, page, "/.signpost/request")
	tests := []struct {
		name          string
		justification string
		chunked       bool
		status        int
	}{
		{"justification over the limit", strings.Repeat("j", 1001), false, http.StatusBadRequest},
		{"body over 16 KiB", strings.Repeat("j", 20<<10), false, http.StatusRequestEntityTooLarge},
		{"chunked body of 1 MiB", strings.Repeat("j", 1<<20), true, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := url.Values{"ctx": form["ctx"], "csrf": form["csrf"], "justification": {tt.justification}}
			var body io.Reader = strings.NewReader(f.Encode())
			if tt.chunked {
				body = io.MultiReader(body) // unknown length: the client sends chunks
			}
			resp, _ := g.do(c, "POST", "http://wetransfer.com/.signpost/request", body,
				"Content-Type", "application/x-www-form-urlencoded")
			if resp.StatusCode != tt.status {
				t.Fatalf("got %d; want %d", resp.StatusCode, tt.status)
			}
		})
	}
	if reqs, err := g.store.Requests(context.Background(), store.RequestFilter{}); err != nil || len(reqs) != 0 {
		t.Fatalf("stored %d requests (%v); want 0", len(reqs), err)
	}
}

// writeHtpasswd writes users ("name" → password) as bcrypt htpasswd lines
// and returns the file.
func writeHtpasswd(t testing.TB, dir string, users map[string]string) string {
	t.Helper()
	var b strings.Builder
	hashes := map[string][]byte{} // users sharing a password share its hash: bcrypt is slow under -race
	for name, pw := range users {
		h, ok := hashes[pw]
		if !ok {
			var err error
			if h, err = bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost); err != nil {
				t.Fatal(err)
			}
			hashes[pw] = h
		}
		fmt.Fprintf(&b, "%s:%s\n", name, h)
	}
	f := filepath.Join(dir, "users.htpasswd")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// identityYAML configures Basic users and a trusted header that only
// 10.9.9.9 may set (the tests' clients are 127.0.0.1).
func identityYAML(htpasswd string) string {
	return "identity:\n  htpasswd: " + htpasswd + "\n  trusted_header: X-Authenticated-User\n" +
		"  trusted_groups_header: X-Groups\n  trusted_peers: [10.9.9.9/32]\n"
}

// TestHopByHopAndIdentityHeadersAreNotForwarded: what was meant for the
// proxy — credentials, identity claims, hop-by-hop fields and those named
// in Connection — never reaches the origin, on the plain path or inside
// an intercepted tunnel; end-to-end fields do, and the proxy adds nothing
// that says who the client is.
func TestHopByHopAndIdentityHeadersAreNotForwarded(t *testing.T) {
	pw := writeHtpasswd(t, t.TempDir(), map[string]string{"alice": "alice-password"})
	g := startGateway(t, setup{yaml: loopbackOK + identityYAML(pw) + policyYAML})
	hdr := []string{
		"Connection", "X-Secret-Hop, Keep-Alive",
		"X-Secret-Hop", "1",
		"Keep-Alive", "timeout=5",
		"Proxy-Connection", "keep-alive",
		"Proxy-Authenticate", "Basic realm=x",
		"Te", "trailers",
		"Trailer", "X-T",
		"Upgrade", "h2c",
		"X-Authenticated-User", "ceo",
		"X-Groups", "admins",
		"X-End-To-End", "kept",
		"Cookie", "session=kept",
		"Authorization", "Bearer kept",
	}
	dropped := []string{"X-Secret-Hop", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Upgrade", "X-Authenticated-User", "X-Groups", "X-Forwarded-For", "Forwarded", "Via", "X-Real-Ip"}
	check := func(t *testing.T, body string) {
		t.Helper()
		var seen testkit.Seen
		if err := json.Unmarshal([]byte(body), &seen); err != nil {
			t.Fatalf("origin answer: %v\n%s", err, body)
		}
		for _, k := range dropped {
			if v, ok := seen.Header[http.CanonicalHeaderKey(k)]; ok {
				t.Errorf("origin received %s: %q", k, v)
			}
		}
		for _, k := range []string{"X-End-To-End", "Cookie", "Authorization"} {
			if seen.Header.Get(k) == "" {
				t.Errorf("end-to-end field %s was dropped", k)
			}
		}
	}
	t.Run("plain HTTP", func(t *testing.T) {
		_, body := g.get(g.clientAs("alice:alice-password"), "http://teams.microsoft.com/", hdr...)
		check(t, body)
	})
	t.Run("inside an intercepted tunnel", func(t *testing.T) {
		_, _, conn := g.connect("docs.google.com:443", "Proxy-Authorization", "Basic "+b64("alice:alice-password"))
		tc := g.tlsInside(conn, "docs.google.com", false)
		var b strings.Builder
		b.WriteString("GET /drawings/d/1 HTTP/1.1\r\nHost: docs.google.com\r\nProxy-Authorization: Basic " + b64("alice:alice-password") + "\r\n")
		for i := 0; i+1 < len(hdr); i += 2 {
			fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
		}
		b.WriteString("\r\n")
		_, body := exchange(t, tc, b.String())
		check(t, body)
	})
	if logs := g.logs.String(); strings.Contains(logs, `"user":"ceo"`) || !strings.Contains(logs, `"user":"alice"`) {
		t.Errorf("an identity header from an untrusted peer was believed, or alice was not identified:\n%s", logs)
	}
}

// TestHopByHopHeadersInResponsesAreNotForwarded: a hostile origin's
// hop-by-hop fields are for the proxy's connection to it, not for the
// client's to the proxy (RFC 9110 §7.6.1): Proxy-Authenticate in
// particular must not reach the browser as if the proxy asked for
// credentials.
func TestHopByHopHeadersInResponsesAreNotForwarded(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	g.origin.Handle = func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Hop")
		h.Set("X-Hop", "1")
		h.Set("Keep-Alive", "timeout=1")
		h.Set("Proxy-Authenticate", `Basic realm="Signpost"`)
		h.Set("Proxy-Connection", "keep-alive")
		h.Set("Upgrade", "h2c")
		h.Set("X-End-To-End", "kept")
	}
	for _, u := range []string{"http://teams.microsoft.com/", "https://docs.google.com/drawings/d/1"} {
		t.Run(u, func(t *testing.T) {
			resp, _ := g.get(g.client(), u)
			for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "Upgrade"} {
				if v := resp.Header.Get(k); v != "" {
					t.Errorf("client received %s: %q", k, v)
				}
			}
			if resp.Header.Get("X-End-To-End") != "kept" {
				t.Errorf("end-to-end field dropped")
			}
		})
	}
}
