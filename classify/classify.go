// Package classify answers "which catalog app does this request belong to?" for the proxy's hot
// path.
//
// It owns three things: host normalisation (Normalize turns whatever a client put in a request
// line, Host header or CONNECT authority into one canonical spelling, and refuses spellings that
// a resolver could dial differently), the domain and path matcher compiled from catalog patterns
// (Compile, Matcher.Lookup, HostMatch.ForPath), and a per-Matcher LRU cache of lookups.
//
// It does not read YAML: the config package parses the catalog and hands Compile the patterns,
// each with the file and line it came from. It does not know about policy, groups, grants or
// actions: it says which app a request belongs to, and the caller decides what to do about it.
//
// A Matcher is immutable once compiled and safe for concurrent use. A reload compiles a new
// Matcher, which starts with an empty cache, and swaps it in; nothing is ever purged from or
// patched into a running Matcher.
package classify

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// maxCompileErrors bounds how many problems Compile reports at once.
const maxCompileErrors = 20

// Source is where something was defined: a config file and a 1-based line.
type Source struct {
	File string
	Line int
}

// String returns "file:line", "file" without a line, "line N" without a file, and "" for the
// zero Source.
func (s Source) String() string {
	switch {
	case s.Line == 0:
		return s.File
	case s.File == "":
		return "line " + strconv.Itoa(s.Line)
	default:
		return s.File + ":" + strconv.Itoa(s.Line)
	}
}

// prefix returns "file:line: " for the start of an error message, or "" for the zero Source.
func (s Source) prefix() string {
	if str := s.String(); str != "" {
		return str + ": "
	}
	return ""
}

// App is one catalog entry. It is immutable after compile; Matchers and HostMatches share it.
type App struct {
	ID       string
	Name     string
	Vendor   string
	Category string
	Homepage string
	Source   Source
}

// Pattern says which requests belong to an app.
type Pattern struct {
	// Domain is a host in the form Normalize returns. It matches itself and every subdomain
	// (label by label: "slack.com" matches "acme.slack.com" but not "notslack.com"), unless Exact.
	Domain string
	// Exact restricts the pattern to Domain itself, without subdomains.
	Exact bool
	// Path is "" for the whole host, or a path prefix starting with "/" that matches at a
	// segment boundary (see HostMatch.ForPath).
	Path string
	// App is the app the matching requests belong to; it must not be nil.
	App *App
	// Source is where the pattern was defined, for error messages and explanations.
	Source Source
}

// Options tunes a Matcher.
type Options struct {
	// CacheSize is how many normalised hosts the lookup cache holds: 0 means
	// DefaultCacheSize, a negative number disables the cache.
	CacheSize int
}

// PatternError reports a pattern that Compile cannot use.
type PatternError struct {
	// Source is where the pattern was defined.
	Source Source
	// Domain and Path are the pattern's fields as given.
	Domain string
	Path   string
	// Msg says what is wrong and, where there is one, the fix.
	Msg string
	// Err is the underlying error, if any (a *HostError for a malformed domain).
	Err error
}

// Error returns "file:line: " followed by the problem.
func (e *PatternError) Error() string {
	if e.Err != nil {
		return e.Source.prefix() + e.Msg + ": " + e.Err.Error()
	}
	return e.Source.prefix() + e.Msg
}

// Unwrap returns the underlying error, if any.
func (e *PatternError) Unwrap() error { return e.Err }

// DuplicateError reports two patterns with the same domain, exactness and path.
type DuplicateError struct {
	Domain    string
	Exact     bool
	Path      string
	First     Source
	Second    Source
	FirstApp  string
	SecondApp string
}

// Error names the second definition's place, what it claims, and where the first claimed it,
// for example "catalog.yaml:12: domain slack.com is already claimed by app slack at catalog.yaml:3".
func (e *DuplicateError) Error() string {
	var b strings.Builder
	b.WriteString(e.Second.prefix())
	if e.Exact {
		b.WriteString("exact ")
	}
	b.WriteString("domain ")
	b.WriteString(e.Domain)
	if e.Path != "" {
		b.WriteString(" path ")
		b.WriteString(e.Path)
	}
	b.WriteString(" is already claimed by app ")
	b.WriteString(e.FirstApp)
	if s := e.First.String(); s != "" {
		b.WriteString(" at ")
		b.WriteString(s)
	}
	return b.String()
}

