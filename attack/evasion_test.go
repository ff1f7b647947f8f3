package attack_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/idna"

	"github.com/signpost-gateway/signpost/internal/testkit"
)

// explanation decodes the JSON answer the proxy gives API clients for a
// warned or blocked request.
func explanation(t *testing.T, body string) map[string]any {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	return e
}

// get1 is a raw absolute-form GET with the given target, asking for JSON.
func get1(target string, hdr ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\nConnection: close\r\n", target, hostHeader(hostOf(target)))
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("\r\n")
	return b.String()
}

// hostHeader is the Host header a client sends along with an absolute
// URI for authority: the authority itself when it is a valid header value,
// else a stand-in (net/http refuses non-ASCII Host headers before the
// proxy sees them; the proxy decides by the URI's host anyway).
func hostHeader(authority string) string {
	if !httpguts.ValidHostHeader(authority) || strings.ContainsAny(authority, "@%\\") {
		return "example.net"
	}
	return authority
}

// hostOf returns the authority of an absolute URL as written.
func hostOf(target string) string {
	rest := target[strings.Index(target, "//")+2:]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// TestEvasionBySpellingTheHostDifferently writes each spelling of a
// blocked host on the request line, byte for byte, and requires the block:
// whatever the spelling, the proxy decides the host it would reach.
func TestEvasionBySpellingTheHostDifferently(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	tests := []struct {
		name, target, app string
	}{
		{"as written in the catalog", "http://wetransfer.com/", "wetransfer"},
		{"upper case", "http://WeTransfer.COM/", "wetransfer"},
		{"trailing dot", "http://wetransfer.com./", "wetransfer"},
		{"upper case and trailing dot", "http://WETRANSFER.COM./", "wetransfer"},
		{"explicit default port", "http://wetransfer.com:80/", "wetransfer"},
		{"explicit other port", "http://wetransfer.com:8080/", "wetransfer"},
		{"subdomain", "http://www.wetransfer.com/", "wetransfer"},
		{"full-width letters", "http://ｗｅｔｒａｎｓｆｅｒ.com/", "wetransfer"},
		{"ideographic full stop", "http://wetransfer。com/", "wetransfer"},
		{"soft hyphen inside the name", "http://wet\u00adransfer.com/", "wetransfer"},
		{"userinfo naming an allowed host", "http://teams.microsoft.com@wetransfer.com/", "wetransfer"},
		{"IDN in UTF-8", "http://bücher.example/", "buecher"},
		{"IDN upper case", "http://BÜCHER.example/", "buecher"},
		{"IDN percent-encoded UTF-8", "http://b%C3%BCcher.example/", "buecher"},
		{"IDN as punycode", "http://xn--bcher-kva.example/", "buecher"},
		{"IDN as upper-case punycode", "http://XN--BCHER-KVA.EXAMPLE/", "buecher"},
		{"IDN subdomain", "http://www.bücher.example/", "buecher"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := g.raw(get1(tt.target))
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status: got %d; want 403 (block)\n%s", resp.StatusCode, body)
			}
			e := explanation(t, body)
			if e["app"] != tt.app || e["action"] != "block" {
				t.Fatalf("decided as app %v action %v; want %s block", e["app"], e["action"], tt.app)
			}
		})
	}
	if seen := g.seenPaths(); len(seen) != 0 {
		t.Fatalf("the origin received %v; want nothing", seen)
	}
}

// TestEvasionBySpellingsThatAreRefused: spellings a looser parser could
// read as another host are refused outright, never matched or dialed.
func TestEvasionBySpellingsThatAreRefused(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	tests := []struct{ name, target string }{
		{"percent-encoded dot", "http://wetransfer%2ecom/"},
		{"percent-encoded letter", "http://wetr%61nsfer.com/"},
		{"backslash before userinfo", `http://wetransfer.com\@teams.microsoft.com/`},
		{"decimal IPv4", "http://2130706433/"},
		{"hexadecimal IPv4", "http://0x7f000001/"},
		{"short IPv4", "http://127.1/"},
		{"octal IPv4", "http://0177.0.0.1/"},
		{"IPv6 zone", "http://[fe80::1%25lo]/"},
		{"empty label", "http://wetransfer..com/"},
		{"asterisk", "http://wetransfer*.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := g.raw(get1(tt.target))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status: got %d; want 400\n%s", resp.StatusCode, body)
			}
		})
	}
	for _, authority := range []string{"wetransfer%2ecom:443", "2130706433:443", "0x7f.1:443", "wetransfer..com:443"} {
		t.Run("CONNECT "+authority, func(t *testing.T) {
			resp, body, _ := g.connect(authority)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status: got %d; want 400\n%s", resp.StatusCode, body)
			}
		})
	}
	if seen, asked := g.seenPaths(), g.res.lookups(); len(seen) != 0 || len(asked) != 0 {
		t.Fatalf("the origin received %v and the resolver was asked %v; want nothing", seen, asked)
	}
}

