package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"sort"
	"strings"

	"github.com/signpost-gateway/signpost/classify"
	"github.com/signpost-gateway/signpost/identity"
	"github.com/signpost-gateway/signpost/pages"
	"github.com/signpost-gateway/signpost/policy"
)

// compile validates what the files said across files and builds the
// immutable Config. Problems go to l.p; the result is only used when there
// are none.
func (l *loader) compile() *Config {
	c := &Config{
		Files:  l.files,
		Proxy:  l.proxyDefaults(),
		Groups: l.groups,
		apps:   make(map[string]*classify.App, len(l.apps)),

		PAC:      l.pac,
		Branding: l.branding,
		Store:    l.store,
		Webhooks: l.webhooks,
		Requests: l.requestDefaults(),
		Admin:    l.admin,
	}
	l.compileApps(c)
	l.compileIdentity(c)
	l.compilePolicy(c)
	// Every file is read by now, those the configuration names included.
	c.Hash = hex.EncodeToString(l.hash.Sum(nil))
	if _, err := pages.New(c.Branding.Pages()); err != nil {
		// The pages package checks texts against its message files, so
		// `check` catches an unknown key as a reload would.
		for _, line := range strings.Split(err.Error(), "\n") {
			line = strings.TrimPrefix(strings.TrimPrefix(line, "pages: "), "branding: ")
			l.p.add(c.Branding.Source.File, c.Branding.Source.Line, "branding: %s", line)
		}
	}
	for _, w := range c.Webhooks {
		if w.Format == "json" && len(w.Secret) < 16 {
			l.p.add(w.Source.File, w.Source.Line, "webhook %s: format json needs a secret_file with at least 16 characters, to sign deliveries", w.Name)
		}
		if w.Format != "json" && w.Secret != "" {
			l.p.add(w.Source.File, w.Source.Line, "webhook %s: format %s is not signed; remove secret_file", w.Name, w.Format)
		}
	}
	if len(l.p.list) > 0 {
		return c
	}
	m, err := classify.Compile(c.Patterns, classify.Options{})
	if err != nil {
		l.p.addErr(classifyError(err))
		return c
	}
	c.Matcher = m
	return c
}

