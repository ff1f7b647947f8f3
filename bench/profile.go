package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ProfileResult lists the profiles taken of an in-process Signpost.
type ProfileResult struct {
	Dir      string        `json:"dir"`
	Profiles []ProfileFile `json:"profiles"`
	Idle     *IdleResult   `json:"idle_tunnels,omitempty"`
	// AfterGC is the node's resources after the idle tunnels closed and two
	// garbage collections ran.
	AfterGC *Resources `json:"after_gc,omitempty"`
}

// ProfileFile is one saved profile and the head of its `go tool pprof -top`.
type ProfileFile struct {
	Name string   `json:"name"` // file name in Dir
	What string   `json:"what"` // the load it was taken under
	Top  []string `json:"top"`  // the heaviest functions, flat
}

// profile runs Signpost in process ("signpost-inproc": service.New and
// Start, as `signpost run` does, plus pprof on a side port) pinned like the
// binary, and takes a CPU profile under each of the loads Signpost was
// measured with, and a heap profile while the idle tunnels are held. The
// profiles go to dir with a text summary of each.
func (r *run) profile(ctx context.Context, dir string) (*ProfileResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	work := filepath.Join(r.tmp, "signpost-inproc")
	cfgDir, dataDir, addr, adminAddr, err := writeSignpostConfig(work, r.origin.TLS)
	if err != nil {
		return nil, err
	}
	pprofAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := command(r.pin.Proxy, r.self, "signpost-inproc", "-config", cfgDir, "-pprof", pprofAddr)
	p, err := startProc("signpost-inproc", cmd, filepath.Join(work, "signpost.log"), nil)
	if err != nil {
		return nil, err
	}
	defer p.stop(10 * time.Second)
	t, err := signpostTarget("signpost-inproc", p, addr, adminAddr, dataDir)
	if err != nil {
		return nil, err
	}
	if err := waitListening(p, pprofAddr, 10*time.Second); err != nil {
		return nil, err
	}
	res := &ProfileResult{Dir: dir}
	d := r.s.Duration
	secs := max(1, int(d/time.Second))
	window := time.Duration(secs)*time.Second + 500*time.Millisecond // the load outlasts the profile

	cpu := func(name, what string, warm, load func()) error {
		logf("profile: %s", what)
		if warm != nil {
			warm()
		}
		done := make(chan error, 1)
		file := filepath.Join(dir, name+".cpu.pprof")
		go func() {
			done <- fetchTo(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, secs), file)
		}()
		load()
		if err := <-done; err != nil {
			return err
		}
		top, err := pprofTop(file)
		if err != nil {
			return err
		}
		res.Profiles = append(res.Profiles, ProfileFile{Name: filepath.Base(file), What: what, Top: top})
		return nil
	}

	// Idle tunnels first, on the fresh process (as in the measured run),
	// with a heap profile while they are held. After they close, two
	// forced collections (pprof's heap?gc=1) show whether the splice
	// pipes Go keeps pooled are released: a sync.Pool drops its items
	// over two collections, and finalizers close the pipes.
	logf("profile: heap with %d idle tunnels", r.s.IdleTunnels)
	heapFile := filepath.Join(dir, "idle-tunnels.heap.pprof")
	var heapErr error
	idle := idleTunnels(ctx, t, r.origin.TLS, r.roots, r.s.IdleTunnels, r.s.IdleSettle, r.s.Drain, func() {
		heapErr = fetchTo(ctx, "http://"+pprofAddr+"/debug/pprof/heap", heapFile)
	})
	if heapErr != nil {
		return nil, heapErr
	}
	res.Idle = &idle
	for range 2 {
		if _, err := httpGetBody(ctx, "http://"+pprofAddr+"/debug/pprof/heap?gc=1", ""); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		after, err := t.resources(ctx)
		if err != nil {
			return nil, err
		}
		res.AfterGC = &after
		if after.Pipes <= idle.Before.Pipes || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	top, err := pprofTop(heapFile, "-sample_index=inuse_space")
	if err != nil {
		return nil, err
	}
	res.Profiles = append(res.Profiles, ProfileFile{Name: filepath.Base(heapFile),
		What: fmt.Sprintf("heap in use with %d idle websocket tunnels open", r.s.IdleTunnels), Top: top})

	if err := cpu("small-gets", fmt.Sprintf("small GETs with wrk, %d keep-alive connections", r.s.Connections),
		func() {
			_, _ = runWrk(ctx, work, t.Proxy, r.origin.HTTP, r.s.Connections, r.s.WrkThreads, time.Second)
		},
		func() {
			_, _ = runWrk(ctx, work, t.Proxy, r.origin.HTTP, r.s.Connections, r.s.WrkThreads, window)
		}); err != nil {
		return nil, err
	}
	if err := cpu("new-tunnels", fmt.Sprintf("new tunnels (CONNECT, TLS, one GET), %d clients", r.s.TunnelWorkers), nil,
		func() { newTunnels(ctx, t.Proxy, r.origin.TLS, r.roots, r.s.TunnelWorkers, window) }); err != nil {
		return nil, err
	}
	if err := cpu("large-transfers", "64 MiB responses over TLS through CONNECT tunnels, one at a time", nil,
		func() {
			for end := time.Now().Add(window); time.Now().Before(end) && ctx.Err() == nil; {
				_, _ = oneLargeTransfer(ctx, t.Proxy, r.origin.TLS, r.roots)
			}
		}); err != nil {
		return nil, err
	}
	if err := cpu("warn-cached-leaf", "warn page over HTTPS, new connection, leaf cached",
		func() { _, _ = onePage(ctx, t.Proxy, warnHost, t.caRoots) },
		func() {
			for end := time.Now().Add(window); time.Now().Before(end) && ctx.Err() == nil; {
				_, _ = onePage(ctx, t.Proxy, warnHost, t.caRoots)
			}
		}); err != nil {
		return nil, err
	}
	if err := cpu("warn-new-leaf", "warn page over HTTPS, a new host name (new leaf) each time", nil,
		func() {
			nonce := time.Now().UnixNano() % 1e6
			end := time.Now().Add(window)
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				_, _ = onePage(ctx, t.Proxy, fmt.Sprintf("p%d-%d.%s", nonce, i, warnHost), t.caRoots)
			}
		}); err != nil {
		return nil, err
	}

	return res, nil
}

