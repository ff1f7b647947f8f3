package proxy

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
)

// Listener wraps ln so that the proxy sees what its clients send before
// net/http and goproxy parse it. Served by NewServer's server, whose hooks
// see each connection accepted and hijacked, it follows the framing of
// plain-HTTP requests (refusing what net/http would silently repair, see
// framer), keeps the bytes a client sends behind a CONNECT for the tunnel,
// and bounds request heads inside intercepted tunnels, where goproxy reads
// them without net/http's max_header_bytes. Serve the proxy port through
// it.
func Listener(ln net.Listener) net.Listener { return clientListener{ln} }

type clientListener struct{ net.Listener }

func (l clientListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tcp, ok := c.(*net.TCPConn); ok && err == nil {
		return &clientConn{TCPConn: tcp}, nil
	}
	return c, err
}

// Allowances on top of max_header_bytes for what TLS adds around a request
// head: the handshake (a ClientHello with post-quantum key shares and
// session tickets runs to several KiB) and record framing.
const (
	handshakeAllowance = 64 << 10
	recordAllowance    = 16 << 10
)

// errHeadTooLarge ends a connection whose client sent more than a request
// head may hold.
var errHeadTooLarge = errors.New("request head larger than max_header_bytes inside an intercepted tunnel")

// clientConn is a client connection. It embeds *net.TCPConn, so goproxy
// still finds a half-closable TCP connection and io.Copy still reaches
// splice through the promoted ReadFrom/WriteTo; only Read is its own.
//
// Read frames plain-HTTP requests from when NewServer's server accepts the
// connection until it hijacks it (frame is nil outside that time), and
// counts bytes while a limit is set (an intercepted tunnel waiting for a
// request head). net/http sets frame before its first read, serialises
// reads and finishes any pending one before a Hijack, so frame needs no
// lock of its own.
type clientConn struct {
	*net.TCPConn
	frame     *framer
	remaining atomic.Int64 // bytes the client may still send; ≤ 0: no limit
	limited   atomic.Bool
}

// limit allows n more bytes before the next request head is complete;
// n ≤ 0 lifts the limit.
func (c *clientConn) limit(n int64) {
	c.remaining.Store(n)
	c.limited.Store(n > 0)
}

