package pages

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.html from the current output")

// newRenderer builds a Renderer or fails the test.
func newRenderer(t testing.TB, b Branding) *Renderer {
	t.Helper()
	r, err := New(b)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// render runs one render call and returns its output.
func render(t testing.TB, f func(io.Writer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.String()
}

var (
	nov3    = time.Date(2025, 11, 3, 9, 30, 0, 0, time.UTC)
	nov4    = time.Date(2025, 11, 4, 14, 0, 0, 0, time.UTC)
	nov5    = time.Date(2025, 11, 5, 8, 15, 0, 0, time.UTC)
	form    = func(action string) *Form { return &Form{Action: action, Context: "ctx.signed", CSRF: "csrf-token"} }
	testOrg = Branding{Organization: "Acme Corp", HelpURL: "https://help.acme.example/it"}
)

// fixture is one page as the golden files show it.
type fixture struct {
	name   string
	render func(r *Renderer, w io.Writer, lang string) error
}

var fixtures = []fixture{
	{"interstitial-warn", func(r *Renderer, w io.Writer, lang string) error {
		return r.Interstitial(w, Interstitial{Lang: lang, AppName: "Slack", Host: "acme.slack.com",
			Reason:      "We use Microsoft Teams for chat, so that conversations stay in one place.",
			Alternative: &Link{Name: "Microsoft Teams", URL: "https://teams.microsoft.com/"},
			Rule:        "category chat", Reference: "d-7f3a", ContinueFor: 8 * time.Hour,
			Continue: form("/.signpost/continue"), StatusURL: "/.signpost/requests"})
	}},
	{"interstitial-block", func(r *Renderer, w io.Writer, lang string) error {
		return r.Interstitial(w, Interstitial{Lang: lang, AppName: "WeTransfer", Host: "wetransfer.com", Blocked: true,
			Reason:      "Files leave the company only through OneDrive, where they can be shared and revoked.",
			Alternative: &Link{Name: "OneDrive", URL: "https://onedrive.live.com/"},
			Rule:        "app wetransfer", Reference: "d-81c2", Request: form("/.signpost/request"), JustificationMax: 500,
			Colleagues: 4, Denied: &Denial{At: nov3, Message: "Please use OneDrive; ask IT if a partner cannot open it."},
			StatusURL: "/.signpost/requests"})
	}},
	{"interstitial-pending", func(r *Renderer, w io.Writer, lang string) error {
		return r.Interstitial(w, Interstitial{Lang: lang, AppName: "Miro", Host: "miro.com", Blocked: true,
			Reference: "d-90aa", Request: form("/.signpost/request"), Colleagues: 1, Pending: true,
			StatusURL: "/.signpost/requests"})
	}},
	{"interstitial-first", func(r *Renderer, w io.Writer, lang string) error {
		return r.Interstitial(w, Interstitial{Lang: lang, AppName: "Notion", Host: "www.notion.so",
			ContinueFor: 90 * time.Minute, Continue: form("/.signpost/continue"), Request: form("/.signpost/request"),
			Reference: "d-12ab", Denied: &Denial{At: nov4}})
	}},
	{"status", func(r *Renderer, w io.Writer, lang string) error {
		return r.Status(w, Status{Lang: lang, User: "ana@acme.example", Notice: NoticeRequestReceived, Requests: []RequestView{
			{AppName: "Miro", Justification: "Workshops with a client\nwho runs them on Miro.", State: "pending", CreatedAt: nov5},
			{AppName: "Dropbox", Justification: "A supplier shares drawings there.", State: "approved",
				CreatedAt: nov3, DecidedAt: nov4, Message: "Approved for the project.", Until: nov4.Add(30 * 24 * time.Hour)},
			{AppName: "WeTransfer", Justification: "Large video files.", State: "denied", CreatedAt: nov3, DecidedAt: nov4,
				Message: "Please use OneDrive."},
		}})
	}},
	{"status-empty", func(r *Renderer, w io.Writer, lang string) error {
		return r.Status(w, Status{Lang: lang, User: "ana@acme.example"})
	}},
	{"error-502", func(r *Renderer, w io.Writer, lang string) error {
		return r.Error(w, Error{Lang: lang, Status: http.StatusBadGateway, Reference: "e-55d0"})
	}},
	{"error-503", func(r *Renderer, w io.Writer, lang string) error {
		return r.Error(w, Error{Lang: lang, Status: http.StatusServiceUnavailable, Reference: "e-55d1"})
	}},
	{"error-429", func(r *Renderer, w io.Writer, lang string) error {
		return r.Error(w, Error{Lang: lang, Status: http.StatusTooManyRequests})
	}},
}

// messageKey finds a message key that leaked onto a page unresolved.
var messageKey = regexp.MustCompile(`\b(layout|interstitial|status|notice|error|duration|date|datetime|month)\.[a-z0-9]+`)

func TestGolden(t *testing.T) {
	r := newRenderer(t, testOrg)
	for _, f := range fixtures {
		for _, lang := range r.Languages() {
			t.Run(f.name+"/"+lang, func(t *testing.T) {
				got := render(t, func(w io.Writer) error { return f.render(r, w, lang) })
				if m := messageKey.FindString(got); m != "" {
					t.Errorf("page shows the message key %q instead of its text", m)
				}
				if !strings.Contains(got, `<html lang="`+lang+`">`) {
					t.Errorf("page lacks <html lang=%q>", lang)
				}
				golden(t, filepath.Join("testdata", f.name+"."+lang+".golden.html"), got)
			})
		}
	}
	t.Run("branded", func(t *testing.T) {
		r := newRenderer(t, Branding{Organization: "Acme Corp", Logo: []byte(testSVG), LogoType: "image/svg+xml",
			Accent: "#ffcc00", HelpURL: "https://help.acme.example/",
			Texts: map[string]map[string]string{"en": {"layout.help": "Ask the Acme service desk"}}})
		got := render(t, func(w io.Writer) error { return fixtures[0].render(r, w, "en") })
		golden(t, filepath.Join("testdata", "branded.en.golden.html"), got)
	})
}

// golden compares got with the file at path, or rewrites the file with
// -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pages -run TestGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("page differs from %s (rerun with -update if the change is intended):\n%s", path, firstDiff(got, string(want)))
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

const testSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#ffcc00"/></svg>`

func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hostile is what an attacker might put into an app name, a reason, a
// justification or an admin's message.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`'><svg onload=alert(1)>`,
	`</style><script>alert(1)</script>`,
	`</textarea><script>alert(1)</script>`,
	`javascript:alert(document.cookie)`,
	"{app}{host}{count}",
	`<!--`,
	"\x00\u2028\ufeff",
}

func TestHostileValuesStayEscaped(t *testing.T) {
	r := newRenderer(t, testOrg)
	for i, h := range hostile {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			pages := map[string]string{
				"interstitial": render(t, func(w io.Writer) error {
					return r.Interstitial(w, Interstitial{AppName: h, Host: h, Blocked: true, Reason: h, Rule: h, Reference: h,
						Alternative: &Link{Name: h, URL: h}, Continue: &Form{Action: "/c", Context: h, CSRF: h},
						Request: &Form{Action: "/r", Context: h, CSRF: h}, Denied: &Denial{At: nov3, Message: h}, StatusURL: h})
				}),
				"status": render(t, func(w io.Writer) error {
					return r.Status(w, Status{User: h, Notice: h, Reference: h, Requests: []RequestView{
						{AppName: h, Justification: h, State: h, Message: h, CreatedAt: nov3},
						{AppName: h, Justification: h, State: "denied", Message: h, CreatedAt: nov3, DecidedAt: nov4},
					}})
				}),
				"error": render(t, func(w io.Writer) error {
					return r.Error(w, Error{Status: 502, Title: h, Message: h, Reference: h})
				}),
			}
			for name, page := range pages {
				checkSafe(t, name, page)
				if text := pageText(t, page); !strings.Contains(text, strings.ReplaceAll(h, "\x00", "\ufffd")) {
					t.Errorf("%s: text lacks %q as written", name, h)
				}
			}
		})
	}
}

