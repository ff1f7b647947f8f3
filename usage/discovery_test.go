package usage

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/config"
)

func TestRegistrableDomain(t *testing.T) {
	for _, tc := range []struct {
		host string
		want string // "" means skipped
	}{
		{"example.com", "example.com"},
		{"WWW.Example.COM:443", "example.com"},
		{"eu.files.example.co.uk", "example.co.uk"},
		{"example.com.", "example.com"},
		{"acme.github.io", "acme.github.io"}, // a private suffix: each site is its own
		{"bücher.de", "xn--bcher-kva.de"},
		{"a_b.example.org", "example.org"},
		{"10.1.2.3", ""},
		{"10.1.2.3:443", ""},
		{"[2001:db8::1]:443", ""},
		{"localhost", ""},
		{"wiki", ""},
		{"jira.corp", ""},
		{"nas.lan", ""},
		{"printer.local", ""},
		{"co.uk", ""},
		{"com", ""},
		{"", ""},
		{"exa mple.com", ""},
		{"example.com:99999", ""},
		{"127.1", ""},
	} {
		t.Run(tc.host, func(t *testing.T) {
			got, ok := registrableDomain(tc.host)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("registrableDomain(%q): got %q, %v; want %q", tc.host, got, ok, tc.want)
			}
		})
	}
}

// TestTopZipf streams requests to 100,000 distinct domains with Zipf
// frequencies through a table of 1,000 counters, and checks the
// Space-Saving guarantees against exact counts.
func TestTopZipf(t *testing.T) {
	const (
		distinct = 100_000
		requests = 200_000
		k        = 1000
	)
	rng := rand.New(rand.NewPCG(42, 42))
	hosts := make([]string, distinct)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("www.site%d.com", i)
	}
	// Ranks are shuffled so that popularity has nothing to do with names
	// or with the order in which domains first appear.
	perm := rng.Perm(distinct)
	zipf := rand.NewZipf(rng, 1.1, 1, distinct-1)
	people := users(rng, "u", 5000)
	counts := make([]uint64, distinct)
	tr := New(Options{DiscoveryCounters: k})
	for range requests {
		i := perm[zipf.Uint64()]
		tr.ObserveUnknown(hosts[i], people[rng.IntN(len(people))], base)
		counts[i]++
	}
	exact := make(map[string]uint64)
	type kv struct {
		domain string
		n      uint64
	}
	var truth []kv
	for i, n := range counts {
		if n > 0 {
			d := strings.TrimPrefix(hosts[i], "www.")
			exact[d] = n
			truth = append(truth, kv{d, n})
		}
	}
	t.Logf("%d distinct domains seen", len(truth))
	slices.SortFunc(truth, func(a, b kv) int { return int(b.n) - int(a.n) })

	top := tr.Top(10)
	t.Run("true top 10", func(t *testing.T) {
		if len(top) != 10 {
			t.Fatalf("Top(10): got %d entries; want 10", len(top))
		}
		for i, d := range top {
			if d.Domain != truth[i].domain {
				t.Errorf("Top[%d]: got %s (%d requests); want %s (%d requests)", i, d.Domain, d.Requests, truth[i].domain, truth[i].n)
			}
		}
	})
	t.Run("counts bound the truth", func(t *testing.T) {
		for _, d := range tr.Top(k) {
			n := exact[d.Domain]
			if d.Requests < n || d.Requests-d.RequestsOvercount > n {
				t.Errorf("%s: got %d requests (overcount %d); the true count %d is outside [%d, %d]",
					d.Domain, d.Requests, d.RequestsOvercount, n, d.Requests-d.RequestsOvercount, d.Requests)
			}
		}
	})
	t.Run("every domain above N/k is tracked", func(t *testing.T) {
		tracked := make(map[string]bool)
		for _, d := range tr.Top(k) {
			tracked[d.Domain] = true
		}
		for _, e := range truth {
			if e.n <= requests/k {
				break
			}
			if !tracked[e.domain] {
				t.Errorf("%s with %d > N/k = %d requests is not tracked", e.domain, e.n, requests/k)
			}
		}
	})
	t.Run("memory is k counters", func(t *testing.T) {
		d := tr.disc
		if len(d.heap) != k || len(d.byDomain) != k || len(d.spare) != 0 {
			t.Errorf("table: got %d counters, %d map entries, %d spare; want %d, %d, 0", len(d.heap), len(d.byDomain), len(d.spare), k, k)
		}
		var sum uint64
		for _, e := range d.heap {
			sum += e.count
		}
		if sum != requests {
			t.Errorf("sum of counts: got %d; want %d (every request counted once)", sum, requests)
		}
	})
}

