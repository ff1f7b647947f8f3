// Package pages renders what Signpost shows people in their browser: the
// interstitial for a warned or blocked app (with its "Continue" and
// "Request access" forms), the status page of a person's access requests,
// and the error pages of the proxy — plus the short JSON answer the same
// explanation becomes for API and fetch clients.
//
// Pages are html/template files, a stylesheet and message files embedded
// in the binary, so every value is escaped and no page loads anything from
// elsewhere. A page works without JavaScript and carries none: its one
// stylesheet is allowed by its SHA-256 in the Content-Security-Policy, and
// a logo is inlined as a data: URI. Texts come in English, German and
// French (messages/*.yaml, see README-translators.md), are chosen by
// Accept-Language, and can be overridden by the organisation along with
// its name, logo, accent colour and help link (Branding).
//
// The package renders; it does not decide which page to show or what the
// person may do (proxy does), check CSRF tokens or sign form contexts (the
// page actions do, with the values they put into Form), or store anything.
package pages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The names of the form fields the pages post. The page actions read them.
const (
	// FieldContext carries Form.Context, the server-signed context.
	FieldContext = "ctx"
	// FieldCSRF carries Form.CSRF.
	FieldCSRF = "csrf"
	// FieldJustification carries what the person wrote in the request
	// form; check it with CheckJustification.
	FieldJustification = "justification"
)

// DefaultJustificationMax is the length limit of the request form's text,
// in characters, when Interstitial.JustificationMax is not set.
const DefaultJustificationMax = 1000

// NoticeRequestReceived is a Status.Notice that the status page shows in
// the page's language: the request was stored and IT told.
const NoticeRequestReceived = "notice.request.received"

// Renderer renders the pages for one organisation's branding. It is
// immutable and safe for concurrent use; build a new one when the
// branding changes.
type Renderer struct {
	brand   branding
	css     template.CSS
	csp     string
	locales map[string]locale
	pages   map[string]*template.Template
}

// New validates b and builds a Renderer: the accent colour, the logo's
// type and bytes, the help URL, and every text override (language, key
// and placeholders). All problems are reported in one error.
func New(b Branding) (*Renderer, error) {
	cat, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	tmpl, err := loadTemplates()
	if err != nil {
		return nil, err
	}
	brand, err := b.compile(cat)
	if err != nil {
		return nil, err
	}
	css := stylesheet(brand.accent)
	sum := sha256.Sum256([]byte(css))
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if brand.logo != "" {
		csp += "; img-src data:"
	}
	csp += "; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	r := &Renderer{
		brand:   brand,
		css:     template.CSS(css),
		csp:     csp,
		locales: make(map[string]locale, len(cat)),
		pages:   tmpl,
	}
	for _, lang := range cat.languages() {
		r.locales[lang] = locale{lang: lang, texts: cat.resolve(lang, b.Texts[lang])}
	}
	return r, nil
}

// Text returns the text of a message key (see messages/en.yaml) in lang,
// with its {placeholders} filled from name, value pairs:
//
//	r.Text("de", "interstitial.title.block", "app", "Slack") // "Slack ist hier nicht freigegeben"
//
// An unknown lang is DefaultLanguage; an unknown key returns the key.
func (r *Renderer) Text(lang, key string, args ...any) string {
	return r.locale(lang).T(key, args...)
}

// Languages lists the languages the pages come in, sorted.
func (r *Renderer) Languages() []string {
	return sortedKeys(r.locales)
}

// CSP returns the Content-Security-Policy every page is served with:
// nothing loads from anywhere, no script runs, the one stylesheet is
// allowed by its hash, images only as data: URIs (the logo), and forms
// post to the page's own origin.
func (r *Renderer) CSP() string { return r.csp }

// SetHeaders sets the headers every page needs: its type, no caching, the
// CSP, no MIME sniffing, no referrer, and no framing.
func (r *Renderer) SetHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", r.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// Form is one of the interstitial's POST forms.
type Form struct {
	// Action is the path the form posts to on the page's own origin, such
	// as "/.signpost/continue". Anything else (another host, a scheme)
	// leaves the form off the page.
	Action string
	// Context is the server-signed, opaque context (who, which app, the
	// original URL), posted back as FieldContext.
	Context string
	// CSRF is the anti-forgery token, posted back as FieldCSRF.
	CSRF string
}

