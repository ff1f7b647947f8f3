// Package proxy wires Signpost into a goproxy server: it identifies the
// client, classifies the destination, applies the policy and then tunnels
// the traffic untouched, forwards it, or intercepts it to answer with a page.
// It also owns the destination check that keeps the proxy from being used to
// reach internal addresses, the leaf-certificate cache for interception, and
// the proxy port's own routes under /signpost/.
//
// Attach is the plugin entry point: another Go gateway installs Signpost
// onto its own *goproxy.ProxyHttpServer with one call, and the signpost
// binary builds its server through the same call.
//
// The package does not read configuration files (config does), render page
// markup (pages does) or store grants (a policy.Grants is passed in).
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signpost-gateway/signpost/ca"
	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/identity"
	"github.com/signpost-gateway/signpost/notify"
	"github.com/signpost-gateway/signpost/pages"
	"github.com/signpost-gateway/signpost/policy"
	"github.com/signpost-gateway/signpost/store"
)

// Options configure a Gateway.
type Options struct {
	// Config is the initial configuration. Required.
	Config *config.Config
	// CA signs the leaf certificates of intercepted hosts. With nil, a
	// CONNECT that needs a page is refused with 403 and a reason.
	CA *ca.CA
	// Logger receives one line per decision and the proxy's own messages.
	// nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the proxy's metrics. nil registers nothing.
	Registerer prometheus.Registerer
	// Grants, when non-nil, may lift a warn or block for a user.
	Grants policy.Grants
	// Resolve, when non-nil, replaces DNS: it maps the destination
	// "host:port" to the "ip:port" that is dialed. The destination check
	// still applies to what it returns. Tests use it to send catalog
	// hostnames to loopback origins.
	Resolve func(ctx context.Context, hostport string) (string, error)
	// UpstreamTLS, when non-nil, is the TLS client configuration for
	// requests the proxy makes itself (plain HTTP forwarding does not use
	// TLS; intercepted tunnels whose request is allowed do). nil verifies
	// origins against the system roots.
	UpstreamTLS *tls.Config
	// CertCacheSize bounds the leaf-certificate cache; 0 means 4096.
	CertCacheSize int
	// Store keeps access requests and grants for the page actions. nil
	// shows pages without "continue" or "request access".
	Store store.Store
	// Notifier is told of new access requests; nil tells no one.
	Notifier *notify.Notifier
	// Usage, when non-nil, is told who used which app (and which
	// unclassified hosts), once per decision, for licence and shadow-IT
	// figures. It must be cheap: it runs on the hot path.
	Usage UsageRecorder
	// PageKey signs the pages' forms (at least 32 bytes; nodes of a fleet
	// share it). nil uses a random key: forms then do not survive a
	// restart.
	PageKey []byte
}

// UsageRecorder counts distinct users per app and the unclassified hosts
// people visit (usage.Tracker implements it). user is the grant subject:
// a user name, or "ip:…" for anonymous clients.
type UsageRecorder interface {
	Observe(app, user string, at time.Time)
	ObserveUnknown(host, user string, at time.Time)
}

// Gateway is Signpost's request path. Create it with New, install it with
// Attach, and swap its configuration with Swap.
type Gateway struct {
	opts  Options
	log   *slog.Logger
	rules atomic.Pointer[ruleset]
	certs *ca.CertCache
	mitm  *goproxy.ConnectAction
	// relay tunnels allowed CONNECTs on the proxy's own connections; nil
	// when tunnels go through a parent proxy (goproxy's ConnectDial).
	relay   *goproxy.ConnectAction
	metrics *metrics
	guard   *guard
	// transport forwards requests upstream once Attach has run; nil before.
	transport atomic.Pointer[http.Transport]
	tunnels   *tunnels
	// self are the proxy's own listening addresses, which no request
	// through the proxy may reach.
	self atomic.Pointer[[]string]

	// lookupBase holds the cache counts of configurations swapped out, so
	// that the exported counters never go back.
	lookupBase struct {
		sync.Mutex
		hits, misses uint64
	}

	signer     *signer
	continues  *limiter
	requests   *limiter
	requesters *lru.Cache[string, countAt]
	personal   *lru.Cache[string, personalState]
}