func TestDiscoveryFigures(t *testing.T) {
	tr := New(Options{})
	rng := rand.New(rand.NewPCG(3, 3))
	us := users(rng, "u", 800)
	for i, u := range us {
		tr.ObserveUnknown("app.newtool.io", u, daysAgo(2).Add(time.Duration(i)*time.Minute))
		tr.ObserveUnknown("cdn.newtool.io:443", u, daysAgo(1))
	}
	tr.ObserveUnknown("intranet", "u1", base)
	tr.ObserveUnknown("10.0.0.1", "u1", base)
	tr.ObserveUnknown("other.example", "u1", base) // .example is reserved, not on the public suffix list

	top := tr.Top(5)
	if len(top) != 1 {
		t.Fatalf("Top: got %+v; want only newtool.io", top)
	}
	d := top[0]
	if d.Domain != "newtool.io" || d.Requests != 1600 || d.RequestsOvercount != 0 {
		t.Errorf("Top[0]: got %s with %d requests (overcount %d); want newtool.io with 1600 (0)", d.Domain, d.Requests, d.RequestsOvercount)
	}
	// Each domain's sketch has 2^10 registers: about 3% standard error.
	assertNear(t, "Users", d.Users, 800, 0.08)
	if !d.FirstSeen.Equal(daysAgo(2)) || !d.LastSeen.Equal(daysAgo(1)) {
		t.Errorf("seen: got %v .. %v; want %v .. %v", d.FirstSeen, d.LastSeen, daysAgo(2), daysAgo(1))
	}
	if got := tr.Top(0); got != nil {
		t.Errorf("Top(0): got %+v; want nil", got)
	}
}

func TestForgetAndReset(t *testing.T) {
	tr := New(Options{DiscoveryCounters: 4})
	for i, h := range []string{"a.com", "b.com", "c.com", "d.com"} {
		for range i + 1 {
			tr.ObserveUnknown(h, "u", base)
		}
	}
	n := tr.ForgetDiscovered(func(d string) bool { return d == "b.com" || d == "d.com" })
	if n != 2 {
		t.Errorf("ForgetDiscovered: got %d; want 2", n)
	}
	if got := domains(tr.Top(10)); !slices.Equal(got, []string{"c.com", "a.com"}) {
		t.Errorf("after Forget: got %v; want [c.com a.com]", got)
	}
	// The freed counters are reused: two new domains fit without evicting.
	tr.ObserveUnknown("e.com", "u", base)
	tr.ObserveUnknown("f.com", "u", base)
	if got := domains(tr.Top(10)); !slices.Equal(got, []string{"c.com", "a.com", "e.com", "f.com"}) {
		t.Errorf("after reuse: got %v; want [c.com a.com e.com f.com]", got)
	}
	for _, d := range tr.Top(10) {
		if d.RequestsOvercount != 0 || d.Users != 1 {
			t.Errorf("%s: got overcount %d and %d users; want 0 and 1", d.Domain, d.RequestsOvercount, d.Users)
		}
	}
	tr.ResetDiscovery()
	if got := tr.Top(10); len(got) != 0 {
		t.Errorf("after Reset: got %v; want nothing", domains(got))
	}
	tr.ObserveUnknown("g.com", "u", base)
	if got := tr.Top(10); len(got) != 1 || got[0].Requests != 1 || got[0].Users != 1 {
		t.Errorf("after Reset and one request: got %+v; want g.com with 1 request and 1 user", got)
	}
}

func domains(ds []Discovered) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Domain
	}
	return out
}

