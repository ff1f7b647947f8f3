// Package service assembles one running Signpost node from its parts: the
// configuration, the data directory, the interception CA, the proxy
// listener and the admin listener. It reloads the rules on SIGHUP and shuts
// down gracefully. `signpost run` is a thin shell over it, so a program can
// run a node the same way.
//
// The package decides nothing about traffic (proxy does) and reads no file
// format itself (config, ca and admin do).
package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/signpost-gateway/signpost/admin"
	"github.com/signpost-gateway/signpost/ca"
	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/notify"
	"github.com/signpost-gateway/signpost/proxy"
	"github.com/signpost-gateway/signpost/reload"
	"github.com/signpost-gateway/signpost/store"
)

// Options configure a node. Empty fields take the configuration's values,
// then the defaults.
type Options struct {
	// ConfigDir is the configuration directory; "" runs the embedded default.
	ConfigDir string
	// Listen and AdminListen override the configured addresses.
	Listen      string
	AdminListen string
	// DataDir overrides the configured data directory.
	DataDir string
	// Store overrides the configured access store DSN ("sqlite:PATH",
	// "postgres://…").
	Store string
	// Logger receives every log line; nil means slog.Default().
	Logger *slog.Logger
	// Version is reported in the build-info metric.
	Version string
	// DisableWatch turns off reloading when files change; SIGHUP and the
	// admin API still reload.
	DisableWatch bool
	// Proxy carries extra proxy options (tests set Resolve and
	// UpstreamTLS); Config, CA, Logger and Registerer are filled in here.
	Proxy proxy.Options
}

// Node is one running Signpost.
type Node struct {
	opts    Options
	log     *slog.Logger
	cfg     *config.Config
	dataDir string
	ca      *ca.CA
	gw      *proxy.Gateway
	reg     *prometheus.Registry

	proxySrv, adminSrv *http.Server
	proxyLn, adminLn   net.Listener
	wg                 sync.WaitGroup
	metrics            *metrics
	store              store.Store
	grants             *store.GrantCache
	stopWatch          context.CancelFunc
	stopUsage          context.CancelFunc
	stopPrune          context.CancelFunc
	tokens             *admin.TokenSet
	notifier           *notify.Notifier
	watcher            *reload.Watcher
	usage              *fleetUsage
	node               string // this node's name in the shared store

	reloadMu sync.Mutex // serialises reloads and guards status
	status   ConfigStatus
}

// ConfigStatus says which configuration is live, and how the latest
// reload attempt went. It is what GET /api/v1/config answers and the admin
// page /config shows.
type ConfigStatus = admin.ConfigStatus

// DefaultDataDir is where a node keeps its CA and state when neither the
// flag nor the configuration names a directory: $XDG_STATE_HOME/signpost,
// else ~/.local/state/signpost.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "signpost")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "signpost")
	}
	return "signpost-data"
}

