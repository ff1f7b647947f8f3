package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	l := NewLatencies(samples)
	tests := []struct {
		name string
		p    float64
		want time.Duration
	}{
		{"p0 is the smallest", 0, time.Millisecond},
		{"p50 is the 50th of 100", 50, 50 * time.Millisecond},
		{"p99 is the 99th of 100", 99, 99 * time.Millisecond},
		{"p99.9 rounds up to the largest", 99.9, 100 * time.Millisecond},
		{"p100 is the largest", 100, 100 * time.Millisecond},
		{"above 100 is clamped", 150, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := l.Percentile(tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v; want %v", tt.p, got, tt.want)
			}
		})
	}
	if samples[0] != 100*time.Millisecond {
		t.Errorf("NewLatencies sorted its argument: samples[0] = %v; want 100ms", samples[0])
	}
	if got := (Latencies{}).Percentile(50); got != 0 {
		t.Errorf("empty Percentile(50) = %v; want 0", got)
	}
	if got := (Latencies{}).Summarize(); got.Count != 0 || got.P99 != 0 {
		t.Errorf("empty Summarize() = %+v; want zeros", got)
	}
}

func TestMedianAndRatio(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"median of odd count", median([]float64{3, 1, 2}), 2},
		{"median of even count", median([]float64{4, 1, 3, 2}), 2.5},
		{"median of none", median(nil), 0},
		{"ratio", ratio(3, 2), 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v; want %v", tt.got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name string
		a, b float64
	}{{"zero divisor", 1, 0}, {"zero dividend", 0, 1}, {"NaN", math.NaN(), 1}} {
		t.Run("ratio with "+tt.name, func(t *testing.T) {
			if got := ratio(tt.a, tt.b); !math.IsNaN(got) {
				t.Errorf("ratio(%v, %v) = %v; want NaN (missing)", tt.a, tt.b, got)
			}
		})
	}
}

func TestBest(t *testing.T) {
	rounds := []WrkResult{{PerSec: 10, P99: 3, Requests: 1}, {PerSec: 30, P99: 5, Requests: 1}, {PerSec: 99, P99: 1}}
	ok := func(f func(WrkResult) float64) func(WrkResult) (float64, bool) {
		return func(w WrkResult) (float64, bool) { return f(w), w.Requests > 0 }
	}
	if got, have := best(rounds, false, ok(func(w WrkResult) float64 { return w.PerSec })); !have || got != 30 {
		t.Errorf("highest rate = %v, %v; want 30, true (the round without requests does not count)", got, have)
	}
	if got, have := best(rounds, true, ok(func(w WrkResult) float64 { return w.P99 })); !have || got != 3 {
		t.Errorf("lowest p99 = %v, %v; want 3, true", got, have)
	}
	if _, have := best([]WrkResult{}, false, ok(func(w WrkResult) float64 { return w.PerSec })); have {
		t.Error("best of no rounds: got a value; want none")
	}
}

func TestPromValue(t *testing.T) {
	exp := []byte("# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 42\n" +
		"go_goroutines_other 7\ngo_memstats_heap_inuse_bytes 1.2345e+06\n")
	tests := []struct {
		name string
		want float64
	}{
		{"go_goroutines", 42},
		{"go_memstats_heap_inuse_bytes", 1234500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := promValue(exp, tt.name)
			if err != nil || got != tt.want {
				t.Errorf("promValue(%s) = %v, %v; want %v, nil", tt.name, got, err, tt.want)
			}
		})
	}
	if _, err := promValue(exp, "go_threads"); err == nil {
		t.Error("promValue of a missing metric: got no error; want one")
	}
}

