package classify

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// testPatterns returns a small catalog whose patterns exercise every precedence rule; pattern
// i is defined at catalog.yaml line i+1, so that sources are unique.
func testPatterns() []Pattern {
	apps := map[string]*App{}
	app := func(id string) *App {
		if apps[id] == nil {
			apps[id] = &App{ID: id, Name: id}
		}
		return apps[id]
	}
	ps := []Pattern{
		{Domain: "slack.com", App: app("slack")},
		{Domain: "slack-edge.com", App: app("slack")},
		{Domain: "files.slack.com", Exact: true, App: app("slack-files")},
		{Domain: "google.com", App: app("google")},
		{Domain: "google.com", Path: "/drive", App: app("gdrive")},
		{Domain: "docs.google.com", App: app("gdocs")},
		{Domain: "docs.google.com", Path: "/spreadsheets", App: app("gsheets")},
		{Domain: "mail.google.com", Exact: true, App: app("gmail")},
		{Domain: "mail.google.com", Exact: true, Path: "/drive", App: app("gmail-drive")},
		{Domain: "example.org", Exact: true, Path: "/only", App: app("path-only")},
		{Domain: "box.com", App: app("box")},
		{Domain: "box.com", Path: "/files/", App: app("box-files")},
		{Domain: "zoom.us", App: app("zoom")},
		{Domain: "localhost", Exact: true, App: app("local")},
		{Domain: "xn--bcher-kva.example", App: app("buecher")},
	}
	for i := range ps {
		ps[i].Source = Source{File: "catalog.yaml", Line: i + 1}
	}
	return ps
}

func mustCompile(t testing.TB, ps []Pattern, opts Options) *Matcher {
	t.Helper()
	m, err := Compile(ps, opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return m
}

func appID(a *App) string {
	if a == nil {
		return "<none>"
	}
	return a.ID
}

func TestLookup(t *testing.T) {
	m := mustCompile(t, testPatterns(), Options{})
	tests := []struct {
		name     string
		host     string
		wantHost string
		wantApp  string // "<none>" for no host-level app
		wantLine int    // Source line of the host-level pattern, 0 for none
		wantIP   bool
		wantPath []string // prefixes of HostMatch.Paths, in order
	}{
		{"suffix itself", "slack.com", "slack.com", "slack", 1, false, nil},
		{"subdomain", "acme.slack.com", "acme.slack.com", "slack", 1, false, nil},
		{"deep subdomain", "a.b.c.slack.com", "a.b.c.slack.com", "slack", 1, false, nil},
		{"case, port", "ACME.Slack.COM:443", "acme.slack.com", "slack", 1, false, nil},
		{"trailing dot", "slack.com.", "slack.com", "slack", 1, false, nil},
		{"full-width spelling", "ｓｌａｃｋ.com", "slack.com", "slack", 1, false, nil},
		{"ideographic dot", "acme.slack。com", "acme.slack.com", "slack", 1, false, nil},
		{"IDN pattern", "www.Bücher.example", "www.xn--bcher-kva.example", "buecher", 15, false, nil},
		{"exact beats suffix", "files.slack.com", "files.slack.com", "slack-files", 3, false, nil},
		{"exact does not cover subdomains", "x.files.slack.com", "x.files.slack.com", "slack", 1, false, nil},
		{"longer suffix beats shorter", "a.docs.google.com", "a.docs.google.com", "gdocs", 6, false, []string{"/spreadsheets", "/drive"}},
		{"suffix with paths", "docs.google.com", "docs.google.com", "gdocs", 6, false, []string{"/spreadsheets", "/drive"}},
		{"ancestor paths apply", "www.google.com", "www.google.com", "google", 4, false, []string{"/drive"}},
		{"exact path shadows suffix path", "mail.google.com", "mail.google.com", "gmail", 8, false, []string{"/drive"}},
		{"exact host-level only on itself", "www.mail.google.com", "www.mail.google.com", "google", 4, false, []string{"/drive"}},
		{"path rule without host-level app", "example.org", "example.org", "<none>", 0, false, []string{"/only"}},
		{"exact path rule not on subdomain", "www.example.org", "www.example.org", "<none>", 0, false, nil},
		{"single label exact", "localhost:8080", "localhost", "local", 14, false, nil},

		// Things that must not match.
		{"prefix is not a label boundary", "notslack.com", "notslack.com", "<none>", 0, false, nil},
		{"pattern as a left part", "slack.com.evil.example", "slack.com.evil.example", "<none>", 0, false, nil},
		{"pattern glued to a tld", "slack.comevil", "slack.comevil", "<none>", 0, false, nil},
		{"hyphen is not a dot", "acme-slack.com", "acme-slack.com", "<none>", 0, false, nil},
		{"underscore is not a dot", "acme_slack.com", "acme_slack.com", "<none>", 0, false, nil},
		{"tld alone", "com", "com", "<none>", 0, false, nil},
		{"unknown", "example.net", "example.net", "<none>", 0, false, nil},

		// IP literals never match a domain pattern.
		{"IPv4", "127.0.0.1", "127.0.0.1", "<none>", 0, true, nil},
		{"IPv4 with port", "10.0.0.1:443", "10.0.0.1", "<none>", 0, true, nil},
		{"IPv6", "[::1]:443", "::1", "<none>", 0, true, nil},
		{"mapped IPv6", "[::ffff:7f00:1]", "127.0.0.1", "<none>", 0, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hm, err := m.Lookup(tt.host)
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tt.host, err)
			}
			if hm.Host != tt.wantHost {
				t.Errorf("Host = %q; want %q", hm.Host, tt.wantHost)
			}
			if got := appID(hm.App); got != tt.wantApp {
				t.Errorf("App = %s; want %s", got, tt.wantApp)
			}
			if hm.Source.Line != tt.wantLine {
				t.Errorf("Source = %v; want line %d", hm.Source, tt.wantLine)
			}
			if hm.IP != tt.wantIP {
				t.Errorf("IP = %v; want %v", hm.IP, tt.wantIP)
			}
			var got []string
			for _, r := range hm.Paths {
				got = append(got, r.Prefix)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantPath) {
				t.Errorf("Paths = %v; want %v", got, tt.wantPath)
			}
			if hm.Split() != (len(tt.wantPath) > 0) {
				t.Errorf("Split() = %v; want %v", hm.Split(), len(tt.wantPath) > 0)
			}
		})
	}
}

