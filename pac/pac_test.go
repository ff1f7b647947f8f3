package pac

import (
	"bytes"
	_ "embed"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/dop251/goja"

	"github.com/signpost-gateway/signpost/classify"
	"github.com/signpost-gateway/signpost/config"
)

//go:embed testdata/pacutils.js
var pacUtils string

const route2 = "PROXY signpost-a.corp.example:3128; PROXY signpost-b.corp.example:3128"

// twoProxies are the proxies most tests use; route2 is what the PAC file answers with them.
var twoProxies = []string{"signpost-a.corp.example:3128", "Signpost-B.corp.example:3128"}

// engine is a goja runtime with the standard PAC helpers and one PAC file loaded.
type engine struct {
	vm   *goja.Runtime
	find goja.Callable
}

// load evaluates the helpers and then the PAC file, and returns its FindProxyForURL.
func load(tb testing.TB, body []byte) *engine {
	tb.Helper()
	e, err := tryLoad(body)
	if err != nil {
		tb.Fatalf("loading the PAC file: %v\n%s", err, head(body))
	}
	return e
}

func tryLoad(body []byte) (*engine, error) {
	vm := goja.New()
	if _, err := vm.RunScript("pacutils.js", pacUtils); err != nil {
		return nil, fmt.Errorf("pacutils.js: %w", err)
	}
	if _, err := vm.RunScript("proxy.pac", string(body)); err != nil {
		return nil, err
	}
	find, ok := goja.AssertFunction(vm.Get("FindProxyForURL"))
	if !ok {
		return nil, fmt.Errorf("FindProxyForURL is not a function")
	}
	return &engine{vm: vm, find: find}, nil
}

// head returns the start of a PAC file for failure messages.
func head(body []byte) string {
	if len(body) > 2000 {
		return string(body[:2000]) + "\n…"
	}
	return string(body)
}

// call runs FindProxyForURL as a browser would for a request to host, and returns its answer
// or an error if it threw (for example by calling dnsResolve) or returned a non-string.
func (e *engine) call(host string) (string, error) {
	u := "https://" + host + "/path?q=1"
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		u = "https://[" + host + "]/path?q=1"
	}
	v, err := e.find(goja.Undefined(), e.vm.ToValue(u), e.vm.ToValue(host))
	if err != nil {
		return "", err
	}
	s, ok := v.Export().(string)
	if !ok {
		return "", fmt.Errorf("FindProxyForURL returned %v (%T); want a string", v, v.Export())
	}
	return s, nil
}

func (e *engine) mustCall(tb testing.TB, host string) string {
	tb.Helper()
	got, err := e.call(host)
	if err != nil {
		tb.Fatalf("FindProxyForURL(%q): %v", host, err)
	}
	return got
}

// model is the specification the PAC file must follow, in Go: the classify matcher decides
// which hosts are catalog hosts.
type model struct {
	m     *classify.Matcher
	o     Options
	route string
}

// want returns what FindProxyForURL must answer for host, and false for a host no browser
// passes to a PAC file, where it may answer either way: one Normalize refuses (the proxy would
// refuse it too), one with a port, or one with non-ASCII bytes (browsers pass the ASCII form).
func (md model) want(host string) (string, bool) {
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return "", false
		}
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err != nil {
			return "", false
		}
	}
	h, err := classify.Normalize(host)
	if err != nil {
		return "", false
	}
	if !classify.IsIP(h) {
		for s := h; ; {
			if slices.Contains(md.o.Exclude, s) {
				return "DIRECT", true
			}
			i := strings.IndexByte(s, '.')
			if i < 0 {
				break
			}
			s = s[i+1:]
		}
	}
	if md.o.PrivateDirect && private(h) {
		return "DIRECT", true
	}
	if md.o.Mode == ModeAll {
		return md.route, true
	}
	hm, err := md.m.Lookup(h)
	if err != nil {
		panic(fmt.Sprintf("Lookup of normalised %q: %v", h, err))
	}
	if hm.App != nil || hm.Split() {
		return md.route, true
	}
	return "DIRECT", true
}

// private is PrivateDirect's definition for a normalised host, by net/netip.
func private(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()
	}
	return !strings.Contains(h, ".") || strings.HasSuffix(h, ".localhost")
}

// matcherFor compiles targets into a classify.Matcher, the Go side of the comparison.
func matcherFor(tb testing.TB, targets []Target) *classify.Matcher {
	tb.Helper()
	app := &classify.App{ID: "app"}
	ps := make([]classify.Pattern, 0, len(targets))
	seen := make(map[Target]bool)
	for _, t := range targets {
		if !seen[t] {
			seen[t] = true
			ps = append(ps, classify.Pattern{Domain: t.Domain, Exact: t.Exact, App: app})
		}
	}
	m, err := classify.Compile(ps, classify.Options{CacheSize: -1})
	if err != nil {
		tb.Fatalf("compiling %d targets: %v", len(targets), err)
	}
	return m
}

