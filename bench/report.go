package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Report is one harness run: where and how it ran, every raw figure, and
// the profiles. It is saved as JSON; Markdown renders the table.
type Report struct {
	Meta     Meta                     `json:"meta"`
	Settings settings                 `json:"settings"`
	Results  map[string]*TargetResult `json:"results"`
	Profile  *ProfileResult           `json:"profile,omitempty"`
}

// Meta describes the machine and the software measured.
type Meta struct {
	Date    string  `json:"date"`
	Git     string  `json:"git"`
	Go      string  `json:"go"`
	Kernel  string  `json:"kernel"`
	CPU     string  `json:"cpu"`
	Cores   int     `json:"cores"`
	Pinning pinning `json:"pinning"`
	PinNote string  `json:"pinning_note"`
	LoadAvg string  `json:"load_average_at_end"`
	Wrk     string  `json:"wrk"`
	Squid   string  `json:"squid"`
	Goproxy string  `json:"goproxy"`
}

// report gathers the run's results and where they were measured; git is
// the commit measured.
func (r *run) report(git string, prof *ProfileResult) *Report {
	return &Report{
		Meta: Meta{
			Date:    time.Now().Format(time.RFC3339),
			Git:     git,
			Go:      runtime.Version(),
			Kernel:  firstLine(cmdOutput("uname", "-r")),
			CPU:     cpuModel(),
			Cores:   runtime.NumCPU(),
			Pinning: r.pin,
			PinNote: r.pinNote,
			LoadAvg: loadAvg(),
			Wrk:     firstLine(cmdOutput("wrk", "-v")),
			Squid:   firstLine(cmdOutput("squid", "-v")),
			Goproxy: goproxyVersion(r.root),
		},
		Settings: r.s,
		Results:  r.results,
		Profile:  prof,
	}
}

// Markdown renders the report: the environment, one table of absolute
// figures and ratios with the targets, and notes.
func (rep *Report) Markdown() string {
	var b strings.Builder
	m := rep.Meta
	fmt.Fprintf(&b, "# Signpost benchmark, %s (%s)\n\n", m.Date[:10], m.Git)
	fmt.Fprintf(&b, "- Machine: %d cores (%s), Linux %s, %s; load average at the end: %s.\n", m.Cores, m.CPU, m.Kernel, m.Go, m.LoadAvg)
	fmt.Fprintf(&b, "- Pinning: %s.\n", m.PinNote)
	fmt.Fprintf(&b, "- Tools: %s; %s; goproxy %s (bare: `goproxy.NewProxyHttpServer()` as shipped).\n", m.Wrk, m.Squid, m.Goproxy)
	s := rep.Settings
	fmt.Fprintf(&b, "- Loads: %d rounds, each running every load over every target in turn (interleaved, the order turning each round); "+
		"each timed load runs %s after a warm-up; %d keep-alive connections (wrk, %d thread); fixed rate %.0f/s; %d × 64 MiB per round; "+
		"%d clients opening tunnels; %d idle websocket tunnels (on the fresh proxies, before any other load); warn pages %s each and %d new host names per round.\n",
		s.Rounds, s.Duration, s.Connections, s.WrkThreads, s.Rate, s.LargeRuns, s.TunnelWorkers, s.IdleTunnels, s.WarnDuration, s.NewLeaves)
	b.WriteString("- Each figure is the target's best round (highest rate, lowest latency or cost): other tenants of the machine only ever make a figure worse. " +
		"The machine is shared, so figures still move from run to run; compare ratios within one run.\n\n")

	b.WriteString("| measurement | direct | goproxy | squid | signpost | signpost vs direct | vs goproxy | vs squid | target | met |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, row := range rep.rows() {
		b.WriteString(row.markdown())
	}
	b.WriteString(`
Ratios are Signpost's figure divided by the other's (higher is better for rates, lower for latency
and memory). For latency, "vs direct" is the time Signpost adds to a direct connection.
`)
	rep.writeRelays(&b)
	rep.writeNotes(&b)
	if p := rep.Profile; p != nil {
		fmt.Fprintf(&b, "\n## Profiles of an in-process Signpost\n\nSaved in `%s` (`go tool pprof -http=: FILE` to browse; `.txt` beside each is `-top`, flat and cumulative).\n",
			relPath(p.Dir))
		for _, f := range p.Profiles {
			fmt.Fprintf(&b, "\n**%s** — %s; heaviest functions (flat, flat%%, sum%%, cum, cum%%):\n\n```\n%s\n```\n", f.Name, f.What, strings.Join(f.Top, "\n"))
		}
		if i := p.Idle; i != nil {
			fmt.Fprintf(&b, "\nIn-process node with %d idle tunnels: %.1f KiB RSS per tunnel (Go heap %.1f + stacks %.1f), "+
				"goroutines %s, sockets %s, pipes %s",
				i.Opened, i.PerTunnelKiB, i.HeapPerTunnel, i.StackPerTunnel, arrow(i.Before.Goroutines, i.With.Goroutines, i.After.Goroutines),
				arrow(i.Before.Sockets, i.With.Sockets, i.After.Sockets), arrow(i.Before.Pipes, i.With.Pipes, i.After.Pipes))
			if g := p.AfterGC; g != nil {
				fmt.Fprintf(&b, ", and %d pipes after two forced garbage collections", g.Pipes)
			}
			b.WriteString(".\n")
		}
	}
	return b.String()
}

