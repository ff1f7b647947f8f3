package proxy

import (
	"net/http"
	"net/url"
	"testing"
	"testing/fstest"

	"github.com/elazarl/goproxy"

	"github.com/signpost-gateway/signpost/config"
)

// FuzzConnectAuthority sends arbitrary CONNECT authorities through the
// whole CONNECT decision: no panic, and an accepted tunnel always dials
// the normalised host:port that was classified, on an allowed port.
func FuzzConnectAuthority(f *testing.F) {
	for _, s := range []string{"slack.com:443", "SLACK.com.:443", "[::1]:443", "bücher.example:443", "a:0",
		"x.example", ":443", "127.1:443", "%73lack.com:443", "slack.com:443:443", "[fe80::1%eth0]:443"} {
		f.Add(s)
	}
	cfg, err := config.LoadFS(fstest.MapFS{"a.yaml": {Data: []byte("policy:\n  default: {action: allow}\n")}}, "", "fz")
	if err != nil {
		f.Fatal(err)
	}
	g, err := New(Options{Config: cfg})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, authority string) {
		req := &http.Request{Method: "CONNECT", URL: &url.URL{Host: authority}, Host: authority, RemoteAddr: "10.0.0.1:1234", Header: http.Header{}}
		action, host := g.handleConnect(authority, &goproxy.ProxyCtx{Req: req})
		if action != accept {
			return
		}
		h, port, err := splitHostPort(host)
		if err != nil || port != 443 {
			t.Fatalf("accepted %q to dial %q", authority, host)
		}
		hm, err := cfg.Matcher.Lookup(h)
		if err != nil || hm.Host != h {
			t.Fatalf("accepted %q to dial %q, which is not a normalised host", authority, host)
		}
	})
}
