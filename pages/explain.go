package pages

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Explanation is the interstitial's explanation for clients that are not a
// person looking at a page: fetch and XHR calls, API clients, scripts.
type Explanation struct {
	// Lang chooses the language of the answer's message; "" is
	// DefaultLanguage.
	Lang string
	// App is the catalog id, AppName its name, Host the host asked for
	// (never the URL with its query).
	App, AppName, Host string
	// Action is "warn" or "block".
	Action string
	// Reason is the organisation's explanation.
	Reason string
	// Alternative and AlternativeURL name the approved tool; an
	// AlternativeURL that is not http or https is left out.
	Alternative, AlternativeURL string
	// Reference identifies this decision in the proxy's log.
	Reference string
	// PageURL is where a browser shows the page (an http or https URL, or
	// a path on the same host).
	PageURL string
}

// explanationJSON is the wire form of an Explanation. Its field names are
// part of Signpost's interface; add, never rename.
type explanationJSON struct {
	Signpost       string `json:"signpost"` // always "explanation", to tell it from an origin's JSON
	Message        string `json:"message"`
	Action         string `json:"action"`
	App            string `json:"app,omitempty"`
	AppName        string `json:"app_name,omitempty"`
	Host           string `json:"host,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Alternative    string `json:"alternative,omitempty"`
	AlternativeURL string `json:"alternative_url,omitempty"`
	Reference      string `json:"reference,omitempty"`
	PageURL        string `json:"page_url,omitempty"`
}

// JSON writes e as one JSON object and a newline:
//
//	{"signpost":"explanation","message":"Slack is not the approved tool here","action":"warn",
//	 "app":"slack","app_name":"Slack","host":"acme.slack.com","reason":"…",
//	 "alternative":"Microsoft Teams","alternative_url":"https://teams.microsoft.com/",
//	 "reference":"…","page_url":"https://acme.slack.com/.signpost/page?…"}
//
// message is the page's heading in e.Lang. Serve it with SetJSONHeaders.
func (r *Renderer) JSON(w io.Writer, e Explanation) error {
	l := r.locale(e.Lang)
	action := "warn"
	if e.Action == "block" {
		action = "block"
	}
	name := e.AppName
	if name == "" {
		name = e.Host
	}
	out := explanationJSON{
		Signpost:       "explanation",
		Message:        l.T("interstitial.title."+action, "app", name),
		Action:         e.Action,
		App:            e.App,
		AppName:        e.AppName,
		Host:           e.Host,
		Reason:         e.Reason,
		Alternative:    e.Alternative,
		AlternativeURL: absoluteURL(e.AlternativeURL),
		Reference:      e.Reference,
		PageURL:        linkURL(e.PageURL),
	}
	if err := json.NewEncoder(w).Encode(out); err != nil {
		return fmt.Errorf("pages: writing the explanation: %w", err)
	}
	return nil
}

// SetJSONHeaders sets the headers of a JSON answer: its type, no caching,
// no MIME sniffing, and a CSP that lets nothing run should a browser open
// it anyway.
func SetJSONHeaders(h http.Header) {
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// WantsHTML reports whether a request is a page navigation that should get
// the HTML page rather than the JSON explanation.
//
// Browsers say so in Fetch Metadata: Sec-Fetch-Mode "navigate" or
// Sec-Fetch-Dest "document" (or a frame) is a page; any other mode (cors,
// no-cors, same-origin, websocket) is fetch, XHR or a subresource. Without
// those headers the Accept header decides: HTML when it ranks text/html
// above application/json, or names text/html explicitly at the same rank.
// An Accept of only "*/*" — what curl and many tools send — counts as HTML,
// so that a person trying the proxy with curl reads the page; a client that
// sends no Accept at all, or X-Requested-With: XMLHttpRequest, gets JSON.
func WantsHTML(h http.Header) bool {
	mode := strings.ToLower(strings.TrimSpace(h.Get("Sec-Fetch-Mode")))
	dest := strings.ToLower(strings.TrimSpace(h.Get("Sec-Fetch-Dest")))
	if mode != "" || dest != "" {
		if mode == "navigate" || mode == "nested-navigate" {
			return true
		}
		if mode == "" {
			switch dest {
			case "document", "iframe", "frame":
				return true
			}
		}
		return false
	}
	if strings.EqualFold(h.Get("X-Requested-With"), "XMLHttpRequest") {
		return false
	}
	accept := strings.Join(h.Values("Accept"), ",")
	if strings.TrimSpace(accept) == "" {
		return false
	}
	html := acceptRank(accept, "text", "html")
	js := acceptRank(accept, "application", "json")
	switch {
	case html.q <= 0:
		return false
	case html.q != js.q:
		return html.q > js.q
	default:
		return html.specificity >= js.specificity
	}
}

// rank is how an Accept header ranks one media type: the q of the most
// specific range matching it (RFC 9110 §12.5.1), and how specific that
// range was: 0 for */*, 1 for type/*, 2 for type/subtype.
type rank struct {
	q           float64
	specificity int
}

// acceptRank ranks typ/sub in an Accept header. A type no range matches
// has q 0.
func acceptRank(accept, typ, sub string) rank {
	best := rank{q: 0, specificity: -1}
	for part := range strings.SplitSeq(accept, ",") {
		rng, params, _ := strings.Cut(part, ";")
		t, s, _ := strings.Cut(strings.ToLower(strings.TrimSpace(rng)), "/")
		t, s = strings.TrimSpace(t), strings.TrimSpace(s)
		spec := -1
		switch {
		case t == typ && s == sub:
			spec = 2
		case t == typ && s == "*":
			spec = 1
		case t == "*" && s == "*":
			spec = 0
		}
		if spec < best.specificity || spec < 0 {
			continue
		}
		q, ok := qValue(params)
		if !ok {
			continue
		}
		if spec > best.specificity || q > best.q {
			best = rank{q: q, specificity: spec}
		}
	}
	if best.specificity < 0 {
		return rank{}
	}
	return best
}
