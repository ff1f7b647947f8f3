package ca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

// fuzzNow is the fixed "now" of FuzzParse; the seed certificates are valid then.
var fuzzNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// FuzzParse feeds arbitrary certificate and key files to the parser behind
// Load. It must never panic, and whatever it accepts must be a consistent CA.
func FuzzParse(f *testing.F) {
	f.Add([]byte(""), []byte(""))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		c, err := parse(certPEM, keyPEM, fuzzNow)
		if err != nil {
			if c != nil {
				t.Fatalf("got CA %v with error %v; want nil with an error", c, err)
			}
			return
		}
		if !c.Cert.IsCA || !c.Cert.BasicConstraintsValid {
			t.Error("got a non-CA certificate accepted")
		}
		if fuzzNow.Before(c.Cert.NotBefore) || fuzzNow.After(c.Cert.NotAfter) {
			t.Errorf("got a certificate valid %v to %v accepted at %v", c.Cert.NotBefore, c.Cert.NotAfter, fuzzNow)
		}
		signer, ok := c.TLS.PrivateKey.(crypto.Signer)
		if !ok {
			t.Fatalf("got key type %T; want a crypto.Signer", c.TLS.PrivateKey)
		}
		if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(c.Cert.PublicKey) {
			t.Error("got a key that does not match the certificate accepted")
		}
		if c.TLS.Leaf != c.Cert || !bytes.Equal(c.TLS.Certificate[0], c.Cert.Raw) {
			t.Error("got a TLS chain that does not start with Cert")
		}
		if block, _ := pem.Decode(c.CertPEM); block == nil || !bytes.Equal(block.Bytes, c.Cert.Raw) {
			t.Error("got CertPEM that is not Cert")
		}
	})
}

// FuzzServerConfig feeds arbitrary CONNECT authorities to ServerConfig. It
// must never panic; whatever it accepts must give one leaf that a client
// connecting to that host verifies, cached under a name that is already
// normal.
func FuzzServerConfig(f *testing.F) {
	authority, err := Generate(Options{})
	if err != nil {
		f.Fatalf("Generate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(authority.Cert)
	f.Add("app.test:443")
	f.Fuzz(func(t *testing.T, hostport string) {
		cfg, err := authority.ServerConfig(nil, hostport)
		name, _, nameErr := normalizeHost(stripPort(hostport))
		if err != nil {
			if cfg != nil {
				t.Fatalf("got config %v with error %v; want nil with an error", cfg, err)
			}
			if nameErr == nil {
				t.Fatalf("got error %v for %q, whose host %q is valid; want a config", err, hostport, name)
			}
			return
		}
		if nameErr != nil {
			t.Fatalf("got a config for %q, whose host is invalid (%v); want an error", hostport, nameErr)
		}
		if again, _, err := normalizeHost(name); err != nil || again != name {
			t.Errorf("got %q, %v normalising %q again; want it unchanged", again, err, name)
		}
		if strings.ToLower(name) != name {
			t.Errorf("got cache key %q; want it lower case", name)
		}
		if len(cfg.Certificates) != 1 || cfg.Certificates[0].Leaf == nil {
			t.Fatalf("got %d certificates; want one with Leaf set", len(cfg.Certificates))
		}
		leaf := cfg.Certificates[0].Leaf
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: stripPort(hostport)}); err != nil {
			t.Errorf("got %v verifying the leaf for %q (SANs %q %v); want it to verify", err, hostport, leaf.DNSNames, leaf.IPAddresses)
		}
	})
}
