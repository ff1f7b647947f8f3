package pages

import (
	"io"
	"net/http"
	"sync"
)

// This file keeps the first version of the package's API working, as thin
// wrappers over a Renderer with the default branding, until its callers
// move to Renderer.

// defaultRenderer is the Renderer of the package-level functions.
var defaultRenderer = sync.OnceValues(func() (*Renderer, error) { return New(Branding{}) })

// fallbackCSP is served should the default Renderer fail to build, which
// only a broken build of the embedded files can cause: it lets nothing
// load, not even the stylesheet.
const fallbackCSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// ContentSecurityPolicy is the CSP of the default Renderer's pages.
//
// Deprecated: use Renderer.CSP, which matches that Renderer's stylesheet.
var ContentSecurityPolicy = func() string {
	r, err := defaultRenderer()
	if err != nil {
		return fallbackCSP
	}
	return r.CSP()
}()

// RenderInterstitial writes the interstitial page's HTML to w, with the
// default branding.
//
// Deprecated: use Renderer.Interstitial.
func RenderInterstitial(w io.Writer, p Interstitial) error {
	r, err := defaultRenderer()
	if err != nil {
		return err
	}
	return r.Interstitial(w, p)
}

// RenderError writes an error page's HTML to w, with the default branding.
//
// Deprecated: use Renderer.Error.
func RenderError(w io.Writer, e Error) error {
	r, err := defaultRenderer()
	if err != nil {
		return err
	}
	return r.Error(w, e)
}

// SetHeaders sets the headers the default Renderer's pages need.
//
// Deprecated: use Renderer.SetHeaders.
func SetHeaders(h http.Header) {
	if r, err := defaultRenderer(); err == nil {
		r.SetHeaders(h)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", fallbackCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}
