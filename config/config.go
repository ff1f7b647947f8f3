// Package config reads Signpost's configuration directory — YAML files with
// the proxy settings, identity sources, groups, the admin's own apps and the
// policy — together with the built-in app catalog, validates all of it
// strictly, and compiles it into an immutable Config that the proxy reads.
//
// Every problem is reported as "file:line: found X; expected Y" and Load
// reports all of them at once. `signpost check`, start-up and reload all call
// Load, so they validate exactly the same way.
//
// The package does not watch files, hold the running configuration or load
// the CA key: it turns files into a value and nothing more.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/signpost-gateway/signpost/classify"
	"github.com/signpost-gateway/signpost/configs"
	"github.com/signpost-gateway/signpost/identity"
	"github.com/signpost-gateway/signpost/policy"
)

// Defaults for settings the configuration leaves out.
const (
	DefaultListen            = ":3128"
	DefaultAdminListen       = "127.0.0.1:9129"
	DefaultContinueFor       = 8 * time.Hour
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultDialTimeout       = 10 * time.Second
	DefaultResponseTimeout   = 2 * time.Minute
	DefaultMaxHeaderBytes    = 32 << 10
	// BuiltinCatalogName is how the embedded catalog is named in errors
	// and in explain output.
	BuiltinCatalogName = "builtin/catalog.yaml"
)

// DefaultClients are the networks allowed to use the proxy when the
// configuration names none: loopback and the private ranges.
var DefaultClients = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
}

// Config is a loaded, validated and compiled configuration. It is immutable.
type Config struct {
	// Dir is the configuration directory; "" for the embedded default.
	Dir string
	// Files are the files the configuration was read from, in load order.
	Files []File
	// Hash identifies the configuration's content (hex SHA-256 over every
	// file's name and bytes, and those of the files it names: htpasswd,
	// logo, webhook URL and secret files): equal hashes mean nothing
	// changed.
	Hash string

	Proxy    Proxy
	Identity identity.Config
	// Groups maps a group to its members, as configured.
	Groups map[string][]string

	// Apps are the built-in catalog's apps (unless disabled) and the
	// admin's own, sorted by ID.
	Apps []*classify.App
	// Patterns are every domain, host and path pattern, in file order.
	Patterns []classify.Pattern
	Matcher  *classify.Matcher
	Policy   *policy.Policy
	// Seats are the licences the organisation pays for, by app id, for
	// comparing with the people who actually use each app.
	Seats map[string]int

	PAC      PAC
	Branding Branding
	Store    Store
	Webhooks []Webhook
	Requests Requests
	Admin    Admin

	apps map[string]*classify.App
}

// File is one file the configuration was read from.
type File struct {
	Name   string `json:"name"` // as shown in errors: the path given, or builtin/…
	SHA256 string `json:"sha256"`
}

// Proxy holds the proxy's own settings.
type Proxy struct {
	Listen      string
	AdminListen string
	// DataDir keeps the generated CA and the access store; "" means the
	// caller's default.
	DataDir string
	// Clients are the networks allowed to use the proxy.
	Clients []netip.Prefix
	// ConnectPorts are the ports a CONNECT may reach.
	ConnectPorts []int
	// AllowDestinations are addresses exempt from the destination check
	// that otherwise refuses loopback, private, link-local and metadata
	// addresses at dial time.
	AllowDestinations []netip.Prefix
	// Parent, when set, is the proxy all upstream traffic goes through.
	Parent *url.URL
	// CACert and CAKey are the interception CA's files (absolute or
	// relative to the working directory); both "" means the data
	// directory's CA, created on first start.
	CACert, CAKey string
	// CloseBlockedTunnels closes open tunnels to apps that a new
	// configuration no longer allows; otherwise they stay open and the new
	// rules apply to new connections.
	CloseBlockedTunnels bool
	// QuietDecisions turns off the per-decision log lines (errors and
	// warnings are still logged).
	QuietDecisions    bool
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	DialTimeout       time.Duration
	// ResponseHeaderTimeout bounds the wait for an origin's response
	// headers on forwarded requests (504 after it); long enough for
	// long-polling apps.
	ResponseHeaderTimeout time.Duration
	MaxHeaderBytes        int
}