func TestLookupMalformed(t *testing.T) {
	m := mustCompile(t, testPatterns(), Options{})
	tests := []struct {
		name string
		host string
	}{
		{"empty", ""},
		{"short IPv4", "127.1"},
		{"hex IPv4", "0x7f.1"},
		{"integer IPv4", "2130706433"},
		{"octal IPv4", "0177.0.0.1"},
		{"numeric tld", "slack.com.123"},
		{"percent escape", "sl%61ck.com"},
		{"userinfo after port", "slack.com:443@evil.example"},
		{"userinfo", "evil.example@slack.com"},
		{"fragment", "evil.example#.slack.com"},
		{"NUL", "evil.example\x00.slack.com"},
		{"space", "slack.com evil.example"},
		{"empty label", "acme..slack.com"},
		{"leading dot", ".slack.com"},
		{"zone", "[fe80::1%25en0]"},
		{"wildcard", "*.slack.com"},
		{"invalid UTF-8", "\xc3.slack.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hm, err := m.Lookup(tt.host)
			var he *HostError
			if !errors.As(err, &he) {
				t.Fatalf("Lookup(%q) = %+v, %v; want *HostError", tt.host, hm, err)
			}
			if hm != nil {
				t.Errorf("Lookup(%q) match = %+v; want nil", tt.host, hm)
			}
		})
	}
}

