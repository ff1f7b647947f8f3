package attack_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestClientsOutsideTheAllowedNetworksAreRefused: a proxy reachable from
// outside must not serve outsiders, whatever headers claim about them.
func TestClientsOutsideTheAllowedNetworksAreRefused(t *testing.T) {
	g := startGateway(t, setup{yaml: "proxy:\n  clients: [10.0.0.0/8]\n  allow_destinations: [127.0.0.1/32]\n" + policyYAML})
	spoof := []string{"X-Forwarded-For", "10.1.2.3", "Forwarded", "for=10.1.2.3", "X-Real-Ip", "10.1.2.3"}
	t.Run("CONNECT", func(t *testing.T) {
		resp, _, _ := g.connect("teams.microsoft.com:443", spoof...)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("got %d; want 403", resp.StatusCode)
		}
	})
	requests := []struct{ name, req string }{
		{"absolute-form GET", "GET http://teams.microsoft.com/ HTTP/1.1\r\nHost: teams.microsoft.com\r\n"},
		{"GET claiming an inside address", "GET http://teams.microsoft.com/ HTTP/1.1\r\nHost: teams.microsoft.com\r\nX-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3\r\nX-Real-Ip: 10.1.2.3\r\n"},
		{"page action", "POST http://wetransfer.com/.signpost/request HTTP/1.1\r\nHost: wetransfer.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n"},
		{"PAC file", "GET /proxy.pac HTTP/1.1\r\nHost: " + g.addr + "\r\n"},
		{"WPAD file", "GET /wpad.dat HTTP/1.1\r\nHost: " + g.addr + "\r\n"},
		{"CA certificate", "GET /signpost/ca.crt HTTP/1.1\r\nHost: " + g.addr + "\r\n"},
	}
	for _, tt := range requests {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if strings.HasPrefix(tt.req, "POST") {
				body = "a=b"
			}
			resp, _ := g.raw(tt.req + "Connection: close\r\n\r\n" + body)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("got %d; want 403", resp.StatusCode)
			}
		})
	}
	if seen, asked := g.seenPaths(), g.res.lookups(); len(seen) != 0 || len(asked) != 0 {
		t.Fatalf("origin received %v, resolver asked %v; want nothing", seen, asked)
	}
	if got := g.counter("signpost_proxy_refusals_total", map[string]string{"reason": "client"}); got < 4 {
		t.Fatalf("refusals{reason=client}: got %v; want ≥ 4", got)
	}
}

// TestConnectToPortsNotAllowedIsRefused: CONNECT is a raw TCP tunnel;
// only the listed ports (default 443) may be reached, so the proxy cannot
// carry SSH, SMTP or anything else.
func TestConnectToPortsNotAllowedIsRefused(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	tests := []struct {
		authority string
		status    int
	}{
		{"teams.microsoft.com:22", http.StatusForbidden},
		{"teams.microsoft.com:25", http.StatusForbidden},
		{"teams.microsoft.com:80", http.StatusForbidden},
		{"teams.microsoft.com:8443", http.StatusForbidden},
		{"teams.microsoft.com:" + port(t, g.addr), http.StatusForbidden},
		{"127.0.0.1:" + port(t, g.origin.HTTP.Listener.Addr().String()), http.StatusForbidden},
		{"[::1]:22", http.StatusForbidden},
		{"teams.microsoft.com:0", http.StatusBadRequest},
		{"teams.microsoft.com:65536", http.StatusBadRequest},
		{"teams.microsoft.com:443x", http.StatusBadRequest},
		{"teams.microsoft.com:", http.StatusBadRequest},
		{"teams.microsoft.com", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.authority, func(t *testing.T) {
			resp, body, _ := g.connect(tt.authority)
			if resp.StatusCode != tt.status {
				t.Fatalf("got %d %q; want %d", resp.StatusCode, body, tt.status)
			}
		})
	}
	if asked := g.res.lookups(); len(asked) != 0 {
		t.Fatalf("the resolver was asked %v; a refused CONNECT must dial nothing", asked)
	}
}

