package proxy

import (
	"io"
	"log"
	"log/slog"
	"net/http"

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
func NewServer(cfg config.Proxy, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              cfg.Listen,
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          log.New(slogWriter{logger}, "", 0),
	}
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
