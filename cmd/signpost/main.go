// Command signpost is the Signpost secure web gateway: a forward proxy that
// recognises collaboration tools and answers unapproved ones with a page
// that explains the policy. Each subcommand is a thin shell over the
// library packages.
//
//	signpost run     [--config DIR] [--listen ADDR] [--admin-listen ADDR] [--data DIR] [--store DSN]
//	signpost check   [--config DIR]
//	signpost explain [--config DIR] [--json] [--user NAME] [--group G]... URL... | -
//	signpost pac     [--config DIR] [--proxy HOST:PORT]...
//	signpost ca init --out DIR
//	signpost version
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/signpost-gateway/signpost/ca"
	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/explain"
	"github.com/signpost-gateway/signpost/internal/logbuf"
	"github.com/signpost-gateway/signpost/proxy"
	"github.com/signpost-gateway/signpost/service"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

const usage = `usage: signpost <command> [flags]

commands:
  run       run the proxy (no --config: the embedded default configuration)
  check     validate a configuration directory; exit 1 with every error as file:line: problem
  explain   say why URLs get their action
  pac       print the proxy auto-config file the proxy serves at /proxy.pac
  ca init   create an interception CA (ca.crt, ca.key)
  version   print the version

Run 'signpost <command> -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "explain":
		return cmdExplain(args[1:], stdin, stdout, stderr)
	case "pac":
		return cmdPAC(args[1:], stdout, stderr)
	case "ca":
		if len(args) < 2 || args[1] != "init" {
			fmt.Fprintln(stderr, "usage: signpost ca init --out DIR")
			return 2
		}
		return cmdCAInit(args[2:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "signpost", buildVersion())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "signpost: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("signpost "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	var o service.Options
	fs.StringVar(&o.ConfigDir, "config", "", "configuration `directory` (default: the embedded default configuration)")
	fs.StringVar(&o.Listen, "listen", "", "proxy listen `address` (default from config, else :3128)")
	fs.StringVar(&o.AdminListen, "admin-listen", "", "admin listen `address` (default from config, else 127.0.0.1:9129)")
	fs.StringVar(&o.Store, "store", "", "access store `DSN`: sqlite:PATH or postgres://… (default from config, else SQLite in the data directory)")
	fs.StringVar(&o.DataDir, "data", "", "data `directory` for the CA and state (default from config, else "+service.DefaultDataDir()+")")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	format := fs.String("log-format", "json", "log `format`: json or text")
	grace := fs.Duration("grace", 15*time.Second, "how long open requests may finish on shutdown")
	watch := fs.Bool("watch", true, "reload when files in the configuration directory change (SIGHUP always reloads)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Decision lines are buffered and flushed every 100 ms and at exit.
	logOut := logbuf.New(stderr, 100*time.Millisecond)
	defer logOut.Close()
	logger, err := newLogger(logOut, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "signpost run:", err)
		return 2
	}
	o.Logger, o.Version, o.DisableWatch = logger, buildVersion(), !*watch
	n, err := service.New(o)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	if err := n.Run(context.Background(), *grace); err != nil {
		logger.Error("signpost stopped", "error", err.Error())
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: expected debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("bad --log-format %q: expected json or text", format)
	}
}

// printErrors prints configuration errors one a line, file:line first.
func printErrors(w io.Writer, err error) {
	for _, e := range config.Errors(err) {
		fmt.Fprintln(w, e.Error())
	}
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", stderr)
	dir := fs.String("config", "", "configuration `directory` (default: the embedded default configuration)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*dir)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %d apps, %d patterns, %d rules, %d files; config hash %s\n",
		len(cfg.Apps), len(cfg.Patterns), len(cfg.Policy.Rules()), len(cfg.Files), cfg.Hash[:12])
	return 0
}

func cmdPAC(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("pac", stderr)
	dir := fs.String("config", "", "configuration `directory` (default: the embedded default configuration)")
	var proxies stringList
	fs.Var(&proxies, "proxy", "a proxy `host:port` for browsers, in failover order (repeatable; default pac.proxies, else 127.0.0.1 and the listen port)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*dir)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	if len(proxies) == 0 {
		proxies = cfg.PAC.Proxies
	}
	if len(proxies) == 0 {
		_, port, err := net.SplitHostPort(cfg.Proxy.Listen)
		if err != nil || port == "" {
			port = "3128"
		}
		proxies = []string{net.JoinHostPort("127.0.0.1", port)}
	}
	f, err := proxy.PAC(cfg, proxies)
	if err != nil {
		fmt.Fprintln(stderr, "signpost pac:", err)
		return 1
	}
	_, _ = stdout.Write(f.Body)
	return 0
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdExplain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("explain", stderr)
	dir := fs.String("config", "", "configuration `directory` (default: the embedded default configuration)")
	asJSON := fs.Bool("json", false, "print one JSON object a line")
	user := fs.String("user", "", "explain for this user `name` (adds the user's configured groups)")
	var groups stringList
	fs.Var(&groups, "group", "explain for a member of this `group` (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	urls := fs.Args()
	if len(urls) == 0 {
		fmt.Fprintln(stderr, "usage: signpost explain [--config DIR] [--json] [--user NAME] [--group G]... URL... (- reads URLs from stdin)")
		return 2
	}
	cfg, err := config.Load(*dir)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	who := explain.Who{User: *user, Groups: append(userGroups(cfg, *user), groups...)}
	failed := false
	answer := func(raw string) {
		r, err := explain.URL(cfg, raw, who)
		switch {
		case err != nil && *asJSON:
			failed = true
			_ = explain.WriteErrorJSON(stdout, raw, err)
		case err != nil:
			failed = true
			fmt.Fprintf(stderr, "%s: %v\n", raw, err)
		case *asJSON:
			_ = explain.WriteJSON(stdout, r)
		default:
			_ = explain.WriteText(stdout, r)
		}
	}
	for _, u := range urls {
		if u != "-" {
			answer(u)
			continue
		}
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				answer(line)
			}
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintln(stderr, "signpost explain: reading stdin:", err)
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

// userGroups returns the groups the configuration gives user.
func userGroups(cfg *config.Config, user string) []string {
	if user == "" {
		return nil
	}
	var out []string
	for g, members := range cfg.Groups {
		for _, m := range members {
			if m == user {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

func cmdCAInit(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("ca init", stderr)
	out := fs.String("out", "", "`directory` to write ca.crt and ca.key into (required)")
	org := fs.String("org", "", "organisation `name` in the CA's subject (default Signpost)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" {
		fmt.Fprintln(stderr, "signpost ca init: --out DIR is required")
		return 2
	}
	c, err := ca.Generate(ca.Options{Organization: *org})
	if err != nil {
		fmt.Fprintln(stderr, "signpost ca init:", err)
		return 1
	}
	certFile, keyFile, err := c.WriteFiles(*out)
	if err != nil {
		fmt.Fprintln(stderr, "signpost ca init:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (give this to browsers) and %s (mode 0600, keep it secret)\nfingerprint (SHA-256): %s\n",
		certFile, keyFile, c.Fingerprint())
	return 0
}