// New loads and validates the configuration. It touches no file outside the
// configuration and opens no socket; Start does that.
func New(o Options) (*Node, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg, err := config.Load(o.ConfigDir)
	if err != nil {
		return nil, err
	}
	n := &Node{opts: o, log: o.Logger, cfg: cfg}
	n.dataDir = firstNonEmpty(o.DataDir, cfg.Proxy.DataDir, DefaultDataDir())
	return n, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Start prepares the data directory, the CA and the admin token, then
// listens on the proxy and admin addresses and serves in the background.
func (n *Node) Start() error {
	if err := os.MkdirAll(n.dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	if err := n.loadCA(); err != nil {
		return err
	}
	tokens, err := n.adminTokens(n.cfg.Admin.TokensFile)
	if err != nil {
		return err
	}
	n.tokens = admin.NewTokenSet(tokens)
	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "signpost", Name: "build_info", Help: "Always 1; the version label says which build runs.",
		ConstLabels: prometheus.Labels{"version": firstNonEmpty(n.opts.Version, "devel")},
	}, func() float64 { return 1 }))

	n.metrics = newMetrics(n.reg)
	now := time.Now()
	n.setLive(n.cfg, now)
	n.status.LastAttempt, n.status.LastResult = now, "ok"

	if err := n.openStore(); err != nil {
		return err
	}
	pageKey, err := n.key(n.cfg.Requests.FormKeyFile, "page-key")
	if err != nil {
		return err
	}
	sessionKey, err := n.key(n.cfg.Admin.SessionKeyFile, "admin-session-key")
	if err != nil {
		return err
	}
	if err := n.startNotifier(); err != nil {
		return err
	}

	if err := n.startUsage(); err != nil {
		return err
	}

	po := n.opts.Proxy
	po.Config, po.CA, po.Logger, po.Registerer = n.cfg, n.ca, n.log, n.reg
	po.Usage = n.usage.local
	po.Store, po.Grants, po.Notifier, po.PageKey = n.grants, n.grants, n.notifier, pageKey
	p, gw, err := proxy.NewProxy(po)
	if err != nil {
		return err
	}
	n.gw = gw

	listen := firstNonEmpty(n.opts.Listen, n.cfg.Proxy.Listen)
	adminListen := firstNonEmpty(n.opts.AdminListen, n.cfg.Proxy.AdminListen)
	if n.proxyLn, err = net.Listen("tcp", listen); err != nil {
		return fmt.Errorf("proxy listener: %w", err)
	}
	if n.adminLn, err = net.Listen("tcp", adminListen); err != nil {
		n.proxyLn.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	gw.SetSelf(n.proxyLn.Addr().String(), n.adminLn.Addr().String(), listen, adminListen)

	n.proxySrv = proxy.NewServer(n.cfg.Proxy, p, n.log)
	n.adminSrv = &http.Server{
		Handler: admin.New(admin.Options{
			TokenSet:     n.tokens,
			Gatherer:     n.reg,
			MetricsOpen:  n.cfg.Admin.MetricsOpen,
			Degraded:     n.degraded,
			Reload:       func() (admin.ConfigStatus, error) { err := n.Reload(); return n.Status(), err },
			ConfigStatus: n.Status,
			Store:        n.grants,
			Invalidate:   n.grants.Invalidate,
			Notifier:     n.notifier,
			AppName: func(id string) string {
				if a := n.gw.Config().App(id); a != nil {
					return a.Name
				}
				return ""
			},
			BaseURL:    n.cfg.Admin.URL,
			SessionKey: sessionKey,
			Logger:     n.log,
			Registerer: n.reg,
			Usage:      n.usage.Tracker,
			Retention:  func() time.Duration { return n.gw.Config().Store.Retention },
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	n.serve(n.proxySrv, proxy.Listener(n.proxyLn))
	n.serve(n.adminSrv, n.adminLn)
	n.startPruning()
	if n.opts.ConfigDir != "" && !n.opts.DisableWatch {
		// Files changed by an editor, a git checkout or Kubernetes' ConfigMap
		// swap reload the rules; Reload skips content that did not change.
		n.watcher, err = reload.New(n.opts.ConfigDir, func() { _ = n.Reload() }, reload.Options{Logger: n.log})
		if err == nil {
			err = n.watcher.Start()
		}
		if err != nil {
			return fmt.Errorf("watching the configuration directory: %w", err)
		}
	}
	n.log.Info("signpost started",
		"proxy", n.proxyLn.Addr().String(), "admin", n.adminLn.Addr().String(),
		"config", firstNonEmpty(n.cfg.Dir, "embedded default"), "config_hash", short(n.cfg.Hash),
		"apps", len(n.cfg.Apps), "data", n.dataDir)
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (n *Node) serve(srv *http.Server, ln net.Listener) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("listener stopped", "addr", ln.Addr().String(), "error", err.Error())
		}
	}()
}

// adminTokens reads the admin tokens: file (admin.tokens_file), or the
// token generated in the data directory, which is made anew when it is
// missing.
func (n *Node) adminTokens(file string) ([]admin.Token, error) {
	if file != "" {
		tokens, err := admin.ReadTokens(file)
		if err != nil {
			return nil, fmt.Errorf("admin tokens: %w", err)
		}
		if len(tokens) == 0 {
			return nil, fmt.Errorf("admin tokens: %s holds no token", file)
		}
		return tokens, nil
	}
	tokens, path, created, err := admin.LoadOrCreateTokens(n.dataDir)
	if err != nil {
		return nil, err
	}
	if created {
		n.log.Info("created an admin token; send it as 'Authorization: Bearer <token>' to the admin listener, or sign in with it at /login", "file", path)
	}
	return tokens, nil
}

// reloadTokens reads the admin tokens again, from the file cfg names:
// a token taken out stops working at once, with every session signed in
// with it. Tokens that cannot be read, or none, change nothing.
func (n *Node) reloadTokens(cfg *config.Config) {
	tokens, err := n.adminTokens(cfg.Admin.TokensFile)
	if err != nil {
		n.log.Error("reading the admin tokens failed; the tokens in force stay", "error", err.Error())
		return
	}
	if !slices.Equal(tokens, n.tokens.Tokens()) {
		n.tokens.Set(tokens)
		n.log.Info("admin tokens changed", "tokens", len(tokens))
	}
}

// degraded says what works less well than it should, or "": a node whose
// access store does not answer still decides from its rules and cached
// grants, so it stays ready (a fleet whose database is down keeps
// proxying) and says it is degraded.
func (n *Node) degraded() string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := n.store.Ping(ctx); err != nil {
		n.metrics.storeUp.Set(0)
		return "access store unreachable: decisions use the rules and cached grants; page actions wait"
	}
	n.metrics.storeUp.Set(1)
	return ""
}

