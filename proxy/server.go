package proxy

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/signpost-gateway/signpost/config"
)

// Attach builds a Gateway from opts and installs it onto p: the one call
// another gateway makes to embed Signpost. See Gateway.Attach.
func Attach(p *goproxy.ProxyHttpServer, opts Options) (*Gateway, error) {
	g, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := g.Attach(p); err != nil {
		return nil, err
	}
	return g, nil
}

// NewProxy returns a goproxy server with only Signpost installed, as the
// signpost binary runs it.
func NewProxy(opts Options) (*goproxy.ProxyHttpServer, *Gateway, error) {
	p := goproxy.NewProxyHttpServer()
	p.NonproxyHandler = nil
	g, err := Attach(p, opts)
	if err != nil {
		return nil, nil, err
	}
	return p, g, nil
}

// NewServer returns the http.Server for the proxy port, with the limits a
// proxy facing many clients needs: a deadline on reading headers (slow
// clients cannot hold connections open), an idle timeout for keep-alive
// connections and a bound on header size. Tunnels are hijacked connections
// and are not subject to these timeouts.
//
// Connections goproxy hijacks for interception lose net/http's deadlines;
// the server's hooks give them one (see connInfo), so that a client that
// goes silent inside an intercepted tunnel is cut like any other.
func NewServer(cfg config.Proxy, h http.Handler, logger *slog.Logger) *http.Server {
	var conns sync.Map // net.Conn → *connInfo, until hijacked or closed
	return &http.Server{
		Addr:              cfg.Listen,
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          log.New(slogWriter{logger}, "", 0),
		// ConnContext runs when a connection is accepted: its connInfo rides
		// in every request's context, where handleConnect finds it.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if cc, ok := c.(*clientConn); ok {
				cc.frame = newFramer() // until StateHijacked detaches it
			}
			ci := &connInfo{conn: c}
			conns.Store(c, ci)
			return context.WithValue(ctx, connInfoKey{}, ci)
		},
		// ConnState runs after Hijack has cleared the connection's deadlines:
		// an intercepted tunnel gets a read deadline for its TLS handshake and
		// first request; a plain tunnel gets none (it may idle for hours).
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateHijacked:
				v, ok := conns.LoadAndDelete(c)
				if !ok {
					break
				}
				ci := v.(*connInfo)
				cc, _ := c.(*clientConn)
				var early []byte
				if cc != nil {
					early = cc.detach()
				}
				if !ci.intercept.Load() {
					ci.early = early // for the relay
					break
				}
				// goproxy hands the early bytes to its own TLS handshake.
				_ = c.SetReadDeadline(time.Now().Add(ci.headerTimeout))
				if cc != nil {
					// The TLS handshake and the first request head.
					cc.limit(int64(cfg.MaxHeaderBytes) + handshakeAllowance)
				}
			case http.StateClosed:
				conns.Delete(c)
			}
		},
	}
}

// connInfo is what the proxy knows of one client connection.
type connInfo struct {
	conn net.Conn
	// headerTimeout is written before intercept is set, and read after.
	headerTimeout time.Duration
	intercept     atomic.Bool
	// early is what the client sent after its CONNECT head, kept from the
	// Hijack (in ConnState) to the relay (see relayTunnel).
	early []byte
}

type connInfoKey struct{}

// interceptConn marks the CONNECT's client connection as intercepted and
// returns it, when the proxy's own server accepted it (an embedding
// gateway's server has no such hooks).
func interceptConn(req *http.Request, headerTimeout time.Duration) net.Conn {
	ci, ok := req.Context().Value(connInfoKey{}).(*connInfo)
	if !ok {
		return nil
	}
	ci.headerTimeout = headerTimeout
	ci.intercept.Store(true)
	return ci.conn
}

// slogWriter turns net/http's server log lines into debug records: they are
// about clients that misbehave (bad TLS, broken connections), not about
// Signpost.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(trimNL(p)), "component", "http")
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

func copyBody(w io.Writer, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}