func TestTopEntries(t *testing.T) {
	out := `File: bench
Type: cpu
Showing nodes accounting for 480ms, 100% of 480ms total
      flat  flat%   sum%        cum   cum%
     220ms 45.83% 45.83%      220ms 45.83%  internal/runtime/syscall/linux.Syscall6
      20ms  4.17% 50.00%       20ms  4.17%  runtime.mallocgcSmallNoscan
      10ms  2.08% 52.08%       10ms  2.08%  aeshashbody
`
	got := topEntries(out, 2)
	want := []string{
		"220ms 45.83% 45.83% 220ms 45.83% internal/runtime/syscall/linux.Syscall6",
		"20ms 4.17% 50.00% 20ms 4.17% runtime.mallocgcSmallNoscan",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("topEntries = %q; want %q", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"defaults", nil, false},
		{"a subset of targets", []string{"-targets", "direct,signpost"}, false},
		{"an unknown target", []string{"-targets", "direct,nginx"}, true},
		{"no rounds", []string{"-rounds", "0"}, true},
		{"a sub-second duration", []string{"-duration", "500ms"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args)
			if (err != nil) != tt.wantErr {
				t.Errorf("parseFlags(%q) error = %v; want error: %v", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestMarkdownTable(t *testing.T) {
	rep := &Report{
		Meta:     Meta{Date: "2026-01-02T03:04:05Z", Git: "abc1234"},
		Settings: settings{Rounds: 1, Rate: 2000, IdleTunnels: 2000},
		Results: map[string]*TargetResult{
			targetDirect:   {SmallGETs: []WrkResult{{PerSec: 40000, P99: 1, Requests: 1}}},
			targetGoproxy:  {SmallGETs: []WrkResult{{PerSec: 8000, P99: 8, Requests: 1}}},
			targetSquid:    {SmallGETs: []WrkResult{{PerSec: 16000, P99: 4, Requests: 1}}},
			targetSignpost: {SmallGETs: []WrkResult{{PerSec: 20000, P99: 2.5, Requests: 1}}},
		},
	}
	md := rep.Markdown()
	for _, want := range []string{
		"| small GETs, plain HTTP, keep-alive (wrk): requests/s | 40000 | 8000 | 16000 | 20000 | 0.50× | 2.50× | 1.25× | ≥ 0.9× goproxy, ≥ 1.0× squid | yes |",
		"| … p99 latency at saturation, ms | 1.00 | 8.00 | 4.00 | 2.50 | +1.50 ms | 0.31× | 0.62× | p99 added ≤ 1 ms | **no** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown() lacks the row\n%s\ngot:\n%s", want, md)
		}
	}
}

// TestRelays fetches a body over TLS through each bare relay, as the
// 64 MiB measurement does, and checks every byte arrives.
func TestRelays(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer origin.Close()
	for _, mode := range []string{"splice", "buffer"} {
		t.Run(mode, func(t *testing.T) {
			copyFn, err := relayCopier(mode)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- serveRelay(ctx, ln, copyFn) }()
			tr := origin.Client().Transport.(*http.Transport).Clone()
			tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: ln.Addr().String()})
			resp, err := (&http.Client{Transport: tr}).Get(origin.URL + "/large")
			if err != nil {
				t.Fatalf("GET through the relay: %v", err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("body through the relay: %d bytes, %v; want the origin's %d", len(got), err, len(body))
			}
			tr.CloseIdleConnections()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serveRelay: %v", err)
			}
		})
	}
	if _, err := relayCopier("zero-copy"); err == nil {
		t.Error("relayCopier accepted an unknown mode")
	}
}

// TestCPUTimeAgreesWithRusage reads this process's CPU time as the
// harness reads a proxy's, after some work, and compares it with what
// getrusage says about the same process.
func TestCPUTimeAgreesWithRusage(t *testing.T) {
	usage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var sink uint64
	for start := usage(); usage()-start < 30*time.Millisecond; {
		for i := range 100000 {
			sink += uint64(i) * sink
		}
	}
	before := usage()
	got, err := cpuTime(os.Getpid())
	after := usage()
	if err != nil {
		t.Fatal(err)
	}
	if got < before-20*time.Millisecond || got > after+20*time.Millisecond {
		t.Errorf("cpuTime: %v; getrusage says %v to %v", got, before, after)
	}
	if d, err := schedCPUTime(os.Getpid()); err == nil && d != got {
		// Both read within microseconds: they may differ only by then.
		if diff := d - got; diff < 0 || diff > 5*time.Millisecond {
			t.Errorf("cpuTime %v does not come from schedstat (%v)", got, d)
		}
	}
}
