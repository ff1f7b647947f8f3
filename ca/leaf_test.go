package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestLeaf(t *testing.T) {
	authority, err := Generate(Options{Organization: "Example Corp"})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	long := strings.Repeat("a", 60) + ".example.com" // 72 characters: too long for a CN
	for _, tc := range []struct {
		name    string
		host    string
		wantCN  string
		wantDNS []string
		wantIP  string
	}{
		{"DNS name", "app.test", "app.test", []string{"app.test"}, ""},
		{"upper case and trailing dot", "App.TEST.", "app.test", []string{"app.test"}, ""},
		{"underscore", "_dmarc.app.test", "_dmarc.app.test", []string{"_dmarc.app.test"}, ""},
		{"single label", "intranet", "intranet", []string{"intranet"}, ""},
		{"name longer than a CN may be", long, "", []string{long}, ""},
		{"IPv4", "127.0.0.1", "127.0.0.1", nil, "127.0.0.1"},
		{"IPv6", "2001:DB8::1", "2001:db8::1", nil, "2001:db8::1"},
		{"IPv4-mapped IPv6", "::ffff:192.0.2.1", "192.0.2.1", nil, "192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			cert, err := authority.Leaf(tc.host)
			if err != nil {
				t.Fatalf("Leaf(%q): %v", tc.host, err)
			}
			leaf := cert.Leaf
			if leaf == nil || len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[0], leaf.Raw) ||
				!bytes.Equal(cert.Certificate[1], authority.Cert.Raw) {
				t.Fatalf("got a chain of %d certificates with Leaf set=%v; want the leaf (as Leaf) then the CA",
					len(cert.Certificate), leaf != nil)
			}
			verifyLeaf(t, cert, authority.Cert, tc.host, time.Now())

			if got := leaf.Subject.CommonName; got != tc.wantCN {
				t.Errorf("got CN %q; want %q", got, tc.wantCN)
			}
			if got := leaf.Subject.Organization; !slices.Equal(got, []string{"Example Corp"}) {
				t.Errorf("got O %q; want the CA's [\"Example Corp\"]", got)
			}
			if !slices.Equal(leaf.DNSNames, tc.wantDNS) {
				t.Errorf("got DNS SANs %q; want %q", leaf.DNSNames, tc.wantDNS)
			}
			var gotIPs []string
			for _, ip := range leaf.IPAddresses {
				gotIPs = append(gotIPs, ip.String())
			}
			var wantIPs []string
			if tc.wantIP != "" {
				wantIPs = []string{tc.wantIP}
			}
			if !slices.Equal(gotIPs, wantIPs) {
				t.Errorf("got IP SANs %q; want %q", gotIPs, wantIPs)
			}
			if bytes.Contains(bytes.ToLower(leaf.Raw), []byte("goproxy")) {
				t.Error(`got "GoProxy" in the leaf; want no trace of goproxy's signer`)
			}

			key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
			if !ok || key.Curve != elliptic.P256() {
				t.Fatalf("got private key %T; want ECDSA P-256", cert.PrivateKey)
			}
			if !key.PublicKey.Equal(leaf.PublicKey) {
				t.Error("got a private key that does not match the leaf; want its own key")
			}
			if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("got key usage %#x; want digital signature only (%#x)", leaf.KeyUsage, x509.KeyUsageDigitalSignature)
			}
			if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Errorf("got extended key usage %v; want serverAuth only", leaf.ExtKeyUsage)
			}
			if !leaf.BasicConstraintsValid || leaf.IsCA {
				t.Errorf("got BasicConstraintsValid=%v IsCA=%v; want CA:FALSE stated", leaf.BasicConstraintsValid, leaf.IsCA)
			}
			if len(authority.Cert.SubjectKeyId) == 0 || !bytes.Equal(leaf.AuthorityKeyId, authority.Cert.SubjectKeyId) {
				t.Errorf("got authority key id %x; want the CA's subject key id %x", leaf.AuthorityKeyId, authority.Cert.SubjectKeyId)
			}
			if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() > 128 {
				t.Errorf("got serial %x; want positive and at most 128 bits", leaf.SerialNumber)
			}
			after := time.Now()
			// Certificate times have a resolution of one second.
			if lo, hi := before.Add(-leafBackdate-time.Second), after.Add(-leafBackdate); leaf.NotBefore.Before(lo) || leaf.NotBefore.After(hi) {
				t.Errorf("got NotBefore %v; want between %v and %v (an hour ago)", leaf.NotBefore, lo, hi)
			}
			if lo, hi := before.Add(LeafValidity-time.Second), after.Add(LeafValidity); leaf.NotAfter.Before(lo) || leaf.NotAfter.After(hi) {
				t.Errorf("got NotAfter %v; want between %v and %v (7 days from now)", leaf.NotAfter, lo, hi)
			}
		})
	}
}

