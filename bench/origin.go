package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"golang.org/x/net/websocket"
)

// The origin's resources.
const (
	pathSmall = "/small" // smallSize bytes
	pathLarge = "/large" // largeSize bytes
	pathWS    = "/ws"    // a websocket that echoes every message

	smallSize = 128
	largeSize = 64 << 20

	// originIdleTimeout closes the origin's idle keep-alive connections,
	// as real servers do after a while. It is short so that a proxy's pool
	// of idle upstream connections drains within seconds after a load,
	// and its goroutines and file descriptors can be seen to return to
	// their baseline.
	originIdleTimeout = 2 * time.Second
)

// originInfo is what the origin process writes to its -info file once it
// listens.
type originInfo struct {
	HTTP    string `json:"http"`     // host:port of the plain-HTTP listener
	TLS     string `json:"tls"`      // host:port of the TLS listener
	CertPEM string `json:"cert_pem"` // the TLS listener's self-signed certificate
}

// runOrigin is the "origin" subcommand: the test origin, on loopback, with
// a plain-HTTP and a TLS listener serving the same handler. It writes its
// addresses and certificate to the -info file and runs until it is killed.
func runOrigin(args []string) error {
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	infoFile := fs.String("info", "", "file to write the listeners' addresses and certificate to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cert, certPEM, err := selfSigned()
	if err != nil {
		return err
	}
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	secure, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	h := originHandler()
	newServer := func() *http.Server {
		return &http.Server{Handler: h, IdleTimeout: originIdleTimeout, ReadHeaderTimeout: 10 * time.Second}
	}
	errc := make(chan error, 2)
	go func() { errc <- newServer().Serve(plain) }()
	go func() {
		// HTTP/1.1 only, as every proxy in the comparison forwards it.
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
		errc <- newServer().Serve(tls.NewListener(secure, cfg))
	}()
	info, err := json.Marshal(originInfo{HTTP: plain.Addr().String(), TLS: secure.Addr().String(), CertPEM: string(certPEM)})
	if err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	// Written whole, then renamed: the harness never reads half a file.
	if err := os.WriteFile(*infoFile+".tmp", info, 0o644); err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	if err := os.Rename(*infoFile+".tmp", *infoFile); err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	return <-errc
}

// originHandler serves the origin's resources.
func originHandler() http.Handler {
	small := make([]byte, smallSize)
	for i := range small {
		small[i] = 'a' + byte(i%26)
	}
	chunk := make([]byte, 1<<20)
	rand.Read(chunk) // never fails: crypto/rand crashes the program instead
	mux := http.NewServeMux()
	mux.HandleFunc(pathSmall, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(small)))
		_, _ = w.Write(small)
	})
	mux.HandleFunc(pathLarge, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(largeSize))
		for sent := 0; sent < largeSize; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.Handle(pathWS, websocket.Handler(func(ws *websocket.Conn) {
		_, _ = io.Copy(ws, ws)
	}))
	return mux
}

// selfSigned returns a new ECDSA P-256 certificate for 127.0.0.1, valid for
// a day, and its PEM form.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("origin certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "signpost bench origin"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("origin certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("origin certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, certPEM, nil
}
