//go:build linux

package attack_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// abandon is one way a client gives up on a CONNECT midway: each dials
// the proxy, gets so far, and closes.
type abandon struct {
	name string
	run  func(g *gateway) error
}

func writeAndClose(g *gateway, s string) error {
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = io.WriteString(c, s)
	return err
}

// connectThen sends a CONNECT, reads the proxy's status line and hands the
// connection to then, which may go further before it is closed.
func connectThen(g *gateway, authority string, then func(net.Conn) error) error {
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority); err != nil {
		return err
	}
	// "HTTP/1.1 200 OK\r\n\r\n" and friends: read up to the blank line.
	var head []byte
	b := make([]byte, 1)
	for len(head) < 4 || string(head[len(head)-4:]) != "\r\n\r\n" {
		if _, err := c.Read(b); err != nil {
			return nil // refused and closed: abandoned as far as it got
		}
		head = append(head, b[0])
	}
	if then == nil {
		return nil
	}
	return then(c)
}

func abandons(g *gateway) []abandon {
	originTLS := g.origin.Pool()
	signpost := originTLS.Clone()
	signpost.AddCert(g.ca.Cert)
	return []abandon{
		{"half a CONNECT line", func(g *gateway) error { return writeAndClose(g, "CONNECT teams.micro") }},
		{"CONNECT without reading the answer", func(g *gateway) error {
			return writeAndClose(g, "CONNECT teams.microsoft.com:443 HTTP/1.1\r\nHost: teams.microsoft.com:443\r\n\r\n")
		}},
		{"tunnel opened, nothing sent", func(g *gateway) error { return connectThen(g, "teams.microsoft.com:443", nil) }},
		{"tunnel opened, half a ClientHello", func(g *gateway) error {
			return connectThen(g, "teams.microsoft.com:443", func(c net.Conn) error {
				_, err := c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
				return err
			})
		}},
		{"tunnel, TLS done, half a request", func(g *gateway) error {
			return connectThen(g, "teams.microsoft.com:443", func(c net.Conn) error {
				tc := tls.Client(c, &tls.Config{ServerName: "teams.microsoft.com", RootCAs: originTLS})
				if err := tc.Handshake(); err != nil {
					return err
				}
				_, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: tea")
				return err
			})
		}},
		{"intercepted, nothing sent", func(g *gateway) error { return connectThen(g, "wetransfer.com:443", nil) }},
		{"intercepted, half a ClientHello", func(g *gateway) error {
			return connectThen(g, "wetransfer.com:443", func(c net.Conn) error {
				_, err := c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
				return err
			})
		}},
		{"intercepted, TLS done, half a request", func(g *gateway) error {
			return connectThen(g, "wetransfer.com:443", func(c net.Conn) error {
				tc := tls.Client(c, &tls.Config{ServerName: "wetransfer.com", RootCAs: signpost})
				if err := tc.Handshake(); err != nil {
					return err
				}
				_, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: wet")
				return err
			})
		}},
		{"intercepted, request sent, answer not read", func(g *gateway) error {
			return connectThen(g, "docs.google.com:443", func(c net.Conn) error {
				tc := tls.Client(c, &tls.Config{ServerName: "docs.google.com", RootCAs: signpost})
				_, err := io.WriteString(tc, "GET /drawings/d/1 HTTP/1.1\r\nHost: docs.google.com\r\n\r\n")
				return err
			})
		}},
		{"refused port", func(g *gateway) error { return connectThen(g, "teams.microsoft.com:22", nil) }},
		{"unreachable origin", func(g *gateway) error { return connectThen(g, "down.example:443", nil) }},
	}
}

// TestAbandonedConnectsLeakNothing runs a load of CONNECTs that clients
// abandon at every stage, and then requires the process to be back where
// it started: no open tunnel, no extra file descriptor and, once the
// proxy is closed, no goroutine it started.
func TestAbandonedConnectsLeakNothing(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML})
	g.res.route("down.example:443", closedAddr(t))
	shapes := abandons(g)
	// Warm up once, so that lazily created state (the leaf cache, the
	// transport's idle pool) is in the baseline rather than counted as growth.
	for _, s := range shapes {
		if err := s.run(g); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	g.p.Tr.CloseIdleConnections()
	before := waitFDs(t, g, -1)

	const rounds = 25
	var wg sync.WaitGroup
	errs := make(chan error, rounds*len(shapes))
	for i := range rounds {
		for _, s := range shapes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.run(g); err != nil {
					errs <- fmt.Errorf("round %d, %s: %w", i, s.name, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	g.p.Tr.CloseIdleConnections()
	if after := waitFDs(t, g, before); after > before {
		t.Errorf("open file descriptors: %d before the load, %d after; want no growth", before, after)
	}
	if n := g.gw.OpenTunnels(); n != 0 {
		t.Errorf("open tunnels after the load: %d; want 0", n)
	}
	g.close()
	goleak.VerifyNone(t, ignore)
}

// waitFDs polls until no tunnel is open and the descriptor count is at
// most limit (any count when limit < 0, once it is stable), with a
// deadline, and returns the count.
func waitFDs(t *testing.T, g *gateway, limit int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last := -1
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n := openFDs(t)
		settled := g.gw.OpenTunnels() == 0 && (limit < 0 && n == last || limit >= 0 && n <= limit)
		if settled || time.Now().After(deadline) {
			return n
		}
		last = n
		// Tunnels splice through pipes that Go pools (internal/poll's
		// splice pipe pool) and closes by finalizer once the pool drops
		// them; collecting lets them go, as time would.
		runtime.GC()
		<-tick.C
	}
}
