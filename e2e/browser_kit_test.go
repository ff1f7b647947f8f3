package e2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/signpost-gateway/signpost/internal/testkit"
	"github.com/signpost-gateway/signpost/proxy"
	"github.com/signpost-gateway/signpost/service"
)

// installHint is what a failure caused by a missing tool tells the reader.
const installHint = "run scripts/install-deps.sh, which installs Debian's chromium and libnss3-tools and axe-core into .tools/npm"

// axePath is where scripts/install-deps.sh puts axe-core, from this folder.
var axePath = filepath.Join("..", ".tools", "npm", "node_modules", "axe-core", "axe.min.js")

// viewportW and viewportH are the browser window's size, and so the
// screenshots' width.
const viewportW, viewportH = 1200, 800

// stepTimeout bounds one browser step (a navigation, a click and the page
// it leads to, an axe run).
const stepTimeout = 20 * time.Second

// originCA is the name of the test origin's CA (testkit.NewOrigin), which
// a browser reports as the issuer of a page it got through a tunnel.
const originCA = "Test Origin CA"

// site is one app the test origin serves, under a host of the catalog.
type site struct {
	host, title string
}

// The sites the scenario visits: an app the policy allows, one it warns
// about and one it blocks.
var (
	teams      = site{"teams.microsoft.com", "Teams (origin)"}
	slack      = site{"slack.com", "Slack (origin)"}
	wetransfer = site{"wetransfer.com", "WeTransfer (origin)"}
	sites      = []site{teams, slack, wetransfer}
)

// policyYAML is the shape of configs/default/signpost.yaml, cut down to the
// three apps the test visits. 127.0.0.1 is allowed as a destination
// because the test resolver sends every site there.
const policyYAML = `proxy:
  allow_destinations: [127.0.0.1]
branding:
  organization: Example Corp
policy:
  default:
    action: allow
  rules:
    - {app: microsoft-teams, action: allow}
    - app: slack
      action: warn
      alternative: microsoft-teams
      reason: >-
        Company conversations belong in Microsoft Teams, where colleagues can find
        them and where our retention and security rules apply.
    - app: wetransfer
      action: block
      alternative: onedrive
      reason: >-
        File-transfer sites send company data to services we have no agreement
        with. Share files from OneDrive instead: links can expire and be revoked.
`

// node is a running Signpost with a loopback origin behind it.
type node struct {
	n      *service.Node
	origin *testkit.Origin
	// proxy and admin are the listeners' base URLs.
	proxy, admin string
	// token is the admin token the node created in its data directory.
	token string
	// caPEM is Signpost's interception CA as browsers fetch it, and caName
	// the name a browser reports as the issuer of the pages it signs.
	caPEM  []byte
	caName string
}

// startNode runs a node on a temporary configuration and data directory.
// Its proxy reaches only the test origin, and only for the sites above:
// Chromium's own background requests to Google hosts end at the proxy.
func startNode(t *testing.T) *node {
	t.Helper()
	names := make([]string, len(sites))
	known := map[string]bool{}
	for i, s := range sites {
		names[i], known[s.host] = s.host, true
	}
	origin := testkit.NewOrigin(t, names...)
	origin.Handle = serveSite
	resolve := func(ctx context.Context, hostport string) (string, error) {
		if !known[testkit.HostOnly(hostport)] {
			return "", fmt.Errorf("e2e resolver: %s is not a test site", hostport)
		}
		return origin.Resolve(ctx, hostport)
	}

	logs := &testkit.LogBuffer{}
	// Registered first, so it runs last: after the node has shut down.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the node's log:\n%s", logs.String())
		}
	})

	dir, data := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "signpost.yaml"), []byte(policyYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := service.New(service.Options{
		ConfigDir: dir, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DataDir: data,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Proxy:  proxy.Options{Resolve: resolve, UpstreamTLS: &tls.Config{RootCAs: origin.Pool()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutting the node down: %v", err)
		}
	})
	tok, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	nd := &node{
		n: n, origin: origin, token: strings.TrimSpace(string(tok)),
		proxy: "http://" + n.ProxyAddr().String(), admin: "http://" + n.AdminAddr().String(),
	}
	nd.caPEM, nd.caName = fetchCA(t, nd.proxy+"/signpost/ca.crt")
	return nd
}

// serveSite answers as the app's own site would: a small page titled after
// the app, for every path.
func serveSite(w http.ResponseWriter, r *http.Request) {
	host := testkit.HostOnly(r.Host)
	for _, s := range sites {
		if s.host == host {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("X-Origin", "test-origin")
			fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title></head>\n"+
				"<body><main><h1>%s</h1><p>The app's own page, served by the test origin.</p></main></body></html>\n", s.title, s.title)
			return
		}
	}
	http.Error(w, "no such test site", http.StatusNotFound)
}

