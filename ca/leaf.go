package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// LeafValidity is how long a leaf minted by Leaf stays valid. Leaves live
// only in memory and are re-minted RefreshBefore their expiry, so a short
// lifetime costs nothing and bounds what a leaked leaf key is good for.
const LeafValidity = 7 * 24 * time.Hour

// leafBackdate is how long before "now" a leaf becomes valid, so that a
// client whose clock runs a little behind the proxy's still accepts it.
const leafBackdate = time.Hour

// maxCommonNameLen is the upper bound RFC 5280 (appendix A.1, ub-common-name)
// puts on a subject's CN. Longer host names go in the SAN only, as public CAs
// do; clients match the SAN and ignore the CN.
const maxCommonNameLen = 64

// Leaf mints a TLS server certificate for host, signed by the CA. host is a
// DNS name (matched case-insensitively; a single trailing dot is dropped) or
// an IP address literal without brackets or zone; it becomes the
// certificate's only subject alternative name, a DNS name or an IP address.
//
// Each call makes a fresh ECDSA P-256 key from crypto/rand and a random
// 128-bit serial number, whatever the CA's own key type. The subject is
// CN=host (omitted above 64 characters, the limit RFC 5280 sets) with the
// CA's organisation, if it has one. The leaf is valid from an hour ago, but
// not before the CA is, for LeafValidity, but not after the CA expires; key
// usage is digital signature, extended key usage is TLS server
// authentication, and its authority key identifier is the CA's subject key
// identifier.
//
// The result holds the leaf followed by the CA's chain as loaded (so a CA
// that is an intermediate sends its issuers too), the leaf key, and Leaf set
// to the parsed leaf. Leaf fails for an invalid host and when the CA is not
// valid now. It is safe for concurrent use.
func (c *CA) Leaf(host string) (*tls.Certificate, error) {
	return c.leaf(host, time.Now())
}