// internalTargets are addresses a name may resolve to that the proxy must
// never dial, each with why. The loopback ones are the test origin itself,
// which would answer if reached.
func internalTargets(g *gateway) []struct{ name, addr string } {
	originPort := port(g.t, g.origin.HTTP.Listener.Addr().String())
	return []struct{ name, addr string }{
		{"loopback (the origin itself)", "127.0.0.1:" + originPort},
		{"loopback 127.0.0.2", "127.0.0.2:80"},
		{"IPv6 loopback", "[::1]:80"},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:" + originPort},
		{"private 10/8", "10.0.0.1:80"},
		{"private 172.16/12", "172.16.0.1:80"},
		{"private 192.168/16", "192.168.0.1:80"},
		{"unique local fc00::/7", "[fd00::1]:80"},
		{"AWS, GCP and Azure metadata 169.254.169.254", "169.254.169.254:80"},
		{"AWS metadata over IPv6 fd00:ec2::254", "[fd00:ec2::254]:80"},
		{"IPv4-mapped metadata", "[::ffff:169.254.169.254]:80"},
		{"NAT64 metadata", "[64:ff9b::a9fe:a9fe]:80"},
		{"6to4 metadata", "[2002:a9fe:a9fe::1]:80"},
		{"link-local IPv6", "[fe80::1]:80"},
		{"Alibaba metadata in shared space 100.64/10", "100.100.100.200:80"},
		{"unspecified 0.0.0.0", "0.0.0.0:80"},
		{"unspecified ::", "[::]:80"},
		{"broadcast", "255.255.255.255:80"},
		{"reserved 240/4", "240.0.0.1:80"},
	}
}

// TestDestinationsResolvingToInternalAddressesAreRefused: whatever a name
// resolves to is checked when it is dialed; internal addresses are
// refused on the plain-HTTP path and for CONNECT alike, as are the same
// addresses written as literals. Nothing in the answer says which
// address was refused.
func TestDestinationsResolvingToInternalAddressesAreRefused(t *testing.T) {
	g := startGateway(t, setup{yaml: policyYAML}) // no allow_destinations
	attempts := 0
	for _, tt := range internalTargets(g) {
		host, _, _ := net.SplitHostPort(tt.addr)
		g.res.route("evil.example:80", tt.addr)
		g.res.route("evil.example:443", tt.addr)
		check := func(t *testing.T, status int, body string) {
			t.Helper()
			attempts++
			if status != http.StatusForbidden {
				t.Fatalf("got %d; want 403\n%s", status, body)
			}
			if strings.Contains(body, host) {
				t.Fatalf("the answer names the refused address %s:\n%s", host, body)
			}
		}
		t.Run(tt.name+"/name over HTTP", func(t *testing.T) {
			resp, body := g.raw(get1("http://evil.example/latest/meta-data/"))
			check(t, resp.StatusCode, body)
		})
		t.Run(tt.name+"/name over CONNECT", func(t *testing.T) {
			resp, body, _ := g.connect("evil.example:443")
			check(t, resp.StatusCode, body)
		})
		t.Run(tt.name+"/literal over HTTP", func(t *testing.T) {
			resp, body := g.raw(get1("http://" + tt.addr + "/latest/meta-data/"))
			check(t, resp.StatusCode, body)
		})
	}
	if seen := g.seenPaths(); len(seen) != 0 {
		t.Fatalf("origin received %v; want nothing", seen)
	}
	if got := g.counter("signpost_proxy_upstream_errors_total", map[string]string{"kind": "destination"}); got != float64(attempts) {
		t.Fatalf("upstream_errors{kind=destination}: got %v; want %d (one per attempt)", got, attempts)
	}
}

// TestNamesResolvedByTheSystemResolverAreCheckedToo runs without the test
// resolver: "localhost" resolves through /etc/hosts, as in production,
// and the address it gives is refused when dialed.
func TestNamesResolvedByTheSystemResolverAreCheckedToo(t *testing.T) {
	g := startGateway(t, setup{yaml: policyYAML, dns: true})
	originPort := port(t, g.origin.HTTP.Listener.Addr().String())
	tlsPort := port(t, g.origin.TLS.Listener.Addr().String())
	if err := g.gw.Swap(loadConfig(t, "proxy:\n  connect_ports: [443, "+tlsPort+"]\n"+policyYAML)); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"http://localhost:" + originPort + "/", "http://LOCALHOST.:" + originPort + "/", "http://127.0.0.1:" + originPort + "/"} {
		t.Run(target, func(t *testing.T) {
			resp, body := g.raw(get1(target))
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("got %d; want 403\n%s", resp.StatusCode, body)
			}
		})
	}
	t.Run("CONNECT localhost", func(t *testing.T) {
		resp, body, _ := g.connect("localhost:" + tlsPort)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("got %d; want 403\n%s", resp.StatusCode, body)
		}
	})
	if seen := g.seenPaths(); len(seen) != 0 {
		t.Fatalf("origin received %v; want nothing", seen)
	}
}

