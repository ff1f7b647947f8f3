package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-gateway/signpost/admin"
)

// The targets, in the order they are measured and printed.
const (
	targetDirect   = "direct"
	targetGoproxy  = "goproxy"
	targetSquid    = "squid"
	targetSignpost = "signpost"
)

// target is one way of reaching the origin: directly, or through one proxy
// process the harness started.
type target struct {
	Name  string
	Proxy string // the proxy's host:port; "" for direct
	proc  *proc
	// goStats reads the Go runtime's figures of the proxy; nil when the
	// proxy is not a Go program.
	goStats func(ctx context.Context) (goStats, error)
	// caRoots trusts the proxy's interception CA (Signpost only).
	caRoots *x509.CertPool
	// bulkOnly targets (the bare relays) speak CONNECT only and are
	// measured in the 64 MiB row alone.
	bulkOnly bool
}

// goStats are a Go proxy's goroutines and the bytes of heap spans and
// goroutine stacks in use.
type goStats struct {
	Goroutines int   `json:"goroutines"`
	HeapInuse  int64 `json:"heap_inuse"`
	StackInuse int64 `json:"stack_inuse"`
}

// resources samples the proxy's RSS, open file descriptors and, for a Go
// proxy, its goroutines, heap and stacks.
func (t *target) resources(ctx context.Context) (Resources, error) {
	r := Resources{Goroutines: -1, HeapKiB: -1, StackKiB: -1}
	if t.proc == nil {
		return r, errors.New("no proxy process")
	}
	var err error
	if r.RSSKiB, err = rssKiB(t.proc.pid()); err != nil {
		return r, err
	}
	fds, err := openFDs(t.proc.pid())
	if err != nil {
		return r, err
	}
	r.FDs, r.Sockets, r.Pipes = fds.total, fds.sockets, fds.pipes
	if t.goStats != nil {
		g, err := t.goStats(ctx)
		if err != nil {
			return r, err
		}
		r.Goroutines, r.HeapKiB, r.StackKiB = g.Goroutines, g.HeapInuse>>10, g.StackInuse>>10
	}
	return r, nil
}

// stop ends the target's process.
func (t *target) stop() {
	if t.proc != nil {
		t.proc.stop(10 * time.Second)
	}
}

// startGoproxy starts the harness's "goproxy" subcommand: a bare goproxy
// server as shipped, with a loopback side listener that reports its
// runtime figures.
func startGoproxy(self, dir string, pin pinning) (*target, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	debug, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := command(pin.Proxy, self, "goproxy", "-listen", addr, "-debug", debug)
	p, err := startProc("goproxy", cmd, filepath.Join(dir, "goproxy.log"), nil)
	if err != nil {
		return nil, err
	}
	t := &target{Name: targetGoproxy, Proxy: addr, proc: p, goStats: func(ctx context.Context) (goStats, error) {
		var g goStats
		b, err := httpGetBody(ctx, "http://"+debug+"/runtime", "")
		if err != nil {
			return g, err
		}
		return g, json.Unmarshal(b, &g)
	}}
	for _, a := range []string{addr, debug} {
		if err := waitListening(p, a, 15*time.Second); err != nil {
			t.stop()
			return nil, err
		}
	}
	return t, nil
}

// signpostConfig is the configuration the benchmark runs Signpost with:
// the built-in catalog, destinations on loopback allowed (the origin lives
// there), CONNECT allowed to the origin's TLS port, and one app of its own
// that is warned, for the page measurements. The origin is addressed by IP
// literal, which no app matches, so its traffic takes the policy default:
// allow.
const signpostConfig = `# written by the signpost bench harness
proxy:
  listen: %q
  admin_listen: %q
  data_dir: %q
  connect_ports: [443, %d]
  allow_destinations: [127.0.0.1/32]

apps:
  - id: bench-chat
    name: Bench Chat
    vendor: Signpost bench
    category: chat
    homepage: https://` + warnHost + `/
    domains: [` + warnHost + `]

policy:
  default: {action: allow}
  rules:
    - {app: microsoft-teams, action: allow}
    - app: bench-chat
      action: warn
      alternative: microsoft-teams
      reason: Company conversations belong in Microsoft Teams.
`

// writeSignpostConfig writes the benchmark configuration into dir/config
// and returns the config directory, data directory, proxy address and
// admin address.
func writeSignpostConfig(dir, originTLS string) (cfgDir, dataDir, addr, adminAddr string, err error) {
	_, tlsPort, err := net.SplitHostPort(originTLS)
	if err != nil {
		return "", "", "", "", err
	}
	port, err := strconv.Atoi(tlsPort)
	if err != nil {
		return "", "", "", "", err
	}
	if addr, err = freePort(); err != nil {
		return "", "", "", "", err
	}
	if adminAddr, err = freePort(); err != nil {
		return "", "", "", "", err
	}
	cfgDir, dataDir = filepath.Join(dir, "config"), filepath.Join(dir, "data")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return "", "", "", "", err
	}
	cfg := fmt.Sprintf(signpostConfig, addr, adminAddr, dataDir, port)
	if err := os.WriteFile(filepath.Join(cfgDir, "signpost.yaml"), []byte(cfg), 0o644); err != nil {
		return "", "", "", "", err
	}
	return cfgDir, dataDir, addr, adminAddr, nil
}