// leaf is Leaf at the given time.
func (c *CA) leaf(host string, now time.Time) (*tls.Certificate, error) {
	name, ip, err := normalizeHost(host)
	if err != nil {
		return nil, fmt.Errorf("mint leaf certificate for %q: %w", host, err)
	}
	signer, err := c.signer(now)
	if err != nil {
		return nil, fmt.Errorf("mint leaf certificate for %s: %w", name, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("mint leaf certificate for %s: generate key: %w", name, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("mint leaf certificate for %s: serial number: %w", name, err)
	}

	notBefore := now.Add(-leafBackdate)
	if notBefore.Before(c.Cert.NotBefore) {
		notBefore = c.Cert.NotBefore
	}
	notAfter := now.Add(LeafValidity)
	if notAfter.After(c.Cert.NotAfter) {
		notAfter = c.Cert.NotAfter
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: append([]string(nil), c.Cert.Subject.Organization...),
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, // CA:FALSE, stated rather than implied
		// CreateCertificate copies the CA's subject key identifier into the
		// leaf's authority key identifier.
	}
	if len(name) <= maxCommonNameLen {
		template.Subject.CommonName = name
	}
	if ip.IsValid() {
		template.IPAddresses = []net.IP{ip.AsSlice()}
	} else {
		template.DNSNames = []string{name}
	}

	der, err := x509.CreateCertificate(rand.Reader, template, c.Cert, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("mint leaf certificate for %s: %w", name, err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("mint leaf certificate for %s: %w", name, err)
	}
	chain := make([][]byte, 0, 1+len(c.TLS.Certificate))
	chain = append(chain, der)
	chain = append(chain, c.TLS.Certificate...)
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: parsed}, nil
}

// signer returns the CA's signing key after checking that the CA is complete
// and valid at now, so that a leaf is never issued outside its issuer's
// validity.
func (c *CA) signer(now time.Time) (crypto.Signer, error) {
	if c == nil || c.Cert == nil || len(c.TLS.Certificate) == 0 {
		return nil, errors.New("the CA has no certificate")
	}
	signer, ok := c.TLS.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the CA's private key (%T) cannot sign", c.TLS.PrivateKey)
	}
	if now.Before(c.Cert.NotBefore) {
		return nil, fmt.Errorf("the CA %q is not valid until %s", c.Cert.Subject.String(), c.Cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(c.Cert.NotAfter) {
		return nil, fmt.Errorf("the CA %q expired on %s", c.Cert.Subject.String(), c.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return signer, nil
}

// ServerConfig returns the TLS configuration for intercepting a CONNECT to
// hostport (the request's authority, "host:port"; a bare host is accepted
// too): a leaf naming the host, from cache when it holds one and minted with
// Leaf otherwise, TLS 1.2 or later, and ALPN offering HTTP/1.1 only. It is
// what goproxy's ConnectAction.TLSConfig should return:
//
//	TLSConfig: func(host string, _ *goproxy.ProxyCtx) (*tls.Config, error) {
//		return authority.ServerConfig(cache, host)
//	}
//
// The leaf names the CONNECT host whatever server name the client then sends
// in its TLS handshake: a client that connects to one host and names another
// is fronting a domain, which the proxy refuses separately.
//
// The cache key is the host as Leaf normalises it (lower case, no port, no
// trailing dot, an IP in canonical form), so the ports and spellings of one
// host share a leaf. A cache must serve one CA only; purge it when the CA
// changes. A nil cache mints a leaf on every call, and so, in effect, does a
// CA with less than RefreshBefore left, since its leaves expire with it. Each
// call returns a new tls.Config, which the caller may modify.
//
// goproxy calls TLSConfig after it has answered the CONNECT, so an error here
// reaches the client as a broken handshake, not as an HTTP status.
func (c *CA) ServerConfig(cache *CertCache, hostport string) (*tls.Config, error) {
	name, _, err := normalizeHost(stripPort(hostport))
	if err != nil {
		return nil, fmt.Errorf("intercept %q: %w", hostport, err)
	}
	gen := func() (*tls.Certificate, error) { return c.Leaf(name) }
	var cert *tls.Certificate
	if cache != nil {
		cert, err = cache.Fetch(name, gen)
	} else {
		cert, err = gen()
	}
	if err != nil {
		return nil, fmt.Errorf("intercept %s: %w", name, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{*cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

// stripPort returns the host of a "host:port" or "[ipv6]:port" authority,
// or hostport itself, without IPv6 brackets, when it has no port.
func stripPort(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		return hostport[1 : len(hostport)-1]
	}
	return hostport
}

// normalizeHost returns the name a leaf for host is minted for and cached
// under, and the address when host is an IP literal. A DNS name is
// lower-cased and loses one trailing dot (clients match certificates against
// the name without it); an IP is written in its canonical form. Anything
// else is an error: a port, a wildcard, non-ASCII (a client sends the
// punycode form), characters no host name has, empty or over-long labels,
// an IP followed by a dot.
func normalizeHost(host string) (string, netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return "", netip.Addr{}, errors.New("an IPv6 address with a zone cannot be named in a certificate")
		}
		ip = ip.Unmap()
		return ip.String(), ip, nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if _, err := netip.ParseAddr(name); err == nil {
		// Clients disagree on whether "192.0.2.1." is an address or a name.
		return "", netip.Addr{}, errors.New("an IP address with a trailing dot is neither an address nor a host name")
	}
	if err := checkDNSName(name); err != nil {
		return "", netip.Addr{}, err
	}
	return name, netip.Addr{}, nil
}

// checkDNSName reports why name, already lower-cased, is not a host name a
// leaf can be minted for. Underscores are allowed because some real hosts
// have them and clients accept them.
func checkDNSName(name string) error {
	switch {
	case name == "":
		return errors.New("empty host name")
	case len(name) > 253:
		return fmt.Errorf("host name is %d characters long; the limit is 253", len(name))
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return errors.New("host name has an empty label")
		}
		if len(label) > 63 {
			return fmt.Errorf("host name has a label of %d characters; the limit is 63", len(label))
		}
		if label[0] == '-' {
			// RFC 1123 section 2.1; clients would not match such a name
			// with a trailing dot against the certificate.
			return errors.New("host name has a label starting with a hyphen")
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if b >= 0x80 {
				return errors.New("host name is not ASCII; use its punycode (xn--) form")
			}
			if !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
				return fmt.Errorf("host name contains %q, which is not a letter, digit, hyphen or underscore", rune(b))
			}
		}
	}
	return nil
}