// PathRule assigns requests under a path prefix of a host to an app.
type PathRule struct {
	Prefix string
	App    *App
	Source Source
}

// HostMatch is what a normalised host matches. HostMatches are cached and shared between
// callers: treat them, and their Paths, as read-only.
type HostMatch struct {
	// Host is the normalised host.
	Host string
	// IP reports that the host is an IP literal; an IP never matches a domain pattern.
	IP bool
	// App is the app of the most specific host-level pattern (exact beats suffix, longer
	// suffix beats shorter), or nil if none matches.
	App *App
	// Source is where that pattern was defined.
	Source Source
	// Paths are the path rules that apply to this host, from its exact pattern and every suffix
	// pattern that matches it, longest prefix first. Where two patterns have the same prefix
	// only the more specific one is kept.
	Paths []PathRule
}

// ForPath returns the app for a request path on this host and where its pattern was defined:
// the longest matching path rule, else the host-level app (nil if there is none). A path rule
// is more specific than any host-level rule on the same host.
//
// The path is the decoded URL path without query (url.URL.Path). It is cleaned first, as
// path.Clean would but keeping a trailing slash, so "/x/../document" counts as "/document".
// A prefix matches at a segment boundary: "/document" matches "/document", "/document/" and
// "/document/d/1" but not "/documentary"; a prefix ending in "/" matches itself and anything
// under it. Matching is case-sensitive, as paths are (RFC 3986 section 6.2.2.1).
func (h *HostMatch) ForPath(p string) (*App, Source) {
	if h == nil {
		return nil, Source{}
	}
	if len(h.Paths) > 0 {
		c := cleanPath(p)
		for _, r := range h.Paths {
			if prefixMatch(r.Prefix, c) {
				return r.App, r.Source
			}
		}
	}
	return h.App, h.Source
}

// Split reports whether different paths of this host can belong to different apps, that is
// whether the caller must look at the path (and so must see inside HTTPS) to classify.
func (h *HostMatch) Split() bool {
	return h != nil && len(h.Paths) > 0
}

// prefixMatch reports whether the cleaned path c is under prefix at a segment boundary.
func prefixMatch(prefix, c string) bool {
	if !strings.HasPrefix(c, prefix) {
		return false
	}
	return len(c) == len(prefix) || prefix[len(prefix)-1] == '/' || c[len(prefix)] == '/'
}

// resolution is the precomputed answer for every host whose most specific matching key is
// one entry: the host-level app and the merged path rules of that key and all its ancestors.
type resolution struct {
	app   *App
	src   Source
	paths []PathRule
}

// entry is the patterns of one key (one domain, exact or suffix) and, after compile, the
// resolution for hosts that match it.
type entry struct {
	ownApp   *App
	ownSrc   Source
	ownPaths []PathRule
	res      resolution
	resolved bool
}

// Matcher classifies hosts against compiled patterns. It is immutable and safe for concurrent
// use; its cache is its own.
type Matcher struct {
	exact  map[string]*entry // patterns with Exact, by domain
	suffix map[string]*entry // other patterns, by domain
	n      int
	cache  *lookupCache
}