// check compares the PAC file with the model on every host.
func check(t *testing.T, e *engine, md model, hosts []string) {
	t.Helper()
	compared := 0
	for _, host := range hosts {
		got, err := e.call(host)
		if err != nil {
			t.Errorf("FindProxyForURL(%q): %v", host, err)
			continue
		}
		want, ok := md.want(host)
		if !ok {
			continue
		}
		compared++
		if got != want {
			t.Errorf("FindProxyForURL(%q) = %q; want %q", host, got, want)
		}
	}
	if compared == 0 {
		t.Errorf("none of %d hosts was compared", len(hosts))
	}
}

func mustNew(tb testing.TB, targets []Target, o Options) *File {
	tb.Helper()
	f, err := New(targets, o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return f
}

// catalog loads the built-in configuration.
func catalog(tb testing.TB) *config.Config {
	tb.Helper()
	cfg, err := config.Load("")
	if err != nil {
		tb.Fatalf("config.Load: %v", err)
	}
	return cfg
}

// label returns a random DNS label.
func label(r *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789-"
	b := make([]byte, 1+r.IntN(12))
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	if b[0] == '-' {
		b[0] = 'x'
	}
	return string(b)
}

// sharedHosts are hosts outside any catalog: intranet names, IP literals and odd spellings.
var sharedHosts = []string{
	"intranet", "wiki", "localhost", "localhost.", "LOCALHOST", "app.localhost", "wiki.corp.example",
	"printer.local", "example.com", "www.example.org",
	"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254", "172.15.0.1", "172.32.0.1",
	"192.168.1.1", "192.169.1.1", "127.0.0.1", "127.8.9.10", "169.254.169.254", "169.253.0.1",
	"8.8.8.8", "1.1.1.1", "100.64.0.1", "0.0.0.0", "255.255.255.255",
	"::1", "[::1]", "::", "::2", "fe80::1", "FE80::1", "febf::1", "fec0::1", "fc00::1", "fd12:3456::1",
	"fbff::1", "fe00::1", "2001:db8::1", "2606:4700:4700::1111", "[2001:db8::1]",
	"::ffff:10.0.0.1", "::ffff:8.8.8.8", "::ffff:c0a8:101", "::ffff:192.168.1.1", "::10.0.0.1",
	"0:0:0:0:0:0:0:1", "::1:0:1", "::1:0:0:1", "::ffff:0:1", "0000:0000:0000:0000:0000:0000:0000:0001", "1:2:3:4:5:6:7:8",
	// Malformed: Normalize refuses them, so only "returns a string" is checked.
	"010.0.0.1", "10.0.0.256", "1.2.3", "1::2::3", ":::", "fe80::1%eth0", "a b.example", "",
	".", "..", "slack.com..", "x\"y.example", "x\\y.example", "\u2028.example", "<script>",
}

func TestCatalogMatchesMatcher(t *testing.T) {
	cfg := catalog(t)
	targets := Targets(cfg.Patterns, nil)
	if len(targets) < 100 {
		t.Fatalf("got %d targets from the catalog; want the whole catalog (hundreds)", len(targets))
	}
	r := rand.New(rand.NewPCG(1, 2))
	var hosts []string
	for _, p := range cfg.Patterns {
		d := p.Domain
		hosts = append(hosts,
			d, label(r)+"."+d, label(r)+"."+label(r)+"."+d, strings.ToUpper(d), d+".", strings.ToUpper(d)+".",
			"not"+d, "x-"+d, d+".evil.example", d+".example", d+"x",
		)
		if i := strings.IndexByte(d, '.'); i > 0 {
			hosts = append(hosts, d[i+1:], d[:i]+"-"+d[i+1:])
		}
	}
	hosts = append(hosts, sharedHosts...)

	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"catalog", Options{Proxies: twoProxies, PrivateDirect: true}},
		{"catalog without private direct", Options{Proxies: twoProxies}},
		{"all", Options{Proxies: twoProxies, Mode: ModeAll, PrivateDirect: true}},
		{"catalog with exclusions", Options{Proxies: twoProxies, PrivateDirect: true, Exclude: []string{"corp.example", "slack.com", "office.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := load(t, mustNew(t, targets, tc.o).Body)
			check(t, e, model{m: cfg.Matcher, o: tc.o, route: route2}, hosts)
		})
	}
}

