package proxy

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"testing"
	"testing/fstest"

	"github.com/elazarl/goproxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/usage"
)

// TestMetricSeriesDoNotGrowWithHostsOrUsers decides CONNECTs and plain
// requests for 10,000 random hosts from 10,000 random users, and checks
// that the number of metric series (proxy and usage metrics) is the same
// after them as after the first few: labels carry app ids, never a host, a
// user or a URL.
func TestMetricSeriesDoNotGrowWithHostsOrUsers(t *testing.T) {
	cfg, err := config.LoadFS(fstest.MapFS{"a.yaml": {Data: []byte(`
identity: {trusted_header: X-User, trusted_peers: [10.0.0.0/8]}
policy:
  default: {action: allow}
  rules: [{category: chat, action: monitor}]
`)}}, "", "t")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	tr := usage.New(usage.Options{})
	if err := reg.Register(tr.Collector()); err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), Registerer: reg, Usage: tr})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.metrics.register(reg); err != nil {
		t.Fatal(err)
	}
	hosts := []string{"slack.com", "acme.slack.com", "zoom.us"} // a few catalog apps, then random hosts
	decide := func(i int, host string) {
		user := fmt.Sprintf("user-%d-%d", i, rand.Int())
		creq := &http.Request{Method: "CONNECT", URL: &url.URL{Host: host + ":443"}, Host: host + ":443",
			RemoteAddr: "10.1.2.3:5000", Header: http.Header{"X-User": {user}}}
		g.handleConnect(host+":443", &goproxy.ProxyCtx{Req: creq})
		hreq := &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: host, Path: "/" + user, RawQuery: "q=" + user},
			RemoteAddr: "10.1.2.3:5000", Header: http.Header{"X-User": {user}}}
		// Only the decision matters here: the forward's round trip is never made.
		g.handleRequest(hreq, &goproxy.ProxyCtx{Req: hreq, Proxy: goproxy.NewProxyHttpServer()})
	}
	for i, h := range hosts {
		decide(i, h)
		decide(i, fmt.Sprintf("warmup-%d.example.com", i))
	}
	before := testutil.CollectAndCount(reg)
	for i := 0; i < 10_000; i++ {
		decide(i, fmt.Sprintf("h%d-%x.example%d.net", i, rand.Uint64(), i%97))
	}
	after := testutil.CollectAndCount(reg)
	if after != before {
		t.Fatalf("series: %d after 10,000 random hosts and users; %d before", after, before)
	}
	if got := len(tr.Top(5000)); got == 0 {
		t.Fatal("the unknown hosts were not counted by the discovery sketch (the test would prove nothing)")
	}
}
