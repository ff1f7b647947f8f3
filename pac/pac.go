// Package pac generates the proxy auto-config (PAC) file that tells browsers which requests go
// through Signpost, and serves it with a validator so that browsers and caches pick up rule
// changes without downloading it again when nothing changed.
//
// The generated JavaScript decides from the host name alone, with one object lookup per label of
// the host ("a.b.slack.com", "b.slack.com", "slack.com", "com"), as the Go matcher in the
// classify package does. It never calls dnsResolve, isResolvable, isInNet or myIpAddress: those
// block the browser on DNS for every request. Private, loopback and link-local addresses are
// recognised by parsing IP literals in JavaScript, never by resolving names. The script is ES3,
// so that every PAC engine (including the Windows WinHTTP one) runs it, and its output is
// deterministic: the same targets and options always give the same bytes and the same ETag.
//
// The package does not read the configuration, decide which apps the policy needs to see (the
// caller chooses the targets, see Targets), or register routes: the proxy serves a File at
// /proxy.pac and /wpad.dat, and `signpost pac` prints File.Body.
package pac

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-gateway/signpost/classify"
)

// ContentType is the media type of a PAC file that browsers expect.
const ContentType = "application/x-ns-proxy-autoconfig"

// MaxAge is how long browsers and caches may reuse a served PAC file without asking again. It is
// short so that a rule change reaches browsers within minutes; a conditional request that finds
// the file unchanged costs a 304 without a body.
const MaxAge = 5 * time.Minute

// maxCommentLen bounds the caller's comment in the PAC header.
const maxCommentLen = 200

// Mode says which hosts the PAC file sends to the proxy.
type Mode int

const (
	// ModeCatalog sends only the targets (the catalog's hosts) to the proxy; everything else
	// goes DIRECT.
	ModeCatalog Mode = iota
	// ModeAll sends every host to the proxy, except exclusions and (with PrivateDirect)
	// private names and addresses.
	ModeAll
)

// String returns "catalog" or "all", as the configuration spells the mode.
func (m Mode) String() string {
	switch m {
	case ModeCatalog:
		return "catalog"
	case ModeAll:
		return "all"
	default:
		return "Mode(" + strconv.Itoa(int(m)) + ")"
	}
}

// Options says how the PAC file routes requests.
type Options struct {
	// Proxies are the Signpost nodes as "host:port", in failover order: browsers try the next
	// when one does not answer. At least one is required. Hosts are normalised as classify
	// normalises request hosts; an IPv6 address is written in brackets ("[2001:db8::1]:3128").
	Proxies []string
	// Mode says whether only the targets (ModeCatalog, the zero value) or all hosts
	// (ModeAll) go to the proxy.
	Mode Mode
	// DirectFallback appends "DIRECT" after the proxies, so that browsers bypass Signpost when
	// no proxy answers. Off, a browser fails closed: without a proxy, proxied hosts do not load.
	DirectFallback bool
	// Exclude are domains that always go DIRECT, with their subdomains ("corp.example" also
	// excludes "wiki.corp.example"), whatever the targets and the mode say. They must be
	// names, not IP addresses; private addresses are PrivateDirect's job.
	Exclude []string
	// PrivateDirect sends plain host names (no dot, such as "intranet" or "localhost"),
	// names under "localhost", and IP literals in private, loopback and link-local ranges
	// (10/8, 172.16/12, 192.168/16, 127/8, 169.254/16, fc00::/7, ::1, fe80::/10, and those
	// written as IPv4-mapped IPv6) DIRECT. Callers should turn it on unless the admin says
	// otherwise; the zero value leaves it off, which sends more to the proxy, never less.
	PrivateDirect bool
	// Comment is written into the PAC header, typically the configuration's hash, so that an
	// admin can tell which rules a browser has. Characters outside printable ASCII are
	// replaced and it is cut to 200 bytes.
	Comment string
}

// Target is a host the PAC file sends to the proxy in ModeCatalog.
type Target struct {
	// Domain is a domain name in the form classify.Normalize returns, not an IP address.
	Domain string
	// Exact restricts the target to Domain itself; otherwise its subdomains are targets too.
	Exact bool
}

// Targets returns the targets for catalog patterns, sorted and without duplicates. The PAC
// file cannot see paths, so a pattern with a path sends its whole host to the proxy, which
// decides by path: a host path rule its host, a domain path rule (not Exact) its domain and
// every subdomain. keep, if not nil, chooses the patterns to include, for example those of apps
// that the policy does not allow for everyone.
func Targets(patterns []classify.Pattern, keep func(classify.Pattern) bool) []Target {
	ts := make([]Target, 0, len(patterns))
	for _, p := range patterns {
		if keep != nil && !keep(p) {
			continue
		}
		ts = append(ts, Target{Domain: p.Domain, Exact: p.Exact})
	}
	slices.SortFunc(ts, compareTargets)
	return slices.Compact(ts)
}

