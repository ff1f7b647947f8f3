package pac

import (
	"strings"
	"testing"

	"github.com/signpost-gateway/signpost/classify"
)

// FuzzGenerate generates PAC files from arbitrary domain lists and checks that each one loads
// in a JavaScript engine and that FindProxyForURL answers every host with a string, the same
// string the Go matcher implies wherever the host is one Normalize accepts.
//
// list holds one entry per line: a domain target, "=domain" for an exact target or "!domain"
// for an exclusion; entries that Normalize refuses or that are IP addresses are skipped. Its
// first line, raw, is also the header comment. flags chooses the options: bit 0 ModeAll, bit 1
// DirectFallback, bit 2 PrivateDirect. probe is one more host to ask about, raw.
func FuzzGenerate(f *testing.F) {
	f.Add("slack.com\n=files.example.net\n!corp.example", byte(4), "ACME.Slack.com.")
	f.Add("a.b\nb\n=b", byte(7), "::ffff:10.0.0.1")
	f.Fuzz(func(t *testing.T, list string, flags byte, probe string) {
		lines := strings.Split(list, "\n")
		o := Options{
			Proxies:        []string{"signpost.corp.example:3128"},
			DirectFallback: flags&2 != 0,
			PrivateDirect:  flags&4 != 0,
			Comment:        lines[0],
		}
		if flags&1 != 0 {
			o.Mode = ModeAll
		}
		var targets []Target
		hosts := []string{probe, strings.ToUpper(probe), probe + ".", "[" + probe + "]"}
		for _, line := range lines {
			hosts = append(hosts, line)
			kind, d := byte(0), line
			if d != "" && (d[0] == '=' || d[0] == '!') {
				kind, d = d[0], d[1:]
			}
			n, err := classify.Normalize(d)
			if err != nil || classify.IsIP(n) {
				continue
			}
			switch kind {
			case '!':
				o.Exclude = append(o.Exclude, n)
			default:
				targets = append(targets, Target{Domain: n, Exact: kind == '='})
			}
			hosts = append(hosts, n, "x."+n, "x"+n, n+".x", strings.ToUpper(n)+".")
		}
		body, err := Generate(targets, o)
		if err != nil {
			t.Fatalf("Generate(%v, %+v): %v", targets, o, err)
		}
		e, err := tryLoad(body)
		if err != nil {
			t.Fatalf("the PAC file does not load: %v\n%s", err, head(body))
		}
		route := "PROXY signpost.corp.example:3128"
		if o.DirectFallback {
			route += "; DIRECT"
		}
		md := model{m: matcherFor(t, targets), o: o, route: route}
		for _, host := range hosts {
			got, err := e.call(host)
			if err != nil {
				t.Fatalf("FindProxyForURL(%q): %v", host, err)
			}
			if want, ok := md.want(host); ok && got != want {
				t.Errorf("FindProxyForURL(%q) = %q; want %q", host, got, want)
			}
		}
	})
}