// openStore opens the access store (SQLite in the data directory unless the
// configuration names another) behind the grant cache.
func (n *Node) openStore() error {
	dsn := firstNonEmpty(n.opts.Store, n.cfg.Store.DSN)
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(n.dataDir, "signpost.db")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("access store: %w", err)
	}
	n.store = s
	n.grants = store.NewGrantCache(s, store.GrantCacheOptions{})
	// Grants written by other nodes of a fleet (PostgreSQL LISTEN/NOTIFY)
	// invalidate this node's cache at once; the cache's TTL bounds
	// staleness while the feed reconnects. SQLite has no feed.
	wctx, stop := context.WithCancel(context.Background())
	n.stopWatch = stop
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.grants.Watch(wctx); err != nil && wctx.Err() == nil {
			n.log.Error("watching grant changes from other nodes failed; the cache relies on its TTL", "error", err.Error())
		}
	}()
	return n.grants.RegisterMetrics(n.reg)
}

// startNotifier starts the webhooks the configuration names.
func (n *Node) startNotifier() error {
	nt, err := notify.New(webhookTargets(n.cfg), notify.Options{Logger: n.log, Registerer: n.reg})
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	nt.Start()
	n.notifier = nt
	return nil
}

// webhookTargets are the notifier's targets for cfg's webhooks.
func webhookTargets(cfg *config.Config) []notify.Target {
	var targets []notify.Target
	for _, w := range cfg.Webhooks {
		t := notify.Target{Name: w.Name, URL: w.URL, Format: notify.Format(w.Format), Secret: w.Secret}
		for _, e := range w.Events {
			t.Kinds = append(t.Kinds, notify.Kind(e))
		}
		targets = append(targets, t)
	}
	return targets
}

// setWebhooks gives the notifier cfg's webhooks; those unchanged keep
// their queues.
func (n *Node) setWebhooks(cfg *config.Config) {
	if err := n.notifier.SetTargets(webhookTargets(cfg)); err != nil {
		n.log.Error("webhooks not changed; the webhooks in force stay", "error", err.Error())
	}
}

// key reads a key the configuration names (shared by a fleet), or the one
// generated in the data directory.
func (n *Node) key(configured, name string) ([]byte, error) {
	if configured == "" {
		return loadOrCreateKey(filepath.Join(n.dataDir, name))
	}
	info, err := os.Stat(configured)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("%s: key file has mode %04o; expected no access for others (chmod 600 %s)", configured, info.Mode().Perm(), configured)
	}
	key, err := os.ReadFile(configured)
	if err != nil {
		return nil, err
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("%s: key is %d bytes; expected at least 32 random bytes (head -c 32 /dev/urandom > %s)", configured, len(key), configured)
	}
	return key, nil
}