func TestLeafIsFreshEachTime(t *testing.T) {
	authority := mustGenerate(t)
	a, err := authority.Leaf("app.test")
	if err != nil {
		t.Fatalf("Leaf: %v", err)
	}
	b, err := authority.Leaf("app.test")
	if err != nil {
		t.Fatalf("Leaf: %v", err)
	}
	if a.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(b.Leaf.PublicKey) {
		t.Error("got the same key in two leaves for one host; want a fresh key each time")
	}
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) == 0 {
		t.Errorf("got serial %x twice; want a fresh serial each time", a.Leaf.SerialNumber)
	}
}

func TestLeafValidityWithinCA(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name                    string
		caNotBefore, caNotAfter time.Time
		wantNotBefore           time.Time
		wantNotAfter            time.Time
		wantErr                 string
	}{
		{"well inside", now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0), now.Add(-time.Hour), now.Add(LeafValidity), ""},
		{"CA valid since ten minutes", now.Add(-10 * time.Minute), now.AddDate(1, 0, 0), now.Add(-10 * time.Minute), now.Add(LeafValidity), ""},
		{"CA expiring in two days", now.AddDate(-1, 0, 0), now.Add(48 * time.Hour), now.Add(-time.Hour), now.Add(48 * time.Hour), ""},
		{"CA valid for the next minute only", now.Add(-time.Minute), now.Add(time.Minute), now.Add(-time.Minute), now.Add(time.Minute), ""},
		{"CA expired", now.AddDate(-1, 0, 0), now.Add(-time.Second), time.Time{}, time.Time{}, "expired on 2030-06-01T11:59:59Z"},
		{"CA not yet valid", now.Add(time.Second), now.AddDate(1, 0, 0), time.Time{}, time.Time{}, "not valid until 2030-06-01T12:00:01Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := mustECKey(t)
			cert := selfSignedCA(t, key, func(c *x509.Certificate) { c.NotBefore, c.NotAfter = tc.caNotBefore, tc.caNotAfter })
			authority := newCA([]*x509.Certificate{cert}, key)
			got, err := authority.leaf("app.test", now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v; want one containing %q", err, tc.wantErr)
				}
				if got != nil {
					t.Errorf("got a certificate with the error; want nil")
				}
				return
			}
			if err != nil {
				t.Fatalf("leaf: %v", err)
			}
			if !got.Leaf.NotBefore.Equal(tc.wantNotBefore) || !got.Leaf.NotAfter.Equal(tc.wantNotAfter) {
				t.Errorf("got validity %v to %v; want %v to %v", got.Leaf.NotBefore, got.Leaf.NotAfter, tc.wantNotBefore, tc.wantNotAfter)
			}
			verifyLeaf(t, got, cert, "app.test", now)
		})
	}
}

// TestLeafFromIntermediateCA checks that a CA loaded with its issuers sends
// them with every leaf, so a client that trusts only the root verifies it.
func TestLeafFromIntermediateCA(t *testing.T) {
	rootKey := mustECKey(t)
	root := selfSignedCA(t, rootKey, func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 1, false })
	interKey := mustECKey(t)
	inter := issue(t, &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: "Intermediate", Organization: []string{"Example Corp"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
	}, &interKey.PublicKey, root, rootKey)
	authority := newCA([]*x509.Certificate{inter, root}, interKey)

	cert, err := authority.Leaf("app.test")
	if err != nil {
		t.Fatalf("Leaf: %v", err)
	}
	if len(cert.Certificate) != 3 || !bytes.Equal(cert.Certificate[1], inter.Raw) || !bytes.Equal(cert.Certificate[2], root.Raw) {
		t.Fatalf("got a chain of %d certificates; want the leaf, the intermediate, then the root", len(cert.Certificate))
	}
	verifyLeaf(t, cert, root, "app.test", time.Now())
	if got := cert.Leaf.Subject.Organization; !slices.Equal(got, []string{"Example Corp"}) {
		t.Errorf("got O %q; want the intermediate's [\"Example Corp\"]", got)
	}
}

