package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/elazarl/goproxy"

	"github.com/signpost-gateway/signpost/ca"
)

// Compile-time check that CertCache is what goproxy's CertStore field takes.
var _ goproxy.CertStorage = (*ca.CertCache)(nil)

// TestInterceptionThroughGoproxy runs a real goproxy server that intercepts
// every CONNECT with leaves minted from a generated CA and cached in a
// CertCache, and answers inner requests itself. A client that trusts only the
// CA must verify the chain, see an ECDSA P-256 leaf for the host it asked
// for, and the second connection to that host must be served from the cache.
func TestInterceptionThroughGoproxy(t *testing.T) {
	authority, err := ca.Generate(ca.Options{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	cache := ca.NewCertCache(16)

	p := goproxy.NewProxyHttpServer()
	p.Tr.Proxy = nil // the responses are synthetic: nothing is dialled upstream
	p.ConnectDial = nil
	p.CertStore = cache
	mitm := &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(&authority.TLS)}
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
			if err := leaf.VerifyHostname(tc.host); err != nil {
				t.Errorf("got leaf for %q: %v; want it to name %s", leaf.DNSNames, err, tc.host)
			}
			if hits, misses := cache.Stats(); hits != tc.wantHits || misses != tc.wantMisses {
				t.Errorf("got hits=%d misses=%d; want hits=%d misses=%d", hits, misses, tc.wantHits, tc.wantMisses)
			}
		})
	}
	if got := cache.Len(); got != 2 {
		t.Errorf("got %d cached leaves; want 2", got)
	}
}

// TestLeafKeysAreFresh guards the property that makes goproxy's signer safe
// to use. It seeds a custom "random" reader from the CA key and the hostname
// (for an RSA CA, only from public bytes), so if that reader were used, every
// leaf key would be predictable. Go 1.26 ignores custom readers in key
// generation unless GODEBUG=cryptocustomrand=1; two leaves for one host must
// therefore have different keys.
func TestLeafKeysAreFresh(t *testing.T) {
	authority, err := ca.Generate(ca.Options{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	sign := goproxy.TLSConfigFromCA(&authority.TLS)
	ctx := &goproxy.ProxyCtx{Proxy: goproxy.NewProxyHttpServer()}
	var keys []*ecdsa.PublicKey
	for range 2 {
		cfg, err := sign("app.test:443", ctx)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		keys = append(keys, cfg.Certificates[0].Leaf.PublicKey.(*ecdsa.PublicKey))
	}
	if keys[0].Equal(keys[1]) {
		t.Error("got the same leaf key twice for one host; want fresh keys (is GODEBUG=cryptocustomrand=1 set?)")
	}
}

func BenchmarkMintECDSALeaf(b *testing.B) {
	authority, err := ca.Generate(ca.Options{})
	if err != nil {
		b.Fatal(err)
	}
	sign := goproxy.TLSConfigFromCA(&authority.TLS)
	ctx := &goproxy.ProxyCtx{Proxy: goproxy.NewProxyHttpServer()}
	i := 0
	for b.Loop() {
		i++
		if _, err := sign(fmt.Sprintf("host%d.test:443", i), ctx); err != nil {
			b.Fatal(err)
		}
	}
}