// Compile checks patterns and builds a Matcher from them. Every problem found is reported
// (up to a limit), joined: a *PatternError for an invalid domain (not normalised, an IP, empty),
// path (not starting with "/", not clean, with "?" or "#") or a missing app, and a
// *DuplicateError naming both sources for two patterns with the same (Domain, Exact, Path).
// A single problem is returned unjoined.
func Compile(patterns []Pattern, opts Options) (*Matcher, error) {
	cache, err := newLookupCache(opts.CacheSize)
	if err != nil {
		return nil, err
	}
	m := &Matcher{
		exact:  make(map[string]*entry),
		suffix: make(map[string]*entry, len(patterns)),
		n:      len(patterns),
		cache:  cache,
	}
	type key struct {
		domain string
		exact  bool
		path   string
	}
	seen := make(map[key]*Pattern, len(patterns))
	var errs []error
	for i := range patterns {
		p := &patterns[i]
		if err := checkPattern(p); err != nil {
			errs = append(errs, err)
			continue
		}
		k := key{p.Domain, p.Exact, p.Path}
		if first, ok := seen[k]; ok {
			errs = append(errs, &DuplicateError{
				Domain: p.Domain, Exact: p.Exact, Path: p.Path,
				First: first.Source, Second: p.Source,
				FirstApp: first.App.ID, SecondApp: p.App.ID,
			})
			continue
		}
		seen[k] = p
		table := m.suffix
		if p.Exact {
			table = m.exact
		}
		e := table[p.Domain]
		if e == nil {
			e = &entry{}
			table[p.Domain] = e
		}
		if p.Path == "" {
			e.ownApp, e.ownSrc = p.App, p.Source
		} else {
			e.ownPaths = append(e.ownPaths, PathRule{Prefix: p.Path, App: p.App, Source: p.Source})
		}
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	for d, e := range m.suffix {
		m.resolveSuffix(d, e)
	}
	for d, e := range m.exact {
		var parent resolution
		if s, ok := m.suffix[d]; ok {
			parent = s.res
		} else if s := m.nearestSuffix(d); s != nil {
			parent = s.res
		}
		e.res = combine(e, parent)
		e.resolved = true
	}
	return m, nil
}

// joinErrors returns one error for errs, which is not empty, capped at maxCompileErrors.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	if len(errs) > maxCompileErrors {
		more := len(errs) - maxCompileErrors
		errs = append(errs[:maxCompileErrors:maxCompileErrors], fmt.Errorf("%d more errors not shown", more))
	}
	return errors.Join(errs...)
}

// checkPattern returns a *PatternError if p cannot be compiled.
func checkPattern(p *Pattern) error {
	perr := func(msg string, err error) error {
		return &PatternError{Source: p.Source, Domain: p.Domain, Path: p.Path, Msg: msg, Err: err}
	}
	norm, err := Normalize(p.Domain)
	switch {
	case err != nil:
		return perr(fmt.Sprintf("invalid domain %q", p.Domain), err)
	case norm != p.Domain:
		return perr(fmt.Sprintf("domain %q is not in canonical form; write %q", p.Domain, norm), nil)
	case IsIP(norm):
		return perr(fmt.Sprintf("domain %q is an IP address; patterns match domain names only", p.Domain), nil)
	case p.App == nil:
		return perr(fmt.Sprintf("domain %q has no app", p.Domain), nil)
	}
	if p.Path == "" {
		return nil
	}
	switch {
	case p.Path[0] != '/':
		return perr(fmt.Sprintf("path %q of domain %s must start with \"/\"", p.Path, p.Domain), nil)
	case strings.ContainsAny(p.Path, "?#"):
		return perr(fmt.Sprintf("path %q of domain %s must not contain a query or fragment", p.Path, p.Domain), nil)
	}
	if c := cleanPath(p.Path); c != p.Path {
		return perr(fmt.Sprintf("path %q of domain %s is not in canonical form; write %q", p.Path, p.Domain, c), nil)
	}
	return nil
}

// nearestSuffix returns the entry of the longest suffix pattern that is a proper label-suffix
// of d ("slack.com" for "acme.slack.com"), or nil.
func (m *Matcher) nearestSuffix(d string) *entry {
	for i := strings.IndexByte(d, '.'); i >= 0; i = strings.IndexByte(d, '.') {
		d = d[i+1:]
		if e, ok := m.suffix[d]; ok {
			m.resolveSuffix(d, e)
			return e
		}
	}
	return nil
}