// checkSafe fails the test if page could run script or load anything: a
// script element, an event handler or style attribute, a second
// stylesheet, or a link, image or form whose URL is not http(s), a local
// path, or the inlined logo.
func checkSafe(t testing.TB, name, page string) {
	t.Helper()
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Errorf("%s: page contains <script", name)
	}
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("%s: parsing the page: %v", name, err)
	}
	styles := 0
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "script", "iframe", "object", "embed", "link", "base":
			t.Errorf("%s: page has a <%s> element", name, n.Data)
		case "style":
			styles++
		}
		for _, a := range n.Attr {
			k := strings.ToLower(a.Key)
			if strings.HasPrefix(k, "on") || k == "style" || k == "srcdoc" || k == "formaction" {
				t.Errorf("%s: <%s> has attribute %s=%q", name, n.Data, a.Key, a.Val)
			}
			if k == "href" || k == "src" || k == "action" {
				if !safeURLAttr(n.Data, k, a.Val) {
					t.Errorf("%s: <%s %s=%q> is not a safe URL", name, n.Data, k, a.Val)
				}
			}
		}
	}
	if styles != 1 {
		t.Errorf("%s: page has %d <style> elements; want 1", name, styles)
	}
}

// safeURLAttr says whether a URL attribute is one the pages may carry, read
// the way a browser reads it (whitespace and control characters dropped).
func safeURLAttr(elem, attr, v string) bool {
	clean := strings.Map(func(r rune) rune {
		if r <= ' ' {
			return -1
		}
		return r
	}, strings.ToLower(v))
	switch {
	case elem == "img" && attr == "src":
		return strings.HasPrefix(clean, "data:image/")
	case strings.HasPrefix(clean, "https://"), strings.HasPrefix(clean, "http://"):
		return true
	case strings.HasPrefix(clean, "/") && !strings.HasPrefix(clean, "//") && !strings.HasPrefix(clean, `/\`):
		return true
	case clean == "#zgotmplz":
		return true // html/template's own replacement for a refused URL
	}
	return false
}

// pageText returns the page's visible text plus its attribute values.
func pageText(t testing.TB, page string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parsing the page: %v", err)
	}
	var b strings.Builder
	for n := range doc.Descendants() {
		switch n.Type {
		case html.TextNode:
			if n.Parent != nil && n.Parent.Data != "style" {
				b.WriteString(n.Data)
				b.WriteByte('\n')
			}
		case html.ElementNode:
			for _, a := range n.Attr {
				b.WriteString(a.Val)
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

func TestCSPHashMatchesTheServedStylesheet(t *testing.T) {
	brandings := map[string]Branding{
		"default":      {},
		"light accent": {Accent: "#ffcc00", Logo: testPNG(t), LogoType: "image/png"},
		"dark accent":  {Accent: "#101010", HelpURL: "https://help.example/"},
	}
	for name, b := range brandings {
		t.Run(name, func(t *testing.T) {
			r := newRenderer(t, b)
			m := regexp.MustCompile(`style-src 'sha256-([A-Za-z0-9+/=]+)'`).FindStringSubmatch(r.CSP())
			if m == nil {
				t.Fatalf("CSP %q has no style-src hash", r.CSP())
			}
			if strings.Contains(r.CSP(), "unsafe-inline") || strings.Contains(r.CSP(), "script-src") {
				t.Errorf("CSP %q allows inline code or scripts", r.CSP())
			}
			if got, want := strings.Contains(r.CSP(), "img-src data:"), b.Logo != nil; got != want {
				t.Errorf("CSP %q: img-src data: is %v; want %v (logo set: %v)", r.CSP(), got, want, want)
			}
			for _, f := range fixtures {
				page := render(t, func(w io.Writer) error { return f.render(r, w, "en") })
				checkSafe(t, f.name, page)
				sum := sha256.Sum256([]byte(styleText(t, page)))
				if got := base64.StdEncoding.EncodeToString(sum[:]); got != m[1] {
					t.Errorf("%s: stylesheet hash %s; CSP allows %s", f.name, got, m[1])
				}
			}
		})
	}
}

// styleText returns the text of the page's <style> element as a browser
// hashes it.
func styleText(t *testing.T, page string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "style" && n.FirstChild != nil {
			return n.FirstChild.Data
		}
	}
	t.Fatal("page has no <style>")
	return ""
}

func TestInterstitialShowsWhatTheCaseNeeds(t *testing.T) {
	r := newRenderer(t, testOrg)
	base := Interstitial{AppName: "Slack", Host: "acme.slack.com", Reference: "ref-1"}
	with := func(f func(p *Interstitial)) Interstitial { p := base; f(&p); return p }
	tests := []struct {
		name    string
		p       Interstitial
		want    []string
		notWant []string
	}{
		{"warn with alternative and continue", with(func(p *Interstitial) {
			p.Alternative = &Link{Name: "Microsoft Teams", URL: "https://teams.microsoft.com/"}
			p.Continue, p.ContinueFor = form("/.signpost/continue"), 8*time.Hour
		}), []string{"Slack is not the approved tool here", `<strong>acme.slack.com</strong>`,
			`<a class="button primary" href="https://teams.microsoft.com/">Open Microsoft Teams</a>`,
			`action="/.signpost/continue"`, "Continue to Slack for 8 hours", "ref-1",
			"Your organisation recommends another tool for this."},
			[]string{"Request access", "colleague"}},
		{"block without alternative", with(func(p *Interstitial) {
			p.Blocked, p.Request = true, form("/.signpost/request")
		}), []string{"Slack is not approved here", "Your organisation has not approved this app.", "Request access",
			"Nobody else has asked for Slack yet.", `maxlength="1000"`, "required"},
			[]string{"Continue to", "The approved tool"}},
		{"one colleague", with(func(p *Interstitial) { p.Blocked, p.Colleagues = true, 1 }),
			[]string{"1 colleague has already asked for Slack."}, []string{"colleagues have"}},
		{"pending hides the form and links the status page", with(func(p *Interstitial) {
			p.Blocked, p.Request, p.Pending, p.StatusURL = true, form("/r"), true, "/.signpost/requests"
			p.Denied = &Denial{At: nov3, Message: "old"}
		}), []string{"Your request is waiting for a decision.", `<a href="/.signpost/requests">See the status of your requests</a>`},
			[]string{"<textarea", "declined", "Nobody else"}},
		{"denial with the admin's message", with(func(p *Interstitial) {
			p.Blocked, p.Request, p.Denied = true, form("/r"), &Denial{At: nov3, Message: "Use OneDrive."}
		}), []string{"Your request of 3 November 2025 was declined: Use OneDrive."}, nil},
		{"denial without a message", with(func(p *Interstitial) { p.Denied = &Denial{At: nov3, Message: "  "} }),
			[]string{"Your request of 3 November 2025 was declined."}, []string{"declined:"}},
		{"continue without a duration", with(func(p *Interstitial) { p.Continue = form("/c") }),
			[]string{">Continue to Slack</button>", "If you continue, your choice is recorded."}, []string{"Slack for"}},
		{"alternative whose URL is not http shows its name only", with(func(p *Interstitial) {
			p.Alternative = &Link{Name: "Teams", URL: "javascript:alert(1)"}
		}), []string{"The approved tool for this is <strong>Teams</strong>."}, []string{"Open Teams", "javascript"}},
		{"forms posting elsewhere are left off", with(func(p *Interstitial) {
			p.Continue, p.Request = form("https://evil.example/c"), form("//evil.example/r")
		}), nil, []string{"<form", "evil"}},
		{"a justification limit", with(func(p *Interstitial) { p.Request, p.JustificationMax = form("/r"), 280 }),
			[]string{`maxlength="280"`, "up to 280 characters"}, nil},
		{"deprecated alternative fields", with(func(p *Interstitial) {
			p.AlternativeName, p.AlternativeURL = "Teams", "https://teams.microsoft.com/"
		}), []string{`href="https://teams.microsoft.com/">Open Teams</a>`}, nil},
		{"an unknown language is English", with(func(p *Interstitial) { p.Lang = "xx" }),
			[]string{`<html lang="en">`}, nil},
		{"a regional language is its language", with(func(p *Interstitial) { p.Lang = "de-CH" }),
			[]string{`<html lang="de">`, "Slack ist hier nicht das empfohlene Werkzeug"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, func(w io.Writer) error { return r.Interstitial(w, tt.p) })
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("page has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("page:\n%s", got)
			}
		})
	}
}

func TestFormsPostTheNamedFieldsWithLabels(t *testing.T) {
	r := newRenderer(t, Branding{})
	page := render(t, func(w io.Writer) error {
		return r.Interstitial(w, Interstitial{AppName: "Slack", Host: "slack.com", Blocked: true,
			Continue: form("/c"), Request: form("/r")})
	})
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "label" {
			labels[attr(n, "for")] = true
		}
	}
	forms := 0
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode || n.Data != "form" {
			continue
		}
		forms++
		if got := attr(n, "method"); got != "post" {
			t.Errorf("form %s: method %q; want post", attr(n, "action"), got)
		}
		fields := map[string]string{}
		for c := range n.Descendants() {
			if c.Type != html.ElementNode || (c.Data != "input" && c.Data != "textarea") {
				continue
			}
			fields[attr(c, "name")] = attr(c, "value")
			if attr(c, "type") != "hidden" && !labels[attr(c, "id")] {
				t.Errorf("<%s name=%q> has no label", c.Data, attr(c, "name"))
			}
		}
		if fields[FieldContext] != "ctx.signed" || fields[FieldCSRF] != "csrf-token" {
			t.Errorf("form %s posts %v; want %s=ctx.signed and %s=csrf-token", attr(n, "action"), fields, FieldContext, FieldCSRF)
		}
		if _, ok := fields[FieldJustification]; attr(n, "action") == "/r" && !ok {
			t.Errorf("request form lacks the %s field: %v", FieldJustification, fields)
		}
	}
	if forms != 2 {
		t.Errorf("page has %d forms; want 2", forms)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func TestStatusPage(t *testing.T) {
	r := newRenderer(t, Branding{})
	tests := []struct {
		name    string
		s       Status
		want    []string
		notWant []string
	}{
		{"a known notice is translated", Status{Lang: "fr", Notice: NoticeRequestReceived},
			[]string{"Votre demande a été reçue", "Vous n’avez encore demandé"}, []string{NoticeRequestReceived}},
		{"other notices are shown as given", Status{Notice: "notice.unknown & more"},
			[]string{"notice.unknown &amp; more"}, nil},
		{"an approval shows when access ends", Status{Requests: []RequestView{{AppName: "Miro", State: "approved",
			CreatedAt: nov3, DecidedAt: nov4, Until: nov5}}},
			[]string{`class="state state-approved">Approved`, "5 November 2025, 08:15 (UTC)", "Access until"}, []string{"Your reason"}},
		{"an unknown state is shown as given", Status{Requests: []RequestView{{AppName: "Miro", State: "revoked"}}},
			[]string{`class="state state-other">revoked`}, []string{"Requested"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, func(w io.Writer) error { return r.Status(w, tt.s) })
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}

func TestErrorPageDefaults(t *testing.T) {
	r := newRenderer(t, Branding{})
	tests := []struct {
		name string
		e    Error
		want []string
	}{
		{"known status", Error{Status: 504}, []string{"<h1>The site took too long to answer</h1>", "Error 504"}},
		{"in German", Error{Lang: "de", Status: 503}, []string{"<h1>Bitte versuchen Sie es gleich noch einmal</h1>", "Fehler 503"}},
		{"other status", Error{Status: 418}, []string{"<h1>Something went wrong</h1>", "Error 418"}},
		{"no status is 500", Error{}, []string{"Error 500"}},
		{"given texts win", Error{Status: 502, Title: "Gone", Message: "Signpost: <gone>"},
			[]string{"<h1>Gone</h1>", "Signpost: &lt;gone&gt;", "<title>Gone · Signpost</title>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, func(w io.Writer) error { return r.Error(w, tt.e) })
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("page lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestNewRefusesBadBranding(t *testing.T) {
	tests := []struct {
		name string
		b    Branding
		want string
	}{
		{"accent by name", Branding{Accent: "red"}, `accent: found "red"; expected a colour like "#2457c5"`},
		{"short accent", Branding{Accent: "#fff"}, `accent: found "#fff"`},
		{"accent not hex", Branding{Accent: "#gg0000"}, `accent: found "#gg0000"`},
		{"logo as HTML", Branding{Logo: []byte("<html><script>alert(1)</script></html>"), LogoType: "text/html"},
			`logo: found type "text/html"; expected one of image/png, image/svg+xml, image/jpeg, image/webp`},
		{"HTML bytes named PNG", Branding{Logo: []byte("<html><script>alert(1)</script></html>"), LogoType: "image/png"},
			"logo: found text/html content for type image/png"},
		{"SVG type without SVG", Branding{Logo: []byte("hello"), LogoType: "image/svg+xml"}, "expected an <svg> document"},
		{"unguessable logo", Branding{Logo: []byte("hello")}, `logo: found type "text/plain"`},
		{"type without logo", Branding{LogoType: "image/png"}, `logo: found type "image/png" but no image`},
		{"huge logo", Branding{Logo: make([]byte, MaxLogoSize+1), LogoType: "image/png"}, "expected at most 262144"},
		{"help URL with script", Branding{HelpURL: "javascript:alert(1)"},
			`help URL: found "javascript:alert(1)"; expected an http or https URL`},
		{"help URL without host", Branding{HelpURL: "https://"}, "help URL"},
		{"help URL relative", Branding{HelpURL: "//evil.example/"}, "help URL"},
		{"help URL ftp", Branding{HelpURL: "ftp://files.example/"}, "help URL"},
		{"unknown language", Branding{Texts: map[string]map[string]string{"es": {"layout.help": "Ayuda"}}},
			`texts: found language "es"; expected one of de, en, fr`},
		{"unknown key with a suggestion", Branding{Texts: map[string]map[string]string{"en": {"layout.hlep": "Help"}}},
			`texts.en: found unknown key "layout.hlep" (did you mean "layout.help"?)`},
		{"unknown placeholder", Branding{Texts: map[string]map[string]string{"de": {"interstitial.title.warn": "{app} {user}"}}},
			"texts.de.interstitial.title.warn: found placeholder {user}; expected only {app}"},
		{"empty text", Branding{Texts: map[string]map[string]string{"fr": {"layout.help": " "}}},
			"texts.fr.layout.help: found an empty text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.b)
			if err == nil {
				t.Fatalf("New: got a Renderer; want an error with %q", tt.want)
			}
			if r != nil {
				t.Errorf("New: got a Renderer with the error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: got %q; want it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		_, err := New(Branding{Accent: "red", HelpURL: "javascript:x", LogoType: "image/png"})
		if err == nil {
			t.Fatal("New: got nil error")
		}
		for _, w := range []string{"accent", "help URL", "logo"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %s", err, w)
			}
		}
	})
}

func TestNewAcceptsBranding(t *testing.T) {
	tests := []struct {
		name string
		b    Branding
		want []string
	}{
		{"PNG logo, type guessed", Branding{Logo: testPNG(t)}, []string{`<img class="logo" src="data:image/png;base64,`}},
		{"SVG logo, type guessed", Branding{Logo: []byte("<?xml version=\"1.0\"?>\n" + testSVG)}, []string{`src="data:image/svg&#43;xml;base64,`}},
		{"SVG logo", Branding{Logo: []byte(testSVG), LogoType: "image/svg+xml; charset=utf-8"},
			[]string{`src="data:image/svg&#43;xml;base64,`}},
		{"organisation and help", Branding{Organization: "Acme <Corp>", HelpURL: "https://help.example/?a=1&b=2"},
			[]string{`<span class="org">Acme &lt;Corp&gt;</span>`, `href="https://help.example/?a=1&amp;b=2"`}},
		{"overridden text with a subset of placeholders", Branding{Texts: map[string]map[string]string{
			"en": {"interstitial.title.block": "Not here, sorry"}, "de": {"layout.help": "IT-Hilfe"}}},
			[]string{"<h1>Not here, sorry</h1>"}},
		{"upper-case accent", Branding{Accent: "#FFCC00"}, []string{"--accent:#ffcc00;--on-accent:#000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRenderer(t, tt.b)
			got := render(t, func(w io.Writer) error {
				return r.Interstitial(w, Interstitial{AppName: "X", Host: "x.example", Blocked: true})
			})
			checkSafe(t, tt.name, got)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("page lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestSetHeaders(t *testing.T) {
	r := newRenderer(t, Branding{})
	h := http.Header{}
	r.SetHeaders(h)
	want := map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": r.CSP(),
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: got %q; want %q", k, got, v)
		}
	}
	h = http.Header{}
	SetJSONHeaders(h)
	if got := h.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("JSON Content-Type: got %q", got)
	}
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("JSON Cache-Control: got %q; want no-store", got)
	}
}

func TestDeprecatedFunctionsUseTheDefaultBranding(t *testing.T) {
	r := newRenderer(t, Branding{})
	if ContentSecurityPolicy != r.CSP() {
		t.Errorf("ContentSecurityPolicy: got %q; want %q", ContentSecurityPolicy, r.CSP())
	}
	h := http.Header{}
	SetHeaders(h)
	if got := h.Get("Content-Security-Policy"); got != r.CSP() {
		t.Errorf("SetHeaders CSP: got %q; want %q", got, r.CSP())
	}
	p := Interstitial{AppName: "Slack", Host: "slack.com", Blocked: true}
	old, err := Bytes(func(w io.Writer) error { return RenderInterstitial(w, p) })
	if err != nil {
		t.Fatal(err)
	}
	if want := render(t, func(w io.Writer) error { return r.Interstitial(w, p) }); string(old) != want {
		t.Errorf("RenderInterstitial differs from Renderer.Interstitial")
	}
	e, err := Bytes(func(w io.Writer) error { return RenderError(w, Error{Status: 502}) })
	if err != nil || !strings.Contains(string(e), "The site could not be reached") {
		t.Errorf("RenderError: got %q, %v", e, err)
	}
}

func TestCheckJustification(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		want    string
		wantErr error
	}{
		{"trimmed, line ends made \\n", "  Client workshop\r\non Miro\r ", 0, "Client workshop\non Miro", nil},
		{"exactly max characters", strings.Repeat("é", 10), 10, strings.Repeat("é", 10), nil},
		{"one more than max", strings.Repeat("é", 11), 10, "", ErrJustificationTooLong},
		{"blank", " \n\t ", 0, "", ErrJustificationEmpty},
		{"default limit", strings.Repeat("a", DefaultJustificationMax+1), 0, "", ErrJustificationTooLong},
		{"control character", "a\x00b", 0, "", ErrJustificationInvalid},
		{"C1 control character", "a\u0085b", 0, "", ErrJustificationInvalid},
		{"invalid UTF-8", "a\xffb", 0, "", ErrJustificationInvalid},
		{"tabs and newlines stay", "a\tb\nc", 0, "a\tb\nc", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckJustification(tt.in, tt.max)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("CheckJustification(%q, %d): got %q, %v; want %q, %v", tt.in, tt.max, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRenderingIsSafeConcurrently(t *testing.T) {
	r := newRenderer(t, testOrg)
	var wg sync.WaitGroup
	outs := make([]string, 8)
	for i := range outs {
		wg.Go(func() {
			var b bytes.Buffer
			if err := fixtures[i%len(fixtures)].render(r, &b, r.Languages()[i%3]); err != nil {
				t.Error(err)
			}
			outs[i] = b.String()
		})
	}
	wg.Wait()
	for i, o := range outs {
		if !strings.Contains(o, "</html>") {
			t.Errorf("render %d: got an incomplete page", i)
		}
	}
}

func TestText(t *testing.T) {
	r := newRenderer(t, Branding{Texts: map[string]map[string]string{"fr": {"layout.help": "Aide"}}})
	tests := []struct {
		lang, key string
		args      []any
		want      string
	}{
		{"de", "interstitial.title.block", []any{"app", "Slack"}, "Slack ist hier nicht freigegeben"},
		{"de-AT", "status.title", nil, "Ihre Zugriffsanfragen"},
		{"xx", NoticeRequestReceived, nil, "Your request was received and your IT team has been told. You will see their answer here."},
		{"fr", "layout.help", nil, "Aide"},
		{"en", "no.such.key", nil, "no.such.key"},
	}
	for _, tt := range tests {
		t.Run(tt.lang+"/"+tt.key, func(t *testing.T) {
			if got := r.Text(tt.lang, tt.key, tt.args...); got != tt.want {
				t.Errorf("Text(%q, %q): got %q; want %q", tt.lang, tt.key, got, tt.want)
			}
		})
	}
}

// BenchmarkRender renders each golden page in English, as the proxy does
// for every page view (into a reused buffer).
func BenchmarkRender(b *testing.B) {
	r := newRenderer(b, testOrg)
	var buf bytes.Buffer
	for _, f := range fixtures {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := f.render(r, &buf, "en"); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}