// Link is a named link.
type Link struct {
	Name string
	// URL is an absolute http or https URL; anything else shows the name
	// without a link.
	URL string
}

// Denial is the person's last request for the app, declined.
type Denial struct {
	At      time.Time
	Message string // the admin's words; may be empty
}

// Interstitial is what the page for a warned or blocked app shows.
type Interstitial struct {
	// Lang is the page's language, usually Renderer.Language of the
	// request's Accept-Language; "" or unknown is DefaultLanguage.
	Lang string
	// AppName and Host say what the person tried to open. Host is the
	// host only, never the URL with its query.
	AppName string
	Host    string
	// Blocked is true for block, false for warn.
	Blocked bool
	// Reason is the organisation's explanation in plain words; empty shows
	// a general one.
	Reason string
	// Alternative is the approved tool to use instead, shown as the page's
	// main button; nil when there is none.
	Alternative *Link
	// Rule says which rule decided, for the person to quote to IT.
	Rule string
	// Reference identifies this decision in the proxy's log.
	Reference string
	// ContinueFor is how long "Continue" lets the person in; 0 leaves the
	// duration unsaid.
	ContinueFor time.Duration
	// Continue is the form behind "Continue to <app>" (warn only); nil
	// hides the button.
	Continue *Form
	// Request is the "Request access" form (block, and warn if wanted);
	// nil hides it. JustificationMax limits its text in characters; 0 is
	// DefaultJustificationMax.
	Request          *Form
	JustificationMax int
	// Colleagues is how many others have asked for this app.
	Colleagues int
	// Pending is true when the person already has a request for this app
	// waiting; the page says so instead of offering the request form.
	Pending bool
	// Denied is the person's last request for this app if it was declined
	// (and none is pending); nil otherwise.
	Denied *Denial
	// StatusURL is the path (or http/https URL) of the person's status
	// page; empty leaves out the links to it.
	StatusURL string

	// Deprecated: use Alternative. AlternativeName and AlternativeURL are
	// read only when Alternative is nil, for callers of the first version
	// of this package.
	AlternativeName string
	// Deprecated: use Alternative.
	AlternativeURL string
}

// RequestView is one of the person's access requests on the status page.
type RequestView struct {
	AppName       string
	Justification string
	// State is "pending", "approved" or "denied"; another value is shown
	// as given.
	State     string
	CreatedAt time.Time
	DecidedAt time.Time // zero while pending
	Message   string    // the admin's message with the decision
	Until     time.Time // when an approval's access ends; zero for none
}

// Status is the page listing a person's access requests.
type Status struct {
	Lang     string
	User     string // who is signed in, as the person knows themselves
	Requests []RequestView
	// Notice is shown above the list: NoticeRequestReceived (or another
	// message key of the message files) is shown in the page's language;
	// any other text is shown as given.
	Notice string
	// Reference identifies this page view in the log; may be empty.
	Reference string
}

// Error is an error page.
type Error struct {
	Lang   string
	Status int // the HTTP status; outside 400–599 is shown as 500
	// Title and Message are the page's heading and text; empty takes the
	// texts for Status in the page's language.
	Title     string
	Message   string
	Reference string
}

// view is what the layout template gets.
type view struct {
	Lang      string
	L         locale
	CSS       template.CSS
	Org       string
	Logo      template.URL
	Help      string
	Requests  string // the status page's URL
	Reference string
	Title     string
	Page      any
}

func (r *Renderer) view(l locale, title string, page any) view {
	return view{
		Lang:  l.lang,
		L:     l,
		CSS:   r.css,
		Org:   r.brand.org,
		Logo:  r.brand.logo,
		Help:  r.brand.helpURL,
		Title: title,
		Page:  page,
	}
}