func (c *clientConn) Read(p []byte) (int, error) {
	if c.limited.Load() {
		left := c.remaining.Load()
		if left <= 0 {
			return 0, errHeadTooLarge
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
		n, err := c.TCPConn.Read(p)
		c.remaining.Add(-int64(n))
		return n, err
	}
	n, err := c.TCPConn.Read(p)
	if f := c.frame; f != nil && n > 0 {
		if ferr := f.feed(p[:n]); ferr != nil {
			return 0, ferr
		}
	}
	return n, err
}

// detach ends framing when the connection has been hijacked (a tunnel, or
// a WebSocket after 101) and returns what the client sent after a CONNECT
// head, which net/http buffered and which belongs to the tunnel.
func (c *clientConn) detach() []byte {
	f := c.frame
	if f == nil {
		return nil
	}
	c.frame = nil
	return f.early
}

// Errors that end a plain-HTTP connection. net/http answers a request
// whose head it could not read because of them with 400 Bad Request and
// closes the connection.
var (
	// errObsFold: RFC 9112 §5.2 lets a server replace a folded line with
	// spaces, which net/http does; a parser that reads the fold otherwise
	// (a front end, an origin) would disagree with it on the field, so
	// Signpost refuses the request instead.
	errObsFold = errors.New("obsolete line folding in a request head")
	// errFraming: a Content-Length that is not one plain decimal number,
	// which net/http refuses too; framer stops here rather than guess.
	errFraming = errors.New("request framing that cannot be followed")
	// errEarly: more bytes behind a CONNECT head than net/http's buffer
	// holds before the tunnel starts; it cannot happen with net/http's
	// reads, and ends the connection rather than lose bytes if it did.
	errEarly = errors.New("too many bytes ahead of a tunnel")
)

// frameState is where a framer is in the client's byte stream.
type frameState uint8

const (
	frameHead  frameState = iota // in a request head
	frameBody                    // in a Content-Length body
	frameEarly                   // after a CONNECT head: tunnel bytes
	frameOff                     // after a request with Transfer-Encoding: the connection closes after it
)

// framer follows request boundaries in a plain-HTTP connection as net/http
// will read them: a head ends at an empty line (lines end in LF, an
// optional CR before it), a body is Content-Length bytes, and a request
// with Transfer-Encoding is the connection's last (net/http refuses it or
// reads it chunked, and handleResponse closes after a chunked request).
// A successful Upgrade hijacks the connection, which ends framing. Only
// the start of each line is kept: enough to read a method or a framing
// field.
type framer struct {
	state   frameState
	err     error // sticky: every read after a refusal fails too
	lineNo  int   // lines of the current head completed
	lineLen int   // bytes of the current line so far, LF excluded
	line    [lineKeep]byte
	connect bool  // the head is a CONNECT
	length  int64 // the head's Content-Length, -1 when it has none
	coded   bool  // the head has Transfer-Encoding: framing stops after it
	body    int64 // body bytes still to pass
	early   []byte
}

// lineKeep is how much of each head line framer keeps: a framing field
// with a value of any sane length.
const lineKeep = 64

// earlyMax bounds the bytes kept after a CONNECT head: net/http reads
// through a 4 KiB buffer and at most one byte more before the Hijack.
const earlyMax = 8 << 10

func newFramer() *framer { return &framer{length: -1} }

// feed follows p, the next bytes the client sent.
func (f *framer) feed(p []byte) error {
	for len(p) > 0 && f.err == nil {
		switch f.state {
		case frameHead:
			p = f.head(p)
		case frameBody:
			n := min(int64(len(p)), f.body)
			f.body -= n
			p = p[n:]
			if f.body == 0 {
				f.state = frameHead
			}
		case frameEarly:
			if len(f.early)+len(p) > earlyMax {
				f.err = errEarly
				break
			}
			f.early = append(f.early, p...)
			return nil
		case frameOff:
			return nil
		}
	}
	return f.err
}

// head follows p through a request head and returns what is left of p
// after it (nil when the head goes on).
func (f *framer) head(p []byte) []byte {
	for i, b := range p {
		if b != '\n' {
			if f.lineLen == 0 && f.lineNo > 0 && (b == ' ' || b == '\t') {
				f.err = errObsFold
				return nil
			}
			if f.lineLen < lineKeep {
				f.line[f.lineLen] = b
			}
			f.lineLen++
			continue
		}
		n := f.lineLen
		if n > 0 && n <= lineKeep && f.line[n-1] == '\r' {
			n--
		}
		f.lineLen = 0
		switch {
		case n == 0 && f.lineNo == 0:
			// An empty line before the request line.
		case n == 0:
			f.endHead()
			return p[i+1:]
		default:
			if f.field(f.line[:min(n, lineKeep)], n > lineKeep); f.err != nil {
				return nil // the first refusal stands, however the bytes arrive
			}
			f.lineNo++
		}
	}
	return nil
}

// field reads one line of a head: the request line, or a field that
// frames the request.
func (f *framer) field(line []byte, long bool) {
	if f.lineNo == 0 {
		f.connect = bytes.HasPrefix(line, []byte("CONNECT "))
		return
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return
	}
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		// Digits only, as net/http reads it: no sign, no list.
		n, err := strconv.ParseUint(string(bytes.Trim(value, " \t")), 10, 63)
		if long || err != nil || f.length >= 0 && int64(n) != f.length {
			f.err = errFraming
			return
		}
		f.length = int64(n)
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		f.coded = true
	}
}

// endHead moves past a complete head to what follows it.
func (f *framer) endHead() {
	switch {
	case f.connect:
		f.state = frameEarly
	case f.coded:
		f.state = frameOff
	case f.length > 0:
		f.state, f.body = frameBody, f.length
	default:
		f.state = frameHead
	}
	f.lineNo, f.connect, f.length, f.coded = 0, false, -1, false
}
