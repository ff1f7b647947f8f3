package proxy

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signpost-gateway/signpost/identity"
)

// tunnelKey carries a tunnel's identity from handleConnect to the dialer,
// through the CONNECT request's context (goproxy dials tunnels with
// ctx.Req.Context()).
type tunnelKey struct{}

// tunnelInfo is what the registry knows of an open tunnel: enough to decide
// it again when the rules change.
type tunnelInfo struct {
	id   identity.Identity
	host string // normalised host
	app  string // metric label: catalog id or "unknown"
	ref  string // the CONNECT decision's reference
}

// tunnels tracks the upstream side of every open CONNECT tunnel, so that a
// policy change can close tunnels to an app that is no longer allowed, and
// so that the number of open tunnels can be exported.
type tunnels struct {
	mu    sync.Mutex
	open  map[*trackedConn]struct{}
	count atomic.Int64
	// closed is called once per tunnel when its upstream side closes, with
	// the bytes the kernel moved each way.
	closed func(info tunnelInfo, up, down uint64, open time.Duration)
}

func newTunnels(closed func(tunnelInfo, uint64, uint64, time.Duration)) *tunnels {
	return &tunnels{open: make(map[*trackedConn]struct{}), closed: closed}
}

// trackedConn is an upstream tunnel connection. It embeds *net.TCPConn, so
// goproxy still sees a half-closable TCP connection and io.Copy still
// reaches the kernel's splice path through the promoted ReadFrom/WriteTo
// (which receive the inner *net.TCPConn); only Close is its own.
type trackedConn struct {
	*net.TCPConn
	reg    *tunnels
	info   tunnelInfo
	opened time.Time
	closed atomic.Bool
}

func (c *trackedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.reg.mu.Lock()
		delete(c.reg.open, c)
		c.reg.mu.Unlock()
		c.reg.count.Add(-1)
		if c.reg.closed != nil {
			up, down, _ := tcpBytes(c.TCPConn)
			c.reg.closed(c.info, up, down, time.Since(c.opened))
		}
	}
	return c.TCPConn.Close()
}

// track wraps conn when it is the upstream side of a CONNECT tunnel that
// goproxy relays (see Gateway.acceptTunnel).
func (t *tunnels) track(ctx context.Context, conn net.Conn) net.Conn {
	info, ok := ctx.Value(tunnelKey{}).(*tunnelInfo)
	if !ok {
		return conn
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return conn
	}
	return t.add(tcp, *info)
}

// add registers tcp as the upstream side of an open tunnel.
func (t *tunnels) add(tcp *net.TCPConn, info tunnelInfo) *trackedConn {
	c := &trackedConn{TCPConn: tcp, reg: t, info: info, opened: time.Now()}
	t.mu.Lock()
	t.open[c] = struct{}{}
	t.mu.Unlock()
	t.count.Add(1)
	return c
}

// closeWhere closes every open tunnel for which drop reports true, and
// returns how many it closed. Closing the upstream side ends the copy
// loops (the relay's or goproxy's), which then close the client side.
func (t *tunnels) closeWhere(drop func(tunnelInfo) bool) int {
	t.mu.Lock()
	var victims []*trackedConn
	for c := range t.open {
		if drop(c.info) {
			victims = append(victims, c)
		}
	}
	t.mu.Unlock()
	for _, c := range victims {
		_ = c.Close()
	}
	return len(victims)
}

// Open returns the number of open CONNECT tunnels.
func (t *tunnels) Open() int64 { return t.count.Load() }
