package proxy

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/elazarl/goproxy"
)

// relayDest is what acceptTunnel leaves in ctx.UserData for
// Gateway.relayTunnel: where to dial, and what to register.
type relayDest struct {
	info     tunnelInfo
	hostport string
	conn     *connInfo
}

// relayConn returns the CONNECT's client connection when Signpost can
// relay its tunnel itself: the proxy's own server accepted it through
// Listener, so the bytes the client sent after the CONNECT head are kept
// (net/http buffers them, and goproxy hands them only to its own relay).
func relayConn(req *http.Request) *connInfo {
	ci, ok := req.Context().Value(connInfoKey{}).(*connInfo)
	if !ok {
		return nil
	}
	if _, ok := ci.conn.(*clientConn); !ok {
		return nil
	}
	return ci
}

// relayTunnel is goproxy's Hijack action for an allowed CONNECT: it dials
// through the guard, answers 200, passes on what the client sent ahead,
// and starts one goroutine per direction, each in the kernel's splice path
// (TCPConn.ReadFrom straight from the other TCPConn: io.Copy's longer call
// chain doubles a parked goroutine's stack, and goproxy adds a third
// goroutine per tunnel to wait for the other two). An idle tunnel costs two
// 2 KiB stacks.
func (g *Gateway) relayTunnel(req *http.Request, client net.Conn, ctx *goproxy.ProxyCtx) {
	t := ctx.UserData.(*relayDest)
	cc, ok := client.(*clientConn)
	if !ok { // relayConn checked this when it chose the relay
		_ = client.Close()
		return
	}
	c, err := g.guard.DialContext(req.Context(), "tcp", t.hostport)
	if err != nil {
		g.connectionError(client, ctx, err)
		_ = client.Close()
		return
	}
	up := g.tunnels.add(c.(*net.TCPConn), t.info)
	r := &relay{client: cc.TCPConn, up: up}
	line := "HTTP/1.1 200 Connection established\r\n\r\n"
	if req.ProtoMajor == 1 && req.ProtoMinor == 0 {
		line = "HTTP/1.0 200 Connection established\r\n\r\n"
	}
	if _, err := io.WriteString(r.client, line); err != nil {
		r.close()
		return
	}
	if early := t.conn.early; len(early) > 0 {
		t.conn.early = nil
		if _, err := up.Write(early); err != nil {
			r.close()
			return
		}
	}
	go r.copy(up.TCPConn, r.client)
	go r.copy(r.client, up.TCPConn)
}

// relay is one tunnel's two connections.
type relay struct {
	client *net.TCPConn
	up     *trackedConn
	done   atomic.Int32
}

// copy moves src to dst until src ends, then half-closes, as goproxy does:
// a client that finished sending still gets the origin's answer. An error
// closes both sides, which ends the other direction too; the second
// direction to finish closes both.
func (r *relay) copy(dst, src *net.TCPConn) {
	if _, err := dst.ReadFrom(src); err != nil {
		r.close()
	} else {
		_ = dst.CloseWrite()
		_ = src.CloseRead()
	}
	if r.done.Add(1) == 2 {
		r.close()
	}
}

func (r *relay) close() {
	_ = r.client.Close()
	_ = r.up.Close()
}