// TestLeafFromRSACA checks that an RSA CA signs ECDSA P-256 leaves, which
// cost far less to make than RSA keys.
func TestLeafFromRSACA(t *testing.T) {
	key := mustRSAKey(t, 2048)
	cert := selfSignedCA(t, key, nil)
	authority := newCA([]*x509.Certificate{cert}, key)
	leaf, err := authority.Leaf("app.test")
	if err != nil {
		t.Fatalf("Leaf: %v", err)
	}
	if pub, ok := leaf.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("got leaf key %T; want ECDSA P-256", leaf.Leaf.PublicKey)
	}
	verifyLeaf(t, leaf, cert, "app.test", time.Now())
}

func TestLeafRejectsBadHosts(t *testing.T) {
	authority := mustGenerate(t)
	for _, tc := range []struct {
		name, host, wantErr string
	}{
		{"empty", "", "empty host name"},
		{"only a dot", ".", "empty host name"},
		{"empty label", "app..test", "empty label"},
		{"leading dot", ".app.test", "empty label"},
		{"two trailing dots", "app.test..", "empty label"},
		{"wildcard", "*.app.test", `contains '*'`},
		{"port", "app.test:443", `contains ':'`},
		{"space", "app test", `contains ' '`},
		{"NUL", "app\x00.test", `contains '\x00'`},
		{"slash", "app.test/x", `contains '/'`},
		{"non-ASCII", "bücher.test", "punycode"},
		{"label of 64", strings.Repeat("a", 64) + ".test", "label of 64 characters"},
		{"name of 254", strings.Repeat("a.", 126) + "aa", "254 characters"},
		{"IPv6 zone", "fe80::1%eth0", "zone"},
		{"label starting with a hyphen", "app.-x.test", "starting with a hyphen"},
		{"IP with a trailing dot", "192.0.2.1.", "trailing dot"},
		{"bracketed IPv6", "[::1]", `contains '['`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := authority.Leaf(tc.host)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got error %v; want one containing %q", err, tc.wantErr)
			}
			if cert != nil {
				t.Error("got a certificate with the error; want nil")
			}
		})
	}
	// 253 characters is the longest name allowed.
	if _, err := authority.Leaf(strings.Repeat("a.", 126) + "a"); err != nil {
		t.Errorf("got error %v for a 253-character name; want it accepted", err)
	}
}

func TestLeafRejectsIncompleteCA(t *testing.T) {
	good := mustGenerate(t)
	for _, tc := range []struct {
		name    string
		ca      *CA
		wantErr string
	}{
		{"nil", nil, "no certificate"},
		{"zero", &CA{}, "no certificate"},
		{"no chain", &CA{Cert: good.Cert, TLS: tls.Certificate{PrivateKey: good.TLS.PrivateKey}}, "no certificate"},
		{"no key", &CA{Cert: good.Cert, TLS: tls.Certificate{Certificate: good.TLS.Certificate}}, "cannot sign"},
		{"not a signer", &CA{Cert: good.Cert, TLS: tls.Certificate{Certificate: good.TLS.Certificate, PrivateKey: "key"}}, "cannot sign"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := tc.ca.Leaf("app.test")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got error %v; want one containing %q", err, tc.wantErr)
			}
			if cert != nil {
				t.Error("got a certificate with the error; want nil")
			}
		})
	}
}

