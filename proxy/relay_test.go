package proxy_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// optimisticConn is a client that does not wait for the proxy's answer
// before speaking through the tunnel: its first write carries the prefix
// (a CONNECT, and what came before it) and the first bytes of the TLS
// handshake together, as some clients do; its first read skips the
// proxy's answers to the prefix's requests.
type optimisticConn struct {
	net.Conn
	prefix  string
	answers int // responses to the prefix's requests, before the CONNECT's
	br      *bufio.Reader
}

func (c *optimisticConn) Write(p []byte) (int, error) {
	if c.prefix != "" {
		b := append([]byte(c.prefix), p...)
		c.prefix = ""
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *optimisticConn) Read(p []byte) (int, error) {
	if c.br == nil {
		c.br = bufio.NewReader(c.Conn)
		for i := range c.answers + 1 {
			method := "GET"
			if i == c.answers {
				method = "CONNECT"
			}
			resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
			if err != nil {
				return 0, err
			}
			if resp.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("proxy answered %s", resp.Status)
			}
			if method != "CONNECT" { // a tunnel's 200 has no body: what follows is the tunnel
				_, _ = io.Copy(io.Discard, resp.Body)
			}
		}
	}
	return c.br.Read(p)
}

// getThroughEarlyTunnel opens a tunnel to host:443 behind prefix + a
// CONNECT, sending the ClientHello in the same write, and fetches / over
// it. answers counts the responses to the prefix's requests. It returns
// the answer and the certificate the tunnel's far end presented.
func getThroughEarlyTunnel(t *testing.T, proxyAddr, host, prefix string, answers int, roots *x509.CertPool) (*http.Response, *x509.Certificate) {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A deadline, so that a handshake whose first bytes were lost fails
	// the test instead of hanging it.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	oc := &optimisticConn{Conn: c, answers: answers,
		prefix: prefix + fmt.Sprintf("CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n", host, host)}
	tc := tls.Client(oc, &tls.Config{ServerName: host, RootCAs: roots})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake through the tunnel: %v", err)
	}
	if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatalf("reading the origin's answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp, tc.ConnectionState().PeerCertificates[0]
}

// TestTunnelKeepsBytesSentWithTheConnect: bytes the client sends right
// behind its CONNECT (in the same write, before the 200) reach the origin
// first, whether the CONNECT opens the connection or follows other
// requests on it, with or without a body.
func TestTunnelKeepsBytesSentWithTheConnect(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	get := "GET http://teams.microsoft.com/first HTTP/1.1\r\nHost: teams.microsoft.com\r\n\r\n"
	post := "POST http://teams.microsoft.com/form HTTP/1.1\r\nHost: teams.microsoft.com\r\nContent-Length: 11\r\n\r\nCONNECT x\r\n"
	for _, tt := range []struct {
		name, prefix string
		answers      int
	}{
		{"first request", "", 0},
		{"after a GET", get, 1},
		{"after a POST whose body looks like a head", post, 1},
		{"after two requests", get + post, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, leaf := getThroughEarlyTunnel(t, h.addr, "teams.microsoft.com", tt.prefix, tt.answers, h.origin.Pool())
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Origin") != "test-origin" {
				t.Fatalf("got %s %v; want the origin's 200", resp.Status, resp.Header)
			}
			if !leaf.Equal(h.origin.Leaf) {
				t.Fatal("the tunnel was intercepted; want it untouched")
			}
		})
	}
}

// TestTunnelHalfClose: a client that has sent everything and shut down
// its side still receives the origin's whole answer (the relay half-closes
// as it copies, rather than closing).
func TestTunnelHalfClose(t *testing.T) {
	h := start(t, setup{yaml: allowLoopback + testPolicy})
	resp, _, c := h.connect("teams.microsoft.com:443")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %s", resp.Status)
	}
	tc := tls.Client(c, &tls.Config{ServerName: "teams.microsoft.com", RootCAs: h.origin.Pool()})
	if _, err := io.WriteString(tc, "GET /half HTTP/1.1\r\nHost: teams.microsoft.com\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := tc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(tc)
	if err != nil {
		t.Fatalf("reading after half-close: %v", err)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 200") || !strings.Contains(string(b), "X-Origin: test-origin") {
		t.Fatalf("got %q; want the origin's whole answer", b)
	}
}

// BenchmarkPlainGET is one small plain-HTTP GET over a kept-alive
// connection to a loopback origin, through Signpost (an allowed app) and
// directly: the difference between the two is what Signpost adds, in time
// and in allocations (client and origin allocate the same in both).
func BenchmarkPlainGET(b *testing.B) {
	h := start(b, setup{yaml: allowLoopback + testPolicy, noCA: true})
	through := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(h.url)}}
	origin := h.origin.HTTP.Listener.Addr().String()
	direct := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, origin)
		}}}
	for _, bb := range []struct {
		name string
		c    *http.Client
	}{{"direct", direct}, {"signpost", through}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := bb.c.Get("http://teams.microsoft.com/small")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
