// Package e2e_test tests Signpost as a person meets it: Debian's Chromium,
// driven by chromedp, configured by the proxy's PAC URL and trusting the
// interception CA through an NSS database in a temporary HOME (as an admin
// sets up a desktop; certificate errors are never ignored), opens an app
// the policy allows, one it warns about and one it blocks, asks for
// access, and an admin approves the request in the same browser. Every
// page is photographed and checked with axe-core.
//
// The test needs chromium, certutil and axe-core (scripts/install-deps.sh
// installs them) and fails without them; only -short skips it.
package e2e_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
}

func TestBrowsingThroughSignpost(t *testing.T) {
	skipShort(t)
	t.Parallel()
	n := startNode(t)
	b := newBrowser(t, n, nssHome(t, map[string][]byte{"signpost": n.caPEM, "test-origin": n.origin.CAPEM}))

	t.Run("an allowed app opens untouched", func(t *testing.T) {
		b := b.on(t)
		resp := b.visit("https://" + teams.host + "/")
		if got := b.title(); got != teams.title {
			t.Errorf("title: got %q; want %q", got, teams.title)
		}
		// The browser saw the origin's own certificate: the tunnel was not
		// intercepted.
		if got := issuer(resp); got != originCA {
			t.Errorf("certificate issuer: got %q; want the origin's %q", got, originCA)
		}
	})

	warned := "https://" + slack.host + "/archives/C024BE91L?thread=1"
	t.Run("a warned app shows the page, and Continue opens it", func(t *testing.T) {
		b := b.on(t)
		resp := b.visit(warned)
		if resp.Status != http.StatusOK || issuer(resp) != n.caName {
			t.Errorf("warn page: got %d signed by %q; want 200 signed by %q", resp.Status, issuer(resp), n.caName)
		}
		const cont = `form[action$="/.signpost/continue"] button[type=submit]`
		if got := b.text(cont); !strings.Contains(got, "Continue to Slack") {
			t.Fatalf("continue button: got %q; want it to say Continue to Slack", got)
		}
		if got := b.text("main"); !strings.Contains(got, "Microsoft Teams") || strings.Contains(got, "C024BE91L") {
			t.Errorf("warn page text: got %q; want the alternative named and no path or query", got)
		}
		if got := b.text(`main a[href="https://teams.microsoft.com/"]`); got != "Open Microsoft Teams" {
			t.Errorf("link to the alternative: got %q; want a link to Teams' homepage saying Open Microsoft Teams", got)
		}
		b.look("warn-page")

		resp = b.submit(cont)
		if resp.URL != warned {
			t.Errorf("after Continue: got %s; want the original URL %s", resp.URL, warned)
		}
		if got := b.title(); got != slack.title {
			t.Errorf("after Continue: title %q; want the origin's %q", got, slack.title)
		}
		// The intercepted connection was closed, and the next CONNECT was
		// tunneled: the page came with the origin's certificate.
		if got := issuer(resp); got != originCA {
			t.Errorf("after Continue: certificate issuer %q; want the origin's (tunneled, not intercepted)", got)
		}
	})

	blocked := "https://" + wetransfer.host + "/upload?campaign=spring"
	// The admin approves the request this step makes.
	if !t.Run("a blocked app shows the page, and access can be requested", func(t *testing.T) {
		b := b.on(t)
		resp := b.visit("https://" + wetransfer.host + "/.signpost/no-such-action")
		if resp.Status != http.StatusNotFound {
			t.Errorf("unknown page action: got %d; want 404", resp.Status)
		}
		b.look("error-page")

		resp = b.visit(blocked)
		if resp.Status != http.StatusForbidden || issuer(resp) != n.caName {
			t.Errorf("block page: got %d signed by %q; want 403 signed by %q", resp.Status, issuer(resp), n.caName)
		}
		if got := b.text("main"); !strings.Contains(got, "WeTransfer") || !strings.Contains(got, "OneDrive") {
			t.Errorf("block page text: got %q; want the app and the alternative named", got)
		}
		if got := b.text(`form[action$="/.signpost/continue"]`); got != "" {
			t.Errorf("block page offers Continue (%q); want only Request access", got)
		}
		b.look("block-page")

		b.typeInto("#justification", "Sending 2 GB of brochure artwork to the print shop, which only takes WeTransfer links.")
		resp = b.submit(`form[action$="/.signpost/request"] button[type=submit]`)
		if want := "https://" + wetransfer.host + "/.signpost/requests?received=1"; resp.URL != want || resp.Status != http.StatusOK {
			t.Errorf("after Request access: got %d %s; want 200 %s", resp.Status, resp.URL, want)
		}
		if got := b.text(".requests li"); !strings.Contains(got, "WeTransfer") || !strings.Contains(got, "Waiting for a decision") ||
			!strings.Contains(got, "brochure artwork") {
			t.Errorf("status page: got %q; want WeTransfer waiting for a decision, with the reason given", got)
		}
		b.look("status-page")
	}) {
		return
	}

	t.Run("an admin approves in the browser, and the app opens", func(t *testing.T) {
		b := b.on(t)
		b.visit(n.admin + "/login")
		b.look("admin-login")
		b.typeInto("#token", n.token)
		resp := b.submit(`form[action="/login"] button[type=submit]`)
		if resp.URL != n.admin+"/" || resp.Status != http.StatusOK {
			t.Fatalf("after signing in: got %d %s saying %q; want 200 %s/", resp.Status, resp.URL, b.text("main"), n.admin)
		}
		if got := b.text("main"); !strings.Contains(got, "WeTransfer") || !strings.Contains(got, "brochure artwork") {
			t.Fatalf("pending requests: got %q; want the WeTransfer request with its reason", got)
		}
		b.look("admin-pending")

		resp = b.submit(`form.approve-form button[type=submit]`)
		if resp.Status != http.StatusOK {
			t.Errorf("after approving: got %d %s; want 200", resp.Status, resp.URL)
		}
		if got := b.text("main"); !strings.Contains(got, "No requests are waiting") {
			t.Errorf("after approving: got %q; want no pending requests", got)
		}
		b.look("admin-approved")

		// "Reload the blocked app": the approval reaches the proxy at once.
		resp = b.visit(blocked)
		if got := b.title(); got != wetransfer.title {
			t.Errorf("blocked app after approval: title %q; want the origin's %q", got, wetransfer.title)
		}
		if got := issuer(resp); got != originCA {
			t.Errorf("blocked app after approval: certificate issuer %q; want the origin's (tunneled)", got)
		}

		// The configuration page, and its reload button.
		b.visit(n.admin + "/config")
		if got := b.text("main"); !strings.Contains(got, "In force since") || !strings.Contains(got, "signpost.yaml") {
			t.Errorf("configuration page: got %q; want what is in force and its files", got)
		}
		b.look("admin-config")
		resp = b.submit(`form[action="/config/reload"] button[type=submit]`)
		if resp.Status != http.StatusOK || !strings.Contains(b.text("body"), "Configuration reloaded.") {
			t.Errorf("after reloading: got %d %s saying %q; want the page saying it reloaded", resp.Status, resp.URL, b.text("body"))
		}
	})
}