// compareTargets orders targets by domain, a domain target before the exact one of the same name.
func compareTargets(a, b Target) int {
	if c := strings.Compare(a.Domain, b.Domain); c != 0 {
		return c
	}
	switch {
	case a.Exact == b.Exact:
		return 0
	case a.Exact:
		return 1
	default:
		return -1
	}
}

// Flags of a rule in the generated script's table; the script's comment repeats them.
const (
	flagSuffix  = 1 // proxy the domain and its subdomains
	flagExact   = 2 // proxy the host alone
	flagExclude = 4 // the domain and its subdomains go DIRECT, whatever else matches
)

// Generate returns the PAC JavaScript for the targets and options. It fails on an invalid or
// missing proxy, a target or exclusion that is not a normalised domain name, or an unknown
// mode. Targets covered by another (a subdomain of a domain target) are left out, which
// changes nothing but the size; the output is the same for the same input in any order.
func Generate(targets []Target, o Options) ([]byte, error) {
	if o.Mode != ModeCatalog && o.Mode != ModeAll {
		return nil, fmt.Errorf("unknown PAC mode %d", int(o.Mode))
	}
	route, err := routeString(o.Proxies, o.DirectFallback)
	if err != nil {
		return nil, err
	}
	rules := make(map[string]int)
	for _, d := range o.Exclude {
		if err := checkDomain(d); err != nil {
			return nil, fmt.Errorf("PAC exclusion: %w", err)
		}
		rules[d] |= flagExclude
	}
	for _, t := range targets {
		if err := checkDomain(t.Domain); err != nil {
			return nil, fmt.Errorf("PAC target: %w", err)
		}
		if o.Mode == ModeAll {
			continue // every host goes to the proxy: the targets add nothing
		}
		if t.Exact {
			rules[t.Domain] |= flagExact
		} else {
			rules[t.Domain] |= flagSuffix
		}
	}
	prune(rules)
	return render(rules, route, o), nil
}

// checkDomain returns an error unless d is a domain name as classify.Normalize returns it.
func checkDomain(d string) error {
	n, err := classify.Normalize(d)
	switch {
	case err != nil:
		return fmt.Errorf("domain %q: %w", d, err)
	case n != d:
		return fmt.Errorf("domain %q is not in canonical form; expected %q", d, n)
	case classify.IsIP(n):
		return fmt.Errorf("domain %q is an IP address; expected a domain name", d)
	}
	return nil
}

// prune drops proxy flags that a domain target on a parent (or, for an exact target, on the
// same name) already implies. Exclusions are kept: they win wherever they are.
func prune(rules map[string]int) {
	for d, f := range rules {
		proxy := f &^ flagExclude
		if proxy == 0 {
			continue
		}
		if f&flagSuffix != 0 {
			proxy &^= flagExact // the suffix rule covers the host itself
		}
		for s := d; ; {
			i := strings.IndexByte(s, '.')
			if i < 0 {
				break
			}
			s = s[i+1:]
			if rules[s]&flagSuffix != 0 {
				proxy = 0
				break
			}
		}
		if f = f&flagExclude | proxy; f == 0 {
			delete(rules, d)
		} else {
			rules[d] = f
		}
	}
}

// routeString checks the proxies and returns what FindProxyForURL answers for a proxied host,
// such as "PROXY a:3128; PROXY b:3128; DIRECT".
func routeString(proxies []string, direct bool) (string, error) {
	if len(proxies) == 0 {
		return "", errors.New("no PAC proxies; expected at least one host:port")
	}
	parts := make([]string, 0, len(proxies)+1)
	for _, p := range proxies {
		hp, err := canonicalProxy(p)
		if err != nil {
			return "", err
		}
		parts = append(parts, "PROXY "+hp)
	}
	if direct {
		parts = append(parts, "DIRECT")
	}
	return strings.Join(parts, "; "), nil
}

// canonicalProxy checks a "host:port" and returns it with the host normalised.
func canonicalProxy(p string) (string, error) {
	host, port, err := net.SplitHostPort(p)
	if err != nil {
		return "", fmt.Errorf("PAC proxy %q: expected host:port: %w", p, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", fmt.Errorf("PAC proxy %q: found port %q; expected a number from 1 to 65535", p, port)
	}
	h, err := classify.Normalize(host)
	if err != nil {
		return "", fmt.Errorf("PAC proxy %q: %w", p, err)
	}
	if strings.Contains(host, ":") && !strings.Contains(h, ":") {
		// Normalize dropped a second port ("[proxy.example:80]:3128"): not a proxy address.
		return "", fmt.Errorf("PAC proxy %q: expected one host and one port", p)
	}
	return net.JoinHostPort(h, port), nil
}

// ProxyFromHost returns the proxy address for a PAC file fetched with the given Host header: the
// host, normalised, with its port, or defaultPort when it has none. It is for a configuration
// that names no proxies and means "the address the browser fetched the PAC file from". The
// Host header is the client's word, so it is checked as strictly as a request host is.
func ProxyFromHost(host, defaultPort string) (string, error) {
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), defaultPort)
	}
	return canonicalProxy(host)
}

