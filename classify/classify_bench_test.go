package classify

import (
	"fmt"
	"testing"
)

// syntheticPatterns returns n suffix patterns over distinct domains, plus the test catalog,
// with one path rule per hundred domains so that resolution has merging to do.
func syntheticPatterns(n int) []Pattern {
	ps := testPatterns()
	for i := range n {
		a := &App{ID: fmt.Sprintf("app%d", i)}
		d := fmt.Sprintf("svc%d.vendor%d.example", i, i%997)
		ps = append(ps, Pattern{Domain: d, App: a, Source: Source{"synthetic.yaml", i + 1}})
		if i%100 == 0 {
			ps = append(ps, Pattern{Domain: d, Path: "/api", App: a, Source: Source{"synthetic.yaml", i + 1}})
		}
	}
	return ps
}

func BenchmarkLookupCached(b *testing.B) {
	m := mustCompile(b, syntheticPatterns(100_000), Options{})
	for _, host := range []string{"acme.slack.com", "acme.slack.com:443", "unknown.example.net"} {
		b.Run(host, func(b *testing.B) {
			if _, err := m.Lookup(host); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Lookup(host); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLookupCachedParallel(b *testing.B) {
	m := mustCompile(b, syntheticPatterns(100_000), Options{})
	if _, err := m.Lookup("acme.slack.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Lookup("acme.slack.com"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLookupUncached(b *testing.B) {
	const n = 100_000
	m := mustCompile(b, syntheticPatterns(n), Options{CacheSize: -1})
	hosts := make([]string, 4096)
	for i := range hosts {
		switch i % 4 {
		case 0: // a subdomain of a synthetic suffix
			j := i * 24 % n
			hosts[i] = fmt.Sprintf("cdn%d.eu.svc%d.vendor%d.example", i, j, j%997)
		case 1: // a deep unknown host: every label is a miss
			hosts[i] = fmt.Sprintf("a.b.c.d%d.unknown%d.example.net", i, i)
		case 2: // a host with path rules
			hosts[i] = fmt.Sprintf("x%d.docs.google.com", i)
		default: // with port and upper case, so normalisation allocates
			hosts[i] = fmt.Sprintf("WWW%d.Slack.com:443", i)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.Lookup(hosts[i%len(hosts)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkCompile100k(b *testing.B) {
	ps := syntheticPatterns(100_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(ps, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	for _, host := range []string{"acme.slack.com", "acme.slack.com:443", "ACME.Slack.com", "bücher.example", "[2001:db8::1]:443"} {
		b.Run(host, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Normalize(host); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkForPath(b *testing.B) {
	m := mustCompile(b, testPatterns(), Options{})
	hm, err := m.Lookup("docs.google.com")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		hm.ForPath("/spreadsheets/d/1/edit")
	}
}