func TestFindProxyForURL(t *testing.T) {
	targets := []Target{
		{Domain: "slack.com"},
		{Domain: "slack-edge.com"},
		{Domain: "files.example.net", Exact: true},
		{Domain: "docs.google.com", Exact: true},
		{Domain: "intranet"}, // a single-label target: PrivateDirect still wins for plain names
	}
	catalogOpts := Options{Proxies: twoProxies, PrivateDirect: true, Exclude: []string{"corp.example"}}
	withFallback := catalogOpts
	withFallback.DirectFallback = true
	all := catalogOpts
	all.Mode = ModeAll
	allNoPrivate := all
	allNoPrivate.PrivateDirect = false
	catalogNoPrivate := catalogOpts
	catalogNoPrivate.PrivateDirect = false

	tests := []struct {
		name string
		o    Options
		host string
		want string
	}{
		{"catalog domain", catalogOpts, "slack.com", route2},
		{"subdomain", catalogOpts, "acme.slack.com", route2},
		{"deep subdomain", catalogOpts, "a.b.c.slack.com", route2},
		{"upper case", catalogOpts, "ACME.Slack.COM", route2},
		{"trailing dot", catalogOpts, "slack.com.", route2},
		{"two trailing dots", catalogOpts, "slack.com..", route2},
		{"brackets are not for names", catalogOpts, "[slack.com]", route2},
		{"prefix is not a label", catalogOpts, "notslack.com", "DIRECT"},
		{"catalog domain as a label of another", catalogOpts, "slack.com.evil.example", "DIRECT"},
		{"parent of a domain", catalogOpts, "com", "DIRECT"},
		{"exact host", catalogOpts, "files.example.net", route2},
		{"exact host upper case", catalogOpts, "FILES.example.net.", route2},
		{"subdomain of an exact host", catalogOpts, "a.files.example.net", "DIRECT"},
		{"parent of an exact host", catalogOpts, "example.net", "DIRECT"},
		{"path-ruled host", catalogOpts, "docs.google.com", route2},
		{"unknown host", catalogOpts, "example.org", "DIRECT"},
		{"excluded domain", catalogOpts, "corp.example", "DIRECT"},
		{"excluded subdomain", catalogOpts, "wiki.corp.example", "DIRECT"},
		{"not excluded lookalike", all, "evilcorp.example", route2},
		{"plain name", catalogOpts, "intranet", "DIRECT"},
		{"plain name without private direct", catalogNoPrivate, "intranet", route2},
		{"direct fallback", withFallback, "acme.slack.com", route2 + "; DIRECT"},
		{"direct fallback leaves others", withFallback, "example.org", "DIRECT"},
		{"all: unknown host", all, "example.org", route2},
		{"all: public IPv4", all, "8.8.8.8", route2},
		{"all: private IPv4", all, "192.168.0.10", "DIRECT"},
		{"all: loopback", all, "127.0.0.1", "DIRECT"},
		{"all: link-local metadata address", all, "169.254.169.254", "DIRECT"},
		{"all: localhost subdomain", all, "app.localhost", "DIRECT"},
		{"all: IPv6 loopback", all, "::1", "DIRECT"},
		{"all: IPv6 loopback in brackets", all, "[::1]", "DIRECT"},
		{"all: IPv6 link-local", all, "fe80::1:2", "DIRECT"},
		{"all: IPv6 unique local", all, "fd00::1", "DIRECT"},
		{"all: IPv4-mapped private", all, "::ffff:10.1.2.3", "DIRECT"},
		{"all: IPv4-mapped private in hex", all, "::ffff:a01:203", "DIRECT"},
		{"all: IPv4-mapped public", all, "::ffff:8.8.8.8", route2},
		{"all: public IPv6", all, "2001:db8::1", route2},
		{"all: malformed IPv6 goes to the proxy", all, "fe80::1::2", route2},
		{"all: IPv6 with nine groups goes to the proxy", all, "fe80:1:2:3:4:5:6::7", route2},
		{"all: IPv6 with a bad group goes to the proxy", all, "fe80::12345", route2},
		{"all: leading-zero IPv4 goes to the proxy", all, "010.0.0.1", route2},
		{"all: IPv4 out of range goes to the proxy", all, "10.0.0.256", route2},
		{"all: IPv4 with five parts goes to the proxy", all, "10.0.0.1.2", route2},
		{"all: excluded", all, "wiki.corp.example", "DIRECT"},
		{"all: private direct off", allNoPrivate, "10.0.0.1", route2},
		{"catalog: IP never matches", catalogNoPrivate, "10.0.0.1", "DIRECT"},
	}
	engines := make(map[string]*engine)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("%+v", tc.o)
			e := engines[key]
			if e == nil {
				e = load(t, mustNew(t, targets, tc.o).Body)
				engines[key] = e
			}
			if got := e.mustCall(t, tc.host); got != tc.want {
				t.Errorf("FindProxyForURL(%q) = %q; want %q", tc.host, got, tc.want)
			}
		})
	}
}

