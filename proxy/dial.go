package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/signpost-gateway/signpost/config"
)

// DestinationError is returned by the dialer when a destination address is
// refused: the proxy must not become a way into the network it stands in.
type DestinationError struct {
	Addr netip.AddrPort
	Why  string
}

// Error says which address was refused and why.
func (e *DestinationError) Error() string {
	return fmt.Sprintf("destination %s refused: %s", e.Addr, e.Why)
}

// guard dials upstream connections and checks every address it connects to
// after DNS resolution (in net.Dialer.Control), so a name that resolves to an
// internal address, or resolves differently a second time, is refused at the
// moment of connecting, not when the name was looked at.
type guard struct {
	// allow is proxy.allow_destinations of the configuration in force; a
	// reload replaces it (setAllow).
	allow   atomic.Pointer[[]netip.Prefix]
	resolve func(ctx context.Context, hostport string) (string, error)
	isSelf  func(netip.AddrPort) bool
	parent  string // the parent proxy's host:port, exempt from the check
	dialer  net.Dialer
	direct  net.Dialer
}

func newGuard(cfg config.Proxy, resolve func(context.Context, string) (string, error), isSelf func(netip.AddrPort) bool) *guard {
	g := &guard{resolve: resolve, isSelf: isSelf}
	g.setAllow(cfg.AllowDestinations)
	if cfg.Parent != nil {
		g.parent = cfg.Parent.Host
	}
	g.dialer = net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second, Control: g.control}
	g.direct = net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return g
}

// setAllow replaces the destinations exempt from the check, and reports
// whether they changed.
func (g *guard) setAllow(allow []netip.Prefix) (changed bool) {
	c := slices.Clone(allow)
	old := g.allow.Swap(&c)
	return old == nil || !slices.Equal(*old, c)
}

// DialContext dials addr ("host:port") for upstream traffic.
func (g *guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if g.parent != "" && addr == g.parent {
		// The admin chose this proxy; it may well sit on a private address.
		return g.direct.DialContext(ctx, network, addr)
	}
	if g.resolve != nil {
		resolved, err := g.resolve(ctx, addr)
		if err != nil {
			return nil, err
		}
		addr = resolved
	}
	return g.dialer.DialContext(ctx, network, addr)
}

func (g *guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &DestinationError{Why: "unparsable address " + address}
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if g.isSelf != nil && g.isSelf(ap) {
		return &DestinationError{Addr: ap, Why: "it is this proxy's own listener"}
	}
	for _, p := range *g.allow.Load() {
		if p.Contains(ap.Addr()) {
			return nil
		}
	}
	if why := internalAddr(ap.Addr()); why != "" {
		return &DestinationError{Addr: ap, Why: why}
	}
	return nil
}

// Special-purpose ranges beyond what netip's predicates cover.
var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	thisNet     = netip.MustParsePrefix("0.0.0.0/8")
	ietfProto   = netip.MustParsePrefix("192.0.0.0/24")
	benchmark   = netip.MustParsePrefix("198.18.0.0/15")
	reserved4   = netip.MustParsePrefix("240.0.0.0/4")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour   = netip.MustParsePrefix("2002::/16")
	teredo      = netip.MustParsePrefix("2001::/32")
	siteLocal6  = netip.MustParsePrefix("fec0::/10")
	discardOnly = netip.MustParsePrefix("100::/64")
)

// internalAddr says why a is not a public unicast address, or "".
func internalAddr(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "invalid address"
	case a.IsUnspecified():
		return "unspecified address"
	case a.IsLoopback():
		return "loopback address"
	case a.IsPrivate():
		return "private address"
	case a.IsLinkLocalUnicast():
		return "link-local address (includes cloud metadata services)"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast(), a.IsLinkLocalMulticast():
		return "multicast address"
	}
	if a.Is4() {
		switch {
		case cgnat.Contains(a):
			return "shared address space (100.64.0.0/10)"
		case thisNet.Contains(a):
			return "\"this network\" address"
		case ietfProto.Contains(a), benchmark.Contains(a), reserved4.Contains(a):
			return "reserved address"
		}
		return ""
	}
	switch {
	case siteLocal6.Contains(a), discardOnly.Contains(a), nat64Local.Contains(a):
		return "reserved address"
	case nat64.Contains(a):
		b := a.As16()
		return embedded(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case sixToFour.Contains(a):
		b := a.As16()
		return embedded(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	case teredo.Contains(a):
		b := a.As16()
		// Teredo stores the client's IPv4 address inverted.
		return embedded(netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}))
	}
	return ""
}

func embedded(v4 netip.Addr) string {
	if why := internalAddr(v4); why != "" {
		return "IPv6 address embedding a " + why
	}
	return ""
}

// dialContext dials through the guard and tracks tunnel connections.
func (g *Gateway) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := g.guard.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return g.tunnels.track(ctx, c), nil
}

// isSelf reports whether ap is one of the proxy's own listeners.
func (g *Gateway) isSelf(ap netip.AddrPort) bool {
	self := g.self.Load()
	if self == nil {
		return false
	}
	for _, s := range *self {
		host, port, err := net.SplitHostPort(s)
		if err != nil || port != fmt.Sprint(ap.Port()) {
			continue
		}
		if host == "" {
			// Bound to every address: any local one reaches it.
			if ap.Addr().IsLoopback() || ap.Addr().IsUnspecified() || isLocalAddr(ap.Addr()) {
				return true
			}
			continue
		}
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Unmap() == ap.Addr() || (a.IsUnspecified() && (ap.Addr().IsLoopback() || isLocalAddr(ap.Addr()))) {
				return true
			}
		} else if host == "localhost" && ap.Addr().IsLoopback() {
			return true
		}
	}
	return false
}

// isLocalAddr reports whether a belongs to one of this machine's interfaces.
func isLocalAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// newTransport builds the upstream transport. Go's defaults keep two idle
// connections per origin, so under a proxy's load most requests would open
// a new upstream connection; these limits keep them warm.
func newTransport(dial func(context.Context, string, string) (net.Conn, error), cfg config.Proxy, tlsCfg *tls.Config) *http.Transport {
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		tlsCfg = tlsCfg.Clone()
	}
	t := &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: 10 * time.Second,
		// An origin that accepts a request and never answers would hold it,
		// a goroutine and two sockets until the client gives up.
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		// The client's Accept-Encoding goes upstream as it is (goproxy's
		// KeepAcceptEncoding). Left on, the transport would ask for gzip
		// where the client did not, and decompress the body in the proxy.
		DisableCompression: true,
	}
	if cfg.Parent != nil {
		t.Proxy = http.ProxyURL(cfg.Parent)
	}
	return t
}