// App returns the app with id, or nil.
func (c *Config) App(id string) *classify.App { return c.apps[id] }

// Load reads the configuration directory dir, or the embedded default when
// dir is "". On error it returns an ErrorList naming file and line of every
// problem found.
func Load(dir string) (*Config, error) {
	if dir == "" {
		return LoadFS(configs.Default, "", "default")
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, ErrorList{{File: dir, Msg: fmt.Sprintf("cannot read configuration directory: %v", errors.Unwrap(err))}}
	}
	if !info.IsDir() {
		return nil, ErrorList{{File: dir, Msg: "found a file; expected the configuration directory that holds it"}}
	}
	return LoadFS(os.DirFS(dir), dir, dir)
}

// LoadFS reads every *.yaml and *.yml file at the top of fsys (hidden names,
// such as Kubernetes' ..data, are skipped). dir is the directory relative
// file paths in the configuration are resolved against ("" forbids them);
// display prefixes file names in errors.
func LoadFS(fsys fs.FS, dir, display string) (*Config, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, ErrorList{{File: display, Msg: fmt.Sprintf("cannot list configuration directory: %v", err)}}
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || (!strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yml")) {
			continue
		}
		if e.IsDir() {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, ErrorList{{File: display, Msg: "found no *.yaml files; expected at least one configuration file"}}
	}
	l := &loader{p: &problems{}, dir: dir, hash: sha256.New(), builtin: true, store: Store{Retention: DefaultRetention}}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		shown := path.Join(display, n)
		if display != "" && dir != "" {
			shown = filepath.Join(display, n)
		}
		if err != nil {
			l.p.add(shown, 0, "cannot read: %v", err)
			continue
		}
		l.file(shown, data)
	}
	if l.builtin {
		l.file(BuiltinCatalogName, configs.Catalog)
	}
	c := l.compile()
	if err := l.p.err(); err != nil {
		return nil, err
	}
	c.Dir = dir
	return c, nil
}

// loader accumulates what the files say, then compiles it.
type loader struct {
	p       *problems
	dir     string
	hash    hash.Hash
	files   []File
	builtin bool

	// sections that may appear in one file only: name → "file:line".
	sections map[string]string

	proxy    Proxy
	ident    rawIdentity
	groups   map[string][]string
	groupAt  map[string]classify.Source
	apps     []rawApp
	policy   rawPolicy
	sawGroup bool

	pac        PAC
	pacModeSet bool
	branding   Branding
	store      Store
	webhooks   []Webhook
	requests   Requests
	admin      Admin
}

type rawIdentity struct {
	htpasswd            item
	requireAuth         bool
	realm               string
	trustedHeader       string
	trustedGroupsHeader string
	trustedPeers        []netip.Prefix
}

type rawApp struct {
	src                                  classify.Source
	id, name, vendor, category, homepage string
	idLine                               int
	domains, hosts, paths, domainPaths   []item
}

type rawRule struct {
	src         classify.Source
	app         item
	category    item
	group       item
	action      item
	alternative item
	reason      string
	continueFor time.Duration
}

type rawPolicy struct {
	def         *rawRule
	continueFor time.Duration
	rules       []rawRule
	seats       []rawSeats
}

type rawSeats struct {
	app   item
	seats int
}