// TestRandomTargets compares the PAC file with the matcher on random domain sets, where targets
// nest inside each other and inside exclusions.
func TestRandomTargets(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 20 {
		var targets []Target
		var exclude []string
		bases := []string{"example", "test", "co.uk", "com"}
		var names []string
		for range 40 {
			d := label(r) + "." + bases[r.IntN(len(bases))]
			for r.IntN(3) == 0 && len(names) > 0 {
				d = label(r) + "." + names[r.IntN(len(names))]
			}
			if len(d) > 200 {
				continue
			}
			names = append(names, d)
			switch r.IntN(6) {
			case 0:
				exclude = append(exclude, d)
			case 1, 2:
				targets = append(targets, Target{Domain: d, Exact: true})
			default:
				targets = append(targets, Target{Domain: d})
			}
		}
		o := Options{Proxies: twoProxies, Exclude: exclude, PrivateDirect: round%2 == 0, DirectFallback: round%3 == 0}
		route := route2
		if o.DirectFallback {
			route += "; DIRECT"
		}
		var hosts []string
		for _, n := range names {
			hosts = append(hosts, n, label(r)+"."+n, "x"+n, n+".evil")
			if i := strings.IndexByte(n, '.'); i > 0 {
				hosts = append(hosts, n[i+1:])
			}
		}
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			e := load(t, mustNew(t, targets, o).Body)
			check(t, e, model{m: matcherFor(t, targets), o: o, route: route}, hosts)
		})
	}
}

// randomHostBits randomises the bits of a after the first bits.
func randomHostBits(r *rand.Rand, a []byte, bits int) {
	for i := range a {
		if bit := i * 8; bit+8 > bits {
			keep := byte(0xff) << (8 - max(0, bits-bit)) // 0 (shifted out) when bits <= bit
			a[i] = a[i]&keep | byte(r.IntN(256))&^keep
		}
	}
}