// TestEvasionByHomoglyphIsDecidedAsTheHostReached: a look-alike name is
// another domain. It is not the catalog app, and it is what the proxy
// dials and names in the Host header: classified as the host reached.
func TestEvasionByHomoglyphIsDecidedAsTheHostReached(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	const cyrillic = "http://w\u0435transfer.com/" // U+0435 CYRILLIC SMALL LETTER IE
	resp, body := g.raw(get1(cyrillic))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d; want 200 (not a catalog app; default allow)\n%s", resp.StatusCode, body)
	}
	var seen testkit.Seen
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		t.Fatalf("origin answer: %v", err)
	}
	puny, err := idna.Lookup.ToASCII("w\u0435transfer.com")
	if err != nil {
		t.Fatal(err)
	}
	if seen.Host != puny {
		t.Errorf("origin saw Host %q; want the punycode name %q", seen.Host, puny)
	}
	if asked := g.res.lookups(); !slices.Equal(asked, []string{puny + ":80"}) {
		t.Errorf("resolver asked %v; want only %s:80", asked, puny)
	}
	if got := g.decisions("http", "unknown", "allow"); got != 1 {
		t.Errorf("decisions{http,unknown,allow}: got %v; want 1", got)
	}
}

// TestEvasionByTheHTTPSSpellingOfTheHost: the same spellings on a CONNECT.
// The tunnel is intercepted as the normalised host, with a certificate
// for that name, and the page is the block page.
func TestEvasionByTheHTTPSSpellingOfTheHost(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	tests := []struct{ name, authority, host, app string }{
		{"upper case", "WETRANSFER.COM:443", "wetransfer.com", "wetransfer"},
		{"trailing dot", "wetransfer.com.:443", "wetransfer.com", "wetransfer"},
		{"IDN in UTF-8", "bücher.example:443", "xn--bcher-kva.example", "buecher"},
		{"IDN as punycode", "XN--BCHER-KVA.example:443", "xn--bcher-kva.example", "buecher"},
		{"userinfo naming an allowed host", "teams.microsoft.com@wetransfer.com:443", "wetransfer.com", "wetransfer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, conn := g.connect(tt.authority)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: got %d; want 200 (intercepted)\n%s", resp.StatusCode, body)
			}
			tc := g.tlsInside(conn, tt.host, false)
			if names := tc.ConnectionState().PeerCertificates[0].DNSNames; !slices.Equal(names, []string{tt.host}) {
				t.Errorf("leaf names %v; want [%s]", names, tt.host)
			}
			inner := tt.authority // as the browser wrote it; the proxy normalises it too
			if strings.Contains(inner, "@") {
				inner = tt.host
			}
			r, page := exchange(t, tc, "GET / HTTP/1.1\r\nHost: "+inner+"\r\nAccept: application/json\r\n\r\n")
			if r.StatusCode != http.StatusForbidden {
				t.Fatalf("inner GET: got %d; want 403\n%s", r.StatusCode, page)
			}
			if e := explanation(t, page); e["app"] != tt.app {
				t.Fatalf("decided as %v; want %s", e["app"], tt.app)
			}
		})
	}
	if seen := g.seenPaths(); len(seen) != 0 {
		t.Fatalf("the origin received %v; want nothing", seen)
	}
}

