package pages

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func TestInterstitialEscapesEverything(t *testing.T) {
	hostile := `<script>alert("x")</script>`
	p := Interstitial{
		AppName:         hostile + "App",
		Host:            `evil.example"><img src=x onerror=alert(1)>`,
		Blocked:         true,
		Reason:          "Because " + hostile,
		AlternativeName: hostile,
		AlternativeURL:  `javascript:alert(document.cookie)`,
		Rule:            hostile,
		Reference:       hostile,
	}
	var b bytes.Buffer
	if err := RenderInterstitial(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"<script>", "<img", "javascript:", `onerror=alert(1)>`} {
		if strings.Contains(out, bad) {
			t.Errorf("page contains %q unescaped:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "&lt;script&gt;") {
		t.Errorf("page lacks the escaped name:\n%s", out)
	}
}

func TestInterstitialShowsWhatMatters(t *testing.T) {
	tests := []struct {
		name    string
		p       Interstitial
		want    []string
		notWant []string
	}{
		{"warn with alternative", Interstitial{AppName: "Slack", Host: "acme.slack.com", Reason: "Use Teams.",
			AlternativeName: "Microsoft Teams", AlternativeURL: "https://teams.microsoft.com/", Rule: "category chat", Reference: "abc"},
			[]string{"Slack is not the approved tool here", "acme.slack.com", "Use Teams.", `href="https://teams.microsoft.com/"`, "Open Microsoft Teams instead", "abc"},
			[]string{"not approved here"}},
		{"block without alternative", Interstitial{AppName: "WeTransfer", Host: "wetransfer.com", Blocked: true},
			[]string{"WeTransfer is not approved here"}, []string{"instead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := RenderInterstitial(&b, tt.p); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}

func TestErrorPageAndHeaders(t *testing.T) {
	var b bytes.Buffer
	if err := RenderError(&b, Error{Status: 502, Message: "Signpost: <gone>", Reference: "r1"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Bad Gateway") || !strings.Contains(b.String(), "&lt;gone&gt;") {
		t.Errorf("error page:\n%s", b.String())
	}
	h := http.Header{}
	SetHeaders(h)
	for k, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: got %q; want %q", k, got, want)
		}
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("CSP: %q", h.Get("Content-Security-Policy"))
	}
}