// interstitialView is an Interstitial with its words worked out.
type interstitialView struct {
	Interstitial
	ReasonText     string
	AltName        string
	AltURL         string
	DeniedText     string
	ContinueForm   *Form
	ContinueText   string
	ContinueHint   string
	RequestForm    *Form
	Max            int
	StatusLink     string
	ColleaguesText string
}

// Interstitial renders the page for a warned or blocked app to w. Nothing
// is written if rendering fails.
func (r *Renderer) Interstitial(w io.Writer, p Interstitial) error {
	l := r.locale(p.Lang)
	v := interstitialView{Interstitial: p, Max: p.JustificationMax}
	if v.Max <= 0 {
		v.Max = DefaultJustificationMax
	}
	action := "warn"
	if p.Blocked {
		action = "block"
	}
	v.ReasonText = p.Reason
	if strings.TrimSpace(v.ReasonText) == "" {
		v.ReasonText = l.T("interstitial.reason." + action)
	}
	alt := p.Alternative
	if alt == nil && p.AlternativeName != "" {
		alt = &Link{Name: p.AlternativeName, URL: p.AlternativeURL}
	}
	if alt != nil && alt.Name != "" {
		v.AltName, v.AltURL = alt.Name, absoluteURL(alt.URL)
	}
	v.StatusLink = linkURL(p.StatusURL)
	if p.Continue != nil && localPath(p.Continue.Action) != "" {
		v.ContinueForm = p.Continue
		if d := l.Duration(p.ContinueFor); d != "" {
			v.ContinueText = l.T("interstitial.continue.button", "app", p.AppName, "duration", d)
			v.ContinueHint = l.T("interstitial.continue.hint", "app", p.AppName, "duration", d)
		} else {
			v.ContinueText = l.T("interstitial.continue.button.untimed", "app", p.AppName)
			v.ContinueHint = l.T("interstitial.continue.hint.untimed")
		}
	}
	if p.Request != nil && localPath(p.Request.Action) != "" {
		v.RequestForm = p.Request
	}
	if d := p.Denied; d != nil && !p.Pending {
		if strings.TrimSpace(d.Message) != "" {
			v.DeniedText = l.T("interstitial.denied.message", "date", l.Date(d.At), "message", d.Message)
		} else {
			v.DeniedText = l.T("interstitial.denied", "date", l.Date(d.At))
		}
	}
	switch {
	case p.Colleagues > 0:
		v.ColleaguesText = fill(l.plural("interstitial.colleagues", int64(p.Colleagues)),
			[]any{"count", strconv.Itoa(p.Colleagues), "app", p.AppName}, same, same)
	case v.RequestForm != nil && !p.Pending:
		v.ColleaguesText = l.T("interstitial.colleagues.none", "app", p.AppName)
	}
	vw := r.view(l, l.T("interstitial.title."+action, "app", p.AppName), v)
	vw.Requests, vw.Reference = v.StatusLink, p.Reference
	return r.execute(w, "interstitial", vw)
}

// statusRequest is a RequestView with its words worked out.
type statusRequest struct {
	AppName, Justification, Message string
	Class, StateText                string
	Created, Decided, Until         string
}

// statusView is a Status with its words worked out.
type statusView struct {
	User       string
	NoticeText string
	Requests   []statusRequest
}

// Status renders the page listing a person's access requests to w.
func (r *Renderer) Status(w io.Writer, s Status) error {
	l := r.locale(s.Lang)
	v := statusView{User: s.User, NoticeText: s.Notice}
	if strings.HasPrefix(s.Notice, "notice.") {
		if t, ok := l.texts[s.Notice]; ok {
			v.NoticeText = t
		}
	}
	for _, q := range s.Requests {
		sr := statusRequest{
			AppName:       q.AppName,
			Justification: q.Justification,
			Message:       q.Message,
			Class:         "other",
			StateText:     q.State,
			Created:       l.Date(q.CreatedAt),
			Decided:       l.Date(q.DecidedAt),
			Until:         l.DateTime(q.Until),
		}
		switch q.State {
		case "pending", "approved", "denied":
			sr.Class, sr.StateText = q.State, l.T("status.state."+q.State)
		}
		v.Requests = append(v.Requests, sr)
	}
	vw := r.view(l, l.T("status.title"), v)
	vw.Reference = s.Reference
	return r.execute(w, "status", vw)
}

