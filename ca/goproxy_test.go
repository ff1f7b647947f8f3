package ca_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/signpost-gateway/signpost/ca"
)

// startInterceptingProxy runs a real goproxy server on loopback that
// intercepts every CONNECT with authority.ServerConfig and cache, and answers
// every inner request itself with "intercepted HOST", so nothing is dialled
// upstream.
func startInterceptingProxy(t *testing.T, authority *ca.CA, cache *ca.CertCache) *url.URL {
	t.Helper()
	p := goproxy.NewProxyHttpServer()
	p.Tr.Proxy = nil
	p.ConnectDial = nil
	mitm := &goproxy.ConnectAction{
		Action: goproxy.ConnectMitm,
		// goproxy passes the CONNECT authority, "host:port".
		TLSConfig: func(hostport string, _ *goproxy.ProxyCtx) (*tls.Config, error) {
			return authority.ServerConfig(cache, hostport)
		},
	}
	p.OnRequest().HandleConnect(goproxy.FuncHttpsHandler(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return mitm, host
	}))
	p.OnRequest().DoFunc(func(r *http.Request, _ *goproxy.ProxyCtx) (*http.Request, *http.Response) {
		return r, goproxy.NewResponse(r, goproxy.ContentTypeText, http.StatusOK, "intercepted "+r.Host)
	})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	proxyURL, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return proxyURL
}

// TestInterceptionThroughGoproxy runs a real goproxy server that intercepts
// every CONNECT with ServerConfig. A client that trusts only the CA must
// verify the chain, see an ECDSA P-256 leaf for the host it asked for (a DNS
// name or an IP), with nothing of goproxy's signer in it, and the second
// connection to a host must be served from the cache.
func TestInterceptionThroughGoproxy(t *testing.T) {
	authority, err := ca.Generate(ca.Options{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	cache := ca.NewCertCache(16)
	proxyURL := startInterceptingProxy(t, authority, cache)

	roots := x509.NewCertPool()
	roots.AddCert(authority.Cert)
	tr := &http.Transport{
		Proxy:             http.ProxyURL(proxyURL),
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		DisableKeepAlives: true, // a new CONNECT, and so a new Fetch, per request
	}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	for i, tc := range []struct {
		host                 string
		wantHits, wantMisses uint64
	}{
		{host: "app.test", wantHits: 0, wantMisses: 1},
		{host: "app.test", wantHits: 1, wantMisses: 1},
		{host: "other.test", wantHits: 1, wantMisses: 2},
		{host: "127.0.0.1:8443", wantHits: 1, wantMisses: 3},
		{host: "[::1]", wantHits: 1, wantMisses: 4},
	} {
		t.Run(fmt.Sprintf("%d %s", i, tc.host), func(t *testing.T) {
			resp, err := client.Get("https://" + tc.host + "/")
			if err != nil {
				t.Fatalf("GET through the proxy: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if want := "intercepted " + tc.host; string(body) != want {
				t.Errorf("got body %q; want %q", body, want)
			}
			if resp.TLS == nil || len(resp.TLS.VerifiedChains) == 0 {
				t.Fatal("got no verified chain; want the leaf verified to the CA")
			}
			chain := resp.TLS.VerifiedChains[0]
			if len(chain) != 2 || !chain[1].Equal(authority.Cert) {
				t.Fatalf("got a chain of %d certificates; want the leaf then the CA", len(chain))
			}
			leaf := chain[0]
			pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.Curve != elliptic.P256() {
				t.Errorf("got leaf key %T; want ECDSA P-256", leaf.PublicKey)
			}
			if err := leaf.VerifyHostname(resp.Request.URL.Hostname()); err != nil {
				t.Errorf("got leaf for %q %v: %v; want it to name %s", leaf.DNSNames, leaf.IPAddresses, err, tc.host)
			}
			if strings.Contains(strings.ToLower(leaf.Subject.String()), "goproxy") {
				t.Errorf("got leaf subject %q; want nothing of goproxy's signer", leaf.Subject)
			}
			if hits, misses := cache.Stats(); hits != tc.wantHits || misses != tc.wantMisses {
				t.Errorf("got hits=%d misses=%d; want hits=%d misses=%d", hits, misses, tc.wantHits, tc.wantMisses)
			}
		})
	}
	if got := cache.Len(); got != 4 {
		t.Errorf("got %d cached leaves; want 4", got)
	}
}

// TestInterceptionIgnoresServerName checks that the leaf names the CONNECT
// host even when the client's TLS handshake names another: the proxy decides
// on the CONNECT host, so the leaf must not follow the SNI.
func TestInterceptionIgnoresServerName(t *testing.T) {
	authority, err := ca.Generate(ca.Options{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	proxyURL := startInterceptingProxy(t, authority, ca.NewCertCache(16))

	conn, err := net.Dial("tcp", proxyURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("read CONNECT response: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got CONNECT status %d; want 200", resp.StatusCode)
	}
	if br.Buffered() != 0 {
		t.Fatalf("got %d bytes after the CONNECT response; want none before the handshake", br.Buffered())
	}

	roots := x509.NewCertPool()
	roots.AddCert(authority.Cert)
	var peer *x509.Certificate
	client := tls.Client(conn, &tls.Config{
		ServerName: "other.test",
		NextProtos: []string{"h2", "http/1.1"},
		// Verify the chain as a browser would, but against the CONNECT host
		// rather than the server name sent.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			peer = cs.PeerCertificates[0]
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := peer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "app.test"})
			return err
		},
	})
	if err := client.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if !slices.Equal(peer.DNSNames, []string{"app.test"}) {
		t.Errorf("got leaf for %q; want it for the CONNECT host [app.test]", peer.DNSNames)
	}
	if got := client.ConnectionState().NegotiatedProtocol; got != "http/1.1" {
		t.Errorf("got ALPN %q; want http/1.1", got)
	}
}
