package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pinning says which cores the proxy and the load run on. An empty field
// leaves that side unpinned.
type pinning struct {
	Proxy string `json:"proxy_cpu"`
	Load  string `json:"load_cpu"`
}

// proc is a child process of the harness.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // where its standard output and error go
	done chan struct{}
	err  error // set when done is closed
}

// childEnv is the harness's environment without proxy variables: bare
// goproxy, Squid and Go clients all read them, and a benchmark must not be
// routed through whatever proxy the machine is configured for.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "no_proxy", "all_proxy":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// command builds the command for bin, run on cpu through taskset when cpu
// is set. taskset execs bin, so the child's PID is bin's.
func command(cpu, bin string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if cpu != "" {
		cmd = exec.Command("taskset", append([]string{"-c", cpu, bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Env = childEnv()
	dieWithParent(cmd)
	return cmd
}

// startProc starts cmd with its output in logFile. stdin, when non-nil,
// becomes the child's standard input.
func startProc(name string, cmd *exec.Cmd, logFile string, stdin io.Reader) (*proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr, cmd.Stdin = f, f, stdin
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// pid is the child's process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the child has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the child to end (SIGTERM) and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last lines of the child's log, for error messages.
func (p *proc) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	return lastLines(string(b), 10)
}

// waitListening polls addr until it accepts a TCP connection, the child
// exits, or timeout passes.
func waitListening(p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", p.name, addr, p.err, p.tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not listen on %s within %s", p.name, addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a loopback address with a port that was free a moment
// ago. Children are given such addresses because Squid's and Signpost's
// configuration files name their port.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// rssKiB reads the resident set size of pid, in KiB, from
// /proc/PID/status (VmRSS).
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// cpuTime is the CPU time pid has used so far, all threads: the sum of
// each thread's time on a CPU, in nanoseconds (/proc/PID/task/*/schedstat),
// or where the kernel keeps no schedstat, user and system time from
// /proc/PID/stat in USER_HZ ticks of 10 ms (too coarse for a few 64 MiB
// transfers). A thread that exits leaves the sum; the Go proxies keep
// theirs, and Squid runs one.
func cpuTime(pid int) (time.Duration, error) {
	if d, err := schedCPUTime(pid); err == nil {
		return d, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unreadable times in /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// schedCPUTime sums the first field of /proc/PID/task/*/schedstat: each
// thread's time on a CPU, in nanoseconds.
func schedCPUTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread exited meanwhile
		}
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) < 1 {
			return 0, fmt.Errorf("empty schedstat of thread %s of %d", task.Name(), pid)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("schedstat of thread %s of %d: %w", task.Name(), pid, err)
		}
		sum += ns
	}
	return time.Duration(sum), nil
}

// fdCounts are a process's open file descriptors by kind.
type fdCounts struct {
	total, sockets, pipes int
}

// openFDs counts the open file descriptors of pid (/proc/PID/fd), and how
// many are sockets and pipes. Go's splice path holds a pipe (two
// descriptors) per direction of every tunnel being copied, and keeps the
// pipes pooled after the tunnel closes until a garbage collection frees
// them; counting pipes apart from sockets tells that pool from a leak.
func openFDs(pid int) (fdCounts, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fdCounts{}, err
	}
	c := fdCounts{total: len(ents)}
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed since the directory was read
		}
		switch {
		case strings.HasPrefix(link, "socket:"):
			c.sockets++
		case strings.HasPrefix(link, "pipe:"):
			c.pipes++
		}
	}
	return c, nil
}

// pinSelf moves every thread of the harness onto cpu and limits the Go
// scheduler to one thread running Go code, so that the load generator, wrk
// and the origin (which inherit the affinity) share that core and leave
// the other to the proxy.
func pinSelf(cpu string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpu, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// chooseCPUs picks the proxy and load cores: the two given, when taskset
// exists and the machine has at least two cores the harness may use.
func chooseCPUs(proxyCPU, loadCPU string, ncpu int) (pinning, string) {
	if proxyCPU == "" || loadCPU == "" {
		return pinning{}, "pinning disabled by flags"
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return pinning{}, "taskset not found: nothing pinned"
	}
	if ncpu < 2 {
		return pinning{}, "fewer than two cores: nothing pinned"
	}
	return pinning{Proxy: proxyCPU, Load: loadCPU},
		fmt.Sprintf("proxy on core %s; load generator, wrk and origin on core %s", proxyCPU, loadCPU)
}

// httpGetBody fetches url with a bearer token (may be empty) and returns
// the body.
func httpGetBody(ctx context.Context, url, token string) ([]byte, error) {
	req, err := newRequest(ctx, url)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := directClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}

// promValue returns the value of an unlabelled metric in a Prometheus text
// exposition.
func promValue(exposition []byte, name string) (float64, error) {
	sc := bufio.NewScanner(strings.NewReader(string(exposition)))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}