// fetchCA downloads the interception CA the way an admin does, and returns
// it with the name browsers show for it.
func fetchCA(t *testing.T, url string) ([]byte, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("fetching the CA: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v; want 200 and a certificate", url, resp.StatusCode, err)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		t.Fatalf("GET %s: %q is not PEM", url, body)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return body, cert.Subject.CommonName
}

// nssHome makes a temporary HOME whose NSS database ($HOME/.pki/nssdb, the
// one Chromium on Linux reads) trusts the given CAs for TLS servers, with
// certutil, as an admin would.
func nssHome(t *testing.T, cas map[string][]byte) string {
	t.Helper()
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		t.Fatalf("certutil not found (%v): %s", err, installHint)
	}
	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(certutil, append([]string{"-d", "sql:" + db}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("-N", "--empty-password")
	for name, pemBytes := range cas {
		file := filepath.Join(home, name+".crt")
		if err := os.WriteFile(file, pemBytes, 0o644); err != nil {
			t.Fatal(err)
		}
		run("-A", "-n", name, "-t", "C,,", "-i", file)
	}
	return home
}

// browser is one headless Chromium with one tab, for the steps of one
// scenario.
type browser struct {
	t   *testing.T
	ctx context.Context
	axe string // axe-core's source
}

// newBrowser starts Debian's Chromium with HOME set to home, configured by
// the node's PAC URL. It never ignores certificate errors: what it trusts
// is what home's NSS database trusts.
func newBrowser(t *testing.T, n *node, home string) *browser {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): %s", err, installHint)
	}
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatalf("axe-core not found (%v): %s", err, installHint)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Env("HOME="+home),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("proxy-pac-url", n.proxy+"/proxy.pac"),
		// What the PAC file sends DIRECT must not reach DNS or the Internet;
		// the listeners are on 127.0.0.1.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
		chromedp.WindowSize(viewportW, viewportH),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, axe: string(axe)}
	// The first run starts the browser, and must not have a deadline of its
	// own: its context's end would stop the browser.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewportW, viewportH)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

// on returns the browser for the steps of test t (a subtest of the one
// that started it).
func (b *browser) on(t *testing.T) *browser {
	c := *b
	c.t = t
	return &c
}

// step returns a context for one step of the scenario.
func (b *browser) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

// visit navigates to url and returns the document's response. A failed
// navigation (a certificate error, a refused connection) fails the test.
func (b *browser) visit(url string) *network.Response {
	b.t.Helper()
	resp, err := b.tryVisit(url)
	if err != nil {
		b.t.Fatalf("opening %s: %v", url, err)
	}
	return resp
}

// tryVisit is visit that returns the error: *chromedp.LoadError for a
// failed navigation.
func (b *browser) tryVisit(url string) (*network.Response, error) {
	ctx, cancel := b.step()
	defer cancel()
	return chromedp.Run(ctx, chromedp.NavigateResponse(url))
}

// submit clicks the button sel finds and returns the response of the page
// the click leads to (after redirects).
func (b *browser) submit(sel string) *network.Response {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("clicking %s: %v", sel, err)
	}
	return resp
}