// TestIPLiteralOfACatalogAppIsNeverACatalogMatch: an IP address is not a
// domain, so asking for the address a blocked app's name resolves to is
// decided by policy.default. With the default "allow" it passes: that is
// the residual risk SECURITY.md describes. With default "block" it is
// blocked.
func TestIPLiteralOfACatalogAppIsNeverACatalogMatch(t *testing.T) {
	g := startGateway(t, setup{yaml: "proxy:\n  allow_destinations: [\"127.0.0.1/32\", \"::1/128\"]\n" + policyYAML})
	httpAddr := g.origin.HTTP.Listener.Addr().String()
	tlsAddr := g.origin.TLS.Listener.Addr().String()
	// wetransfer.com "resolves" to the origin: its addresses are what an
	// employee would type to evade the name.
	g.res.route("wetransfer.com:80", httpAddr)
	g.res.route("wetransfer.com:443", tlsAddr)
	ports := "  connect_ports: [443, " + port(t, tlsAddr) + "]\n"

	targets := []struct{ name, target string }{
		{"IPv4 literal", "http://" + httpAddr + "/"},
		{"IPv4-mapped IPv6 literal", "http://[::ffff:127.0.0.1]:" + port(t, httpAddr) + "/"},
	}
	// An IPv6 origin, where the machine has IPv6 loopback.
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		v6 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		v6.Listener = ln
		v6.Start()
		defer v6.Close()
		targets = append(targets, struct{ name, target string }{"IPv6 literal", "http://" + ln.Addr().String() + "/"})
	} else {
		t.Logf("no IPv6 loopback here (%v): the IPv6 literal is not tried", err)
	}
	for _, def := range []struct {
		action string
		status int
	}{{"allow", http.StatusOK}, {"block", http.StatusForbidden}} {
		cfg := "proxy:\n  allow_destinations: [\"127.0.0.1/32\", \"::1/128\"]\n" + ports +
			strings.Replace(policyYAML, "default: {action: allow}", "default: {action: "+def.action+"}", 1)
		if err := g.gw.Swap(loadConfig(t, cfg)); err != nil {
			t.Fatal(err)
		}
		for _, tt := range targets {
			t.Run("default "+def.action+"/"+tt.name, func(t *testing.T) {
				resp, body := g.raw(get1(tt.target))
				if resp.StatusCode != def.status {
					t.Fatalf("status: got %d; want %d\n%s", resp.StatusCode, def.status, body)
				}
				if def.action == "block" {
					if e := explanation(t, body); e["app"] != "" && e["app"] != nil {
						t.Fatalf("an IP literal was matched to app %v", e["app"])
					}
				}
			})
		}
		t.Run("default "+def.action+"/CONNECT to the IPv4 literal", func(t *testing.T) {
			resp, body, _ := g.connect(tlsAddr)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: got %d; want 200 (tunneled or intercepted by the default rule)\n%s", resp.StatusCode, body)
			}
		})
	}
	if got := g.decisions("http", "wetransfer", "block") + g.decisions("connect", "wetransfer", "block"); got != 0 {
		t.Errorf("an IP literal was decided as wetransfer %v times; want 0", got)
	}
	n := float64(len(targets))
	if got := g.decisions("http", "unknown", "allow"); got != n {
		t.Errorf("decisions{http,unknown,allow}: got %v; want %v (each literal under default allow)", got, n)
	}
	if got := g.decisions("http", "unknown", "block"); got != n {
		t.Errorf("decisions{http,unknown,block}: got %v; want %v", got, n)
	}
	if a, b := g.decisions("connect", "unknown", "allow"), g.decisions("connect", "unknown", "block"); a != 1 || b != 1 {
		t.Errorf("CONNECT to the literal decided allow %v and block %v times; want 1 and 1 (by the default rule)", a, b)
	}
}

// TestAbsoluteURIAndHostHeaderNamingDifferentHosts: the request line's
// host is the one decided and reached, whatever the Host header says.
func TestAbsoluteURIAndHostHeaderNamingDifferentHosts(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	t.Run("allowed URI, blocked Host", func(t *testing.T) {
		resp, body := g.raw("GET http://teams.microsoft.com/a HTTP/1.1\r\nHost: wetransfer.com\r\nConnection: close\r\n\r\n")
		var seen testkit.Seen
		if err := json.Unmarshal([]byte(body), &seen); err != nil {
			t.Fatalf("origin answer %d: %v\n%s", resp.StatusCode, err, body)
		}
		if seen.Host != "teams.microsoft.com" {
			t.Fatalf("origin saw Host %q; want teams.microsoft.com", seen.Host)
		}
	})
	t.Run("blocked URI, allowed Host", func(t *testing.T) {
		resp, body := g.raw("GET http://wetransfer.com/b HTTP/1.1\r\nHost: teams.microsoft.com\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusForbidden || explanation(t, body)["app"] != "wetransfer" {
			t.Fatalf("got %d %s; want 403 for wetransfer", resp.StatusCode, body)
		}
	})
	t.Run("CONNECT to an allowed host with a blocked Host", func(t *testing.T) {
		c := g.dial()
		io.WriteString(c, "CONNECT teams.microsoft.com:443 HTTP/1.1\r\nHost: wetransfer.com:443\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "CONNECT"})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("got %v %v; want 200", resp, err)
		}
		if got := g.decisions("connect", "microsoft-teams", "allow"); got != 1 {
			t.Fatalf("decided as microsoft-teams %v times; want 1", got)
		}
		if asked := g.res.lookups(); !slices.Contains(asked, "teams.microsoft.com:443") || slices.Contains(asked, "wetransfer.com:443") {
			t.Fatalf("resolver asked %v; want teams.microsoft.com:443 and not wetransfer.com", asked)
		}
	})
	t.Run("origin-form request with a blocked Host", func(t *testing.T) {
		// Not a proxy request at all: the proxy's own port answers it.
		resp, _ := g.raw("GET /c HTTP/1.1\r\nHost: wetransfer.com\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("got %d; want 404 from the proxy's own routes", resp.StatusCode)
		}
	})
	if seen := g.seenPaths(); !slices.Equal(seen, []string{"teams.microsoft.com/a"}) {
		t.Fatalf("origin received %v; want only teams.microsoft.com/a", seen)
	}
}

