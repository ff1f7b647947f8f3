// Package testkit builds the real parts Signpost's tests run against:
// loopback origins (HTTP and TLS) that answer for catalog host names with a
// certificate from their own test CA, and a resolver that sends those names
// to the origins instead of DNS. It is for tests only.
package testkit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Seen is what an origin recorded about one request it received.
type Seen struct {
	Method string      `json:"method"`
	Host   string      `json:"host"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
	TLS    bool        `json:"tls"`
}

// Origin is a pair of loopback servers (plain HTTP and TLS) that answer
// every request with a JSON echo of what they received, and keep a record.
type Origin struct {
	HTTP, TLS *httptest.Server
	// CA is the origin's own CA; its certificate covers Names.
	CA     *x509.Certificate
	CAPEM  []byte
	Leaf   *x509.Certificate
	mu     sync.Mutex
	seen   []Seen
	Handle http.HandlerFunc // optional override, called after recording
}

// NewOrigin starts an origin whose TLS certificate names names (and
// 127.0.0.1). Both servers close when the test ends.
func NewOrigin(t testing.TB, names ...string) *Origin {
	t.Helper()
	o := &Origin{}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test Origin CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	o.CA, _ = x509.ParseCertificate(caDER)
	o.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "test origin"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, o.CA, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	o.Leaf, _ = x509.ParseCertificate(leafDER)

	h := http.HandlerFunc(o.serve)
	o.HTTP = httptest.NewServer(h)
	o.TLS = httptest.NewUnstartedServer(h)
	o.TLS.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey, Leaf: o.Leaf}}}
	o.TLS.StartTLS()
	t.Cleanup(o.HTTP.Close)
	t.Cleanup(o.TLS.Close)
	return o
}

func (o *Origin) serve(w http.ResponseWriter, r *http.Request) {
	s := Seen{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), TLS: r.TLS != nil}
	o.mu.Lock()
	o.seen = append(o.seen, s)
	o.mu.Unlock()
	if o.Handle != nil {
		o.Handle(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Origin", "test-origin")
	_ = json.NewEncoder(w).Encode(s)
}

// Seen returns a copy of the requests received so far.
func (o *Origin) Seen() []Seen {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Seen(nil), o.seen...)
}

// Pool returns a cert pool holding the origin's CA.
func (o *Origin) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(o.CA)
	return p
}

// Resolve sends every host name to the origin: port 443 to the TLS
// server, anything else to the plain one. IP literals are dialed as they
// are, as DNS would leave them. It is the proxy's Resolve hook, so no test
// traffic ever reaches DNS; the proxy's destination check still applies.
func (o *Origin) Resolve(_ context.Context, hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return "", fmt.Errorf("test resolver: refusing to dial %s, which is not loopback", hostport)
		}
		return hostport, nil
	}
	if port == "443" {
		return o.TLS.Listener.Addr().String(), nil
	}
	return o.HTTP.Listener.Addr().String(), nil
}

// HostOnly strips a port from a host:port.
func HostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// LogBuffer collects what many goroutines write (a node's log, say) while
// the test reads it.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
