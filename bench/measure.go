package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// TargetResult is everything measured for one target, each timed load once
// per round. A measurement that does not apply to the target is empty.
type TargetResult struct {
	SmallGETs  []WrkResult        `json:"small_gets,omitempty"`
	FixedRate  []FixedRateResult  `json:"fixed_rate,omitempty"`
	Large      []TransferResult   `json:"large_tls_tunnel,omitempty"`
	NewTunnels []TunnelRateResult `json:"new_tunnels,omitempty"`
	Warn       []WarnResult       `json:"warn_page,omitempty"`
	Idle       *IdleResult        `json:"idle_tunnels,omitempty"`
	// Start is the proxy's resources once started, before any load;
	// AfterLoad once every load has ended and its connections closed.
	Start         *Resources `json:"start,omitempty"`
	AfterLoad     *Resources `json:"after_load,omitempty"`
	ReturnedAfter *bool      `json:"returned_after_load,omitempty"`
	Errors        []string   `json:"errors,omitempty"`
}

// goWarmup bounds the warm-up of the Go loads: they only need their
// connections made and the proxy's code paths run once.
const goWarmup = 500 * time.Millisecond

// measureAll starts every target, measures what idle tunnels cost each
// proxy while it is fresh, then runs the timed loads in rounds: in each
// round every load runs over every target, one after another, the order of
// targets turning from round to round. Interleaving puts the targets
// under the same background load (the machine is shared), and the report
// takes each target's best round, since other tenants only ever make a
// figure worse. Finally it waits for each proxy to return to its baseline
// and stops it.
func (r *run) measureAll(ctx context.Context, signpostBin string) error {
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, name := range r.s.Targets {
		dir := filepath.Join(r.tmp, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		var t *target
		var err error
		switch name {
		case targetDirect:
			t = &target{Name: targetDirect}
		case targetGoproxy:
			t, err = startGoproxy(r.self, dir, r.pin)
		case targetSquid:
			t, err = startSquid(dir, r.origin.TLS, r.pin)
		case targetSignpost:
			t, err = startSignpost(signpostBin, dir, r.origin.TLS, r.pin)
		case targetRelaySplice, targetRelayCopy:
			t, err = startRelay(r.self, dir, name, r.pin)
		}
		if err != nil {
			return fmt.Errorf("starting %s: %w", name, err)
		}
		targets = append(targets, t)
		res := &TargetResult{}
		r.results[name] = res
		if t.proc != nil {
			start, err := t.resources(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			res.Start = &start
		}
	}

	// Idle tunnels first, on fresh processes: a proxy's memory then grows
	// by what the tunnels cost, not into heap another load left free.
	for _, t := range targets {
		if t.proc == nil || t.bulkOnly {
			continue
		}
		logf("%s: %d idle websocket tunnels", t.Name, r.s.IdleTunnels)
		idle := idleTunnels(ctx, t, r.origin.TLS, r.roots, r.s.IdleTunnels, r.s.IdleSettle, r.s.Drain, nil)
		r.results[t.Name].Idle = &idle
	}

	for round := range r.s.Rounds {
		k := round % len(targets)
		order := append(append(make([]*target, 0, len(targets)), targets[k:]...), targets[:k]...)
		logf("round %d of %d", round+1, r.s.Rounds)
		full := slices.DeleteFunc(slices.Clone(order), func(t *target) bool { return t.bulkOnly })
		for _, t := range full {
			if err := r.smallGETs(ctx, t); err != nil {
				return err
			}
		}
		for _, t := range full {
			r.fixedRate(ctx, t)
		}
		for _, t := range order {
			r.large(ctx, t)
		}
		for _, t := range full {
			r.newTunnels(ctx, t)
		}
		for _, t := range order {
			if t.caRoots != nil {
				logf("%s: warn pages over HTTPS", t.Name)
				w := warnPages(ctx, t.Proxy, t.caRoots, r.s.WarnDuration, r.s.NewLeaves)
				r.results[t.Name].Warn = append(r.results[t.Name].Warn, w)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}

	for _, t := range targets {
		res := r.results[t.Name]
		if t.proc == nil {
			continue
		}
		if t.proc.exited() {
			return fmt.Errorf("%s exited during the run: %s", t.Name, t.proc.tail())
		}
		after, ok := t.waitBaseline(ctx, *res.Start, r.s.Drain)
		res.AfterLoad, res.ReturnedAfter = &after, &ok
	}
	return nil
}

// cpuNow returns the CPU time t's proxy has used so far (0 for direct).
func (t *target) cpuNow() time.Duration {
	if t.proc == nil {
		return 0
	}
	d, err := cpuTime(t.proc.pid())
	if err != nil {
		return 0
	}
	return d
}

// perOp is the proxy CPU time per operation, in microseconds; 0 when there
// is no proxy or no operation.
func perOp(t *target, cpu time.Duration, ops float64) float64 {
	if t.proc == nil || ops <= 0 {
		return 0
	}
	return float64(cpu) / float64(time.Microsecond) / ops
}

func (r *run) fail(t *target, what string, err error) {
	res := r.results[t.Name]
	res.Errors = append(res.Errors, what+": "+err.Error())
	logf("  %s: %s: %v", t.Name, what, err)
}

func (r *run) smallGETs(ctx context.Context, t *target) error {
	logf("%s: small GETs with wrk, %d connections, %s", t.Name, r.s.Connections, r.s.Duration)
	dir := filepath.Join(r.tmp, t.Name)
	if r.s.Warmup >= time.Second {
		if _, err := runWrk(ctx, dir, t.Proxy, r.origin.HTTP, r.s.Connections, r.s.WrkThreads, r.s.Warmup); err != nil {
			r.fail(t, "small GETs warm-up", err)
			return nil
		}
	}
	c0 := t.cpuNow()
	w, err := runWrk(ctx, dir, t.Proxy, r.origin.HTTP, r.s.Connections, r.s.WrkThreads, r.s.Duration)
	if err != nil {
		r.fail(t, "small GETs", err)
		return nil
	}
	w.ProxyCPUus = perOp(t, t.cpuNow()-c0, float64(w.Requests))
	r.results[t.Name].SmallGETs = append(r.results[t.Name].SmallGETs, w)
	return nil
}

func (r *run) fixedRate(ctx context.Context, t *target) {
	logf("%s: small GETs at %.0f/s over %d connections, %s", t.Name, r.s.Rate, r.s.Connections, r.s.Duration)
	fixedRate(ctx, t.Proxy, r.origin.HTTP, r.s.Rate, r.s.Connections, min(r.s.Warmup, goWarmup))
	fr := fixedRate(ctx, t.Proxy, r.origin.HTTP, r.s.Rate, r.s.Connections, r.s.Duration)
	r.results[t.Name].FixedRate = append(r.results[t.Name].FixedRate, fr)
}

func (r *run) large(ctx context.Context, t *target) {
	logf("%s: %d × 64 MiB over TLS", t.Name, r.s.LargeRuns)
	// One transfer warms the path (and the origin's buffers) first.
	if _, err := oneLargeTransfer(ctx, t.Proxy, r.origin.TLS, r.roots); err != nil {
		r.fail(t, "64 MiB warm-up", err)
	}
	c0 := t.cpuNow()
	l := largeTransfers(ctx, t.Proxy, r.origin.TLS, r.roots, r.s.LargeRuns)
	l.ProxyCPUms = perOp(t, t.cpuNow()-c0, float64(len(l.AllMBs))) / 1000
	r.results[t.Name].Large = append(r.results[t.Name].Large, l)
}

func (r *run) newTunnels(ctx context.Context, t *target) {
	logf("%s: new tunnels, %d clients, %s", t.Name, r.s.TunnelWorkers, r.s.Duration)
	newTunnels(ctx, t.Proxy, r.origin.TLS, r.roots, r.s.TunnelWorkers, min(r.s.Warmup, goWarmup))
	c0 := t.cpuNow()
	nt := newTunnels(ctx, t.Proxy, r.origin.TLS, r.roots, r.s.TunnelWorkers, r.s.Duration)
	nt.ProxyCPUus = perOp(t, t.cpuNow()-c0, float64(nt.Done))
	r.results[t.Name].NewTunnels = append(r.results[t.Name].NewTunnels, nt)
}