func (l *loader) proxyDefaults() Proxy {
	p := l.proxy
	if p.Listen == "" {
		p.Listen = DefaultListen
	}
	if p.AdminListen == "" {
		p.AdminListen = DefaultAdminListen
	}
	if p.Clients == nil {
		p.Clients = DefaultClients
	}
	if p.ConnectPorts == nil {
		p.ConnectPorts = []int{443}
	}
	sort.Ints(p.ConnectPorts)
	if p.ReadHeaderTimeout == 0 {
		p.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if p.IdleTimeout == 0 {
		p.IdleTimeout = DefaultIdleTimeout
	}
	if p.DialTimeout == 0 {
		p.DialTimeout = DefaultDialTimeout
	}
	if p.ResponseHeaderTimeout == 0 {
		p.ResponseHeaderTimeout = DefaultResponseTimeout
	}
	if p.MaxHeaderBytes == 0 {
		p.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return p
}

// classifyError positions an error from classify.Compile. The loader checks
// duplicates and spellings itself first, so this is a last line of defence.
func classifyError(err error) *Error {
	// classify's errors already read "file:line: problem".
	return &Error{Msg: err.Error()}
}

// patternKey identifies a pattern for duplicate detection.
type patternKey struct {
	domain, path string
	exact        bool
}

func (l *loader) compileApps(c *Config) {
	// The built-in catalog comes first, so that a clash with it is reported
	// at the admin's line, which is the one to change.
	sort.SliceStable(l.apps, func(i, j int) bool {
		return l.apps[i].src.File == BuiltinCatalogName && l.apps[j].src.File != BuiltinCatalogName
	})
	total := 0
	for i := range l.apps {
		total += len(l.apps[i].domains) + len(l.apps[i].hosts) + len(l.apps[i].paths) + len(l.apps[i].domainPaths)
	}
	c.Patterns = make([]classify.Pattern, 0, total)
	claimed := make(map[patternKey]int, total) // → index in c.Patterns
	appSrc := make(map[string]classify.Source)
	for i := range l.apps {
		a := &l.apps[i]
		ok := true
		req := func(v, what string) {
			if strings.TrimSpace(v) == "" {
				l.p.add(a.src.File, a.src.Line, "app %s has no %s; expected one", quoteOr(a.id, "without id"), what)
				ok = false
			}
		}
		if a.id == "" {
			l.p.add(a.src.File, a.src.Line, "app has no id; expected one")
			ok = false
		}
		req(a.name, "name")
		req(a.category, "category")
		if a.id != "" && !idPattern.MatchString(a.id) {
			l.p.add(a.src.File, a.idLine, "found app id %q; expected lower-case letters, digits and inner hyphens (at most 64)", a.id)
			ok = false
		}
		if a.category != "" && !idPattern.MatchString(a.category) {
			l.p.add(a.src.File, a.src.Line, "found category %q for app %s; expected lower-case letters, digits and hyphens", a.category, a.id)
			ok = false
		}
		if a.homepage != "" {
			if u, err := url.Parse(a.homepage); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				l.p.add(a.src.File, a.src.Line, "found homepage %q for app %s; expected an http(s) URL", a.homepage, a.id)
				ok = false
			}
		}
		if len(a.domains)+len(a.hosts)+len(a.paths)+len(a.domainPaths) == 0 {
			l.p.add(a.src.File, a.src.Line, "app %s lists no domains, hosts, paths or domain_paths; expected at least one", quoteOr(a.id, "without id"))
			ok = false
		}
		if prev, dup := appSrc[a.id]; dup && a.id != "" {
			if prev.File == BuiltinCatalogName {
				l.p.add(a.src.File, a.idLine, "app id %q is already in the built-in catalog at %s; choose another id, or set catalog.builtin: false and keep your own copy", a.id, prev)
			} else {
				l.p.add(a.src.File, a.idLine, "app id %q repeated (first at %s)", a.id, prev)
			}
			continue
		}
		if !ok {
			continue
		}
		appSrc[a.id] = a.src
		app := &classify.App{ID: a.id, Name: a.name, Vendor: a.vendor, Category: a.category, Homepage: a.homepage, Source: a.src}
		c.Apps = append(c.Apps, app)
		c.apps[a.id] = app
		add := func(it item, exact bool, what string) {
			domain, p := it.value, ""
			if what == "path" || what == "domain path" {
				i := strings.IndexByte(it.value, '/')
				if i <= 0 {
					expected := "host/prefix such as docs.google.com/document"
					if what == "domain path" {
						expected = "domain/prefix such as atlassian.net/wiki (every subdomain's /wiki)"
					}
					l.p.add(a.src.File, it.line, "found %s rule %q for app %s; expected %s", what, it.value, a.id, expected)
					return
				}
				domain, p = it.value[:i], it.value[i:]
			}
			if !l.checkDomain(a.src.File, it.line, domain, what) {
				return
			}
			pat := classify.Pattern{Domain: domain, Exact: exact, Path: p, App: app,
				Source: classify.Source{File: a.src.File, Line: it.line}}
			k := patternKey{domain, p, exact}
			if i, dup := claimed[k]; dup {
				first := &c.Patterns[i]
				hint := ""
				if first.Source.File == BuiltinCatalogName && a.src.File != BuiltinCatalogName {
					hint = "; a more specific host, or a rule on the existing app, says what you mean"
				}
				l.p.add(a.src.File, it.line, "%s %s%s is already claimed by app %s at %s%s", what, domain, p, first.App.ID, first.Source, hint)
				return
			}
			claimed[k] = len(c.Patterns)
			c.Patterns = append(c.Patterns, pat)
		}
		for _, d := range a.domains {
			add(d, false, "domain")
		}
		for _, h := range a.hosts {
			add(h, true, "host")
		}
		for _, p := range a.paths {
			add(p, true, "path")
		}
		for _, p := range a.domainPaths {
			add(p, false, "domain path")
		}
	}
	sort.Slice(c.Apps, func(i, j int) bool { return c.Apps[i].ID < c.Apps[j].ID })
}

func quoteOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return fmt.Sprintf("%q", s)
}

