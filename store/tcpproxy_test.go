package store

import (
	"net"
	"sync"
	"testing"
)

// tcpProxy forwards loopback connections to a target. The test can cut it
// (every connection closed, new ones refused: a database gone away),
// freeze it (every byte and every new connection held: a network silently
// dropping packets), and restore it.
type tcpProxy struct {
	target, addr string

	mu     sync.Mutex
	ln     net.Listener // nil while cut
	conns  map[net.Conn]struct{}
	thawed chan struct{} // closed while bytes flow
	frozen bool
	wg     sync.WaitGroup
}

// startTCPProxy listens on a loopback port and forwards to target until
// the test ends.
func startTCPProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}, thawed: make(chan struct{})}
	close(p.thawed)
	if err := p.listen(); err != nil {
		t.Fatalf("proxy: %v", err)
	}
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

// listen (re)opens the listener on the proxy's address and accepts on it.
func (p *tcpProxy) listen() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.track(c) {
				c.Close()
				continue
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
	return nil
}

// track adds c to what cut closes; false if the proxy is cut.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (p *tcpProxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// forward dials the target once bytes flow, then copies both ways until
// either side closes or the proxy is cut.
func (p *tcpProxy) forward(c net.Conn) {
	defer p.untrack(c)
	p.wait()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { p.copy(up, c); done <- struct{}{} }()
	go func() { p.copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

// copy moves bytes from src to dst, holding them while the proxy is frozen.
func (p *tcpProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.wait()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// wait blocks while the proxy is frozen.
func (p *tcpProxy) wait() {
	p.mu.Lock()
	thawed := p.thawed
	p.mu.Unlock()
	<-thawed
}

// thaw lets held bytes flow; callers hold mu.
func (p *tcpProxy) thaw() {
	if p.frozen {
		p.frozen = false
		close(p.thawed)
	}
}

// cut closes the listener and every connection, and thaws what was held
// so that it fails on its closed connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	p.thaw()
}

// freeze holds every byte and every new connection until restore.
func (p *tcpProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen = true
		p.thawed = make(chan struct{})
	}
}

// restore listens again after a cut, on the same address, and thaws.
func (p *tcpProxy) restore(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	p.thaw()
	cut := p.ln == nil
	p.mu.Unlock()
	if cut {
		if err := p.listen(); err != nil {
			t.Fatalf("proxy: listen again: %v", err)
		}
	}
}
