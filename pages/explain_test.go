package pages

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestWantsHTML(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   bool
	}{
		{"browser navigation", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document",
			"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, true},
		{"navigation into a frame", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}, true},
		{"only Sec-Fetch-Dest document", map[string]string{"Sec-Fetch-Dest": "document"}, true},
		{"fetch asking for anything", map[string]string{"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty", "Accept": "*/*"}, false},
		{"fetch even when asking for HTML", map[string]string{"Sec-Fetch-Mode": "cors", "Accept": "text/html"}, false},
		{"no-cors subresource", map[string]string{"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Accept": "image/*"}, false},
		{"same-origin XHR", map[string]string{"Sec-Fetch-Mode": "same-origin", "Sec-Fetch-Dest": "empty"}, false},
		{"websocket", map[string]string{"Sec-Fetch-Mode": "websocket"}, false},
		{"script subresource", map[string]string{"Sec-Fetch-Dest": "script"}, false},
		{"old browser navigation", map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, true},
		{"curl", map[string]string{"Accept": "*/*"}, true},
		{"no Accept", map[string]string{}, false},
		{"API client", map[string]string{"Accept": "application/json"}, false},
		{"JSON preferred", map[string]string{"Accept": "application/json, text/html;q=0.5"}, false},
		{"HTML preferred", map[string]string{"Accept": "text/html, application/json;q=0.5"}, true},
		{"axios default", map[string]string{"Accept": "application/json, text/plain, */*"}, false},
		{"HTML and JSON named equally", map[string]string{"Accept": "application/json, text/html"}, true},
		{"text/* beats a wildcard JSON", map[string]string{"Accept": "text/*, */*"}, true},
		{"HTML refused", map[string]string{"Accept": "text/html;q=0, */*"}, false},
		{"plain text only", map[string]string{"Accept": "text/plain"}, false},
		{"jQuery XHR", map[string]string{"Accept": "*/*", "X-Requested-With": "XMLHttpRequest"}, false},
		{"bad q ignored", map[string]string{"Accept": "text/html;q=x, application/json"}, false},
		{"upper case", map[string]string{"Accept": "TEXT/HTML"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			if got := WantsHTML(h); got != tt.want {
				t.Errorf("WantsHTML(%v): got %v; want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestJSONExplanation(t *testing.T) {
	r := newRenderer(t, Branding{})
	tests := []struct {
		name string
		e    Explanation
		want map[string]string
		raw  []string // substrings of the raw JSON
		not  []string
	}{
		{"warn", Explanation{App: "slack", AppName: "Slack", Host: "acme.slack.com", Action: "warn", Reason: "Use Teams.",
			Alternative: "Microsoft Teams", AlternativeURL: "https://teams.microsoft.com/", Reference: "d-1",
			PageURL: "/.signpost/page?c=abc"},
			map[string]string{"signpost": "explanation", "message": "Slack is not the approved tool here", "action": "warn",
				"app": "slack", "app_name": "Slack", "host": "acme.slack.com", "reason": "Use Teams.",
				"alternative": "Microsoft Teams", "alternative_url": "https://teams.microsoft.com/", "reference": "d-1",
				"page_url": "/.signpost/page?c=abc"}, nil, nil},
		{"block in French, without a name", Explanation{Lang: "fr", Host: "wetransfer.com", Action: "block"},
			map[string]string{"message": "wetransfer.com n’est pas autorisé ici", "action": "block"}, nil, []string{"app_name", "alternative"}},
		{"hostile values", Explanation{AppName: "<script>", Action: "block", AlternativeURL: "javascript:alert(1)",
			PageURL: "//evil.example/"},
			map[string]string{"app_name": "<script>"}, []string{`\u003cscript\u003e`}, []string{"<script", "javascript", "evil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := r.JSON(&b, tt.e); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(b.String(), "}\n") {
				t.Errorf("JSON %q does not end in one object and a newline", b.String())
			}
			var got map[string]string
			if err := json.Unmarshal(b.Bytes(), &got); err != nil {
				t.Fatalf("JSON %q: %v", b.String(), err)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: got %q; want %q", k, got[k], v)
				}
			}
			for _, s := range tt.raw {
				if !strings.Contains(b.String(), s) {
					t.Errorf("JSON %q lacks %q", b.String(), s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(b.String(), s) {
					t.Errorf("JSON %q has %q", b.String(), s)
				}
			}
		})
	}
}
