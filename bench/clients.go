package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/websocket"
)

// directClient talks to the harness's own children (admin endpoints,
// pprof) without any proxy, and without keep-alive: an idle connection
// would count among the sockets the proxy holds.
var directClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 2 * time.Minute}

// newRequest is http.NewRequestWithContext for a GET.
func newRequest(ctx context.Context, url string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
}

// conn is a client connection over which requests are written by hand, so
// that each measurement does exactly the work it names and nothing that a
// client library would add (pools, retries, HTTP/2).
type conn struct {
	net.Conn
	br *bufio.Reader
}

// dialVia connects to dst ("host:port") directly when proxy is "", or
// through the proxy at proxy with a CONNECT.
func dialVia(ctx context.Context, proxy, dst string) (*conn, error) {
	var d net.Dialer
	if proxy == "" {
		c, err := d.DialContext(ctx, "tcp", dst)
		if err != nil {
			return nil, err
		}
		return &conn{Conn: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
	}
	c, err := d.DialContext(ctx, "tcp", proxy)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", dst, dst); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %w", dst, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %s", dst, resp.Status)
	}
	_ = c.SetDeadline(time.Time{})
	return &conn{Conn: c, br: br}, nil
}

// startTLS runs a TLS handshake over c, verifying the server as serverName
// against roots, and returns the TLS connection. Any bytes already buffered
// from c would be TLS records the server sent unasked; there are none,
// since the client speaks first.
func startTLS(ctx context.Context, c *conn, serverName string, roots *x509.CertPool) (*conn, error) {
	if c.br.Buffered() > 0 {
		return nil, errors.New("unexpected bytes before the TLS handshake")
	}
	tc := tls.Client(c.Conn, &tls.Config{ServerName: serverName, RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake with %s: %w", serverName, err)
	}
	return &conn{Conn: tc, br: bufio.NewReaderSize(tc, 64<<10)}, nil
}

// roundTrip writes one HTTP/1.1 GET for target (the request target:
// "/path" or an absolute URL) with host as Host header and the extra
// header lines in extra ("Name: value\r\n" each), reads the response,
// discards the body and returns the status and the body's size.
func (c *conn) roundTrip(target, host, extra string) (int, int64, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target, host, extra); err != nil {
		return 0, 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, n, err
}

// wsTunnel is an open websocket through a tunnel.
type wsTunnel struct {
	ws   *websocket.Conn
	conn *conn
}

// openWebsocket opens a websocket to the origin's echo resource over TLS,
// through proxy ("" for direct), and exchanges one message to prove the
// path works end to end.
func openWebsocket(ctx context.Context, proxy, originTLS string, roots *x509.CertPool) (*wsTunnel, error) {
	c, err := dialVia(ctx, proxy, originTLS)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(originTLS)
	tc, err := startTLS(ctx, c, host, roots)
	if err != nil {
		c.Close()
		return nil, err
	}
	cfg, err := websocket.NewConfig("wss://"+originTLS+pathWS, "https://"+originTLS+"/")
	if err != nil {
		tc.Close()
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl) // the websocket handshake has no context
	}
	ws, err := websocket.NewClient(cfg, tc.Conn)
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	t := &wsTunnel{ws: ws, conn: tc}
	if err := t.echo("hello"); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// echo sends msg and checks that the same message comes back.
func (t *wsTunnel) echo(msg string) error {
	_ = t.conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer t.conn.SetDeadline(time.Time{})
	if err := websocket.Message.Send(t.ws, msg); err != nil {
		return fmt.Errorf("websocket send: %w", err)
	}
	var got string
	if err := websocket.Message.Receive(t.ws, &got); err != nil {
		return fmt.Errorf("websocket receive: %w", err)
	}
	if got != msg {
		return fmt.Errorf("websocket echo: got %q; want %q", got, msg)
	}
	return nil
}

// Close closes the websocket's connection.
func (t *wsTunnel) Close() error { return t.conn.Close() }

// proxyTransport returns an HTTP client transport that sends every request
// through proxy ("" for direct), keeping up to conns connections alive.
func proxyTransport(proxy string, conns int) *http.Transport {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	if proxy != "" {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: proxy})
	}
	return tr
}