// errorStatuses are the statuses with their own texts in the message
// files; others take error.default.
var errorStatuses = []int{400, 403, 404, 405, 407, 413, 429, 500, 502, 503, 504}

// Error renders an error page to w.
func (r *Renderer) Error(w io.Writer, e Error) error {
	l := r.locale(e.Lang)
	if e.Status < 400 || e.Status > 599 {
		e.Status = http.StatusInternalServerError
	}
	key := "error.default"
	for _, s := range errorStatuses {
		if s == e.Status {
			key = "error." + strconv.Itoa(s)
		}
	}
	if e.Title == "" {
		e.Title = l.T(key + ".title")
	}
	if e.Message == "" {
		e.Message = l.T(key + ".message")
	}
	vw := r.view(l, e.Title, e)
	vw.Reference = e.Reference
	return r.execute(w, "error", vw)
}

// execute renders page into memory first, so that a failure writes
// nothing and the caller can still answer with something else.
func (r *Renderer) execute(w io.Writer, page string, v view) error {
	t, ok := r.pages[page]
	if !ok {
		return fmt.Errorf("pages: no template for page %q", page)
	}
	// The page is rendered whole before any of it is written, so that an
	// error leaves w untouched; the buffers are reused.
	b := renderBuffers.Get().(*bytes.Buffer)
	defer func() {
		if b.Cap() <= maxPooledPage {
			b.Reset()
			renderBuffers.Put(b)
		}
	}()
	if err := t.ExecuteTemplate(b, "layout", v); err != nil {
		return fmt.Errorf("pages: rendering %s: %w", page, err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("pages: writing %s: %w", page, err)
	}
	return nil
}

// renderBuffers holds page buffers for reuse; a page is a few KiB, and
// one that grew past maxPooledPage (a long request list) is not kept.
var renderBuffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 16<<10)) }}

const maxPooledPage = 256 << 10

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the pages; each is templates/<name>.html defining
// "content", rendered inside templates/layout.html.
var pageNames = []string{"interstitial", "status", "error"}

// loadTemplates parses the embedded templates once.
var loadTemplates = sync.OnceValues(func() (map[string]*template.Template, error) {
	layout, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("pages: parsing the layout: %w", err)
	}
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := layout.Clone()
		if err == nil {
			t, err = t.ParseFS(templateFS, "templates/"+name+".html")
		}
		if err != nil {
			return nil, fmt.Errorf("pages: parsing %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
})

// Bytes renders a page into memory, for callers that build an
// *http.Response rather than write to a ResponseWriter:
//
//	body, err := pages.Bytes(func(w io.Writer) error { return r.Error(w, e) })
func Bytes(render func(io.Writer) error) ([]byte, error) {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Errors CheckJustification returns.
var (
	ErrJustificationEmpty   = errors.New("justification is empty")
	ErrJustificationTooLong = errors.New("justification is too long")
	ErrJustificationInvalid = errors.New("justification is not valid text")
)

// CheckJustification applies the request form's limits on the server: it
// trims s, normalises line ends to "\n", and refuses an empty text, one
// longer than max characters (DefaultJustificationMax if limit <= 0; the
// browser's maxlength counts UTF-16 units, never fewer than characters), or
// one with invalid UTF-8 or control characters other than newline and tab.
func CheckJustification(s string, limit int) (string, error) {
	if limit <= 0 {
		limit = DefaultJustificationMax
	}
	if !utf8.ValidString(s) {
		return "", ErrJustificationInvalid
	}
	s = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"))
	if s == "" {
		return "", ErrJustificationEmpty
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return "", fmt.Errorf("%w: found %d characters; expected at most %d", ErrJustificationTooLong, n, limit)
	}
	for _, c := range s {
		if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return "", ErrJustificationInvalid
		}
	}
	return s, nil
}
