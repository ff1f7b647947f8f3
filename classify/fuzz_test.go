package classify

import (
	"strings"
	"testing"
)

// FuzzNormalize checks Normalize's invariants on arbitrary input: it does not panic, an error
// comes with an empty result and is a *HostError, and a result is lower-case ASCII, within DNS
// limits, and a fixed point (normalising it again returns it unchanged).
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"acme.slack.com", "Slack.COM:443", "bücher.example.", "[::1]:443", "127.1", "0x7f.1", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			if out != "" {
				t.Errorf("Normalize(%q) = %q with error %v; want \"\"", in, out, err)
			}
			if _, ok := err.(*HostError); !ok {
				t.Errorf("Normalize(%q) error %T; want *HostError", in, err)
			}
			return
		}
		if out == "" || len(out) > maxNameLen {
			t.Errorf("Normalize(%q) = %q; want 1 to %d bytes", in, out, maxNameLen)
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c >= 0x80 || ('A' <= c && c <= 'Z') {
				t.Fatalf("Normalize(%q) = %q; want lower-case ASCII", in, out)
			}
		}
		again, err := Normalize(out)
		if err != nil || again != out {
			t.Errorf("Normalize(%q) = %q; Normalize(%q) = %q, %v; want a fixed point", in, out, out, again, err)
		}
		if !IsIP(out) && (strings.HasSuffix(out, ".") || strings.Contains(out, "..")) {
			t.Errorf("Normalize(%q) = %q; want no empty labels", in, out)
		}
	})
}

// matches reports whether pattern p covers the normalised host h, by the definition rather
// than by the Matcher's index.
func matches(p Pattern, h string) bool {
	if p.Exact {
		return h == p.Domain
	}
	return h == p.Domain || strings.HasSuffix(h, "."+p.Domain)
}

// moreSpecific reports whether matching pattern a is more specific than matching pattern b.
func moreSpecific(a, b Pattern) bool {
	if a.Exact != b.Exact {
		return a.Exact
	}
	return len(a.Domain) > len(b.Domain)
}

// FuzzLookup compares Lookup and ForPath with a brute-force scan of the test catalog: every
// match must be a pattern whose domain equals the host or is a label-suffix of it, and the
// chosen app must be the most specific one.
func FuzzLookup(f *testing.F) {
	for _, s := range [][2]string{
		{"acme.slack.com", "/"},
		{"docs.google.com:443", "/spreadsheets/d/1"},
		{"mail.google.com", "/drive/../drive/x"},
		{"notslack.com", "/"},
		{"slack.com.evil.example", "/"},
		{"box.com", "/files/."},
	} {
		f.Add(s[0], s[1])
	}
	patterns := testPatterns()
	m := mustCompile(f, patterns, Options{CacheSize: 64})
	f.Fuzz(func(t *testing.T, host, p string) {
		hm, err := m.Lookup(host)
		norm, nerr := Normalize(host)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("Lookup(%q) error %v; Normalize error %v; want both or neither", host, err, nerr)
		}
		if err != nil {
			if hm != nil {
				t.Errorf("Lookup(%q) = %+v with error; want nil", host, hm)
			}
			return
		}
		if hm.Host != norm {
			t.Fatalf("Lookup(%q).Host = %q; want %q", host, hm.Host, norm)
		}
		if hm.IP {
			if hm.App != nil || len(hm.Paths) > 0 {
				t.Errorf("Lookup(%q) is an IP but matches %v; want no match", host, hm)
			}
			return
		}

		// The most specific host-level pattern, and for each path prefix the most specific
		// pattern that has it.
		var best *Pattern
		byPrefix := map[string]Pattern{}
		for _, pat := range patterns {
			if !matches(pat, norm) {
				continue
			}
			if pat.Path == "" {
				if best == nil || moreSpecific(pat, *best) {
					best = &pat
				}
				continue
			}
			if old, ok := byPrefix[pat.Path]; !ok || moreSpecific(pat, old) {
				byPrefix[pat.Path] = pat
			}
		}
		switch {
		case best == nil && hm.App != nil:
			t.Errorf("Lookup(%q) = %s at %v; want no host-level match", host, hm.App.ID, hm.Source)
		case best != nil && (hm.App != best.App || hm.Source != best.Source):
			t.Errorf("Lookup(%q) = %s at %v; want %s at %v", host, appID(hm.App), hm.Source, best.App.ID, best.Source)
		}
		if len(hm.Paths) != len(byPrefix) {
			t.Errorf("Lookup(%q) has %d path rules; want %d", host, len(hm.Paths), len(byPrefix))
		}
		for i, r := range hm.Paths {
			want, ok := byPrefix[r.Prefix]
			if !ok || r.App != want.App || r.Source != want.Source {
				t.Errorf("Lookup(%q) path rule %q = %s at %v; want %s at %v", host, r.Prefix, appID(r.App), r.Source, appID(want.App), want.Source)
			}
			if i > 0 && len(r.Prefix) > len(hm.Paths[i-1].Prefix) {
				t.Errorf("Lookup(%q) path rules %q before %q; want longest first", host, hm.Paths[i-1].Prefix, r.Prefix)
			}
		}

		// ForPath: the longest matching prefix, else the host-level app.
		c := cleanPath(p)
		wantApp, wantSrc := hm.App, hm.Source
		longest := -1
		for prefix, pat := range byPrefix {
			if prefixMatch(prefix, c) && len(prefix) > longest {
				longest, wantApp, wantSrc = len(prefix), pat.App, pat.Source
			}
		}
		if gotApp, gotSrc := hm.ForPath(p); gotApp != wantApp || gotSrc != wantSrc {
			t.Errorf("Lookup(%q).ForPath(%q) = %s at %v; want %s at %v", host, p, appID(gotApp), gotSrc, appID(wantApp), wantSrc)
		}
		if cleanPath(c) != c {
			t.Errorf("cleanPath(%q) = %q is not a fixed point", p, c)
		}
		if !strings.HasPrefix(c, "/") {
			t.Errorf("cleanPath(%q) = %q; want a rooted path", p, c)
		}
	})
}