var (
	idPattern    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)
	groupPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$`)
)

// readNamed reads a file the configuration names (htpasswd, logo, a
// webhook's URL or secret), and counts its path and bytes into the hash,
// so that a reload sees a change to it as a change of the configuration.
func (l *loader) readNamed(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	_, _ = l.hash.Write([]byte("named:" + path))
	_, _ = l.hash.Write([]byte{0})
	_, _ = l.hash.Write(sum[:])
	return data, nil
}

func (l *loader) file(name string, data []byte) {
	sum := sha256.Sum256(data)
	l.files = append(l.files, File{Name: name, SHA256: hex.EncodeToString(sum[:])})
	_, _ = l.hash.Write([]byte(name))
	_, _ = l.hash.Write([]byte{0})
	_, _ = l.hash.Write(sum[:])

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return // an empty file configures nothing
		}
		l.p.addErr(yamlError(name, err))
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.p.add(name, extra.Line, "found a second YAML document; expected one per file")
	}
	if len(doc.Content) == 0 {
		return
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return
	}
	r := &reader{file: name, p: l.p}
	builtinFile := name == BuiltinCatalogName
	fields := []field{
		{"apps", func(k, v *yaml.Node) { l.readApps(r, v) }},
	}
	if !builtinFile {
		fields = append(fields,
			field{"proxy", func(k, v *yaml.Node) {
				if l.section(r, k) {
					l.readProxy(r, v)
				}
			}},
			field{"identity", func(k, v *yaml.Node) {
				if l.section(r, k) {
					l.readIdentity(r, v)
				}
			}},
			field{"groups", func(k, v *yaml.Node) { l.readGroups(r, v) }},
			field{"catalog", func(k, v *yaml.Node) {
				if l.section(r, k) {
					r.mapping(v, "catalog", []field{{"builtin", func(_, v *yaml.Node) {
						if b, ok := r.boolean(v, "catalog.builtin"); ok {
							l.builtin = b
						}
					}}})
				}
			}},
			field{"policy", func(k, v *yaml.Node) {
				if l.section(r, k) {
					l.readPolicy(r, v)
				}
			}},
			l.oneSection(r, "pac", l.readPAC),
			l.oneSection(r, "branding", l.readBranding),
			l.oneSection(r, "store", l.readStore),
			l.oneSection(r, "notify", l.readNotify),
			l.oneSection(r, "requests", l.readRequests),
			l.oneSection(r, "admin", l.readAdmin),
		)
	}
	r.mapping(root, "the top level of "+path.Base(name), fields)
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: did not find
// expected key") into a positioned Error.
func yamlError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg}
}

// oneSection is a field for a section that may appear in one file only.
func (l *loader) oneSection(r *reader, name string, read func(*reader, *yaml.Node)) field {
	return field{name, func(k, v *yaml.Node) {
		if l.section(r, k) {
			read(r, v)
		}
	}}
}

// section records that a one-per-configuration section appears here and
// refuses a second one, naming both places.
func (l *loader) section(r *reader, k *yaml.Node) bool {
	if l.sections == nil {
		l.sections = make(map[string]string)
	}
	at := fmt.Sprintf("%s:%d", r.file, k.Line)
	if first, ok := l.sections[k.Value]; ok {
		r.errorf(k, "section %q repeated (first at %s); expected it in one file only", k.Value, first)
		return false
	}
	l.sections[k.Value] = at
	return true
}

func (l *loader) readProxy(r *reader, n *yaml.Node) {
	p := &l.proxy
	str := func(dst *string, what string) func(_, v *yaml.Node) {
		return func(_, v *yaml.Node) {
			if s, ok := r.str(v, what); ok {
				*dst = s
			}
		}
	}
	addr := func(dst *string, what string) func(_, v *yaml.Node) {
		return func(_, v *yaml.Node) {
			s, ok := r.str(v, what)
			if !ok {
				return
			}
			if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
				r.errorf(v, "found %q for %s; expected host:port such as \":3128\" or \"127.0.0.1:9129\"", s, what)
				return
			}
			*dst = s
		}
	}
	dur := func(dst *time.Duration, what string) func(_, v *yaml.Node) {
		return func(_, v *yaml.Node) {
			if d, ok := r.duration(v, what, time.Second, 24*time.Hour); ok {
				*dst = d
			}
		}
	}
	r.mapping(n, "proxy", []field{
		{"listen", addr(&p.Listen, "proxy.listen")},
		{"admin_listen", addr(&p.AdminListen, "proxy.admin_listen")},
		{"data_dir", str(&p.DataDir, "proxy.data_dir")},
		{"clients", func(_, v *yaml.Node) { p.Clients = r.prefixes(v, "proxy.clients") }},
		{"connect_ports", func(_, v *yaml.Node) {
			for _, c := range r.list(v, "proxy.connect_ports") {
				if port, ok := r.integer(c, "a port in proxy.connect_ports", 1, 65535); ok {
					p.ConnectPorts = append(p.ConnectPorts, port)
				}
			}
		}},
		{"allow_destinations", func(_, v *yaml.Node) { p.AllowDestinations = r.prefixes(v, "proxy.allow_destinations") }},
		{"parent_proxy", func(_, v *yaml.Node) {
			s, ok := r.str(v, "proxy.parent_proxy")
			if !ok {
				return
			}
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
				r.errorf(v, "found %q for proxy.parent_proxy; expected a URL such as http://parent.example:3128", s)
				return
			}
			p.Parent = u
		}},
		{"close_blocked_tunnels", func(_, v *yaml.Node) {
			p.CloseBlockedTunnels, _ = r.boolean(v, "proxy.close_blocked_tunnels")
		}},
		{"log_decisions", func(_, v *yaml.Node) {
			if b, ok := r.boolean(v, "proxy.log_decisions"); ok {
				p.QuietDecisions = !b
			}
		}},
		{"ca_cert", str(&p.CACert, "proxy.ca_cert")},
		{"ca_key", str(&p.CAKey, "proxy.ca_key")},
		{"read_header_timeout", dur(&p.ReadHeaderTimeout, "proxy.read_header_timeout")},
		{"idle_timeout", dur(&p.IdleTimeout, "proxy.idle_timeout")},
		{"dial_timeout", dur(&p.DialTimeout, "proxy.dial_timeout")},
		{"response_header_timeout", dur(&p.ResponseHeaderTimeout, "proxy.response_header_timeout")},
		{"max_header_bytes", func(_, v *yaml.Node) {
			if b, ok := r.integer(v, "proxy.max_header_bytes", 4<<10, 1<<20); ok {
				p.MaxHeaderBytes = b
			}
		}},
	})
	if (p.CACert == "") != (p.CAKey == "") {
		r.errorf(n, "proxy sets only one of ca_cert and ca_key; expected both or neither")
	}
	p.CACert, p.CAKey = l.resolve(r, n, p.CACert), l.resolve(r, n, p.CAKey)
}

// resolve makes a configured file path relative to the configuration
// directory.
func (l *loader) resolve(r *reader, n *yaml.Node, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if l.dir == "" {
		r.errorf(n, "relative path %q in the embedded configuration; expected an absolute path", p)
		return p
	}
	return filepath.Join(l.dir, p)
}

func (l *loader) readIdentity(r *reader, n *yaml.Node) {
	id := &l.ident
	r.mapping(n, "identity", []field{
		{"htpasswd", func(_, v *yaml.Node) {
			if s, ok := r.str(v, "identity.htpasswd"); ok {
				id.htpasswd = item{l.resolve(r, v, s), v.Line}
			}
		}},
		{"require_auth", func(_, v *yaml.Node) { id.requireAuth, _ = r.boolean(v, "identity.require_auth") }},
		{"realm", func(_, v *yaml.Node) { id.realm, _ = r.str(v, "identity.realm") }},
		{"trusted_header", func(_, v *yaml.Node) { id.trustedHeader = r.headerName(v, "identity.trusted_header") }},
		{"trusted_groups_header", func(_, v *yaml.Node) {
			id.trustedGroupsHeader = r.headerName(v, "identity.trusted_groups_header")
		}},
		{"trusted_peers", func(_, v *yaml.Node) { id.trustedPeers = r.prefixes(v, "identity.trusted_peers") }},
	})
	if id.requireAuth && id.htpasswd.value == "" && id.trustedHeader == "" {
		r.errorf(n, "identity.require_auth is true but neither htpasswd nor trusted_header is set; expected a way to authenticate")
	}
	if id.trustedHeader != "" && len(id.trustedPeers) == 0 {
		r.errorf(n, "identity.trusted_header is set without trusted_peers; expected the CIDRs of the gateways allowed to send it")
	}
}

var headerPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

func (r *reader) headerName(v *yaml.Node, what string) string {
	s, ok := r.str(v, what)
	if !ok {
		return ""
	}
	if !headerPattern.MatchString(s) {
		r.errorf(v, "found %q for %s; expected an HTTP header name such as X-Authenticated-User", s, what)
		return ""
	}
	return s
}

func (l *loader) readGroups(r *reader, n *yaml.Node) {
	l.sawGroup = true
	if n.Kind != yaml.MappingNode {
		r.errorf(n, "found %s for groups; expected a mapping of group name to a list of users", kindName(n))
		return
	}
	if l.groups == nil {
		l.groups = make(map[string][]string)
		l.groupAt = make(map[string]classify.Source)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := r.str(k, "a group name")
		if !ok {
			continue
		}
		if !groupPattern.MatchString(name) {
			r.errorf(k, "found group name %q; expected letters, digits and . _ @ -", name)
			continue
		}
		if first, dup := l.groupAt[name]; dup {
			r.errorf(k, "group %q repeated (first at %s)", name, first)
			continue
		}
		l.groupAt[name] = classify.Source{File: r.file, Line: k.Line}
		users := []string{}
		for _, it := range r.strList(v, "the members of group "+name) {
			users = append(users, it.value)
		}
		l.groups[name] = users
	}
}

func (l *loader) readApps(r *reader, n *yaml.Node) {
	for _, an := range r.list(n, "apps") {
		a := rawApp{src: classify.Source{File: r.file, Line: an.Line}}
		s := func(dst *string, what string) func(_, v *yaml.Node) {
			return func(_, v *yaml.Node) {
				if x, ok := r.str(v, what); ok {
					*dst = x
				}
			}
		}
		ok := r.mapping(an, "an app", []field{
			{"id", func(_, v *yaml.Node) {
				a.idLine = v.Line
				s(&a.id, "the app id")(nil, v)
			}},
			{"name", s(&a.name, "the app name")},
			{"vendor", s(&a.vendor, "the app vendor")},
			{"category", s(&a.category, "the app category")},
			{"homepage", s(&a.homepage, "the app homepage")},
			{"domains", func(_, v *yaml.Node) { a.domains = r.strList(v, "domains") }},
			{"hosts", func(_, v *yaml.Node) { a.hosts = r.strList(v, "hosts") }},
			{"paths", func(_, v *yaml.Node) { a.paths = r.strList(v, "paths") }},
			{"domain_paths", func(_, v *yaml.Node) { a.domainPaths = r.strList(v, "domain_paths") }},
		})
		if ok {
			l.apps = append(l.apps, a)
		}
	}
}

func (l *loader) readPolicy(r *reader, n *yaml.Node) {
	pol := &l.policy
	r.mapping(n, "policy", []field{
		{"default", func(_, v *yaml.Node) {
			rule := l.readRule(r, v, true)
			pol.def = &rule
		}},
		{"continue_for", func(_, v *yaml.Node) {
			pol.continueFor, _ = r.duration(v, "policy.continue_for", time.Minute, 90*24*time.Hour)
		}},
		{"rules", func(_, v *yaml.Node) {
			for _, rn := range r.list(v, "policy.rules") {
				pol.rules = append(pol.rules, l.readRule(r, rn, false))
			}
		}},
		{"seats", func(_, v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				r.errorf(v, "found %s for policy.seats; expected app id → number of licences, such as {zoom: 500}", kindName(v))
				return
			}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, val := v.Content[i], v.Content[i+1]
				if n, ok := r.integer(val, "the seats of "+k.Value, 0, 10_000_000); ok {
					pol.seats = append(pol.seats, rawSeats{app: item{k.Value, k.Line}, seats: n})
				}
			}
		}},
	})
}

func (l *loader) readRule(r *reader, n *yaml.Node, isDefault bool) rawRule {
	rule := rawRule{src: classify.Source{File: r.file, Line: n.Line}}
	it := func(dst *item, what string) func(_, v *yaml.Node) {
		return func(_, v *yaml.Node) {
			if s, ok := r.str(v, what); ok {
				*dst = item{s, v.Line}
			}
		}
	}
	fields := []field{
		{"action", it(&rule.action, "the rule's action")},
		{"alternative", it(&rule.alternative, "the rule's alternative")},
		{"reason", func(_, v *yaml.Node) { rule.reason, _ = r.str(v, "the rule's reason") }},
		{"continue_for", func(_, v *yaml.Node) {
			rule.continueFor, _ = r.duration(v, "the rule's continue_for", time.Minute, 90*24*time.Hour)
		}},
	}
	what := "a policy rule"
	if isDefault {
		what = "policy.default"
	} else {
		fields = append(fields,
			field{"app", it(&rule.app, "the rule's app")},
			field{"category", it(&rule.category, "the rule's category")},
			field{"group", it(&rule.group, "the rule's group")},
		)
	}
	r.mapping(n, what, fields)
	return rule
}
