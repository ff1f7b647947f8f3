package attack_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/signpost-gateway/signpost/config"
)

// Payloads people can write: a user name (through a trusted gateway's
// header), a justification and an admin's denial message.
const (
	evilUser          = `<img src=x onerror=alert('user')>`
	evilJustification = `<script>alert("justification")</script><a href="javascript:alert(1)">x</a>'&`
	evilMessage       = `</p><script>alert("message")</script><svg onload=alert(3)>`
)

// rawMarkup is what the payloads become if they are not escaped: tags and
// a javascript: link. Their text, escaped ("&lt;img src=x onerror=…"), is
// harmless and expected.
var rawMarkup = []string{"<script", "<img src=x", "<svg", `href="javascript:`}

// assertEscaped fails when page carries any payload's markup unescaped,
// and requires the escaped form of want to be shown (the text is there,
// only harmless).
func assertEscaped(t *testing.T, where, page string, want ...string) {
	t.Helper()
	for _, m := range rawMarkup {
		if strings.Contains(page, m) {
			t.Errorf("%s shows raw markup %q:\n%s", where, m, page)
		}
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("%s lacks the escaped text %q", where, w)
		}
	}
}

// assertNoScript fails when a page's Content-Security-Policy would let a
// script run, should markup ever slip through.
func assertNoScript(t *testing.T, where string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("%s: Content-Security-Policy %q allows script", where, csp)
	}
}

// TestUserTextIsEscapedInPagesAndTheAdminView follows the payloads
// through the whole conversation: the person's pages on the proxy port,
// and the admin's pages on the admin listener.
func TestUserTextIsEscapedInPagesAndTheAdminView(t *testing.T) {
	nd := startNode(t, map[string]string{"signpost.yaml": loopbackOK + policyYAML +
		"identity:\n  trusted_header: X-Authenticated-User\n  trusted_peers: [127.0.0.1/32]\n"})
	c := nd.client("")
	as := []string{"X-Authenticated-User", evilUser, "Accept", "text/html"}
	get := func(u string) (*http.Response, string) {
		t.Helper()
		return do(t, c, "GET", u, nil, as...)
	}
	_, page := get("http://wetransfer.com/")
	form := formOf(t, page, "/.signpost/request")
	form.Set("justification", evilJustification)
	resp, _ := post(t, c, "http://wetransfer.com/.signpost/request", form, as...)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("request access: got %d; want 303", resp.StatusCode)
	}
	resp, page = get("http://wetransfer.com/.signpost/requests")
	assertEscaped(t, "the person's status page", page, "&lt;script&gt;")
	assertNoScript(t, "the person's status page", resp.Header)

	code, list := nd.api("GET", "/api/v1/requests?status=pending", "")
	reqs, _ := list["requests"].([]any)
	if code != http.StatusOK || len(reqs) != 1 {
		t.Fatalf("pending requests: %d %v", code, list)
	}
	r := reqs[0].(map[string]any)
	if r["justification"] != evilJustification || r["user"] != evilUser {
		t.Fatalf("the API does not return the text as written: %v", r)
	}
	id := strconv.FormatInt(int64(r["id"].(float64)), 10)
	auth := "Bearer " + nd.token
	for _, path := range []string{"/", "/requests/" + id} {
		resp, page := nd.adminDo("GET", path, auth, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("admin %s: got %d", path, resp.StatusCode)
		}
		assertEscaped(t, "admin "+path, page, "&lt;script&gt;", "&lt;img src=x")
		assertNoScript(t, "admin "+path, resp.Header)
	}

	code, _ = nd.api("POST", "/api/v1/requests/"+id+"/deny", `{"message":`+strconv.Quote(evilMessage)+`}`)
	if code != http.StatusOK {
		t.Fatalf("deny: got %d", code)
	}
	for _, path := range []string{"/history", "/requests/" + id, "/audit"} {
		resp, page := nd.adminDo("GET", path, auth, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("admin %s: got %d", path, resp.StatusCode)
		}
		assertEscaped(t, "admin "+path, page)
	}
	if _, page := nd.adminDo("GET", "/requests/"+id, auth, "", ""); !strings.Contains(page, "&lt;/p&gt;&lt;script&gt;") {
		t.Errorf("the admin's request page lacks the escaped denial message")
	}
	// The denial message is shown to the person on the next page and on
	// the status page.
	resp, page = get("http://wetransfer.com/")
	assertEscaped(t, "the block page after a denial", page, "&lt;/p&gt;&lt;script&gt;")
	assertNoScript(t, "the block page", resp.Header)
	_, page = get("http://wetransfer.com/.signpost/requests")
	assertEscaped(t, "the status page after a denial", page, "&lt;/p&gt;&lt;script&gt;")
}

// TestConfigurationTextIsEscaped: the configuration is trusted, but a
// hostile or careless change must not become script on every intercepted
// site: names, reasons, branding and message overrides are text, the logo
// is an image, and a javascript: help link is refused when loading.
func TestConfigurationTextIsEscaped(t *testing.T) {
	dir := t.TempDir()
	logo := `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>`
	if err := os.WriteFile(filepath.Join(dir, "logo.svg"), []byte(logo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loopbackOK + `
apps:
  - id: evil
    name: "<script>alert('name')</script>"
    vendor: "<img src=x onerror=alert('vendor')>"
    category: chat
    homepage: https://evil.example/
    domains: [evil.example]
branding:
  organization: "<svg onload=alert('org')>"
  logo: logo.svg
  texts:
    en: {"layout.footer": "<script>alert('footer')</script>"}
policy:
  rules:
    - {app: evil, action: warn, reason: "<img src=x onerror=alert('reason')>"}
`
	if err := os.WriteFile(filepath.Join(dir, "signpost.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(dir)
	if err != nil {
		t.Fatalf("loading: %v", err)
	}
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	if err := g.gw.Swap(c); err != nil {
		t.Fatal(err)
	}
	resp, page := g.get(g.client(), "http://evil.example/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("warn page: got %d", resp.StatusCode)
	}
	assertEscaped(t, "the warn page", page, "&lt;script&gt;alert(&#39;name&#39;)", "&lt;img src=x onerror=alert(&#39;reason&#39;)")
	if !strings.Contains(page, `<img class="logo" src="data:image/svg`) {
		t.Errorf("the logo is not an image data URI:\n%s", page)
	}
	assertNoScript(t, "the warn page", resp.Header)

	t.Run("javascript: help link", func(t *testing.T) {
		bad := strings.Replace(cfg, "  logo: logo.svg\n", "  logo: logo.svg\n  help_url: \"javascript:alert(1)\"\n", 1)
		if err := os.WriteFile(filepath.Join(dir, "signpost.yaml"), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(dir)
		if err == nil || !strings.Contains(err.Error(), "signpost.yaml:") || !strings.Contains(err.Error(), "help_url") {
			t.Fatalf("got %v; want a file:line error about help_url", err)
		}
	})
}
