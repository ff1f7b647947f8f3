package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
)

// feedAll feeds stream to a new framer in pieces of the given sizes (the
// rest in one piece) and returns it with the error it ended on.
func feedAll(stream []byte, sizes ...int) (*framer, error) {
	f := newFramer()
	for _, n := range sizes {
		n = min(n, len(stream))
		if err := f.feed(stream[:n]); err != nil {
			return f, err
		}
		stream = stream[n:]
	}
	if len(stream) == 0 {
		return f, nil
	}
	return f, f.feed(stream)
}

func TestFramer(t *testing.T) {
	const get = "GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"
	const connect = "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"
	tests := []struct {
		name   string
		stream string
		err    error
		early  string
		state  frameState
	}{
		{"one GET", get, nil, "", frameHead},
		{"CONNECT with bytes behind it", connect + "\x16\x03\x01hello", nil, "\x16\x03\x01hello", frameEarly},
		{"CONNECT after a GET", get + connect + "x", nil, "x", frameEarly},
		{"LF-only lines", "CONNECT a:443 HTTP/1.1\nHost: a:443\n\nxy", nil, "xy", frameEarly},
		{"empty lines before the request line", "\r\n\r\n" + connect + "z", nil, "z", frameEarly},
		{"a body that looks like a CONNECT", "POST http://a.example/ HTTP/1.1\r\ncontent-LENGTH:  " +
			"55 \r\n\r\n" + connect + get, nil, "", frameHead},
		{"a body that is cut short", "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345", nil, "", frameBody},
		{"identical Content-Lengths", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" + connect + "q", nil, "q", frameEarly},
		{"chunked: framing ends", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + connect + "q", nil, "", frameOff},
		{"obs-fold with a space", "GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", errObsFold, "", frameHead},
		{"obs-fold with a tab", "GET / HTTP/1.1\r\nX-A: 1\r\n\tfolded\r\n\r\n", errObsFold, "", frameHead},
		{"whitespace before the first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", errObsFold, "", frameHead},
		{"obs-fold in a second request", get + "GET / HTTP/1.1\nX: 1\n y\n\n", errObsFold, "", frameHead},
		{"a space inside a value is no fold", "GET / HTTP/1.1\r\nX-A: 1 \t 2\r\n\r\n", nil, "", frameHead},
		{"signed Content-Length", "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", errFraming, "", frameHead},
		{"Content-Length list", "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", errFraming, "", frameHead},
		{"Content-Lengths that differ", "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", errFraming, "", frameHead},
		{"a Content-Length line too long to follow", "POST / HTTP/1.1\r\nContent-Length: " + string(bytes.Repeat([]byte(" "), 60)) + "5\r\n\r\n", errFraming, "", frameHead},
		{"long lines elsewhere are fine", "GET / HTTP/1.1\r\nCookie: " + string(bytes.Repeat([]byte("a"), 500)) + "\r\n\r\n" + connect + "e", nil, "e", frameEarly},
		{"too much ahead of a tunnel", connect + string(make([]byte, earlyMax+1)), errEarly, "", frameEarly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := []byte(tt.stream)
			// Every way of cutting the stream in two reads the same.
			for cut := 0; cut <= len(stream); cut++ {
				f, err := feedAll(stream, cut)
				if !errors.Is(err, tt.err) {
					t.Fatalf("cut at %d: error %v; want %v", cut, err, tt.err)
				}
				if err != nil {
					if err := f.feed([]byte("GET / HTTP/1.1\r\n\r\n")); !errors.Is(err, tt.err) {
						t.Fatalf("after %v, the next read gave %v; want the same error", tt.err, err)
					}
					continue
				}
				if string(f.early) != tt.early || f.state != tt.state {
					t.Fatalf("cut at %d: early %q, state %d; want %q, %d", cut, f.early, f.state, tt.early, tt.state)
				}
			}
			// Byte by byte too.
			ones := make([]int, len(stream))
			for i := range ones {
				ones[i] = 1
			}
			if _, err := feedAll(stream, ones...); !errors.Is(err, tt.err) {
				t.Fatalf("byte by byte: error %v; want %v", err, tt.err)
			}
		})
	}
}

// FuzzFramer: framer never panics, reads the same whatever the cut, and
// agrees with net/http's request reader on where requests end: when
// net/http reads a CONNECT, what follows its head is exactly what framer
// keeps for the tunnel. framer may refuse what net/http accepts only for
// its own reasons (obs-fold, a Content-Length line it cannot follow).
func FuzzFramer(f *testing.F) {
	for _, s := range []string{
		"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n\x16\x03\x01",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\nCONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\nhi",
		"POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcdCONNECT a:443 HTTP/1.1\nHost: a\n\nhi",
		"POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 01\r\n\r\nxCONNECT b:1 HTTP/1.0\r\n\r\n",
	} {
		f.Add([]byte(s), uint16(7))
	}
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		whole, err := feedAll(stream)
		cutF, cutErr := feedAll(stream, int(cut))
		if !errors.Is(cutErr, err) || err == nil && (cutF.state != whole.state || !bytes.Equal(cutF.early, whole.early)) {
			t.Fatalf("cut at %d reads differently: %v %d %q; whole: %v %d %q", cut, cutErr, cutF.state, cutF.early, err, whole.state, whole.early)
		}
		if err != nil && !errors.Is(err, errObsFold) && !errors.Is(err, errFraming) && !errors.Is(err, errEarly) {
			t.Fatalf("unexpected error %v", err)
		}
		if err != nil {
			return
		}
		src := bytes.NewReader(stream)
		br := bufio.NewReader(src)
		for {
			req, rerr := http.ReadRequest(br)
			if rerr != nil {
				return // net/http refuses: the connection ends there
			}
			if req.Method == "CONNECT" {
				rest, _ := br.Peek(br.Buffered())
				rest = append(rest, stream[len(stream)-src.Len():]...)
				if whole.state != frameEarly || !bytes.Equal(whole.early, rest) {
					t.Fatalf("net/http read a CONNECT followed by %q; framer: state %d, early %q", rest, whole.state, whole.early)
				}
				return
			}
			if len(req.TransferEncoding) > 0 {
				return // the connection's last request
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
		}
	})
}