// render writes the PAC script. Every string from the input is JSON-encoded, which is also a
// valid ES3 string literal: Go escapes quotes, backslashes, controls, U+2028 and U+2029.
func render(rules map[string]int, route string, o Options) []byte {
	keys := make([]string, 0, len(rules))
	var domains, hosts, excluded int
	for d, f := range rules {
		keys = append(keys, d)
		if f&flagSuffix != 0 {
			domains++
		}
		if f&flagExact != 0 {
			hosts++
		}
		if f&flagExclude != 0 {
			excluded++
		}
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(a, b) })

	var b bytes.Buffer
	b.Grow(1024 + len(keys)*(len(`".": 1,`)+24))
	b.WriteString("// Proxy auto-config generated by Signpost. Do not edit: it is regenerated from the\n")
	b.WriteString("// configuration (`signpost pac` prints it).\n")
	if c := commentText(o.Comment); c != "" {
		b.WriteString("// Config: " + c + "\n")
	}
	b.WriteString("// Mode: " + o.Mode.String())
	if o.Mode == ModeAll {
		b.WriteString(" (every host goes to the proxy, except the exclusions below)\n")
	} else {
		b.WriteString(" (only the hosts below go to the proxy)\n")
	}
	b.WriteString("// Proxies: " + commentText(route) + "\n")
	fmt.Fprintf(&b, "// Rules: domains %d, exact hosts %d, exclusions %d (a host under a listed domain is not repeated).\n",
		domains, hosts, excluded)
	if o.PrivateDirect {
		b.WriteString("// Plain names, names under localhost and private, loopback and link-local addresses go DIRECT.\n")
	}
	b.WriteString("//\n// Decisions never resolve names (no dnsResolve, isInNet or isResolvable), so the browser\n")
	b.WriteString("// never waits on DNS to choose a proxy.\n\n")

	fmt.Fprintf(&b, "var signpostRoute = %s;\n", jsString(route))
	fmt.Fprintf(&b, "var signpostAll = %t;\n", o.Mode == ModeAll)
	fmt.Fprintf(&b, "var signpostPrivateDirect = %t;\n\n", o.PrivateDirect)
	b.WriteString("// Keys are \".\" and a domain; the dot keeps keys apart from Object.prototype's names.\n")
	b.WriteString("// Flags: 1 proxies the domain and its subdomains, 2 the host alone, 4 sends the domain and\n")
	b.WriteString("// its subdomains DIRECT whatever else matches.\n")
	b.WriteString("var signpostRules = {")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',') // no trailing comma: ES3 engines reject it
		}
		b.WriteString("\n\t")
		b.Write(jsString("." + k))
		b.WriteString(": ")
		b.WriteString(strconv.Itoa(rules[k]))
	}
	b.WriteString("\n};\n")
	b.WriteString(script)
	return b.Bytes()
}

// jsString returns s as a JavaScript string literal.
func jsString(s string) []byte {
	q, err := json.Marshal(s)
	if err != nil {
		// json.Marshal does not fail on a string; invalid UTF-8 becomes U+FFFD.
		return []byte(`""`)
	}
	return q
}

