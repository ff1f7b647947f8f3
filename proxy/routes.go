package proxy

import (
	"net"
	"net/http"
	"strings"
)

// listenPort is the proxy port named in the configuration, used for PAC
// files fetched by an address without a port.
func (g *Gateway) listenPort() string {
	if _, port, err := net.SplitHostPort(g.Config().Proxy.Listen); err == nil && port != "" {
		return port
	}
	return "3128"
}

// RoutePrefix is the path prefix the proxy port answers for itself, for
// origin-form requests (GET /signpost/ca.crt) sent to the proxy directly.
const RoutePrefix = "/signpost/"

// routes answers origin-form requests to the proxy port: Signpost's own
// routes under /signpost/, and everything else through next (goproxy's
// NonproxyHandler before Attach; nil answers 404).
func (g *Gateway) routes(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /signpost/ca.crt", g.serveCA)
	mux.HandleFunc("/proxy.pac", g.servePAC)
	mux.HandleFunc("/wpad.dat", g.servePAC)
	mux.HandleFunc("/signpost/", func(w http.ResponseWriter, r *http.Request) {
		g.writeError(w, r, http.StatusNotFound, "Not found", "Signpost has no page here.")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := g.rules.Load()
		if ip := clientIP(r); !ip.IsValid() || !rs.cfg.Proxy.ClientAllowed(ip) {
			g.writeError(w, r, http.StatusForbidden, "Forbidden", "Your address is not allowed to use this proxy.")
			return
		}
		if strings.HasPrefix(r.URL.Path, RoutePrefix) || r.URL.Path == "/proxy.pac" || r.URL.Path == "/wpad.dat" {
			mux.ServeHTTP(w, r)
			return
		}
		if next != nil {
			next.ServeHTTP(w, r)
			return
		}
		g.writeError(w, r, http.StatusNotFound, "This is a proxy",
			"Signpost is a forward proxy: configure it as your browser's proxy, or fetch /signpost/ca.crt to trust its CA.")
	})
}

// servePAC serves the proxy auto-config file (also as /wpad.dat, where
// WPAD discovery looks for it).
func (g *Gateway) servePAC(w http.ResponseWriter, r *http.Request) {
	rs := g.rules.Load()
	f, err := rs.pacFor(r.Host, g.listenPort())
	if err != nil {
		g.log.Warn("cannot serve the PAC file", LogHost, r.Host, LogError, err.Error())
		g.writeError(w, r, http.StatusBadRequest, "Bad request",
			"Fetch the PAC file through the proxy's host name and port, such as http://proxy.example:3128/proxy.pac.")
		return
	}
	f.ServeHTTP(w, r)
}

// serveCA serves the interception CA's certificate, so that admins and
// users can fetch it from http://PROXY/signpost/ca.crt.
func (g *Gateway) serveCA(w http.ResponseWriter, r *http.Request) {
	if g.opts.CA == nil {
		g.writeError(w, r, http.StatusNotFound, "No CA", "This proxy does not intercept HTTPS, so it has no CA certificate.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-x509-ca-cert")
	h.Set("Content-Disposition", `attachment; filename="signpost-ca.crt"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(g.opts.CA.CertPEM)
}

// writeError writes an error page (or JSON) to w.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	resp := errorResponse(g.rules.Load(), r, status, title, msg, newRef())
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = copyBody(w, resp)
}