// checkDomain accepts only a domain already in canonical form, and says how
// to spell it otherwise.
func (l *loader) checkDomain(file string, line int, d, what string) bool {
	if rest, ok := strings.CutPrefix(d, "*."); ok {
		l.p.add(file, line, "found %s %q; write %q, which already matches every subdomain", what, d, rest)
		return false
	}
	if strings.Contains(d, "://") {
		l.p.add(file, line, "found %s %q; expected a host name without scheme, port or path", what, d)
		return false
	}
	n, err := classify.Normalize(d)
	if err != nil {
		l.p.add(file, line, "found %s %q: %v; expected a host name such as slack.com", what, d, err)
		return false
	}
	if classify.IsIP(n) {
		l.p.add(file, line, "found %s %q, an IP address; expected a host name (IP literals never match a domain)", what, d)
		return false
	}
	if !strings.Contains(n, ".") {
		l.p.add(file, line, "found %s %q; expected a host name with at least one dot", what, d)
		return false
	}
	if n != d {
		l.p.add(file, line, "found %s %q; expected its canonical spelling %q", what, d, n)
		return false
	}
	return true
}

func (l *loader) compileIdentity(c *Config) {
	id := l.ident
	cfg := identity.Config{
		RequireAuth:         id.requireAuth,
		Realm:               id.realm,
		TrustedHeader:       id.trustedHeader,
		TrustedGroupsHeader: id.trustedGroupsHeader,
		TrustedPeers:        id.trustedPeers,
		Groups:              l.groups,
	}
	if cfg.Realm == "" {
		cfg.Realm = "Signpost"
	}
	if id.htpasswd.value != "" {
		data, err := l.readNamed(id.htpasswd.value)
		if err != nil {
			l.p.add(sectionFile(l.sections["identity"]), id.htpasswd.line, "cannot read htpasswd file: %v", err)
		} else {
			entries, err := identity.ParseHtpasswd(id.htpasswd.value, data)
			if err != nil {
				// Each line of the error already reads "file:line: problem".
				for _, line := range strings.Split(err.Error(), "\n") {
					l.p.add("", 0, "%s", line)
				}
			}
			cfg.Htpasswd = entries
		}
	}
	c.Identity = cfg
}

// sectionFile returns the file part of a "file:line" section position.
func sectionFile(at string) string {
	if i := strings.LastIndexByte(at, ':'); i > 0 {
		return at[:i]
	}
	return at
}