func TestServerConfig(t *testing.T) {
	authority := mustGenerate(t)
	for _, tc := range []struct {
		hostport, wantName string
	}{
		{"app.test:443", "app.test"},
		{"APP.Test:8443", "app.test"},
		{"app.test.:443", "app.test"},
		{"app.test", "app.test"},
		{"127.0.0.1:443", "127.0.0.1"},
		{"[::1]:443", "::1"},
		{"[2001:DB8:0::1]:443", "2001:db8::1"},
		{"[::1]", "::1"},
		{"::1", "::1"},
	} {
		t.Run(tc.hostport, func(t *testing.T) {
			cache := NewCertCache(8)
			cfg, err := authority.ServerConfig(cache, tc.hostport)
			if err != nil {
				t.Fatalf("ServerConfig(%q): %v", tc.hostport, err)
			}
			if len(cfg.Certificates) != 1 {
				t.Fatalf("got %d certificates; want 1", len(cfg.Certificates))
			}
			if cfg.MinVersion != tls.VersionTLS12 {
				t.Errorf("got MinVersion %#x; want TLS 1.2 (%#x)", cfg.MinVersion, tls.VersionTLS12)
			}
			if !slices.Equal(cfg.NextProtos, []string{"http/1.1"}) {
				t.Errorf("got NextProtos %q; want [http/1.1]", cfg.NextProtos)
			}
			if cfg.GetCertificate != nil {
				t.Error("got GetCertificate set; want the CONNECT host's leaf whatever the client's server name")
			}
			verifyLeaf(t, &cfg.Certificates[0], authority.Cert, tc.wantName, time.Now())
			if _, ok := cache.leaves.Get(tc.wantName); !ok || cache.Len() != 1 {
				t.Errorf("got %d cached leaves, %q among them=%v; want the leaf cached under %q", cache.Len(), tc.wantName, ok, tc.wantName)
			}
		})
	}
}

func TestServerConfigSharesLeafAcrossPortsAndCase(t *testing.T) {
	authority := mustGenerate(t)
	cache := NewCertCache(8)
	var leaves []*x509.Certificate
	for _, hostport := range []string{"app.test:443", "APP.test:8443", "app.test.:443", "app.test"} {
		cfg, err := authority.ServerConfig(cache, hostport)
		if err != nil {
			t.Fatalf("ServerConfig(%q): %v", hostport, err)
		}
		leaves = append(leaves, cfg.Certificates[0].Leaf)
	}
	for i, l := range leaves[1:] {
		if l != leaves[0] {
			t.Errorf("got a new leaf for call %d; want the first one from the cache", i+2)
		}
	}
	checkStats(t, cache, 3, 1)
	if got := cache.Len(); got != 1 {
		t.Errorf("got %d cached leaves; want 1", got)
	}
}

func TestServerConfigNilCache(t *testing.T) {
	authority := mustGenerate(t)
	a, err := authority.ServerConfig(nil, "app.test:443")
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	b, err := authority.ServerConfig(nil, "app.test:443")
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	if a.Certificates[0].Leaf.Equal(b.Certificates[0].Leaf) {
		t.Error("got the same leaf twice without a cache; want a fresh one per call")
	}
}

func TestServerConfigReturnsNewConfigs(t *testing.T) {
	authority := mustGenerate(t)
	cache := NewCertCache(8)
	a, err := authority.ServerConfig(cache, "app.test:443")
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	// goproxy appends "h2" here when HTTP/2 is allowed.
	a.NextProtos = append(a.NextProtos, "h2")
	a.Certificates[0] = tls.Certificate{}
	b, err := authority.ServerConfig(cache, "app.test:443")
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	if !slices.Equal(b.NextProtos, []string{"http/1.1"}) || b.Certificates[0].Leaf == nil {
		t.Errorf("got NextProtos %q and Leaf set=%v after changing an earlier config; want configs independent",
			b.NextProtos, b.Certificates[0].Leaf != nil)
	}
}

func TestServerConfigErrors(t *testing.T) {
	authority := mustGenerate(t)
	for _, tc := range []struct {
		hostport, wantErr string
	}{
		{"", "empty host name"},
		{":443", "empty host name"},
		{"[::1", `contains '['`},
		{"app test:443", `contains ' '`},
		{"*.app.test:443", `contains '*'`},
		{"[fe80::1%25eth0]:443", "zone"},
		{"[fe80::1%eth0]:443", "zone"},
	} {
		t.Run(tc.hostport, func(t *testing.T) {
			cache := NewCertCache(8)
			cfg, err := authority.ServerConfig(cache, tc.hostport)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got error %v; want one containing %q", err, tc.wantErr)
			}
			if cfg != nil {
				t.Error("got a config with the error; want nil")
			}
			if cache.Len() != 0 {
				t.Errorf("got %d cached leaves; want none", cache.Len())
			}
		})
	}

	t.Run("leaf not minted", func(t *testing.T) {
		keyless := &CA{Cert: authority.Cert, TLS: tls.Certificate{Certificate: authority.TLS.Certificate}}
		cache := NewCertCache(8)
		cfg, err := keyless.ServerConfig(cache, "app.test:443")
		if err == nil || !strings.Contains(err.Error(), "intercept app.test: mint leaf certificate for app.test:") {
			t.Errorf("got error %v; want the minting error for app.test", err)
		}
		if cfg != nil || cache.Len() != 0 {
			t.Errorf("got config %v and %d cached leaves; want neither", cfg, cache.Len())
		}
	})
}