// TestDNSRebindingIsCheckedAtDialTime: a name first resolves to an
// allowed address and then to an internal one. The check runs on the
// address actually dialed, each time, so the second connection is
// refused and the internal service is never reached.
func TestDNSRebindingIsCheckedAtDialTime(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	var reached atomic.Int32
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = w.Write([]byte("internal secrets"))
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	internal.Listener = ln
	internal.Start()
	defer internal.Close()
	// The origin closes every connection, so each request dials anew.
	g.origin.Handle = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Header().Set("X-Origin", "test-origin")
	}
	in := internal.Listener.Addr().String()
	g.res.route("rebind.example:80", g.origin.HTTP.Listener.Addr().String(), in)
	g.res.route("rebind.example:443", g.origin.TLS.Listener.Addr().String(), in)

	c := g.client()
	resp, _ := g.get(c, "http://rebind.example/first")
	if resp.Header.Get("X-Origin") != "test-origin" {
		t.Fatalf("first lookup: got %d; want the origin", resp.StatusCode)
	}
	resp, body := g.get(c, "http://rebind.example/second")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second lookup (internal): got %d %q; want 403", resp.StatusCode, body)
	}
	r1, _, _ := g.connect("rebind.example:443")
	if r1.StatusCode != http.StatusOK {
		t.Fatalf("first CONNECT: got %d; want 200", r1.StatusCode)
	}
	r2, body, _ := g.connect("rebind.example:443")
	if r2.StatusCode != http.StatusForbidden {
		t.Fatalf("second CONNECT (internal): got %d %q; want 403", r2.StatusCode, body)
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the internal service was reached %d times", n)
	}
}

// TestTheProxysOwnListenersAreUnreachableThroughIt: even with loopback
// allowlisted (as for a sidecar deployment), a request through the proxy
// can reach neither the admin listener — whose API changes policy — nor
// the proxy port itself (a request loop), by any spelling.
func TestTheProxysOwnListenersAreUnreachableThroughIt(t *testing.T) {
	nd := startNode(t, map[string]string{"signpost.yaml": loopbackOK + policyYAML})
	admin := nd.n.AdminAddr().String()
	self := nd.proxyAddr()
	adminPort, selfPort := port(t, admin), port(t, self)
	nd.write(loopbackOK + "  connect_ports: [443, " + adminPort + ", " + selfPort + "]\n" + policyYAML)
	nd.res.route("admin.example:"+adminPort, admin)
	nd.res.route("localhost:"+adminPort, admin)
	c := nd.client("")
	for _, target := range []string{
		"http://" + admin + "/healthz",
		"http://[::ffff:127.0.0.1]:" + adminPort + "/healthz",
		"http://admin.example:" + adminPort + "/healthz",
		"http://localhost:" + adminPort + "/api/v1/requests",
		"http://" + self + "/signpost/ca.crt",
	} {
		t.Run("GET "+target, func(t *testing.T) {
			req, _ := http.NewRequest("GET", target, nil)
			req.Header.Set("Authorization", "Bearer "+nd.token) // even with the token
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("got %d; want 403", resp.StatusCode)
			}
		})
	}
	for _, authority := range []string{admin, "admin.example:" + adminPort, self} {
		t.Run("CONNECT "+authority, func(t *testing.T) {
			resp, body, _ := connectVia(t, self, authority)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("got %d %q; want 403", resp.StatusCode, body)
			}
		})
	}
	// A control: the same node does reach an allowlisted loopback origin.
	resp, err := c.Get("http://teams.microsoft.com/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Origin") != "test-origin" {
		t.Fatalf("control: the allowlisted origin was not reached (%d)", resp.StatusCode)
	}
}