// TestPrivateAddresses compares the JavaScript address parser with net/netip on every shape of
// address the PAC file may see.
func TestPrivateAddresses(t *testing.T) {
	o := Options{Proxies: twoProxies, Mode: ModeAll, PrivateDirect: true}
	e := load(t, mustNew(t, nil, o).Body)
	r := rand.New(rand.NewPCG(5, 6))
	hosts := slices.Clone(sharedHosts)
	prefixes := []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
		"fc00::/7", "fe80::/10", "::1/128", "::ffff:0:0/96", "::/8", "2000::/3", "ff00::/8"}
	for _, p := range prefixes {
		pfx := netip.MustParsePrefix(p)
		for range 30 {
			a := pfx.Addr().AsSlice()
			randomHostBits(r, a, pfx.Bits())
			addr, _ := netip.AddrFromSlice(a)
			hosts = append(hosts, addr.String(), addr.StringExpanded())
		}
		// The edges of the range and the addresses just outside it.
		first := pfx.Masked().Addr()
		a := first.AsSlice()
		for i := range a {
			if bit := i * 8; bit+8 > pfx.Bits() {
				a[i] |= 0xff >> max(0, pfx.Bits()-bit)
			}
		}
		last, _ := netip.AddrFromSlice(a)
		for _, edge := range []netip.Addr{first, first.Prev(), last, last.Next()} {
			if edge.IsValid() {
				hosts = append(hosts, edge.String())
			}
		}
	}
	for range 200 {
		hosts = append(hosts, fmt.Sprintf("%d.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256)))
	}
	check(t, e, model{o: o, route: route2}, hosts)
}

func TestHostileStrings(t *testing.T) {
	// A comment that would end the header comment and redefine FindProxyForURL if copied raw.
	evil := "abc\nFindProxyForURL = function () { return \"PROXY evil:1\"; };\u2028x = 1;\r// */"
	f := mustNew(t, []Target{{Domain: "slack.com"}}, Options{Proxies: twoProxies, Comment: evil})
	e := load(t, f.Body)
	if got := e.mustCall(t, "slack.com"); got != route2 {
		t.Errorf("FindProxyForURL(slack.com) = %q; want %q", got, route2)
	}
	if bytes.Contains(f.Body, []byte("evil:1\"; };\n")) || bytes.Contains(f.Body, []byte("\r")) || bytes.Contains(f.Body, []byte("\u2028")) {
		t.Errorf("PAC file carries the comment's line breaks:\n%s", head(f.Body))
	}
	if !bytes.Contains(f.Body, []byte("// Config: abc?FindProxyForURL")) {
		t.Errorf("PAC header lacks the sanitised comment:\n%s", head(f.Body))
	}
	long := mustNew(t, nil, Options{Proxies: twoProxies, Comment: strings.Repeat("x", 1000)})
	if n := bytes.Count(long.Body, []byte("x")); n > maxCommentLen+100 {
		t.Errorf("PAC with a 1000-byte comment holds %d x's; want the comment cut to %d", n, maxCommentLen)
	}

	// Strings that reach the script's literals are encoded, never pasted.
	for _, s := range []string{`"`, `\`, "\n", "\u2028", "\u2029", "</script>", "\x00", "\xff", "😀"} {
		v, err := goja.New().RunString(string(jsString(s)))
		if err != nil {
			t.Errorf("jsString(%q) = %s: %v", s, jsString(s), err)
			continue
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if got := v.Export(); got != want {
			t.Errorf("jsString(%q) evaluates to %q; want %q", s, got, want)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	ok := []Target{{Domain: "slack.com"}}
	tests := []struct {
		name    string
		targets []Target
		o       Options
		want    string
	}{
		{"no proxies", ok, Options{}, "no PAC proxies"},
		{"proxy without port", ok, Options{Proxies: []string{"proxy.example"}}, `PAC proxy "proxy.example"`},
		{"proxy with port 0", ok, Options{Proxies: []string{"proxy.example:0"}}, "expected a number from 1 to 65535"},
		{"proxy with big port", ok, Options{Proxies: []string{"proxy.example:65536"}}, "expected a number from 1 to 65535"},
		{"proxy with named port", ok, Options{Proxies: []string{"proxy.example:http"}}, "expected a number"},
		{"proxy injecting a second route", ok, Options{Proxies: []string{"a.example:1; DIRECT"}}, "PAC proxy"},
		{"proxy injecting a quote", ok, Options{Proxies: []string{`a".example:3128`}}, "invalid character"},
		{"proxy with space", ok, Options{Proxies: []string{"a .example:3128"}}, "invalid character"},
		{"empty proxy host", ok, Options{Proxies: []string{":3128"}}, "empty host"},
		{"unknown mode", ok, Options{Proxies: twoProxies, Mode: Mode(7)}, "unknown PAC mode 7"},
		{"target not normalised", []Target{{Domain: "Slack.com"}}, Options{Proxies: twoProxies}, `expected "slack.com"`},
		{"target with quote", []Target{{Domain: `a".com`}}, Options{Proxies: twoProxies}, "invalid character"},
		{"target IP", []Target{{Domain: "10.0.0.1"}}, Options{Proxies: twoProxies}, "is an IP address"},
		{"target empty", []Target{{Domain: ""}}, Options{Proxies: twoProxies}, "empty host"},
		{"target wildcard", []Target{{Domain: "*.slack.com"}}, Options{Proxies: twoProxies}, "invalid character"},
		{"exclusion with trailing dot", ok, Options{Proxies: twoProxies, Exclude: []string{"corp.example."}}, `expected "corp.example"`},
		{"exclusion IP", ok, Options{Proxies: twoProxies, Exclude: []string{"::1"}}, "is an IP address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := Generate(tc.targets, tc.o)
			if err == nil {
				t.Fatalf("Generate = %d bytes, nil error; want an error containing %q", len(body), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Generate error %q; want it to contain %q", err, tc.want)
			}
			if f, err := New(tc.targets, tc.o); err == nil || f != nil {
				t.Errorf("New = %v, %v; want nil and an error", f, err)
			}
		})
	}
}

func TestProxies(t *testing.T) {
	tests := []struct {
		name    string
		proxies []string
		direct  bool
		want    string
	}{
		{"one", []string{"proxy.example:3128"}, false, "PROXY proxy.example:3128"},
		{"failover order kept", []string{"b.example:1", "a.example:2"}, false, "PROXY b.example:1; PROXY a.example:2"},
		{"normalised", []string{"PROXY.Example.:8080"}, false, "PROXY proxy.example:8080"},
		{"IPv4", []string{"10.0.0.5:3128"}, false, "PROXY 10.0.0.5:3128"},
		{"IPv6", []string{"[2001:DB8::5]:3128"}, false, "PROXY [2001:db8::5]:3128"},
		{"direct fallback", []string{"proxy.example:3128"}, true, "PROXY proxy.example:3128; DIRECT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Proxies: tc.proxies, DirectFallback: tc.direct, Mode: ModeAll}
			e := load(t, mustNew(t, nil, o).Body)
			if got := e.mustCall(t, "example.org"); got != tc.want {
				t.Errorf("FindProxyForURL = %q; want %q", got, tc.want)
			}
		})
	}
}