// TestDomainFrontingInsideAnInterceptedTunnel: inside an intercepted
// tunnel the Host header and the TLS server name must not lead anywhere
// but the CONNECT's host.
func TestDomainFrontingInsideAnInterceptedTunnel(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	t.Run("Host naming another site", func(t *testing.T) {
		for _, authority := range []string{"slack.com:443", "docs.google.com:443"} {
			resp, _, conn := g.connect(authority)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT %s: got %d", authority, resp.StatusCode)
			}
			tc := g.tlsInside(conn, testkit.HostOnly(authority), false)
			r, _ := exchange(t, tc, "GET /drawings/d/1 HTTP/1.1\r\nHost: teams.microsoft.com\r\n\r\n")
			if r.StatusCode != http.StatusMisdirectedRequest {
				t.Fatalf("CONNECT %s, inner Host teams.microsoft.com: got %d; want 421", authority, r.StatusCode)
			}
		}
	})
	t.Run("absolute URI naming another site", func(t *testing.T) {
		_, _, conn := g.connect("docs.google.com:443")
		tc := g.tlsInside(conn, "docs.google.com", false)
		r, _ := exchange(t, tc, "GET https://teams.microsoft.com/drawings HTTP/1.1\r\nHost: docs.google.com\r\n\r\n")
		if r.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("got %d; want 421", r.StatusCode)
		}
	})
	t.Run("SNI naming another site", func(t *testing.T) {
		_, _, conn := g.connect("docs.google.com:443")
		// The leaf names the CONNECT host whatever the SNI says, so a
		// client that verifies refuses it...
		tc := g.tlsInside(conn, "teams.microsoft.com", true)
		leaf := tc.ConnectionState().PeerCertificates[0]
		if err := leaf.VerifyHostname("teams.microsoft.com"); err == nil {
			t.Fatalf("the leaf for a CONNECT to docs.google.com is valid for the SNI teams.microsoft.com")
		}
		if err := leaf.VerifyHostname("docs.google.com"); err != nil {
			t.Fatalf("leaf: %v; want it to name docs.google.com", err)
		}
		// ...and one that does not verify still reaches only the CONNECT's
		// host: the Host header must name it, and the request goes there.
		r, body := exchange(t, tc, "GET /drawings/d/1 HTTP/1.1\r\nHost: docs.google.com\r\n\r\n")
		var seen testkit.Seen
		if err := json.Unmarshal([]byte(body), &seen); err != nil || seen.Host != "docs.google.com" {
			t.Fatalf("got %d %s; want the origin's answer for docs.google.com", r.StatusCode, body)
		}
		r, _ = exchange(t, tc, "GET /drawings/d/1 HTTP/1.1\r\nHost: teams.microsoft.com\r\n\r\n")
		if r.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("Host matching the SNI, not the CONNECT: got %d; want 421", r.StatusCode)
		}
	})
	if seen := g.seenPaths(); !slices.Equal(seen, []string{"docs.google.com/drawings/d/1"}) {
		t.Errorf("origin received %v; want only docs.google.com/drawings/d/1", seen)
	}
	for _, a := range g.res.lookups() {
		if !strings.HasPrefix(a, "docs.google.com:") {
			t.Errorf("the resolver was asked for %s; only the CONNECT's host may be dialed", a)
		}
	}
}

// TestFrontingThroughAnAllowedTunnelReachesOnlyTheDecidedAddress: an
// allowed tunnel is not intercepted, so the SNI and Host inside are the
// client's business. What the proxy controls is where the bytes go: the
// address of the CONNECT host it decided, never a name from inside the
// tunnel. Fronting on a CDN that serves both names from one address
// remains possible; SECURITY.md lists it.
func TestFrontingThroughAnAllowedTunnelReachesOnlyTheDecidedAddress(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	resp, _, conn := g.connect("teams.microsoft.com:443")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: got %d", resp.StatusCode)
	}
	pool := g.origin.Pool()
	tc := g.tlsInsidePool(conn, "wetransfer.com", pool)
	r, body := exchange(t, tc, "GET /fronted HTTP/1.1\r\nHost: wetransfer.com\r\n\r\n")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("inner GET: got %d %s", r.StatusCode, body)
	}
	if asked := g.res.lookups(); !slices.Equal(asked, []string{"teams.microsoft.com:443"}) {
		t.Fatalf("resolver asked %v; want only teams.microsoft.com:443", asked)
	}
	if got := g.decisions("connect", "microsoft-teams", "allow"); got != 1 {
		t.Fatalf("decisions{connect,microsoft-teams,allow}: got %v; want 1", got)
	}
}
