package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrk cannot speak to a proxy by itself. A plain-HTTP proxy, though, only
// needs the request line in absolute form, so wrk is pointed at the proxy's
// address and a Lua script rewrites the request line to
// "GET http://ORIGIN/small HTTP/1.1" with the origin as Host. For the direct
// run the same script sends "GET /small". Its done() hook prints the
// figures as one JSON line, which is more robust than parsing wrk's report.
const wrkScript = `-- written by the signpost bench harness
wrk.method = "GET"
wrk.path = %q
wrk.headers["Host"] = %q

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%%d,"duration_us":%%d,"connect_errors":%%d,"read_errors":%%d,"write_errors":%%d,"status_errors":%%d,"timeouts":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`

// WrkResult is one wrk run of keep-alive small GETs at a fixed number of
// connections, as fast as the target answers.
type WrkResult struct {
	Connections int     `json:"connections"`
	Threads     int     `json:"threads"`
	Seconds     float64 `json:"seconds"`
	Requests    int64   `json:"requests"`
	PerSec      float64 `json:"per_s"`
	Errors      int64   `json:"errors"` // connect, read, write, timeouts and non-2xx/3xx answers
	P50         float64 `json:"p50_ms"`
	P90         float64 `json:"p90_ms"`
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
	// ProxyCPUus is the proxy's CPU time per request, in microseconds.
	ProxyCPUus float64 `json:"proxy_cpu_us_per_request,omitempty"`
}

type wrkOutput struct {
	Requests      int64 `json:"requests"`
	DurationUS    int64 `json:"duration_us"`
	ConnectErrors int64 `json:"connect_errors"`
	ReadErrors    int64 `json:"read_errors"`
	WriteErrors   int64 `json:"write_errors"`
	StatusErrors  int64 `json:"status_errors"`
	Timeouts      int64 `json:"timeouts"`
	P50US         int64 `json:"p50_us"`
	P90US         int64 `json:"p90_us"`
	P99US         int64 `json:"p99_us"`
	MaxUS         int64 `json:"max_us"`
}

// runWrk runs wrk for d with conns keep-alive connections on threads
// threads, fetching the origin's small resource through proxy ("" for
// direct). wrk inherits the harness's core.
func runWrk(ctx context.Context, dir, proxy, originHTTP string, conns, threads int, d time.Duration) (WrkResult, error) {
	target, url := pathSmall, "http://"+originHTTP+"/"
	if proxy != "" {
		target, url = "http://"+originHTTP+pathSmall, "http://"+proxy+"/"
	}
	script := filepath.Join(dir, "wrk-small.lua")
	if err := os.WriteFile(script, fmt.Appendf(nil, wrkScript, target, originHTTP), 0o644); err != nil {
		return WrkResult{}, err
	}
	// wrk takes whole seconds.
	secs := strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", secs+"s", "--timeout", "5s", "-s", script, url)
	cmd.Env = childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return WrkResult{}, fmt.Errorf("wrk: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var o wrkOutput
	found := false
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(line, "{") {
			if err := json.Unmarshal([]byte(line), &o); err != nil {
				return WrkResult{}, fmt.Errorf("wrk output %q: %w", line, err)
			}
			found = true
			break
		}
	}
	if !found || o.DurationUS <= 0 {
		return WrkResult{}, fmt.Errorf("wrk printed no figures: %s", strings.TrimSpace(stdout.String()+stderr.String()))
	}
	secsRun := float64(o.DurationUS) / 1e6
	return WrkResult{
		Connections: conns, Threads: threads, Seconds: secsRun, Requests: o.Requests,
		PerSec: float64(o.Requests) / secsRun,
		Errors: o.ConnectErrors + o.ReadErrors + o.WriteErrors + o.StatusErrors + o.Timeouts,
		P50:    float64(o.P50US) / 1e3, P90: float64(o.P90US) / 1e3, P99: float64(o.P99US) / 1e3, Max: float64(o.MaxUS) / 1e3,
	}, nil
}