func TestCatalogEntry(t *testing.T) {
	for _, tc := range []struct {
		domain string
		taken  []string
		want   string
	}{
		{"example.com", nil, "- id: example\n  name: \"Example\"\n  category: uncategorized\n  domains: [example.com]\n"},
		{"my-tool.co.uk", nil, "- id: my-tool\n  name: \"My Tool\"\n  category: uncategorized\n  domains: [my-tool.co.uk]\n"},
		{"xn--mnchen-3ya.de", nil, "- id: xn--mnchen-3ya\n  name: \"München\"\n  category: uncategorized\n  domains: [xn--mnchen-3ya.de]\n"},
		{"miro.org", []string{"miro"}, "- id: miro-org\n  name: \"Miro\"\n  category: uncategorized\n  domains: [miro.org]\n"},
		{"miro.org", []string{"miro", "miro-org"}, "- id: miro-org-2\n  name: \"Miro\"\n  category: uncategorized\n  domains: [miro.org]\n"},
		{"null.com", nil, "- id: \"null\"\n  name: \"Null\"\n  category: uncategorized\n  domains: [null.com]\n"},
		{"_dmarc.com", nil, "- id: dmarc\n  name: \"Dmarc\"\n  category: uncategorized\n  domains: [\"_dmarc.com\"]\n"},
		{"--.com", nil, "- id: com\n  name: \"--\"\n  category: uncategorized\n  domains: [\"--.com\"]\n"},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			taken := make(map[string]bool)
			for _, id := range tc.taken {
				taken[id] = true
			}
			if got := catalogEntry(tc.domain, taken); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestCatalogEntriesLoad pastes Top's catalog entries into a configuration
// directory and checks that config.Load accepts them and classifies each
// domain as its new app.
func TestCatalogEntriesLoad(t *testing.T) {
	builtin, err := config.Load("")
	if err != nil {
		t.Fatalf("loading the default configuration: %v", err)
	}
	tr := New(Options{})
	apps := make([]App, 0, len(builtin.Apps))
	for _, a := range builtin.Apps {
		apps = append(apps, App{ID: a.ID, Name: a.Name})
	}
	tr.SetApps(apps)
	hosts := []string{
		"www.example-tool.com",
		"app.newtool.io",
		"files.newtool.co.uk", // same label as newtool.io: needs another id
		"miro.org",            // label clashes with the built-in "miro"
		"bücher.de",
		"123.com",
		"null.com",
		"acme.github.io",
		"_under.example.net",
	}
	for i, h := range hosts {
		for range len(hosts) - i { // distinct counts give a fixed order
			tr.ObserveUnknown(h, "u", base)
		}
	}
	top := tr.Top(len(hosts))
	if len(top) != len(hosts) {
		t.Fatalf("Top: got %d entries; want %d", len(top), len(hosts))
	}

	for _, layout := range []struct {
		name   string
		indent string
	}{
		{"indented", "  "},
		{"flush", ""},
	} {
		t.Run(layout.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("apps:\n")
			for _, d := range top {
				for _, line := range strings.SplitAfter(d.CatalogEntry, "\n") {
					if line != "" {
						b.WriteString(layout.indent + line)
					}
				}
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "discovered.yaml"), []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(dir)
			if err != nil {
				t.Fatalf("config.Load of\n%s\ngot error: %v", b.String(), err)
			}
			for _, d := range top {
				m, err := cfg.Matcher.Lookup("www." + d.Domain)
				if err != nil {
					t.Errorf("Lookup(www.%s): %v", d.Domain, err)
					continue
				}
				if m.App == nil || m.App.Category != DiscoveredCategory || !strings.Contains(d.CatalogEntry, "id: "+m.App.ID+"\n") &&
					!strings.Contains(d.CatalogEntry, `id: "`+m.App.ID+`"`) {
					t.Errorf("www.%s: got app %+v; want the app of\n%s", d.Domain, m.App, d.CatalogEntry)
				}
			}
		})
	}
}

func TestObserveUnknownAllocs(t *testing.T) {
	tr := New(Options{})
	tr.ObserveUnknown("www.example.com:443", "alice", base)
	allocs := testing.AllocsPerRun(1000, func() {
		tr.ObserveUnknown("www.example.com:443", "alice", base)
	})
	if allocs != 0 {
		t.Errorf("allocations per ObserveUnknown of a tracked domain: got %v; want 0", allocs)
	}
}