// TestInterceptionIsNeverSilent: a browser that does not trust Signpost's
// CA gets a certificate error on an app Signpost intercepts, never a page
// it cannot tell apart from the app's; what Signpost lets through is
// unaffected.
func TestInterceptionIsNeverSilent(t *testing.T) {
	skipShort(t)
	t.Parallel()
	n := startNode(t)
	b := newBrowser(t, n, nssHome(t, map[string][]byte{"test-origin": n.origin.CAPEM}))

	if resp := b.visit("https://" + teams.host + "/"); issuer(resp) != originCA || b.title() != teams.title {
		t.Errorf("allowed app without Signpost's CA: got %q from %q; want the origin's page", b.title(), issuer(resp))
	}
	_, err := b.tryVisit("https://" + slack.host + "/")
	if got := loadError(err); got != "net::ERR_CERT_AUTHORITY_INVALID" {
		t.Errorf("warned app without Signpost's CA: got error %v; want net::ERR_CERT_AUTHORITY_INVALID", err)
	}
}

// TestAccessibilityCheckFindsViolations shows that the accessibility check
// the scenario relies on can fail: axe-core, injected the same way, finds
// the faults of a page made to have them.
func TestAccessibilityCheckFindsViolations(t *testing.T) {
	skipShort(t)
	t.Parallel()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><html><head><title>Faulty</title></head>`+
			`<body><img src="/chart.png"><button></button></body></html>`)
	}))
	t.Cleanup(bad.Close)
	n := startNode(t)
	b := newBrowser(t, n, nssHome(t, nil))
	b.visit(bad.URL) // 127.0.0.1: the PAC file sends it DIRECT
	got := map[string]string{}
	for _, v := range b.violations("faulty page") {
		got[v.ID] = v.Impact
	}
	for id, impact := range map[string]string{"image-alt": "critical", "button-name": "critical", "html-has-lang": "serious"} {
		if got[id] != impact {
			t.Errorf("axe-core on a faulty page: %s is %q; want %q (all: %v)", id, got[id], impact, got)
		}
	}
}