// typeInto types text into the field sel finds.
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible)); err != nil {
		b.t.Fatalf("typing into %s: %v", sel, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// title is the document's title.
func (b *browser) title() string {
	b.t.Helper()
	return eval[string](b, "document.title")
}

// text is the visible text of the element sel finds, or "" when there is
// none.
func (b *browser) text(sel string) string {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	return eval[string](b, fmt.Sprintf("(document.querySelector(%s) || {innerText: ''}).innerText", q))
}

// look photographs the page and checks it with axe-core, in the light
// colour scheme and the dark one (name-dark): both are done for every page
// a person sees in the scenario.
func (b *browser) look(name string) {
	b.t.Helper()
	b.screenshot(name)
	b.checkAccessibility(name)
	b.colorScheme("dark")
	defer b.colorScheme("")
	b.screenshot(name + "-dark")
	b.checkAccessibility(name + " (dark)")
}

// colorScheme makes the page see prefers-color-scheme as scheme; ""
// returns to the browser's own (light).
func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	var features []*emulation.MediaFeature
	if scheme != "" {
		features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features})
		return err
	}))
	if err != nil {
		b.t.Fatalf("emulating prefers-color-scheme %q: %v", scheme, err)
	}
}

// screenshot writes the whole page as name.png to the test's temporary
// directory and, when SIGNPOST_SCREENSHOTS names a directory, there too.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot of %s: %v", name, err)
	}
	dirs := []string{b.t.TempDir()}
	if d := os.Getenv("SIGNPOST_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// violation is what axe-core reports about one rule a page breaks.
type violation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

func (v violation) String() string {
	return fmt.Sprintf("%s [%s] %s: %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
}

// axeResult is what runAxe returns.
type axeResult struct {
	Passes     int         `json:"passes"`
	Violations []violation `json:"violations"`
}

// runAxe is evaluated in the page once axe-core is loaded: it checks the
// document with axe-core's default rules (WCAG 2.x A and AA, and best
// practices), and returns the violations and how many rules passed.
const runAxe = `axe.run(document).then(r => ({
	passes: r.passes.length,
	violations: r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help,
		targets: v.nodes.map(n => n.target.join(" ")),
	})),
}))`

// violations injects axe-core into the page and returns what it finds.
func (b *browser) violations(name string) []violation {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	// Through the DevTools protocol, as an extension would: the pages'
	// Content-Security-Policy allows no script, and it stays in force.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](b.axe)); err != nil {
		b.t.Fatalf("%s: injecting axe-core: %v", name, err)
	}
	r, err := chromedp.Run(ctx, chromedp.Evaluate[axeResult](runAxe, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: running axe-core: %v", name, err)
	}
	if r.Passes == 0 {
		b.t.Fatalf("%s: axe-core passed no rule at all; it did not check the page", name)
	}
	return r.Violations
}

// serious reports whether a violation's impact fails the test.
func (v violation) serious() bool {
	return v.Impact == "serious" || v.Impact == "critical"
}

// checkAccessibility fails the test on any violation of serious or
// critical impact axe-core finds in the page, and reports every violation.
func (b *browser) checkAccessibility(name string) {
	b.t.Helper()
	vs := b.violations(name)
	var all []string
	bad := 0
	for _, v := range vs {
		all = append(all, "  "+v.String())
		if v.serious() {
			bad++
		}
	}
	switch {
	case bad > 0:
		b.t.Errorf("%s: axe-core found %d serious or critical violations; want none. All violations:\n%s",
			name, bad, strings.Join(all, "\n"))
	case len(vs) > 0:
		b.t.Logf("%s: axe-core found only minor or moderate violations:\n%s", name, strings.Join(all, "\n"))
	}
}

// loadError returns the network error text of a failed navigation, or "".
func loadError(err error) string {
	var le *chromedp.LoadError
	if errors.As(err, &le) {
		return le.ErrorText
	}
	return ""
}

// issuer is the name of the CA that signed the certificate the browser
// was shown for resp, or "" without TLS.
func issuer(resp *network.Response) string {
	if resp == nil || resp.SecurityDetails == nil {
		return ""
	}
	return resp.SecurityDetails.Issuer
}