// writeRelays adds the bare relays' 64 MiB figures, beside direct's and
// the proxies', when the run measured them.
func (rep *Report) writeRelays(b *strings.Builder) {
	if rep.Results[targetRelaySplice] == nil && rep.Results[targetRelayCopy] == nil {
		return
	}
	mbps := func(name string) (mb, cpu float64, ok bool) {
		res := rep.Results[name]
		if res == nil {
			return 0, 0, false
		}
		have := func(x TransferResult) bool { return len(x.AllMBs) > 0 }
		mb, ok = best(res.Large, false, func(x TransferResult) (float64, bool) { return x.MBps, have(x) })
		cpu, _ = best(res.Large, true, func(x TransferResult) (float64, bool) { return x.ProxyCPUms, have(x) })
		return mb, cpu, ok
	}
	direct, _, haveDirect := mbps(targetDirect)
	b.WriteString("\n**64 MiB over TLS, and what the copy costs.** Two bare CONNECT relays of the harness's own " +
		"(no policy, no logging, no goproxy), pinned as the proxies are, show what the kernel's copy path alone " +
		"gives on this machine: `relay-splice` copies as Signpost's relay does (`TCPConn.ReadFrom`, splice), " +
		"`relay-copy` reads into and writes from a 128 KiB buffer.\n\n")
	b.WriteString("| 64 MiB over TLS | MB/s | vs direct | proxy CPU per 64 MiB, ms |\n| --- | ---: | ---: | ---: |\n")
	for _, name := range []string{targetDirect, targetRelaySplice, targetRelayCopy, targetGoproxy, targetSquid, targetSignpost} {
		mb, cpu, ok := mbps(name)
		if !ok {
			continue
		}
		vs, c := "—", "—"
		if haveDirect {
			vs = fmt.Sprintf("%.2f×", ratio(mb, direct))
		}
		if name != targetDirect {
			c = num(cpu)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", name, num(mb), vs, c)
	}
}

// row is one line of the table.
type row struct {
	name    string
	cells   map[string]string // per target, formatted
	vals    map[string]float64
	latency bool // "vs direct" is a difference in ms, not a ratio
	target  string
	met     string
}

func (rw row) markdown() string {
	cell := func(t string) string {
		if c, ok := rw.cells[t]; ok {
			return c
		}
		if v, ok := rw.vals[t]; ok && !math.IsNaN(v) {
			return num(v)
		}
		return "—"
	}
	sp := rw.vals[targetSignpost]
	vs := func(t string) string {
		v, ok := rw.vals[t]
		if !ok || math.IsNaN(v) || math.IsNaN(sp) || rw.vals == nil {
			return "—"
		}
		if rw.latency && t == targetDirect {
			return fmt.Sprintf("%+.2f ms", sp-v)
		}
		q := ratio(sp, v)
		if math.IsNaN(q) {
			return "—"
		}
		return fmt.Sprintf("%.2f×", q)
	}
	if rw.vals == nil {
		vs = func(string) string { return "—" }
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rw.name,
		cell(targetDirect), cell(targetGoproxy), cell(targetSquid), cell(targetSignpost),
		vs(targetDirect), vs(targetGoproxy), vs(targetSquid), rw.target, rw.met)
}

// best returns the highest (or, with lowest, the lowest) value pick finds
// over rounds; ok is false when no round has one.
func best[T any](rounds []T, lowest bool, pick func(T) (float64, bool)) (v float64, ok bool) {
	for _, r := range rounds {
		x, have := pick(r)
		if !have || math.IsNaN(x) {
			continue
		}
		if !ok || (lowest && x < v) || (!lowest && x > v) {
			v, ok = x, true
		}
	}
	return v, ok
}

// rows builds the table from the results: each figure from the target's
// best round (the highest rate, the lowest latency or cost).
func (rep *Report) rows() []row {
	get := func(f func(*TargetResult) (float64, bool)) map[string]float64 {
		m := map[string]float64{}
		for name, res := range rep.Results {
			if v, ok := f(res); ok {
				m[name] = v
			}
		}
		return m
	}
	verdict := func(ok bool, have bool) string {
		switch {
		case !have:
			return "—"
		case ok:
			return "yes"
		default:
			return "**no**"
		}
	}
	wrk := func(lowest bool, f func(WrkResult) float64) map[string]float64 {
		return get(func(r *TargetResult) (float64, bool) {
			return best(r.SmallGETs, lowest, func(w WrkResult) (float64, bool) { return f(w), w.Requests > 0 })
		})
	}
	fixed := func(f func(Summary) float64) map[string]float64 {
		return get(func(r *TargetResult) (float64, bool) {
			return best(r.FixedRate, true, func(x FixedRateResult) (float64, bool) { return f(x.Latency), x.Latency.Count > 0 })
		})
	}
	large := func(lowest bool, f func(TransferResult) float64) map[string]float64 {
		return get(func(r *TargetResult) (float64, bool) {
			return best(r.Large, lowest, func(x TransferResult) (float64, bool) { return f(x), len(x.AllMBs) > 0 })
		})
	}
	tunnels := func(lowest bool, f func(TunnelRateResult) float64) map[string]float64 {
		return get(func(r *TargetResult) (float64, bool) {
			return best(r.NewTunnels, lowest, func(x TunnelRateResult) (float64, bool) { return f(x), x.Done > 0 })
		})
	}
	cost := func(m map[string]float64) map[string]float64 {
		delete(m, targetDirect) // no proxy, no cost
		return m
	}
	var rows []row

	rps := wrk(false, func(w WrkResult) float64 { return w.PerSec })
	sp, gp, sq := rps[targetSignpost], rps[targetGoproxy], rps[targetSquid]
	rows = append(rows,
		row{name: "small GETs, plain HTTP, keep-alive (wrk): requests/s", vals: rps,
			target: "≥ 0.9× goproxy, ≥ 1.0× squid",
			met:    verdict(ratio(sp, gp) >= 0.9 && ratio(sp, sq) >= 1.0, sp > 0 && gp > 0 && sq > 0)},
		row{name: "… proxy CPU per request, µs", vals: cost(wrk(true, func(w WrkResult) float64 { return w.ProxyCPUus }))},
		row{name: "… p50 latency at saturation, ms", vals: wrk(true, func(w WrkResult) float64 { return w.P50 }), latency: true})
	p99 := wrk(true, func(w WrkResult) float64 { return w.P99 })
	rows = append(rows, row{name: "… p99 latency at saturation, ms", vals: p99, latency: true,
		target: "p99 added ≤ 1 ms", met: verdict(p99[targetSignpost]-p99[targetDirect] <= 1, hasAll(p99, targetSignpost, targetDirect))})

	rate := rep.Settings.Rate
	fr99 := fixed(func(l Summary) float64 { return l.P99 })
	rows = append(rows,
		row{name: fmt.Sprintf("small GETs at a fixed %.0f/s, keep-alive: p50 latency, ms", rate), vals: fixed(func(l Summary) float64 { return l.P50 }), latency: true},
		row{name: fmt.Sprintf("… p99 latency at %.0f/s, ms", rate), vals: fr99, latency: true,
			target: "p99 added ≤ 1 ms", met: verdict(fr99[targetSignpost]-fr99[targetDirect] <= 1, hasAll(fr99, targetSignpost, targetDirect))})

	mbps := large(false, func(x TransferResult) float64 { return x.MBps })
	rows = append(rows,
		row{name: "64 MiB over TLS through a CONNECT tunnel: MB/s", vals: mbps,
			target: "≥ 0.9× direct", met: verdict(ratio(mbps[targetSignpost], mbps[targetDirect]) >= 0.9, hasAll(mbps, targetSignpost, targetDirect))},
		row{name: "… proxy CPU per 64 MiB, ms", vals: cost(large(true, func(x TransferResult) float64 { return x.ProxyCPUms }))})

	tps := tunnels(false, func(x TunnelRateResult) float64 { return x.PerSec })
	rows = append(rows,
		row{name: "new tunnels/s (CONNECT + TLS handshake + one GET, no keep-alive)", vals: tps,
			target: "≥ 0.9× goproxy", met: verdict(ratio(tps[targetSignpost], tps[targetGoproxy]) >= 0.9, hasAll(tps, targetSignpost, targetGoproxy))},
		row{name: "… proxy CPU per tunnel, µs", vals: cost(tunnels(true, func(x TunnelRateResult) float64 { return x.ProxyCPUus }))},
		row{name: "… p50 time to set up a tunnel and fetch, ms", vals: tunnels(true, func(x TunnelRateResult) float64 { return x.Latency.P50 }), latency: true})

	kib := get(func(r *TargetResult) (float64, bool) {
		if r.Idle == nil || r.Idle.Opened == 0 {
			return 0, false
		}
		return r.Idle.PerTunnelKiB, true
	})
	rows = append(rows, row{name: fmt.Sprintf("proxy RSS per idle websocket tunnel (%d open), KiB", rep.Settings.IdleTunnels), vals: kib,
		target: "≤ 16 KiB", met: verdict(kib[targetSignpost] <= 16, hasAll(kib, targetSignpost))})
	split := row{name: "… of which Go heap + goroutine stacks, KiB", cells: map[string]string{}}
	for name, res := range rep.Results {
		if i := res.Idle; i != nil && i.Before.HeapKiB >= 0 && i.Opened > 0 {
			split.cells[name] = fmt.Sprintf("%s + %s", num(i.HeapPerTunnel), num(i.StackPerTunnel))
		}
	}
	rows = append(rows, split)

	gor := row{name: "goroutines: before → with tunnels → after closing", cells: map[string]string{}}
	socks := row{name: "open sockets: before → with tunnels → after closing", cells: map[string]string{}}
	pipes := row{name: "open pipes (splice): before → with tunnels → after closing", cells: map[string]string{}}
	for name, res := range rep.Results {
		if res.Idle == nil {
			continue
		}
		i := res.Idle
		if i.Before.Goroutines >= 0 {
			gor.cells[name] = arrow(i.Before.Goroutines, i.With.Goroutines, i.After.Goroutines)
		}
		socks.cells[name] = arrow(i.Before.Sockets, i.With.Sockets, i.After.Sockets)
		pipes.cells[name] = arrow(i.Before.Pipes, i.With.Pipes, i.After.Pipes)
	}
	if res := rep.Results[targetSignpost]; res != nil && res.Idle != nil {
		gor.target, socks.target = "back to baseline", "back to baseline"
		gor.met = verdict(res.Idle.After.Goroutines <= res.Idle.Before.Goroutines, true)
		socks.met = verdict(res.Idle.After.Sockets <= res.Idle.Before.Sockets, true)
		pipes.target = "released by GC (see notes)"
	}
	rows = append(rows, gor, socks, pipes)

	after := row{name: "goroutines; sockets; pipes: at start → after every load", cells: map[string]string{}}
	for name, res := range rep.Results {
		if res.Start == nil || res.AfterLoad == nil {
			continue
		}
		g := "—"
		if res.Start.Goroutines >= 0 {
			g = fmt.Sprintf("%d → %d", res.Start.Goroutines, res.AfterLoad.Goroutines)
		}
		after.cells[name] = fmt.Sprintf("%s; %d → %d; %d → %d", g, res.Start.Sockets, res.AfterLoad.Sockets,
			res.Start.Pipes, res.AfterLoad.Pipes)
	}
	if res := rep.Results[targetSignpost]; res != nil && res.ReturnedAfter != nil {
		after.target, after.met = "back to baseline", verdict(*res.ReturnedAfter, true)
	}
	rows = append(rows, after)

	if res := rep.Results[targetSignpost]; res != nil && len(res.Warn) > 0 {
		warn := func(f func(WarnResult) Summary, p99 bool) float64 {
			v, _ := best(res.Warn, true, func(w WarnResult) (float64, bool) {
				s := f(w)
				if p99 {
					return s.P99, s.Count > 0
				}
				return s.P50, s.Count > 0
			})
			return v
		}
		cached := func(w WarnResult) Summary { return w.CachedLeaf }
		kept := func(w WarnResult) Summary { return w.KeepAlive }
		leaf := func(w WarnResult) Summary { return w.NewLeaf }
		one := func(name string, v float64, target string, ok bool) row {
			return row{name: name, vals: map[string]float64{targetSignpost: v}, target: target,
				met: verdict(ok, target != "")}
		}
		rows = append(rows,
			one("warn page over HTTPS, new connection, leaf cached: p50 end to end, ms", warn(cached, false), "≤ 2 ms", warn(cached, false) <= 2),
			one("… p99, ms", warn(cached, true), "", false),
			one("warn page on a kept-alive intercepted connection: p50, ms", warn(kept, false), "", false),
			one("warn page for a new host name (new leaf): p50 end to end, ms", warn(leaf, false), "≤ 5 ms", warn(leaf, false) <= 5),
			one("… p99, ms", warn(leaf, true), "", false),
		)
	}
	return rows
}

// writeNotes adds what the table cannot say: errors, and the conditions of
// each measurement that a reader needs to trust it.
func (rep *Report) writeNotes(b *strings.Builder) {
	var notes []string
	for _, name := range []string{targetDirect, targetGoproxy, targetSquid, targetSignpost} {
		res := rep.Results[name]
		if res == nil {
			continue
		}
		for _, e := range res.Errors {
			notes = append(notes, fmt.Sprintf("%s: %s", name, e))
		}
		for i, w := range res.SmallGETs {
			if w.Errors > 0 {
				notes = append(notes, fmt.Sprintf("%s, round %d: wrk counted %d errors in %d requests", name, i+1, w.Errors, w.Requests))
			}
		}
		for i, f := range res.FixedRate {
			if f.Errors > 0 {
				notes = append(notes, fmt.Sprintf("%s, round %d: fixed-rate run: %d of %d requests failed", name, i+1, f.Errors, f.Sent))
			}
		}
		for i, l := range res.Large {
			if l.Errors > 0 {
				notes = append(notes, fmt.Sprintf("%s, round %d: %d large transfers failed", name, i+1, l.Errors))
			}
		}
		for i, t := range res.NewTunnels {
			if t.Errors > 0 {
				notes = append(notes, fmt.Sprintf("%s, round %d: %d new tunnels failed (%d succeeded)", name, i+1, t.Errors, t.Done))
			}
		}
		if i := res.Idle; i != nil {
			if i.Error != "" {
				notes = append(notes, fmt.Sprintf("%s: idle tunnels: %s", name, i.Error))
			}
			if i.EchoErrors > 0 {
				notes = append(notes, fmt.Sprintf("%s: %d idle tunnels no longer echoed", name, i.EchoErrors))
			}
			notes = append(notes, fmt.Sprintf("%s: %d tunnels opened in %.1f s; RSS %d → %d KiB", name, i.Opened, i.OpenSeconds, i.Before.RSSKiB, i.With.RSSKiB))
		}
		for i, w := range res.Warn {
			if w.Errors > 0 {
				notes = append(notes, fmt.Sprintf("%s, round %d: %d warn-page requests failed; first: %s", name, i+1, w.Errors, w.FirstErr))
			}
		}
	}
	if len(notes) == 0 {
		return
	}
	b.WriteString("\nNotes:\n\n")
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
}

func hasAll(m map[string]float64, keys ...string) bool {
	for _, k := range keys {
		if v, ok := m[k]; !ok || v == 0 || math.IsNaN(v) {
			return false
		}
	}
	return true
}

func arrow(a, b, c int) string { return fmt.Sprintf("%d → %d → %d", a, b, c) }

// num formats a figure with three significant digits (whole numbers from
// 1000 up).
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func cmdOutput(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	return string(out)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// goproxyVersion reads goproxy's version from go.mod.
func goproxyVersion(root string) string {
	b, err := os.ReadFile(root + "/go.mod")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "github.com/elazarl/goproxy" {
			return f[1]
		}
	}
	return "unknown"
}

// relPath shows dir relative to the working directory when it is below it.
func relPath(dir string) string {
	wd, err := os.Getwd()
	if err == nil && strings.HasPrefix(dir, wd+"/") {
		return strings.TrimPrefix(dir, wd+"/")
	}
	return dir
}