// loadOrCreateKey returns the 32-byte key in file, creating it (mode 0600)
// on first start.
func loadOrCreateKey(file string) ([]byte, error) {
	key, err := os.ReadFile(file)
	if err == nil {
		if len(key) < 32 {
			return nil, fmt.Errorf("%s: key is %d bytes; expected 32 (delete it to make a new one)", file, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", file, err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

func (n *Node) loadCA() error {
	p := n.cfg.Proxy
	if p.CACert != "" {
		c, err := ca.Load(p.CACert, p.CAKey)
		if err != nil {
			return fmt.Errorf("interception CA: %w", err)
		}
		n.ca = c
		return nil
	}
	dir := filepath.Join(n.dataDir, "ca")
	c, created, err := ca.LoadOrCreate(dir, ca.Options{})
	if err != nil {
		return fmt.Errorf("interception CA: %w", err)
	}
	if created {
		n.log.Info("created an interception CA; browsers must trust it to see Signpost's pages on HTTPS sites",
			"cert", c.CertFile, "fetch", "http://PROXY/signpost/ca.crt")
	}
	n.ca = c
	return nil
}

// ProxyAddr is the proxy listener's address (after Start).
func (n *Node) ProxyAddr() net.Addr { return n.proxyLn.Addr() }

// AdminAddr is the admin listener's address (after Start).
func (n *Node) AdminAddr() net.Addr { return n.adminLn.Addr() }

// Config is the configuration in force.
func (n *Node) Config() *config.Config { return n.gw.Config() }

// Reload reads the configuration directory again and swaps it in. On any
// error the running rules stay in place and the error says why (every
// problem as file:line).
func (n *Node) Reload() error {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	now := time.Now()
	n.status.LastAttempt = now
	cfg, err := config.Load(n.opts.ConfigDir)
	if err == nil {
		n.reloadTokens(cfg)
	} else {
		n.reloadTokens(n.gw.Config())
	}
	if err == nil && cfg.Hash == n.gw.Config().Hash {
		n.status.LastResult = "unchanged"
		n.metrics.reloads.WithLabelValues("unchanged").Inc()
		n.log.Info("reload: configuration unchanged", "config_hash", short(cfg.Hash))
		return nil
	}
	if err == nil {
		err = n.gw.Swap(cfg)
	}
	if err != nil {
		n.status.LastResult, n.status.LastError, n.status.LastErrorAt = "error", err.Error(), &now
		n.metrics.reloads.WithLabelValues("error").Inc()
		n.log.Error("reload refused; the running configuration stays", "error", err.Error(), "config_hash", short(n.status.Hash))
		return err
	}
	n.setLive(cfg, time.Now())
	n.configureUsage(cfg)
	n.setWebhooks(cfg)
	n.status.RestartNeeded = n.startOnly(cfg)
	n.metrics.restartNeeded.Set(float64(len(n.status.RestartNeeded)))
	if len(n.status.RestartNeeded) > 0 {
		n.log.Warn("reloaded, but some changed settings apply only after a restart", "settings", n.status.RestartNeeded)
	}
	n.status.LastResult = "ok"
	n.metrics.reloads.WithLabelValues("ok").Inc()
	n.log.Info("reloaded configuration", "config_hash", short(cfg.Hash), "apps", len(cfg.Apps))
	return nil
}

// setLive records cfg as the configuration in force. The caller holds
// reloadMu (or is Start, before anything else runs).
func (n *Node) setLive(cfg *config.Config, at time.Time) {
	n.status.Hash, n.status.LoadedAt = cfg.Hash, at
	n.status.Dir = firstNonEmpty(cfg.Dir, "embedded default")
	n.status.Files = cfg.Files
	n.status.Apps, n.status.Rules = len(cfg.Apps), len(cfg.Policy.Rules())
	n.status.LastError, n.status.LastErrorAt = "", nil
	n.metrics.info.Reset()
	n.metrics.info.WithLabelValues(short(cfg.Hash)).Set(1)
	n.metrics.lastSuccess.Set(float64(at.Unix()))
}

// Status returns which configuration is live and how the latest reload
// went.
func (n *Node) Status() ConfigStatus {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	s := n.status
	s.Files = append([]config.File(nil), s.Files...)
	s.RestartNeeded = slices.Clone(s.RestartNeeded)
	return s
}

// Shutdown stops accepting connections and waits for open requests to
// finish until ctx ends.
func (n *Node) Shutdown(ctx context.Context) error {
	var errs []error
	if n.watcher != nil {
		errs = append(errs, n.watcher.Close())
	}
	if n.stopWatch != nil {
		n.stopWatch()
	}
	if n.stopUsage != nil {
		n.stopUsage()
	}
	if n.stopPrune != nil {
		n.stopPrune()
	}
	for _, s := range []*http.Server{n.proxySrv, n.adminSrv} {
		if s != nil {
			errs = append(errs, s.Shutdown(ctx))
		}
	}
	n.wg.Wait()
	n.drainTunnels(ctx)
	if n.usage != nil && n.store != nil {
		n.saveUsage()
	}
	if n.notifier != nil {
		errs = append(errs, n.notifier.Close(ctx))
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	return errors.Join(errs...)
}

// drainTunnels waits for open tunnels to end until ctx ends, then closes
// the rest. http.Server.Shutdown does not see tunnels: goproxy hijacked
// their connections.
func (n *Node) drainTunnels(ctx context.Context) {
	if n.gw == nil {
		return
	}
	for n.gw.OpenTunnels() > 0 {
		select {
		case <-ctx.Done():
			if c := n.gw.CloseTunnels(); c > 0 {
				n.log.Info("closed tunnels still open at the end of the grace period", "tunnels", c)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Run starts the node, reloads on SIGHUP and shuts down when ctx ends or on
// SIGINT/SIGTERM, giving open requests grace to finish.
func (n *Node) Run(ctx context.Context, grace time.Duration) error {
	if err := n.Start(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			_ = n.Reload()
		case <-ctx.Done():
			n.log.Info("shutting down", "grace", grace.String())
			sctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			return n.Shutdown(sctx)
		}
	}
}