// resolveSuffix fills e.res for the suffix pattern d from its own rules and its nearest
// ancestor's resolution. The recursion is as deep as d has labels, at most 127.
func (m *Matcher) resolveSuffix(d string, e *entry) {
	if e.resolved {
		return
	}
	var parent resolution
	if p := m.nearestSuffix(d); p != nil {
		parent = p.res
	}
	e.res = combine(e, parent)
	e.resolved = true
}

// combine layers an entry's own rules over its parent's resolution.
func combine(e *entry, parent resolution) resolution {
	r := parent
	if e.ownApp != nil {
		r.app, r.src = e.ownApp, e.ownSrc
	}
	if len(e.ownPaths) == 0 {
		return r // share the parent's slice: most keys have no path rules
	}
	paths := make([]PathRule, 0, len(e.ownPaths)+len(parent.paths))
	paths = append(paths, e.ownPaths...)
	for _, pr := range parent.paths {
		// A less specific pattern with the same prefix can never be chosen; drop it.
		if !slices.ContainsFunc(e.ownPaths, func(o PathRule) bool { return o.Prefix == pr.Prefix }) {
			paths = append(paths, pr)
		}
	}
	// Stable, so that among equal lengths the more specific key's rules come first.
	slices.SortStableFunc(paths, func(a, b PathRule) int { return len(b.Prefix) - len(a.Prefix) })
	r.paths = paths
	return r
}

// Len returns the number of patterns the Matcher was compiled from.
func (m *Matcher) Len() int {
	if m == nil {
		return 0
	}
	return m.n
}

// CacheStats returns how many lookups of well-formed hosts the cache answered and how many it
// did not.
func (m *Matcher) CacheStats() CacheStats {
	if m == nil {
		return CacheStats{}
	}
	return m.cache.stats()
}

// CacheLen returns how many hosts the Matcher's cache holds.
func (m *Matcher) CacheLen() int {
	if m == nil {
		return 0
	}
	return m.cache.len()
}

// Lookup normalises host (which may carry a port, brackets, upper case, a trailing dot or
// Unicode) and returns what it matches. A malformed host returns a *HostError and no match.
// An IP literal never matches a domain pattern: it returns a HostMatch with IP set and no App.
//
// Results are cached by normalised host, so a repeated lookup of an already-normal host (with
// or without a port) does not allocate. The returned HostMatch is shared: do not modify it.
// A nil Matcher matches nothing.
func (m *Matcher) Lookup(host string) (*HostMatch, error) {
	h, err := Normalize(host)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return &HostMatch{Host: strings.Clone(h), IP: IsIP(h)}, nil
	}
	if hm, ok := m.cache.get(h); ok {
		return hm, nil
	}
	// h may be a substring of the caller's buffer; the cache must not keep that alive.
	hm := m.match(strings.Clone(h))
	m.cache.add(hm)
	return hm, nil
}

// match computes the HostMatch of a normalised host without the cache.
func (m *Matcher) match(h string) *HostMatch {
	hm := &HostMatch{Host: h}
	if IsIP(h) {
		hm.IP = true
		return hm
	}
	e, ok := m.exact[h]
	if !ok {
		// Walk from the most specific label-suffix: "a.b.c", "b.c", "c".
		for s := h; ; {
			if e, ok = m.suffix[s]; ok {
				break
			}
			i := strings.IndexByte(s, '.')
			if i < 0 {
				return hm
			}
			s = s[i+1:]
		}
	}
	hm.App, hm.Source, hm.Paths = e.res.app, e.res.src, e.res.paths
	return hm
}

// cleanPath returns the canonical form of a URL path: rooted, without "." and ".." segments or
// repeated slashes, keeping a trailing slash (and, as RFC 3986 section 5.2.4 does, turning a
// final "." or ".." segment into one). An already-clean path is returned without allocating.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	// path.Clean drops a trailing slash except for the root; put it back, as net/http's
	// ServeMux does, so that "/docs/" rules can tell "/docs/" from "/docs".
	dir := strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")
	if dir && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			return p
		}
		return np + "/"
	}
	return np
}