// fetchTo saves the body of url into file.
func fetchTo(ctx context.Context, url, file string) error {
	b, err := httpGetBody(ctx, url, "")
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// pprofTop writes `go tool pprof -top` of file (flat, then cumulative)
// beside it as a .txt, and returns the heaviest flat entries.
func pprofTop(file string, extra ...string) ([]string, error) {
	var text strings.Builder
	var flat []string
	for i, sortBy := range []string{"-flat", "-cum"} {
		args := append([]string{"tool", "pprof", "-top", sortBy, "-nodecount=30"}, extra...)
		out, err := exec.Command("go", append(args, file)...).Output()
		if err != nil {
			return nil, fmt.Errorf("go tool pprof %s: %w", filepath.Base(file), err)
		}
		text.Write(out)
		text.WriteString("\n")
		if i == 0 {
			flat = topEntries(string(out), 12)
		}
	}
	txt := strings.TrimSuffix(file, ".pprof") + ".txt"
	if err := os.WriteFile(txt, []byte(text.String()), 0o644); err != nil {
		return nil, err
	}
	return flat, nil
}

// topEntries returns the first n function rows of `go tool pprof -top`
// output (after its "flat  flat%" header), spaces collapsed.
func topEntries(out string, n int) []string {
	var rows []string
	inTable := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "flat" {
			inTable = true
			continue
		}
		if !inTable || len(f) < 6 {
			continue
		}
		rows = append(rows, strings.Join(f, " "))
		if len(rows) == n {
			break
		}
	}
	return rows
}
