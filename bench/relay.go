package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Bare relays: CONNECT proxies with no policy, no logging and no goproxy,
// measured in the 64 MiB row only, so that a proxy's bulk figure can be
// told apart from what the kernel does with the bytes: "relay-splice"
// copies as Signpost's relay does (TCPConn.ReadFrom, the kernel's splice
// path); "relay-copy" reads into and writes from a 128 KiB buffer.
const (
	targetRelaySplice = "relay-splice"
	targetRelayCopy   = "relay-copy"
)

// relayCopyBuffer is relay-copy's buffer per direction.
const relayCopyBuffer = 128 << 10

// runRelay is the "relay" subcommand: a bare CONNECT relay on -listen,
// copying with -copy splice or buffer, until SIGTERM or SIGINT.
func runRelay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	mode := fs.String("copy", "splice", "splice (TCPConn.ReadFrom) or buffer (read and write with a 128 KiB buffer)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	copyFn, err := relayCopier(*mode)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return serveRelay(ctx, ln, copyFn)
}

// relayCopier returns the copy of a -copy mode.
func relayCopier(mode string) (func(dst, src *net.TCPConn) error, error) {
	switch mode {
	case "splice":
		return func(dst, src *net.TCPConn) error { _, err := dst.ReadFrom(src); return err }, nil
	case "buffer":
		return func(dst, src *net.TCPConn) error {
			// The wrappers hide ReadFrom and WriteTo, which io.CopyBuffer
			// would otherwise use, and so splice.
			_, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, relayCopyBuffer))
			return err
		}, nil
	default:
		return nil, fmt.Errorf("relay: -copy %q; expected splice or buffer", mode)
	}
}

// serveRelay relays every client ln accepts until ctx ends.
func serveRelay(ctx context.Context, ln net.Listener, copyFn func(dst, src *net.TCPConn) error) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("relay: %w", err)
		}
		go relayOne(c.(*net.TCPConn), copyFn)
	}
}

// relayOne serves one client: a CONNECT, then the tunnel.
func relayOne(client *net.TCPConn, copyFn func(dst, src *net.TCPConn) error) {
	defer client.Close()
	br := bufio.NewReader(client)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		_, _ = io.WriteString(client, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
		return
	}
	c, err := net.DialTimeout("tcp", req.Host, 10*time.Second)
	if err != nil {
		_, _ = io.WriteString(client, "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
		return
	}
	up := c.(*net.TCPConn)
	defer up.Close()
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	if n := br.Buffered(); n > 0 {
		early, _ := br.Peek(n)
		if _, err := up.Write(early); err != nil {
			return
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if copyFn(up, client) == nil {
			_ = up.CloseWrite()
		}
	}()
	if copyFn(client, up) == nil {
		_ = client.CloseWrite()
	}
	<-done
}

// startRelay starts the harness's "relay" subcommand on the proxy core.
func startRelay(self, dir, name string, pin pinning) (*target, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	mode := "splice"
	if name == targetRelayCopy {
		mode = "buffer"
	}
	p, err := startProc(name, command(pin.Proxy, self, "relay", "-listen", addr, "-copy", mode), filepath.Join(dir, name+".log"), nil)
	if err != nil {
		return nil, err
	}
	t := &target{Name: name, Proxy: addr, proc: p, bulkOnly: true}
	if err := waitListening(p, addr, 15*time.Second); err != nil {
		t.stop()
		return nil, errors.Join(err, errors.New(p.tail()))
	}
	return t, nil
}
