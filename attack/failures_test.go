package attack_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// goErrorText is what Go's error messages say about a failed upstream;
// none of it may reach a client.
var goErrorText = []string{"dial tcp", "connection refused", "no such host", "lookup ", "127.0.0.1", "i/o timeout", "EOF", "net/http"}

func assertNoGoErrorText(t *testing.T, body string) {
	t.Helper()
	for _, s := range goErrorText {
		if strings.Contains(body, s) {
			t.Errorf("the answer contains Go's error text %q:\n%s", s, body)
		}
	}
}

// TestUnreachableOriginGivesAFriendlyAnswer: an origin that refuses the
// connection, or a name that does not resolve, gives the browser a page
// (an API client JSON) with the status and a reference for the log —
// never Go's error text.
func TestUnreachableOriginGivesAFriendlyAnswer(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	closed := closedAddr(t)
	g.res.route("teams.microsoft.com:80", closed)
	g.res.route("teams.microsoft.com:443", closed)
	g.res.route("docs.google.com:443", closed)
	noSuchHost := &net.DNSError{Err: "no such host", Name: "nowhere.example", IsNotFound: true}
	g.res.fail("nowhere.example:80", noSuchHost)
	g.res.fail("nowhere.example:443", noSuchHost)
	c := g.client()

	pages := []struct{ name, url string }{
		{"plain HTTP, connection refused", "http://teams.microsoft.com/"},
		{"plain HTTP, no such host", "http://nowhere.example/"},
		{"inside an intercepted tunnel, connection refused", "https://docs.google.com/drawings/d/1"},
	}
	for _, tt := range pages {
		t.Run(tt.name+"/page", func(t *testing.T) {
			resp, body := g.get(c, tt.url)
			if resp.StatusCode != http.StatusBadGateway || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("got %d %s; want a 502 page", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if !strings.Contains(body, "Reference") {
				t.Errorf("the page carries no reference:\n%s", body)
			}
			assertNoGoErrorText(t, body)
		})
		t.Run(tt.name+"/JSON", func(t *testing.T) {
			resp, body := g.get(c, tt.url, "Accept", "application/json")
			var j struct {
				Error     string `json:"error"`
				Status    int    `json:"status"`
				Reference string `json:"reference"`
			}
			if err := json.Unmarshal([]byte(body), &j); err != nil || resp.StatusCode != 502 || j.Status != 502 || j.Reference == "" {
				t.Fatalf("got %d %q (%v); want JSON with status 502 and a reference", resp.StatusCode, body, err)
			}
			assertNoGoErrorText(t, body)
			if !strings.Contains(g.logs.String(), `"ref":"`+j.Reference+`"`) {
				t.Errorf("the reference %s is not in the log", j.Reference)
			}
		})
	}
	for _, authority := range []string{"teams.microsoft.com:443", "nowhere.example:443"} {
		t.Run("CONNECT "+authority, func(t *testing.T) {
			resp, body, _ := g.connect(authority)
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "reference") {
				t.Fatalf("got %d %q; want 502 with a reference", resp.StatusCode, body)
			}
			assertNoGoErrorText(t, body)
		})
	}
	if got := g.counter("signpost_proxy_upstream_errors_total", map[string]string{"kind": "dns"}); got != 3 {
		t.Errorf("upstream_errors{kind=dns}: got %v; want 3", got)
	}
}

// TestSlowOriginGivesA504: an origin that accepts the request and never
// answers must not hold the browser forever; the proxy answers 504.
func TestSlowOriginGivesA504(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + "  response_header_timeout: 1s\n" + policyYAML})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	g.origin.Handle = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://teams.microsoft.com/slow", nil)
	req.Header.Set("Accept", "application/json")
	c := g.client()
	c.Timeout = 0
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("no answer from the proxy: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("got %d %s; want 504", resp.StatusCode, body)
	}
	assertNoGoErrorText(t, string(body))
}
