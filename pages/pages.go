// Package pages renders what Signpost shows people in their browser: the
// interstitial for a warned or blocked app and the error pages of the proxy.
// Templates are html/template files embedded in the binary, so every value
// is escaped and no page loads anything from outside.
//
// The package renders; it does not decide which page to show (proxy does)
// and does not store anything.
package pages

import (
	"bytes"
	"embed"
	"html/template"
	"io"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// Interstitial is what the page for a warned or blocked app shows.
type Interstitial struct {
	// AppName and Host say what the person tried to open. Host is the host
	// only, never the URL with its query.
	AppName string
	Host    string
	// Blocked is true for block, false for warn.
	Blocked bool
	// Reason is the organisation's explanation in plain words.
	Reason string
	// AlternativeName and AlternativeURL name the approved alternative;
	// empty when there is none.
	AlternativeName string
	AlternativeURL  string
	// Rule says which rule decided, for the person to quote to IT.
	Rule string
	// Reference identifies this decision in the proxy's log.
	Reference string
}

// Error is what an error page shows.
type Error struct {
	Status    int
	Title     string
	Message   string
	Reference string
}

// RenderInterstitial writes the interstitial page's HTML to w.
func RenderInterstitial(w io.Writer, p Interstitial) error {
	return templates.ExecuteTemplate(w, "interstitial.html", p)
}

// RenderError writes an error page's HTML to w.
func RenderError(w io.Writer, e Error) error {
	if e.Title == "" {
		e.Title = http.StatusText(e.Status)
	}
	return templates.ExecuteTemplate(w, "error.html", e)
}

// ContentSecurityPolicy is sent with every page: nothing loads from
// anywhere, styles are inline in the page itself, forms post to the same
// origin only.
const ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// SetHeaders sets the headers every page carries.
func SetHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// Bytes renders a page into memory, for callers that build an
// *http.Response rather than write to a ResponseWriter.
func Bytes(render func(io.Writer) error) ([]byte, error) {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