// commentText makes s safe inside a "//" comment: printable ASCII only (a line break would end
// the comment and let the rest run as code), at most maxCommentLen bytes.
func commentText(s string) string {
	if len(s) > maxCommentLen {
		s = s[:maxCommentLen]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// script is the fixed part of the PAC file. It is ES3: var, no let/const, arrow functions,
// Object.create, Array.prototype.indexOf or trailing commas.
const script = `
function FindProxyForURL(url, host) {
	var h = String(host).toLowerCase(), k, i, hit;
	while (h.charAt(h.length - 1) === ".") {
		h = h.substring(0, h.length - 1);
	}
	if (h.charAt(0) === "[" && h.charAt(h.length - 1) === "]") {
		h = h.substring(1, h.length - 1);
	}
	// One lookup per label: ".a.slack.com", ".slack.com", ".com". A missing key (undefined),
	// or anything else that is not a number, gives 0 in a bitwise operation.
	k = "." + h;
	hit = signpostRules[k] & 7;
	for (i = k.indexOf(".", 1); i >= 0; i = k.indexOf(".", i + 1)) {
		hit |= signpostRules[k.substring(i)] & 5;
	}
	if (hit & 4) {
		return "DIRECT";
	}
	if (signpostPrivateDirect && signpostPrivate(h)) {
		return "DIRECT";
	}
	if (signpostAll || hit) {
		return signpostRoute;
	}
	return "DIRECT";
}

// signpostPrivate reports whether h is a plain name, a name under localhost, or an IP literal
// in a private, loopback or link-local range. It parses; it never resolves.
function signpostPrivate(h) {
	var c, a;
	if (h.indexOf(":") >= 0) {
		a = signpostIPv6(h);
		return a !== null && signpostPrivate6(a);
	}
	if (h.indexOf(".") < 0 || h.substring(h.length - 10) === ".localhost") {
		return true;
	}
	c = h.charCodeAt(h.length - 1);
	if (c >= 48 && c <= 57) {
		a = signpostIPv4(h);
		return a !== null && signpostPrivate4(a);
	}
	return false;
}

// signpostIPv4 returns the four numbers of a dotted-decimal IPv4 address, or null. Only the
// canonical spelling counts (no leading zeros), as browsers pass it.
function signpostIPv4(h) {
	var p = h.split("."), i;
	if (p.length !== 4) {
		return null;
	}
	for (i = 0; i < 4; i++) {
		if (!/^(0|[1-9][0-9]{0,2})$/.test(p[i]) || +p[i] > 255) {
			return null;
		}
		p[i] = +p[i];
	}
	return p;
}

function signpostPrivate4(a) {
	return a[0] === 10 || a[0] === 127 ||
		(a[0] === 172 && a[1] >= 16 && a[1] <= 31) ||
		(a[0] === 192 && a[1] === 168) ||
		(a[0] === 169 && a[1] === 254);
}

// signpostIPv6 returns the eight 16-bit groups of an IPv6 address without brackets or zone,
// or null.
function signpostIPv6(h) {
	var halves = h.split("::"), head, tail, last, v4, g = [], i, n;
	if (halves.length > 2) {
		return null;
	}
	head = halves[0] === "" ? [] : halves[0].split(":");
	tail = halves.length === 2 && halves[1] !== "" ? halves[1].split(":") : [];
	// A trailing IPv4 address ("::ffff:10.0.0.1") stands for the last two groups.
	last = halves.length === 2 ? tail : head;
	if (last.length > 0 && last[last.length - 1].indexOf(".") >= 0) {
		v4 = signpostIPv4(last.pop());
		if (v4 === null) {
			return null;
		}
		last.push((v4[0] * 256 + v4[1]).toString(16), (v4[2] * 256 + v4[3]).toString(16));
	}
	n = head.length + tail.length;
	if (halves.length === 2 ? n > 7 : n !== 8) {
		return null;
	}
	for (i = 0; i < head.length; i++) {
		g.push(head[i]);
	}
	for (i = n; halves.length === 2 && i < 8; i++) {
		g.push("0");
	}
	for (i = 0; i < tail.length; i++) {
		g.push(tail[i]);
	}
	for (i = 0; i < 8; i++) {
		if (!/^[0-9a-f]{1,4}$/.test(g[i])) {
			return null;
		}
		g[i] = parseInt(g[i], 16);
	}
	return g;
}

// signpostPrivate6 covers fc00::/7 (unique local), fe80::/10 (link-local), ::1 and IPv4-mapped
// addresses (::ffff:a.b.c.d) of the private IPv4 ranges.
function signpostPrivate6(g) {
	if ((g[0] & 0xfe00) === 0xfc00 || (g[0] & 0xffc0) === 0xfe80) {
		return true;
	}
	if (g[0] || g[1] || g[2] || g[3] || g[4]) {
		return false;
	}
	if (g[5] === 0xffff) {
		return signpostPrivate4([g[6] >> 8, g[6] & 255, g[7] >> 8, g[7] & 255]);
	}
	return !g[5] && !g[6] && g[7] === 1;
}
`

// File is a generated PAC file with its validator. It is immutable and safe for concurrent use.
type File struct {
	// Body is the PAC script.
	Body []byte
	// ETag is a strong validator derived from Body, such as `"3f2a…"` (quotes included).
	ETag string
}

// New generates the PAC file for the targets and options; see Generate.
func New(targets []Target, o Options) (*File, error) {
	body, err := Generate(targets, o)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return &File{Body: body, ETag: `"` + hex.EncodeToString(sum[:])[:20] + `"`}, nil
}

// ServeHTTP answers GET and HEAD with the PAC file, its ETag and a Cache-Control of MaxAge, and
// a conditional request whose If-None-Match names the ETag with 304 Not Modified. Other methods
// get 405 Method Not Allowed.
func (f *File) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed; use GET", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", ContentType)
	h.Set("ETag", f.ETag)
	h.Set("Cache-Control", "max-age="+strconv.Itoa(int(MaxAge/time.Second)))
	h.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers If-None-Match (and HEAD and Range) as RFC 9110 says.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.Body))
}