func TestProxyFromHost(t *testing.T) {
	tests := []struct {
		host, port string
		want       string
		wantErr    bool
	}{
		{"signpost.corp.example:3128", "80", "signpost.corp.example:3128", false},
		{"Signpost.Corp.Example", "3128", "signpost.corp.example:3128", false},
		{"10.0.0.5:8080", "80", "10.0.0.5:8080", false},
		{"[::1]:3128", "80", "[::1]:3128", false},
		{"[::1]", "3128", "[::1]:3128", false},
		{"", "3128", "", true},
		{"evil.example:1; DIRECT", "80", "", true},
		{`evil".example`, "80", "", true},
		{"evil.example:99999", "80", "", true},
		{"evil.example", "", "", true},
		{"[evil.example:80]:3128", "80", "", true},
		{"[10.0.0.1]:3128", "80", "10.0.0.1:3128", false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			got, err := ProxyFromHost(tc.host, tc.port)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ProxyFromHost(%q, %q) = %q, %v; want %q, error %t", tc.host, tc.port, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	slack := &classify.App{ID: "slack"}
	docs := &classify.App{ID: "google-docs"}
	wiki := &classify.App{ID: "confluence"}
	ps := []classify.Pattern{
		{Domain: "slack.com", App: slack},
		{Domain: "slack.com", Exact: true, App: slack},
		{Domain: "docs.google.com", Exact: true, Path: "/document", App: docs}, // host paths
		{Domain: "docs.google.com", Exact: true, Path: "/spreadsheets", App: docs},
		{Domain: "atlassian.net", Path: "/wiki", App: wiki}, // a domain path: every site's /wiki
		{Domain: "slack-edge.com", App: slack},
	}
	got := Targets(ps, nil)
	want := []Target{{"atlassian.net", false}, {"docs.google.com", true}, {"slack-edge.com", false}, {"slack.com", false}, {"slack.com", true}}
	if !slices.Equal(got, want) {
		t.Errorf("Targets = %v; want %v", got, want)
	}
	got = Targets(ps, func(p classify.Pattern) bool { return p.App != slack })
	want = []Target{{"atlassian.net", false}, {"docs.google.com", true}}
	if !slices.Equal(got, want) {
		t.Errorf("Targets without slack = %v; want %v", got, want)
	}
}

func TestPrune(t *testing.T) {
	rules := map[string]int{
		"office.com":         flagSuffix,
		"outlook.office.com": flagSuffix,              // covered by office.com
		"a.b.office.com":     flagExact,               // covered by office.com
		"slack.com":          flagSuffix | flagExact,  // the exact flag adds nothing
		"corp.office.com":    flagExclude | flagExact, // the exclusion stays; the proxy flag goes
		"files.example":      flagExact,
		"x.files.example":    flagSuffix, // an exact parent does not cover subdomains
	}
	prune(rules)
	want := map[string]int{
		"office.com":      flagSuffix,
		"slack.com":       flagSuffix,
		"corp.office.com": flagExclude,
		"files.example":   flagExact,
		"x.files.example": flagSuffix,
	}
	if fmt.Sprint(rules) != fmt.Sprint(want) {
		t.Errorf("prune = %v; want %v", rules, want)
	}
}

func TestDeterministic(t *testing.T) {
	cfg := catalog(t)
	targets := Targets(cfg.Patterns, nil)
	o := Options{Proxies: twoProxies, PrivateDirect: true, Exclude: []string{"corp.example", "b.example", "a.example"}, Comment: cfg.Hash}
	f1 := mustNew(t, targets, o)

	shuffled := slices.Clone(targets)
	rand.New(rand.NewPCG(7, 8)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	shuffled = append(shuffled, targets[:10]...) // duplicates change nothing
	o2 := o
	o2.Exclude = []string{"a.example", "corp.example", "b.example", "a.example"}
	f2 := mustNew(t, shuffled, o2)
	if !bytes.Equal(f1.Body, f2.Body) || f1.ETag != f2.ETag {
		t.Errorf("same rules in another order: ETag %s, then %s; want equal bodies and ETags", f1.ETag, f2.ETag)
	}
	if len(f1.ETag) != 22 || f1.ETag[0] != '"' || f1.ETag[21] != '"' {
		t.Errorf("ETag = %s; want 20 hex digits in quotes", f1.ETag)
	}
	if !bytes.Contains(f1.Body, []byte("// Config: "+cfg.Hash+"\n")) {
		t.Errorf("PAC header lacks the config hash %s", cfg.Hash)
	}
	if !bytes.Contains(f1.Body, []byte("// Proxies: "+route2+"\n")) {
		t.Errorf("PAC header lacks the proxies %q", route2)
	}

	changes := map[string]func(ts []Target, o Options) ([]Target, Options){
		"one more domain": func(ts []Target, o Options) ([]Target, Options) {
			return append(slices.Clone(ts), Target{Domain: "new-app.example"}), o
		},
		"one domain fewer": func(ts []Target, o Options) ([]Target, Options) { return ts[1:], o },
		"domain made exact": func(ts []Target, o Options) ([]Target, Options) {
			ts = slices.Clone(ts)
			ts[0].Exact = !ts[0].Exact
			return ts, o
		},
		"proxy order": func(ts []Target, o Options) ([]Target, Options) {
			o.Proxies = []string{twoProxies[1], twoProxies[0]}
			return ts, o
		},
		"direct fallback": func(ts []Target, o Options) ([]Target, Options) { o.DirectFallback = true; return ts, o },
		"mode":            func(ts []Target, o Options) ([]Target, Options) { o.Mode = ModeAll; return ts, o },
		"private direct":  func(ts []Target, o Options) ([]Target, Options) { o.PrivateDirect = false; return ts, o },
		"exclusion":       func(ts []Target, o Options) ([]Target, Options) { o.Exclude = o.Exclude[1:]; return ts, o },
		"comment":         func(ts []Target, o Options) ([]Target, Options) { o.Comment = "other"; return ts, o },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			ts, o := change(targets, o)
			f := mustNew(t, ts, o)
			if f.ETag == f1.ETag {
				t.Errorf("ETag %s unchanged; want a new one", f.ETag)
			}
		})
	}
}

func TestServeHTTP(t *testing.T) {
	f := mustNew(t, []Target{{Domain: "slack.com"}}, Options{Proxies: twoProxies})
	srv := httptest.NewServer(f)
	defer srv.Close()

	do := func(t *testing.T, method string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/proxy.pac", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		if _, err := body.ReadFrom(resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp, body.Bytes()
	}

	tests := []struct {
		name       string
		method     string
		ifNoneMtch string
		wantStatus int
		wantBody   bool
	}{
		{"GET", http.MethodGet, "", http.StatusOK, true},
		{"HEAD", http.MethodHead, "", http.StatusOK, false},
		{"matching ETag", http.MethodGet, f.ETag, http.StatusNotModified, false},
		{"matching ETag on HEAD", http.MethodHead, f.ETag, http.StatusNotModified, false},
		{"matching weak ETag", http.MethodGet, "W/" + f.ETag, http.StatusNotModified, false},
		{"ETag in a list", http.MethodGet, `"other", ` + f.ETag, http.StatusNotModified, false},
		{"any ETag", http.MethodGet, "*", http.StatusNotModified, false},
		{"old ETag", http.MethodGet, `"0123456789abcdef0123"`, http.StatusOK, true},
		{"POST", http.MethodPost, "", http.StatusMethodNotAllowed, false},
		{"PUT", http.MethodPut, "", http.StatusMethodNotAllowed, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.ifNoneMtch != "" {
				h.Set("If-None-Match", tc.ifNoneMtch)
			}
			resp, body := do(t, tc.method, h)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d; want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus == http.StatusMethodNotAllowed {
				if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow = %q; want %q", got, "GET, HEAD")
				}
				if bytes.Contains(body, []byte("FindProxyForURL")) {
					t.Errorf("405 carries the PAC file")
				}
				return
			}
			if got := resp.Header.Get("ETag"); got != f.ETag {
				t.Errorf("ETag = %q; want %q", got, f.ETag)
			}
			if got := resp.Header.Get("Cache-Control"); got != "max-age=300" {
				t.Errorf("Cache-Control = %q; want %q", got, "max-age=300")
			}
			if tc.wantStatus == http.StatusOK {
				if got := resp.Header.Get("Content-Type"); got != ContentType {
					t.Errorf("Content-Type = %q; want %q", got, ContentType)
				}
				if got, want := resp.ContentLength, int64(len(f.Body)); got != want {
					t.Errorf("Content-Length = %d; want %d", got, want)
				}
			}
			if tc.wantBody && !bytes.Equal(body, f.Body) {
				t.Errorf("body is %d bytes; want the %d-byte PAC file", len(body), len(f.Body))
			}
			if !tc.wantBody && len(body) != 0 {
				t.Errorf("body is %d bytes; want none", len(body))
			}
		})
	}
}