// startSignpost starts the signpost binary built from ./cmd/signpost on the
// benchmark configuration, with its default log level (one JSON line per
// decision, to a file).
func startSignpost(bin, dir, originTLS string, pin pinning) (*target, error) {
	cfgDir, dataDir, addr, adminAddr, err := writeSignpostConfig(dir, originTLS)
	if err != nil {
		return nil, err
	}
	cmd := command(pin.Proxy, bin, "run", "--config", cfgDir, "--watch=false")
	p, err := startProc("signpost", cmd, filepath.Join(dir, "signpost.log"), nil)
	if err != nil {
		return nil, err
	}
	t, err := signpostTarget(targetSignpost, p, addr, adminAddr, dataDir)
	if err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	return t, nil
}

// signpostTarget waits for a Signpost process to listen, then reads its
// admin token and CA, which it creates in its data directory on first start.
func signpostTarget(name string, p *proc, addr, adminAddr, dataDir string) (*target, error) {
	for _, a := range []string{addr, adminAddr} {
		if err := waitListening(p, a, 30*time.Second); err != nil {
			return nil, err
		}
	}
	tokens, err := admin.ReadTokens(filepath.Join(dataDir, admin.TokenFile))
	if err != nil || len(tokens) == 0 {
		return nil, fmt.Errorf("signpost admin token: %v", err)
	}
	token := tokens[0].Secret
	t := &target{Name: name, Proxy: addr, proc: p, goStats: func(ctx context.Context) (goStats, error) {
		var g goStats
		b, err := httpGetBody(ctx, "http://"+adminAddr+"/metrics", token)
		if err != nil {
			return g, err
		}
		v, err1 := promValue(b, "go_goroutines")
		heap, err2 := promValue(b, "go_memstats_heap_inuse_bytes")
		stack, err3 := promValue(b, "go_memstats_stack_inuse_bytes")
		g = goStats{Goroutines: int(v), HeapInuse: int64(heap), StackInuse: int64(stack)}
		return g, errors.Join(err1, err2, err3)
	}}
	// The CA as a browser admin fetches it: from the proxy port.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pemBytes, err := httpGetBody(ctx, "http://"+addr+"/signpost/ca.crt", "")
	if err != nil {
		return nil, fmt.Errorf("signpost CA: %w", err)
	}
	t.caRoots = x509.NewCertPool()
	if !t.caRoots.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("signpost CA: no certificate in /signpost/ca.crt")
	}
	return t, nil
}

// squidConfig is a plain forward proxy on loopback: caching off, CONNECT
// only to the origin's TLS port, clients only from loopback, and every file
// Squid writes under the harness's directory. Everything else is Debian's
// default (access logging, Via and X-Forwarded-For, persistent connections
// on both sides).
const squidConfig = `# written by the signpost bench harness
http_port %s
acl bench_clients src 127.0.0.1/32
acl bench_tls port %s
acl CONNECT method CONNECT
http_access deny CONNECT !bench_tls
http_access allow bench_clients
http_access deny all

cache deny all
cache_mem 0 MB
workers 1
max_filedescriptors 65536
pinger_enable off
netdb_filename none
shutdown_lifetime 0 seconds

pid_filename %[3]s/squid.pid
cache_log %[3]s/cache.log
access_log stdio:%[3]s/access.log
cache_store_log none
coredump_dir %[3]s
`

// startSquid starts Debian's squid in the foreground (-N: no daemon, one
// process) with its own configuration, pid, logs and cache directory.
func startSquid(dir, originTLS string, pin pinning) (*target, error) {
	_, tlsPort, err := net.SplitHostPort(originTLS)
	if err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	sq := filepath.Join(dir, "squid")
	if err := os.MkdirAll(sq, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(sq, "squid.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, squidConfig, addr, tlsPort, sq), 0o644); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// Started as root, Squid drops to its cache_effective_user
		// (Debian: proxy), which must own the directory it writes.
		if err := chownTo(sq, "proxy"); err != nil {
			return nil, err
		}
	}
	squid, err := exec.LookPath("squid")
	if err != nil {
		return nil, err
	}
	cmd := command(pin.Proxy, squid, "-N", "-f", conf)
	p, err := startProc("squid", cmd, filepath.Join(sq, "stderr.log"), nil)
	if err != nil {
		return nil, err
	}
	if err := waitListening(p, addr, 30*time.Second); err != nil {
		p.stop(5 * time.Second)
		if b, rerr := os.ReadFile(filepath.Join(sq, "cache.log")); rerr == nil {
			err = fmt.Errorf("%w\ncache.log:\n%s", err, lastLines(string(b), 15))
		}
		return nil, err
	}
	return &target{Name: targetSquid, Proxy: addr, proc: p}, nil
}

// chownTo gives dir and the files in it to the named user.
func chownTo(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("squid: user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
