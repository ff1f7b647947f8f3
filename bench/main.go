// Command bench is Signpost's side-by-side benchmark harness. One command,
// from the repository root,
//
//	go run ./bench
//
// installs what it needs (wrk and squid from Debian, when missing), builds
// the signpost binary from ./cmd/signpost, starts a test origin on loopback
// (plain HTTP and TLS; a small and a 64 MiB response; a websocket echo) and
// measures, one after another, a direct connection, a bare goproxy server,
// Squid and Signpost with the same loads. It prints one table of absolute
// figures and ratios and saves it, with the raw numbers as JSON and the CPU
// and heap profiles of an in-process Signpost, under bench/results/.
//
// The proxy runs on one core and the load generators and the origin on
// another (taskset), so that a proxy's cost is what it takes from its own
// core. bench/README.md says what each measurement means.
//
// The harness owns no product code and changes none: it runs the signpost
// binary as shipped, and for profiles builds a node with the same
// service.New and Start. The subcommands "origin", "goproxy", "relay" and
// "signpost-inproc" are the harness's own child processes.
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	var err error
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "origin":
			err = runOrigin(os.Args[2:])
		case "goproxy":
			err = runGoproxy(os.Args[2:])
		case "signpost-inproc":
			err = runSignpostInProcess(os.Args[2:])
		case "relay":
			err = runRelay(os.Args[2:])
		default:
			err = runHarness(os.Args[1:])
		}
	} else {
		err = runHarness(nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// settings are the harness's flags: what it runs and for how long.
type settings struct {
	Targets       []string      `json:"targets"`
	Rounds        int           `json:"rounds"`
	Duration      time.Duration `json:"duration"`
	Warmup        time.Duration `json:"warmup"`
	Connections   int           `json:"connections"`
	WrkThreads    int           `json:"wrk_threads"`
	Rate          float64       `json:"fixed_rate"`
	LargeRuns     int           `json:"large_runs"`
	TunnelWorkers int           `json:"tunnel_workers"`
	IdleTunnels   int           `json:"idle_tunnels"`
	IdleSettle    time.Duration `json:"idle_settle"`
	Drain         time.Duration `json:"drain_timeout"`
	WarnDuration  time.Duration `json:"warn_duration"`
	NewLeaves     int           `json:"new_leaves"`
	Profile       bool          `json:"profile"`
	ProxyCPU      string        `json:"-"`
	LoadCPU       string        `json:"-"`
	Out           string        `json:"-"`
	Install       bool          `json:"-"`
	Keep          bool          `json:"-"`
}

func parseFlags(args []string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	targets := fs.String("targets", "direct,goproxy,squid,signpost,relay-splice,relay-copy", "comma-separated targets to measure (the relays: 64 MiB only)")
	fs.IntVar(&s.Rounds, "rounds", 3, "rounds of every load over every target, interleaved; the best round is reported")
	fs.DurationVar(&s.Duration, "duration", 3*time.Second, "measured duration of each timed load")
	fs.DurationVar(&s.Warmup, "warmup", time.Second, "warm-up before each wrk run (not counted; whole seconds); the Go loads warm up for at most 500ms")
	fs.IntVar(&s.Connections, "connections", 32, "keep-alive connections for small GETs")
	fs.IntVar(&s.WrkThreads, "wrk-threads", 1, "wrk threads (all on the load core)")
	fs.Float64Var(&s.Rate, "rate", 2000, "requests per second of the fixed-rate latency run")
	fs.IntVar(&s.LargeRuns, "large-runs", 3, "64 MiB transfers per target and round")
	fs.IntVar(&s.TunnelWorkers, "tunnel-workers", 16, "concurrent clients opening new tunnels")
	fs.IntVar(&s.IdleTunnels, "idle-tunnels", 2000, "idle websocket tunnels held open")
	fs.DurationVar(&s.IdleSettle, "idle-settle", 2*time.Second, "how long the tunnels idle before the proxy's memory is read")
	fs.DurationVar(&s.Drain, "drain", 15*time.Second, "how long a proxy may take to return to its baseline after a load")
	fs.DurationVar(&s.WarnDuration, "warn-duration", time.Second, "duration of each warn-page latency run")
	fs.IntVar(&s.NewLeaves, "new-leaves", 200, "new host names for the new-leaf latency")
	fs.BoolVar(&s.Profile, "profile", true, "profile an in-process Signpost under the same loads")
	fs.StringVar(&s.ProxyCPU, "proxy-cpu", "0", "core for the proxy (empty: no pinning)")
	fs.StringVar(&s.LoadCPU, "load-cpu", "1", "core for the load generators and the origin (empty: no pinning)")
	fs.StringVar(&s.Out, "out", "", "results directory (default: bench/results in the repository)")
	fs.BoolVar(&s.Install, "install", true, "install missing Debian packages (wrk, squid) with apt-get")
	fs.BoolVar(&s.Keep, "keep", false, "keep the temporary directory (logs, configurations)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if s.Rounds < 1 || s.Duration < time.Second || s.Connections < 1 || s.Rate <= 0 || s.LargeRuns < 1 ||
		s.TunnelWorkers < 1 || s.IdleTunnels < 1 || s.NewLeaves < 1 || s.WrkThreads < 1 {
		return s, errors.New("rounds, connections, rate, runs, workers, tunnels and leaves must be positive, and -duration at least 1s")
	}
	for _, t := range strings.Split(*targets, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains([]string{targetDirect, targetGoproxy, targetSquid, targetSignpost, targetRelaySplice, targetRelayCopy}, t) {
			return s, fmt.Errorf("unknown target %q: expected direct, goproxy, squid, signpost, relay-splice or relay-copy", t)
		}
		s.Targets = append(s.Targets, t)
	}
	return s, nil
}

// run is one harness run: its settings, its scratch directory and what it
// has measured so far.
type run struct {
	s       settings
	root    string // the repository
	tmp     string
	self    string // this binary, for the subcommands
	pin     pinning
	pinNote string
	origin  originInfo
	roots   *x509.CertPool // trusts the origin
	results map[string]*TargetResult
}

func runHarness(args []string) error {
	s, err := parseFlags(args)
	if err != nil {
		return err
	}
	if runtime.GOOS != "linux" {
		return errors.New("the harness reads /proc and runs Debian packages: it needs Linux")
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if s.Out == "" {
		s.Out = filepath.Join(root, "bench", "results")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	r := &run{s: s, root: root, results: map[string]*TargetResult{}}
	if r.self, err = os.Executable(); err != nil {
		return err
	}
	if err := ensurePackages(s); err != nil {
		return err
	}
	if r.tmp, err = os.MkdirTemp("", "signpost-bench-"); err != nil {
		return err
	}
	// Squid, started as root, runs as its own user and must reach its
	// directory below this one. Signpost's key files inside keep their 0600.
	if err := os.Chmod(r.tmp, 0o755); err != nil {
		return err
	}
	if s.Keep {
		logf("scratch directory (kept): %s", r.tmp)
	} else {
		defer os.RemoveAll(r.tmp)
	}

	logf("building ./cmd/signpost")
	signpostBin := filepath.Join(r.tmp, "bin", "signpost")
	if err := goBuild(root, signpostBin, "./cmd/signpost"); err != nil {
		return err
	}

	// Built with both cores; measured with the harness on the load core.
	r.pin, r.pinNote = chooseCPUs(s.ProxyCPU, s.LoadCPU, runtime.NumCPU())
	if r.pin.Load != "" {
		if err := pinSelf(r.pin.Load); err != nil {
			return err
		}
		runtime.GOMAXPROCS(1)
	}
	logf("pinning: %s", r.pinNote)

	origin, err := r.startOrigin()
	if err != nil {
		return err
	}
	defer origin.stop(5 * time.Second)

	if err := r.measureAll(ctx, signpostBin); err != nil {
		return err
	}

	stem := time.Now().Format("2006-01-02") + "-" + gitShort(root)
	if err := os.MkdirAll(s.Out, 0o755); err != nil {
		return err
	}
	var prof *ProfileResult
	if s.Profile && slices.Contains(s.Targets, targetSignpost) {
		if prof, err = r.profile(ctx, filepath.Join(s.Out, stem+"-profiles")); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	rep := r.report(gitShort(root), prof)
	md := rep.Markdown()
	fmt.Println()
	fmt.Print(md)
	if err := os.WriteFile(filepath.Join(s.Out, stem+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Out, stem+".json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	logf("saved %s.md and %s.json in %s", stem, stem, s.Out)
	return nil
}

// startOrigin starts the origin on the load core and reads its addresses.
func (r *run) startOrigin() (*proc, error) {
	info := filepath.Join(r.tmp, "origin.json")
	p, err := startProc("origin", command(r.pin.Load, r.self, "origin", "-info", info), filepath.Join(r.tmp, "origin.log"), nil)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(info)
		if err == nil {
			if err := json.Unmarshal(b, &r.origin); err != nil {
				p.stop(time.Second)
				return nil, fmt.Errorf("origin info: %w", err)
			}
			break
		}
		if p.exited() || time.Now().After(deadline) {
			p.stop(time.Second)
			return nil, fmt.Errorf("origin did not start: %s", p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.roots = x509.NewCertPool()
	if !r.roots.AppendCertsFromPEM([]byte(r.origin.CertPEM)) {
		p.stop(time.Second)
		return nil, errors.New("origin certificate unreadable")
	}
	logf("origin: http://%s, https://%s", r.origin.HTTP, r.origin.TLS)
	return p, nil
}

// logf prints a progress line on standard error.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// repoRoot finds the module root (the directory holding go.mod) from the
// working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "cmd", "signpost")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the harness inside the Signpost repository (no go.mod with cmd/signpost found above the working directory)")
		}
		dir = parent
	}
}

// goBuild builds pkg into out.
func goBuild(root, out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// gitShort is the short hash of HEAD, with "-dirty" when the tree has
// changes, or "nogit".
func gitShort(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "nogit"
	}
	h := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		h += "-dirty"
	}
	return h
}

// ensurePackages installs wrk (and squid, when it is a target) from
// Debian's archive if they are missing.
func ensurePackages(s settings) error {
	want := map[string]string{"wrk": "wrk"}
	if slices.Contains(s.Targets, targetSquid) {
		want["squid"] = "squid"
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		want["taskset"] = "util-linux"
	}
	var missing []string
	for bin, pkg := range want {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	if !s.Install {
		return fmt.Errorf("missing %s (run with -install, or apt-get install them)", strings.Join(missing, ", "))
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("missing %s and no apt-get to install them", strings.Join(missing, ", "))
	}
	logf("installing %s with apt-get", strings.Join(missing, ", "))
	var sudo []string
	if os.Geteuid() != 0 {
		sudo = []string{"sudo"}
	}
	run := func(args ...string) error {
		args = append(sudo, args...)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, lastLines(string(b), 20))
		}
		return nil
	}
	if err := run("apt-get", "update", "-qq"); err != nil {
		return err
	}
	return run(append([]string{"apt-get", "install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
}