// TestHelpers checks that the test's PAC environment is real: the standard helpers work and
// the DNS ones throw, so that a PAC file calling them would fail the tests above.
func TestHelpers(t *testing.T) {
	e := load(t, mustNew(t, nil, Options{Proxies: twoProxies}).Body)
	tests := []struct {
		expr    string
		want    any
		wantErr string
	}{
		{`isPlainHostName("intranet")`, true, ""},
		{`isPlainHostName("a.example")`, false, ""},
		{`dnsDomainIs("www.slack.com", ".slack.com")`, true, ""},
		{`dnsDomainIs("notslack.com", ".slack.com")`, false, ""},
		{`localHostOrDomainIs("www", "www.example.com")`, true, ""},
		{`dnsDomainLevels("a.b.c")`, int64(2), ""},
		{`shExpMatch("http://a.example/x", "*.example/*")`, true, ""},
		{`shExpMatch("a.example", "b.*")`, false, ""},
		{`isInNet("10.1.2.3", "10.0.0.0", "255.0.0.0")`, true, ""},
		{`isInNet("11.1.2.3", "10.0.0.0", "255.0.0.0")`, false, ""},
		{`weekdayRange("SUN", "SAT")`, true, ""},
		{`timeRange(0, 24)`, true, ""},
		{`dateRange("JAN", "DEC")`, true, ""},
		{`isInNet("slack.com", "10.0.0.0", "255.0.0.0")`, nil, "dnsResolve(slack.com) called"},
		{`dnsResolve("slack.com")`, nil, "must not resolve names"},
		{`isResolvable("slack.com")`, nil, "must not resolve names"},
		{`myIpAddress()`, nil, "must not depend"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			v, err := e.vm.RunString(tc.expr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%s: error %v; want one containing %q", tc.expr, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.expr, err)
			}
			if got := v.Export(); got != tc.want {
				t.Errorf("%s = %v (%T); want %v", tc.expr, got, got, tc.want)
			}
		})
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{ModeCatalog: "catalog", ModeAll: "all", Mode(9): "Mode(9)", Mode(-1): "Mode(-1)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q; want %q", int(m), got, want)
		}
	}
}