func (l *loader) compilePolicy(c *Config) {
	ids := make([]string, 0, len(c.Apps))
	categories := make(map[string]bool)
	for _, a := range c.Apps {
		ids = append(ids, a.ID)
		categories[a.Category] = true
	}
	catList := make([]string, 0, len(categories))
	for k := range categories {
		catList = append(catList, k)
	}
	sort.Strings(catList)

	continueFor := l.policy.continueFor
	if continueFor == 0 {
		continueFor = DefaultContinueFor
	}
	groupsKnown := l.sawGroup && l.ident.trustedGroupsHeader == ""

	build := func(raw rawRule, isDefault bool) (policy.Rule, bool) {
		ok := true
		r := policy.Rule{Reason: raw.reason, ContinueFor: raw.continueFor, Source: raw.src}
		if r.ContinueFor == 0 {
			r.ContinueFor = continueFor
		}
		file := raw.src.File
		if raw.action.value == "" {
			l.p.add(file, raw.src.Line, "rule has no action; expected allow, monitor, warn or block")
			ok = false
		} else if a, err := policy.ParseAction(raw.action.value); err != nil {
			l.p.add(file, raw.action.line, "found action %q%s; expected allow, monitor, warn or block",
				raw.action.value, didYouMean(raw.action.value, []string{"allow", "monitor", "warn", "block"}))
			ok = false
		} else {
			r.Action = a
		}
		if raw.alternative.value != "" {
			if alt := c.apps[raw.alternative.value]; alt == nil {
				l.p.add(file, raw.alternative.line, "unknown alternative app %q%s", raw.alternative.value, didYouMean(raw.alternative.value, ids))
				ok = false
			} else {
				r.Alternative = alt
			}
		}
		if isDefault {
			return r, ok
		}
		switch {
		case raw.app.value != "" && raw.category.value != "":
			l.p.add(file, raw.src.Line, "rule names both app %q and category %q; expected one", raw.app.value, raw.category.value)
			ok = false
		case raw.app.value != "":
			if c.apps[raw.app.value] == nil {
				l.p.add(file, raw.app.line, "unknown app %q%s", raw.app.value, didYouMean(raw.app.value, ids))
				ok = false
			}
			r.App = raw.app.value
		case raw.category.value != "":
			if !categories[raw.category.value] {
				l.p.add(file, raw.category.line, "unknown category %q%s; known categories: %s", raw.category.value,
					didYouMean(raw.category.value, catList), strings.Join(catList, ", "))
				ok = false
			}
			r.Category = raw.category.value
		default:
			l.p.add(file, raw.src.Line, "rule names neither app nor category; expected one (policy.default covers everything else)")
			ok = false
		}
		if raw.group.value != "" {
			if groupsKnown && l.groups[raw.group.value] == nil {
				names := make([]string, 0, len(l.groups))
				for g := range l.groups {
					names = append(names, g)
				}
				l.p.add(file, raw.group.line, "unknown group %q%s", raw.group.value, didYouMean(raw.group.value, names))
				ok = false
			}
			r.Group = raw.group.value
		}
		if r.Alternative != nil && r.Alternative.ID == r.App {
			l.p.add(file, raw.alternative.line, "app %s is its own alternative; expected another app", r.App)
			ok = false
		}
		return r, ok
	}

	def := policy.Rule{Action: policy.Allow, ContinueFor: continueFor}
	if l.policy.def != nil {
		if r, ok := build(*l.policy.def, true); ok {
			def = r
		}
	}
	var rules []policy.Rule
	for _, raw := range l.policy.rules {
		if r, ok := build(raw, false); ok {
			rules = append(rules, r)
		}
	}
	p, err := policy.Compile(rules, def)
	if err != nil {
		if d, ok := err.(*policy.DuplicateError); ok {
			l.p.add(d.Second.File, d.Second.Line, "%s already has a rule at %s", d.Scope, d.First)
		} else {
			l.p.add("", 0, "%v", err)
		}
		return
	}
	// An alternative that the same policy warns about or blocks would send
	// people from one page to another; refuse it.
	for _, r := range append(p.Rules(), p.Default()) {
		if r.Alternative == nil {
			continue
		}
		var groups []string
		if r.Group != "" {
			groups = []string{r.Group}
		}
		if ar, _ := p.Rule(r.Alternative, groups); ar.Action.Intercepts() {
			l.p.add(r.Source.File, r.Source.Line, "alternative %s is itself under %s by the rule at %s; expected an allowed app",
				r.Alternative.ID, ar.Action, orBuiltin(ar.Source))
		}
	}
	c.Policy = p
	for _, st := range l.policy.seats {
		if c.apps[st.app.value] == nil {
			l.p.add(l.policySource(), st.app.line, "unknown app %q in policy.seats%s", st.app.value, didYouMean(st.app.value, ids))
			continue
		}
		if c.Seats == nil {
			c.Seats = make(map[string]int)
		}
		c.Seats[st.app.value] = st.seats
	}
	// Hosts outside the catalog only reach the proxy, and its default
	// rule, if the PAC file sends everything there.
	if !l.pacModeSet && p.Default().Action != policy.Allow {
		c.PAC.All = true
	}
}

// policySource is the file the policy section is in.
func (l *loader) policySource() string { return sectionFile(l.sections["policy"]) }

func orBuiltin(s classify.Source) string {
	if s.File == "" {
		return "the built-in default"
	}
	return s.String()
}

// ClientAllowed reports whether addr may use the proxy.
func (p *Proxy) ClientAllowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, pr := range p.Clients {
		if pr.Contains(addr) {
			return true
		}
	}
	return false
}