// ruleset is everything a decision reads, swapped as one pointer.
type ruleset struct {
	cfg   *config.Config
	auth  *identity.Authenticator
	pages *pages.Renderer
	pac   pacFiles
}

// New builds a Gateway. It has no side effects: nothing listens and no
// metric is registered until Attach.
func New(opts Options) (*Gateway, error) {
	if opts.Config == nil {
		return nil, errors.New("proxy: Options.Config is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CertCacheSize == 0 {
		opts.CertCacheSize = 4096
	}
	g := &Gateway{opts: opts, log: opts.Logger}
	rs, err := newRuleset(opts.Config)
	if err != nil {
		return nil, err
	}
	g.rules.Store(rs)
	g.guard = newGuard(opts.Config.Proxy, opts.Resolve, g.isSelf)
	g.tunnels = newTunnels(g.tunnelClosed)
	if g.signer, err = newSigner(opts.PageKey); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	g.continues, g.requests = newLimiter(), newLimiter()
	g.requesters, _ = lru.New[string, countAt](4096)
	g.personal, _ = lru.New[string, personalState](16384)
	if opts.CA != nil {
		g.certs = ca.NewCertCache(opts.CertCacheSize)
		// goproxy calls TLSConfig after answering the CONNECT with 200, with
		// the CONNECT authority: the leaf names the CONNECT host whatever
		// SNI the client sends.
		c, certs := opts.CA, g.certs
		g.mitm = &goproxy.ConnectAction{Action: goproxy.ConnectMitm,
			TLSConfig: func(hostport string, _ *goproxy.ProxyCtx) (*tls.Config, error) {
				return c.ServerConfig(certs, hostport)
			}}
	}
	g.metrics = newMetrics(g)
	return g, nil
}

func newRuleset(c *config.Config) (*ruleset, error) {
	auth, err := identity.New(c.Identity)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	r, err := pages.New(c.Branding.Pages())
	if err != nil {
		return nil, fmt.Errorf("branding: %w", err)
	}
	return &ruleset{cfg: c, auth: auth, pages: r}, nil
}

// Swap makes c the configuration for every decision from now on. Requests
// already being decided finish with the configuration they started with;
// open tunnels stay open. The proxy settings that are bound at start (the
// listen addresses and the destination check) keep their start values.
func (g *Gateway) Swap(c *config.Config) error {
	rs, err := newRuleset(c)
	if err != nil {
		return err
	}
	// Swapping under the lock keeps lookupStats monotonic: it never sees
	// the new configuration without the old one's counts in the base.
	g.lookupBase.Lock()
	old := g.rules.Swap(rs)
	st := old.cfg.Matcher.CacheStats()
	g.lookupBase.hits += st.Hits
	g.lookupBase.misses += st.Misses
	g.lookupBase.Unlock()
	if t := g.transport.Load(); g.guard.setAllow(c.Proxy.AllowDestinations) && t != nil {
		// Kept-alive upstream connections were checked when they were
		// dialed, under the old exemptions: new requests dial again.
		t.CloseIdleConnections()
	}
	if c.Proxy.CloseBlockedTunnels {
		if n := g.closeBlockedTunnels(rs); n > 0 {
			g.log.Info("closed tunnels the new rules no longer allow", "tunnels", n)
		}
	}
	return nil
}

// closeBlockedTunnels decides every open tunnel again under rs and closes
// those that would now be intercepted.
func (g *Gateway) closeBlockedTunnels(rs *ruleset) int {
	return g.tunnels.closeWhere(func(t tunnelInfo) bool {
		hm, err := rs.cfg.Matcher.Lookup(t.host)
		if err != nil {
			return true
		}
		d, split := g.decideHost(rs, hm, t.id, subject(t.id))
		return d.Action.Intercepts() || (split && g.mitm != nil)
	})
}

// lookupStats returns the host cache's hits and misses since New.
func (g *Gateway) lookupStats() (hits, misses uint64) {
	g.lookupBase.Lock()
	defer g.lookupBase.Unlock()
	st := g.rules.Load().cfg.Matcher.CacheStats()
	return g.lookupBase.hits + st.Hits, g.lookupBase.misses + st.Misses
}

// CloseTunnels closes every open CONNECT tunnel and returns how many.
func (g *Gateway) CloseTunnels() int {
	return g.tunnels.closeWhere(func(tunnelInfo) bool { return true })
}

// OpenTunnels returns the number of CONNECT tunnels open now.
func (g *Gateway) OpenTunnels() int64 { return g.tunnels.Open() }

// Config returns the configuration in force.
func (g *Gateway) Config() *config.Config { return g.rules.Load().cfg }

// SetSelf records the addresses the proxy and its admin listener listen on,
// so that no request through the proxy can reach them.
func (g *Gateway) SetSelf(addrs ...string) {
	a := append([]string(nil), addrs...)
	g.self.Store(&a)
}

// Attach installs Signpost onto p. Call it once, before p serves. It
// replaces p's transport, dialers, certificate store, connection-error
// handler and logger, and wraps its NonproxyHandler (requests for paths it
// does not own go to the previous handler). Handlers already registered on p
// run before Signpost's; register yours after Attach to run after it.
func (g *Gateway) Attach(p *goproxy.ProxyHttpServer) error {
	if g.opts.Registerer != nil {
		if err := g.metrics.register(g.opts.Registerer); err != nil {
			return fmt.Errorf("proxy: registering metrics: %w", err)
		}
	}
	cfg := g.Config().Proxy

	// Upstream traffic: one guarded dialer serves tunnels, forwarded
	// requests and intercepted requests alike (GOPROXY-NOTES §1), and the
	// transport is tuned for a proxy's many concurrent origins.
	p.Tr = newTransport(g.dialContext, cfg, g.opts.UpstreamTLS)
	g.transport.Store(p.Tr)
	p.ConnectDial = nil
	p.ConnectDialWithReq = nil
	if cfg.Parent != nil {
		p.ConnectDial = p.NewConnectDialToProxy(cfg.Parent.String())
	} else {
		g.relay = &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: g.relayTunnel}
	}
	// Signpost mints its own leaves (ca.CA.ServerConfig); goproxy's
	// certificate store is only read by goproxy's own signer.
	p.CertStore = nil
	p.Logger = goproxyLogger{g.log}
	// Keep the client's Accept-Encoding: goproxy drops it by default, which
	// makes origins send uncompressed bodies through the proxy.
	p.KeepAcceptEncoding = true
	p.Verbose = false
	// ConnectionErrHandler is called by goproxy when a tunnel's dial or copy
	// fails, with the client connection; goproxy would otherwise write Go's
	// error text to the client.
	p.ConnectionErrHandler = g.connectionError
	p.NonproxyHandler = g.routes(p.NonproxyHandler)

	// HandleConnectFunc runs for every CONNECT. Returning (nil, "") passes
	// the decision to the next handler (goproxy's default accepts); Signpost
	// always returns an action: accept, intercept, or reject with ctx.Resp.
	p.OnRequest().HandleConnectFunc(g.handleConnect)
	// DoFunc runs for every plain-HTTP request and every request inside an
	// intercepted tunnel. Returning (req, nil) forwards req upstream;
	// returning a response answers without dialing and stops the chain.
	p.OnRequest().DoFunc(g.handleRequest)
	// The response DoFunc runs for every response goproxy sends back,
	// forwarded or synthetic, on the plain and the intercepted path; it
	// returns the response to send.
	p.OnResponse().DoFunc(g.handleResponse)
	return nil
}