// syntheticTargets returns n distinct domain targets, a tenth of them exact.
func syntheticTargets(n int) []Target {
	ts := make([]Target, n)
	for i := range ts {
		ts[i] = Target{Domain: fmt.Sprintf("svc%d.vendor%d.example", i, i%997), Exact: i%10 == 0}
	}
	return ts
}

// TestLarge checks a 100,000-domain PAC file: it loads, and a sample of hosts decides as the
// matcher does.
func TestLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a 100,000-domain PAC file")
	}
	targets := syntheticTargets(100_000)
	o := Options{Proxies: twoProxies, PrivateDirect: true}
	e := load(t, mustNew(t, targets, o).Body)
	var hosts []string
	for i := 0; i < len(targets); i += 997 {
		d := targets[i].Domain
		hosts = append(hosts, d, "x."+d, "x"+d)
	}
	check(t, e, model{m: matcherFor(t, targets), o: o, route: route2}, hosts)
}

func BenchmarkGenerate(b *testing.B) {
	cfg := catalog(b)
	for _, bc := range []struct {
		name    string
		targets []Target
	}{
		{"catalog", Targets(cfg.Patterns, nil)},
		{"100k", syntheticTargets(100_000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := Options{Proxies: twoProxies, PrivateDirect: true, Comment: cfg.Hash}
			var size int
			b.ReportAllocs()
			for b.Loop() {
				f, err := New(bc.targets, o)
				if err != nil {
					b.Fatal(err)
				}
				size = len(f.Body)
			}
			b.ReportMetric(float64(size), "pac-bytes")
		})
	}
}

// BenchmarkFindProxyForURL measures one decision in goja, as a browser pays it per request.
func BenchmarkFindProxyForURL(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		targets := syntheticTargets(n)
		body := mustNew(b, targets, Options{Proxies: twoProxies, PrivateDirect: true}).Body
		b.Run(fmt.Sprintf("load/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := tryLoad(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		e := load(b, body)
		for _, host := range []string{"a.b." + targets[n/2].Domain, "www.example.org", "10.1.2.3", "fe80::1"} {
			b.Run(fmt.Sprintf("%d/%s", n, host), func(b *testing.B) {
				for b.Loop() {
					if _, err := e.call(host); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
