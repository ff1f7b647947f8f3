//go:build linux

package attack_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// blackhole returns a loopback address whose connections never complete:
// a socket listening with a backlog of 0 whose queue is filled and never
// accepted, so the kernel drops further SYNs. It is how a dead or
// firewalled origin looks to the dialer.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 16 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return addr
		}
		if err != nil {
			t.Fatalf("filling the backlog: %v", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("the backlog never filled: connections to a never-accepting socket keep completing")
	return ""
}

// TestOriginThatNeverAcceptsGivesA504: a dial that does not complete
// within dial_timeout gives a 504, on the plain path and for CONNECT.
func TestOriginThatNeverAcceptsGivesA504(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + "  dial_timeout: 1s\n" + policyYAML})
	hole := blackhole(t)
	g.res.route("teams.microsoft.com:80", hole)
	g.res.route("teams.microsoft.com:443", hole)
	c := g.client()
	t.Run("plain HTTP", func(t *testing.T) {
		t.Parallel()
		resp, body := do(t, c, "GET", "http://teams.microsoft.com/", nil)
		if resp.StatusCode != http.StatusGatewayTimeout || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("got %d; want a 504 page\n%s", resp.StatusCode, body)
		}
		assertNoGoErrorText(t, body)
	})
	t.Run("CONNECT", func(t *testing.T) {
		t.Parallel()
		resp, body, _ := connectVia(t, g.addr, "teams.microsoft.com:443")
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("got %d %q; want 504", resp.StatusCode, body)
		}
		assertNoGoErrorText(t, body)
	})
}