// TestServerConfigRefreshesLeaves runs a week and a half on the fake clock:
// the cached leaf is served for its first six days, then replaced by one
// valid for another seven.
func TestServerConfigRefreshesLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		authority := mustGenerate(t) // inside the bubble, so valid on its clock
		cache := NewCertCache(8)
		serve := func() *x509.Certificate {
			t.Helper()
			cfg, err := authority.ServerConfig(cache, "app.test:443")
			if err != nil {
				t.Fatalf("ServerConfig: %v", err)
			}
			return cfg.Certificates[0].Leaf
		}

		first := serve()
		time.Sleep(LeafValidity - RefreshBefore - time.Minute) // advances the bubble's fake clock
		if got := serve(); got != first {
			t.Errorf("got a new leaf %v into its life; want the cached one", LeafValidity-RefreshBefore-time.Minute)
		}
		time.Sleep(2 * time.Minute)
		second := serve()
		if second == first {
			t.Fatal("got the first leaf in its last day; want a new one")
		}
		if got, want := second.NotAfter.Sub(first.NotAfter), LeafValidity-RefreshBefore+time.Minute; got != want {
			t.Errorf("got the new leaf expiring %v after the first; want %v", got, want)
		}
		verifyLeaf(t, &tls.Certificate{Certificate: [][]byte{second.Raw}}, authority.Cert, "app.test", time.Now())
		checkStats(t, cache, 1, 2)
	})
}

// TestServerConfigWithCAInItsLastDay checks that leaves of a CA about to
// expire, which expire with it, are minted afresh rather than served from the
// cache within RefreshBefore of their expiry.
func TestServerConfigWithCAInItsLastDay(t *testing.T) {
	key := mustECKey(t)
	cert := selfSignedCA(t, key, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(12 * time.Hour) })
	authority := newCA([]*x509.Certificate{cert}, key)
	cache := NewCertCache(8)
	var leaves []*x509.Certificate
	for range 2 {
		cfg, err := authority.ServerConfig(cache, "app.test:443")
		if err != nil {
			t.Fatalf("ServerConfig: %v", err)
		}
		leaf := cfg.Certificates[0].Leaf
		if !leaf.NotAfter.Equal(cert.NotAfter) {
			t.Errorf("got leaf expiring %v; want with the CA at %v", leaf.NotAfter, cert.NotAfter)
		}
		leaves = append(leaves, leaf)
	}
	if leaves[0] == leaves[1] {
		t.Error("got the cached leaf within RefreshBefore of its expiry; want a new one")
	}
	checkStats(t, cache, 0, 2)
}

func BenchmarkLeaf(b *testing.B) {
	for _, bc := range []struct {
		name string
		key  crypto.Signer
	}{
		{"ECDSA P-256 CA", mustECKey(b)},
		{"RSA 2048 CA", mustRSAKey(b, 2048)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			authority := newCA([]*x509.Certificate{selfSignedCA(b, bc.key, nil)}, bc.key)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := authority.Leaf("app.test"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkServerConfigCached(b *testing.B) {
	authority, err := Generate(Options{})
	if err != nil {
		b.Fatal(err)
	}
	cache := NewCertCache(DefaultCertCacheSize)
	if _, err := authority.ServerConfig(cache, "app.test:443"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := authority.ServerConfig(cache, "app.test:443"); err != nil {
			b.Fatal(err)
		}
	}
}

// verifyLeaf checks that cert's leaf verifies to root for host at the given
// time, as a TLS client would check it, with the rest of cert's chain as
// intermediates.
func verifyLeaf(t *testing.T, cert *tls.Certificate, root *x509.Certificate, host string, at time.Time) {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatalf("parse leaf: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	intermediates := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("parse chain: %v", err)
		}
		intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		DNSName:       host,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		t.Errorf("got verification error %v for %q; want the leaf to verify to the CA", err, host)
	}
}
