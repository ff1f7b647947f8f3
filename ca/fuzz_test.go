package ca

import (
	"bytes"
	"crypto"
	"encoding/pem"
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