func TestForPath(t *testing.T) {
	m := mustCompile(t, testPatterns(), Options{})
	tests := []struct {
		host, path string
		wantApp    string
		wantLine   int
	}{
		{"docs.google.com", "/spreadsheets", "gsheets", 7},
		{"docs.google.com", "/spreadsheets/", "gsheets", 7},
		{"docs.google.com", "/spreadsheets/d/1", "gsheets", 7},
		{"docs.google.com", "/spreadsheetsx", "gdocs", 6},
		{"docs.google.com", "/Spreadsheets/d/1", "gdocs", 6},
		{"docs.google.com", "/x/../spreadsheets/d", "gsheets", 7},
		{"docs.google.com", "/spreadsheets/../document", "gdocs", 6},
		{"docs.google.com", "//spreadsheets", "gsheets", 7},
		{"docs.google.com", "/./spreadsheets", "gsheets", 7},
		{"docs.google.com", "spreadsheets", "gsheets", 7},
		{"docs.google.com", "", "gdocs", 6},
		{"docs.google.com", "/", "gdocs", 6},
		{"docs.google.com", "/drive/my", "gdrive", 5},
		{"www.google.com", "/drive", "gdrive", 5},
		{"www.google.com", "/driveway", "google", 4},
		{"mail.google.com", "/drive/x", "gmail-drive", 9},
		{"mail.google.com", "/inbox", "gmail", 8},
		{"example.org", "/only", "path-only", 10},
		{"example.org", "/only/x", "path-only", 10},
		{"example.org", "/other", "<none>", 0},
		{"box.com", "/files", "box", 11},
		{"box.com", "/files/", "box-files", 12},
		{"box.com", "/files/a", "box-files", 12},
		{"box.com", "/files/.", "box-files", 12},
		{"box.com", "/files/a/..", "box-files", 12},
		{"box.com", "/filesystem", "box", 11},
		{"slack.com", "/files/a", "slack", 1},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			hm, err := m.Lookup(tt.host)
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tt.host, err)
			}
			a, src := hm.ForPath(tt.path)
			if got := appID(a); got != tt.wantApp {
				t.Errorf("ForPath(%q) = %s; want %s", tt.path, got, tt.wantApp)
			}
			if src.Line != tt.wantLine {
				t.Errorf("ForPath(%q) source = %v; want line %d", tt.path, src, tt.wantLine)
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/a", "/a"},
		{"/a/", "/a/"},
		{"a/b", "/a/b"},
		{"/a//b", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/../a", "/a"},
		{"/a/.", "/a/"},
		{"/a/b/..", "/a/"},
		{"/a/..", "/"},
		{"/a/b//", "/a/b/"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := cleanPath(tt.in); got != tt.want {
				t.Errorf("cleanPath(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	slack := &App{ID: "slack"}
	other := &App{ID: "other"}
	at := func(line int) Source { return Source{File: "catalog.yaml", Line: line} }
	tests := []struct {
		name     string
		patterns []Pattern
		want     string
		wantDup  bool
	}{
		{
			name: "duplicate domain",
			patterns: []Pattern{
				{Domain: "slack.com", App: slack, Source: at(3)},
				{Domain: "slack.com", App: other, Source: at(12)},
			},
			want:    "catalog.yaml:12: domain slack.com is already claimed by app slack at catalog.yaml:3",
			wantDup: true,
		},
		{
			name: "duplicate exact path",
			patterns: []Pattern{
				{Domain: "docs.google.com", Exact: true, Path: "/document", App: slack, Source: at(3)},
				{Domain: "docs.google.com", Exact: true, Path: "/document", App: slack, Source: at(4)},
			},
			want:    "catalog.yaml:4: exact domain docs.google.com path /document is already claimed by app slack at catalog.yaml:3",
			wantDup: true,
		},
		{
			name: "duplicate without sources",
			patterns: []Pattern{
				{Domain: "slack.com", App: slack},
				{Domain: "slack.com", App: other},
			},
			want:    "domain slack.com is already claimed by app slack",
			wantDup: true,
		},
		{
			name:     "upper case",
			patterns: []Pattern{{Domain: "Slack.com", App: slack, Source: at(5)}},
			want:     `catalog.yaml:5: domain "Slack.com" is not in canonical form; write "slack.com"`,
		},
		{
			name:     "unicode suggests punycode",
			patterns: []Pattern{{Domain: "bücher.example", App: slack, Source: at(5)}},
			want:     `catalog.yaml:5: domain "bücher.example" is not in canonical form; write "xn--bcher-kva.example"`,
		},
		{
			name:     "port",
			patterns: []Pattern{{Domain: "slack.com:443", App: slack, Source: at(5)}},
			want:     `catalog.yaml:5: domain "slack.com:443" is not in canonical form; write "slack.com"`,
		},
		{
			name:     "malformed",
			patterns: []Pattern{{Domain: "a..b", App: slack, Source: at(6)}},
			want:     `catalog.yaml:6: invalid domain "a..b": invalid host "a..b": empty label`,
		},
		{
			name:     "empty",
			patterns: []Pattern{{Domain: "", App: slack, Source: at(6)}},
			want:     `catalog.yaml:6: invalid domain "": invalid host "": empty host`,
		},
		{
			name:     "wildcard",
			patterns: []Pattern{{Domain: "*.slack.com", App: slack, Source: at(6)}},
			want:     `catalog.yaml:6: invalid domain "*.slack.com": invalid host "*.slack.com": invalid character`,
		},
		{
			name:     "IPv4",
			patterns: []Pattern{{Domain: "10.0.0.1", App: slack, Source: at(7)}},
			want:     `catalog.yaml:7: domain "10.0.0.1" is an IP address; patterns match domain names only`,
		},
		{
			name:     "IPv6",
			patterns: []Pattern{{Domain: "::1", App: slack, Source: at(7)}},
			want:     `catalog.yaml:7: domain "::1" is an IP address; patterns match domain names only`,
		},
		{
			name:     "no app",
			patterns: []Pattern{{Domain: "slack.com", Source: at(8)}},
			want:     `catalog.yaml:8: domain "slack.com" has no app`,
		},
		{
			name:     "relative path",
			patterns: []Pattern{{Domain: "slack.com", Path: "files", App: slack, Source: at(9)}},
			want:     `catalog.yaml:9: path "files" of domain slack.com must start with "/"`,
		},
		{
			name:     "unclean path",
			patterns: []Pattern{{Domain: "slack.com", Path: "/a/../files", App: slack, Source: at(9)}},
			want:     `catalog.yaml:9: path "/a/../files" of domain slack.com is not in canonical form; write "/files"`,
		},
		{
			name:     "path with query",
			patterns: []Pattern{{Domain: "slack.com", Path: "/files?x=1", App: slack, Source: at(9)}},
			want:     `catalog.yaml:9: path "/files?x=1" of domain slack.com must not contain a query or fragment`,
		},
		{
			name: "several problems",
			patterns: []Pattern{
				{Domain: "Slack.com", App: slack, Source: at(1)},
				{Domain: "zoom.us", App: slack, Source: at(2)},
				{Domain: "zoom.us", App: slack, Source: at(3)},
			},
			want: `catalog.yaml:1: domain "Slack.com" is not in canonical form; write "slack.com"` + "\n" +
				`catalog.yaml:3: domain zoom.us is already claimed by app slack at catalog.yaml:2`,
			wantDup: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compile(tt.patterns, Options{})
			if err == nil {
				t.Fatalf("Compile succeeded with %d patterns; want error %q", m.Len(), tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error = %q; want %q", got, tt.want)
			}
			var de *DuplicateError
			if errors.As(err, &de) != tt.wantDup {
				t.Errorf("errors.As(*DuplicateError) = %v; want %v", !tt.wantDup, tt.wantDup)
			}
			var pe *PatternError
			if !tt.wantDup && !errors.As(err, &pe) {
				t.Errorf("error %T is not a *PatternError", err)
			}
		})
	}
}

func TestDuplicateErrorFields(t *testing.T) {
	_, err := Compile([]Pattern{
		{Domain: "slack.com", App: &App{ID: "slack"}, Source: Source{"a.yaml", 3}},
		{Domain: "slack.com", App: &App{ID: "other"}, Source: Source{"b.yaml", 12}},
	}, Options{})
	var de *DuplicateError
	if !errors.As(err, &de) {
		t.Fatalf("Compile error = %v; want *DuplicateError", err)
	}
	want := DuplicateError{Domain: "slack.com", First: Source{"a.yaml", 3}, Second: Source{"b.yaml", 12}, FirstApp: "slack", SecondApp: "other"}
	if *de != want {
		t.Errorf("DuplicateError = %+v; want %+v", *de, want)
	}
}

func TestCompileCapsErrors(t *testing.T) {
	var ps []Pattern
	for i := range 30 {
		ps = append(ps, Pattern{Domain: fmt.Sprintf("Bad%d.example", i), App: &App{ID: "x"}})
	}
	_, err := Compile(ps, Options{})
	if err == nil {
		t.Fatal("Compile succeeded; want error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxCompileErrors+1 {
		t.Errorf("error has %d lines; want %d", len(lines), maxCompileErrors+1)
	}
	if last := lines[len(lines)-1]; last != "10 more errors not shown" {
		t.Errorf("last line = %q; want %q", last, "10 more errors not shown")
	}
}

func TestCompileAllowsExactAndSuffixOfSameDomain(t *testing.T) {
	m := mustCompile(t, []Pattern{
		{Domain: "slack.com", App: &App{ID: "suffix"}},
		{Domain: "slack.com", Exact: true, App: &App{ID: "exact"}},
	}, Options{})
	if m.Len() != 2 {
		t.Errorf("Len() = %d; want 2", m.Len())
	}
	for host, want := range map[string]string{"slack.com": "exact", "a.slack.com": "suffix"} {
		hm, err := m.Lookup(host)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", host, err)
		}
		if got := appID(hm.App); got != want {
			t.Errorf("Lookup(%q) = %s; want %s", host, got, want)
		}
	}
}

func TestSourceString(t *testing.T) {
	tests := []struct {
		s    Source
		want string
	}{
		{Source{}, ""},
		{Source{"catalog.yaml", 12}, "catalog.yaml:12"},
		{Source{"catalog.yaml", 0}, "catalog.yaml"},
		{Source{"", 7}, "line 7"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("String() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestNewMatcherDoesNotSeeOldCache(t *testing.T) {
	old := mustCompile(t, []Pattern{{Domain: "slack.com", App: &App{ID: "slack"}}}, Options{})
	hm, err := old.Lookup("acme.slack.com")
	if err != nil || appID(hm.App) != "slack" {
		t.Fatalf("old.Lookup = %+v, %v; want slack", hm, err)
	}
	if old.CacheLen() != 1 {
		t.Fatalf("old.CacheLen() = %d; want 1", old.CacheLen())
	}

	reloaded := mustCompile(t, []Pattern{{Domain: "slack.com", App: &App{ID: "slack-v2"}}}, Options{})
	if reloaded.CacheLen() != 0 {
		t.Errorf("reloaded.CacheLen() = %d; want 0", reloaded.CacheLen())
	}
	hm2, err := reloaded.Lookup("acme.slack.com")
	if err != nil {
		t.Fatalf("reloaded.Lookup: %v", err)
	}
	if got := appID(hm2.App); got != "slack-v2" {
		t.Errorf("reloaded.Lookup App = %s; want slack-v2", got)
	}
	if got := reloaded.CacheStats(); got != (CacheStats{Hits: 0, Misses: 1}) {
		t.Errorf("reloaded.CacheStats() = %+v; want 0 hits, 1 miss", got)
	}
	// The old Matcher still answers from its own rules (requests in flight during a reload).
	hm3, err := old.Lookup("acme.slack.com")
	if err != nil || hm3 != hm {
		t.Errorf("old.Lookup = %p, %v; want the cached %p", hm3, err, hm)
	}
	if got := old.CacheStats(); got != (CacheStats{Hits: 1, Misses: 1}) {
		t.Errorf("old.CacheStats() = %+v; want 1 hit, 1 miss", got)
	}
}

func TestCacheSharesSpellings(t *testing.T) {
	m := mustCompile(t, testPatterns(), Options{})
	first, err := m.Lookup("acme.slack.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"acme.slack.com", "ACME.slack.com", "acme.slack.com:443", "acme.slack.com."} {
		hm, err := m.Lookup(spelling)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", spelling, err)
		}
		if hm != first {
			t.Errorf("Lookup(%q) = %p; want the cached %p", spelling, hm, first)
		}
	}
	if got := m.CacheLen(); got != 1 {
		t.Errorf("CacheLen() = %d; want 1", got)
	}
	// Malformed hosts are neither cached nor counted.
	if _, err := m.Lookup("127.1"); err == nil {
		t.Error("Lookup(127.1) succeeded; want error")
	}
	if got := m.CacheStats(); got != (CacheStats{Hits: 4, Misses: 1}) {
		t.Errorf("CacheStats() = %+v; want 4 hits, 1 miss", got)
	}
}

func TestCacheDoesNotKeepCallerBuffer(t *testing.T) {
	m := mustCompile(t, testPatterns(), Options{})
	in := string([]byte("acme.slack.com:443"))
	hm, err := m.Lookup(in)
	if err != nil {
		t.Fatal(err)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(in)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(hm.Host)))
	if p >= start && p < start+uintptr(len(in)) {
		t.Error("cached HostMatch.Host points into the caller's string; want a copy")
	}
}

func TestCacheSize(t *testing.T) {
	t.Run("bounded", func(t *testing.T) {
		m := mustCompile(t, testPatterns(), Options{CacheSize: 2})
		for _, h := range []string{"a.slack.com", "b.slack.com", "c.slack.com"} {
			if _, err := m.Lookup(h); err != nil {
				t.Fatal(err)
			}
		}
		if got := m.CacheLen(); got != 2 {
			t.Errorf("CacheLen() = %d; want 2", got)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		m := mustCompile(t, testPatterns(), Options{CacheSize: -1})
		a, err := m.Lookup("acme.slack.com")
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Lookup("acme.slack.com")
		if err != nil {
			t.Fatal(err)
		}
		if a == b {
			t.Error("two lookups with the cache disabled returned the same HostMatch; want fresh ones")
		}
		if appID(b.App) != "slack" {
			t.Errorf("App = %s; want slack", appID(b.App))
		}
		if got := m.CacheLen(); got != 0 {
			t.Errorf("CacheLen() = %d; want 0", got)
		}
		if got := m.CacheStats(); got != (CacheStats{Misses: 2}) {
			t.Errorf("CacheStats() = %+v; want 0 hits, 2 misses", got)
		}
	})
}

func TestCachedLookupDoesNotAllocate(t *testing.T) {
	m := mustCompile(t, testPatterns(), Options{})
	for _, host := range []string{"acme.slack.com", "acme.slack.com:443", "10.0.0.1:443"} {
		t.Run(host, func(t *testing.T) {
			if _, err := m.Lookup(host); err != nil {
				t.Fatal(err)
			}
			var hm *HostMatch
			allocs := testing.AllocsPerRun(1000, func() {
				hm, _ = m.Lookup(host)
			})
			if allocs != 0 {
				t.Errorf("cached Lookup(%q) allocates %v times; want 0", host, allocs)
			}
			if hm == nil {
				t.Fatalf("Lookup(%q) = nil", host)
			}
		})
	}
	t.Run("ForPath", func(t *testing.T) {
		hm, err := m.Lookup("docs.google.com")
		if err != nil {
			t.Fatal(err)
		}
		var a *App
		allocs := testing.AllocsPerRun(1000, func() {
			a, _ = hm.ForPath("/spreadsheets/d/1")
		})
		if allocs != 0 {
			t.Errorf("ForPath allocates %v times; want 0", allocs)
		}
		if appID(a) != "gsheets" {
			t.Errorf("ForPath = %s; want gsheets", appID(a))
		}
	})
}

func TestConcurrentLookups(t *testing.T) {
	m := mustCompile(t, testPatterns(), Options{CacheSize: 8})
	want := map[string]string{
		"acme.slack.com":  "slack",
		"files.slack.com": "slack-files",
		"docs.google.com": "gdocs",
		"mail.google.com": "gmail",
		"zoom.us:443":     "zoom",
		"example.net":     "<none>",
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				// Many distinct hosts so that the small cache evicts while others read.
				host := fmt.Sprintf("h%d-%d.zoom.us", g, i%40)
				if hm, err := m.Lookup(host); err != nil || appID(hm.App) != "zoom" {
					errs <- fmt.Errorf("Lookup(%q) = %v, %v; want zoom", host, hm, err)
					return
				}
				for h, w := range want {
					if hm, err := m.Lookup(h); err != nil || appID(hm.App) != w {
						errs <- fmt.Errorf("Lookup(%q) = %v, %v; want %s", h, hm, err, w)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNilMatcher(t *testing.T) {
	var m *Matcher
	hm, err := m.Lookup("Slack.com:443")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if hm.Host != "slack.com" || hm.App != nil || hm.Split() {
		t.Errorf("Lookup = %+v; want slack.com with no match", hm)
	}
	if m.Len() != 0 || m.CacheLen() != 0 || m.CacheStats() != (CacheStats{}) {
		t.Errorf("nil Matcher Len/CacheLen/CacheStats = %d/%d/%+v; want zeros", m.Len(), m.CacheLen(), m.CacheStats())
	}
	var nilMatch *HostMatch
	if a, src := nilMatch.ForPath("/x"); a != nil || src != (Source{}) {
		t.Errorf("nil HostMatch ForPath = %v, %v; want nil", a, src)
	}
}
