package pages

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzRender puts arbitrary strings into every text and URL field of the
// interstitial and the status page: rendering must succeed, and the page
// must never carry script or a link that is not http(s) or local.
func FuzzRender(f *testing.F) {
	for _, h := range hostile {
		f.Add(h, "acme.slack.com", h, "Teams", "https://teams.microsoft.com/", "/.signpost/c", h, "de", 3, int64(8*time.Hour))
	}
	f.Add("Slack", "slack.com", "Use Teams.", "Teams", "javascript:alert(1)", "//evil/", "/.signpost/requests", "fr-CH", 0, int64(0))
	r, err := New(Branding{Organization: "Acme", HelpURL: "https://help.example/"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text, host, reason, altName, altURL, action, statusURL, lang string, colleagues int, cont int64) {
		var b bytes.Buffer
		p := Interstitial{Lang: lang, AppName: text, Host: host, Blocked: colleagues%2 == 0, Reason: reason,
			Alternative: &Link{Name: altName, URL: altURL}, Rule: text, Reference: reason,
			ContinueFor: time.Duration(cont), Continue: &Form{Action: action, Context: text, CSRF: reason},
			Request: &Form{Action: action, Context: altName, CSRF: altURL}, JustificationMax: colleagues,
			Colleagues: colleagues, Pending: colleagues%3 == 0, Denied: &Denial{At: time.Unix(cont%(1<<40), 0), Message: text},
			StatusURL: statusURL}
		if err := r.Interstitial(&b, p); err != nil {
			t.Fatalf("Interstitial: %v", err)
		}
		checkSafe(t, "interstitial", b.String())
		b.Reset()
		s := Status{Lang: lang, User: text, Notice: reason, Requests: []RequestView{
			{AppName: text, Justification: reason, State: altName, Message: altURL, CreatedAt: time.Unix(cont%(1<<40), 0)},
		}}
		if err := r.Status(&b, s); err != nil {
			t.Fatalf("Status: %v", err)
		}
		checkSafe(t, "status", b.String())
		b.Reset()
		if err := r.JSON(&b, Explanation{Lang: lang, AppName: text, AlternativeURL: altURL, PageURL: statusURL}); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if strings.Contains(b.String(), "<") {
			t.Errorf("JSON carries an unescaped <: %s", b.String())
		}
	})
}

// FuzzHeaders feeds arbitrary Accept-Language and Accept headers to the
// header parsers: they must not panic, and the language must be one the
// pages ship.
func FuzzHeaders(f *testing.F) {
	f.Add("de-CH, de;q=0.9, en;q=0.8", "text/html,application/xhtml+xml,*/*;q=0.8", "navigate")
	f.Add(";q=;;,,*", "application/json;q=0.9, text/html;q=0.9", "")
	f.Add("fr;q=1e-3, de;q=NaN", "*/*;q=0.001, text/*;q=1.0", "cors")
	r, err := New(Branding{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, acceptLanguage, accept, mode string) {
		lang := r.Language(acceptLanguage)
		if _, ok := r.locales[lang]; !ok {
			t.Errorf("Language(%q): got %q, which is not shipped", acceptLanguage, lang)
		}
		h := http.Header{"Accept": {accept}, "Sec-Fetch-Mode": {mode}}
		got := WantsHTML(h)
		if m := strings.ToLower(strings.TrimSpace(mode)); m != "" && m != "navigate" && m != "nested-navigate" && got {
			t.Errorf("WantsHTML with Sec-Fetch-Mode %q: got true; want false", mode)
		}
	})
}
