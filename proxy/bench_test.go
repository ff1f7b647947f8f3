package proxy

import (
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/signpost-gateway/signpost/config"
)

func benchConfig(b *testing.B, policy string) *config.Config {
	b.Helper()
	cfg, err := config.LoadFS(fstest.MapFS{"a.yaml": {Data: []byte(policy)}}, "", "bench")
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

const (
	benchPolicyA = "policy:\n  rules:\n    - {category: chat, action: warn}\n"
	benchPolicyB = "policy:\n  rules:\n    - {category: chat, action: monitor}\n"
)

func benchGateway(b *testing.B, policy string) *Gateway {
	b.Helper()
	g, err := New(Options{Config: benchConfig(b, policy), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return g
}

func connectCtx() *goproxy.ProxyCtx {
	req := &http.Request{Method: "CONNECT", URL: &url.URL{Host: "acme.slack.com:443"}, Host: "acme.slack.com:443",
		RemoteAddr: "10.1.2.3:50000", Header: http.Header{}}
	return &goproxy.ProxyCtx{Req: req}
}

// BenchmarkConnectDecision is the whole decision for one CONNECT to an
// allowed (monitored) app: client check, identity, classification (cached),
// policy, the log line (discarded) and metrics.
func BenchmarkConnectDecision(b *testing.B) {
	g := benchGateway(b, benchPolicyA)
	if err := g.Swap(benchConfig(b, benchPolicyB)); err != nil {
		b.Fatal(err)
	}
	ctx := connectCtx()
	b.ReportAllocs()
	for b.Loop() {
		if a, _ := g.handleConnect("acme.slack.com:443", ctx); a != accept {
			b.Fatal("not accepted")
		}
	}
}

// BenchmarkConnectDecisionDuringSwaps is the same decision while another
// goroutine swaps the configuration every millisecond — far more often than
// any reload — so the difference with BenchmarkConnectDecision is the pause
// swaps cost the hot path. (Swapping as fast as possible would measure CPU
// contention on a 2-core machine instead.)
func BenchmarkConnectDecisionDuringSwaps(b *testing.B) {
	g := benchGateway(b, benchPolicyB)
	cfgs := []*config.Config{benchConfig(b, benchPolicyB), benchConfig(b, benchPolicyB)}
	var stop atomic.Bool
	var swaps atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			_ = g.Swap(cfgs[i%2])
			swaps.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	ctx := connectCtx()
	b.ReportAllocs()
	for b.Loop() {
		if a, _ := g.handleConnect("acme.slack.com:443", ctx); a != accept {
			b.Fatal("not accepted")
		}
	}
	stop.Store(true)
	<-done
	b.ReportMetric(float64(swaps.Load()), "swaps")
}
