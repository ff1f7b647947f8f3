package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestGenerateDefaults(t *testing.T) {
	before := time.Now()
	c, err := Generate(Options{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	cert := c.Cert

	key, ok := c.TLS.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("got key type %T; want *ecdsa.PrivateKey", c.TLS.PrivateKey)
	}
	if key.Curve != elliptic.P256() {
		t.Errorf("got curve %s; want P-256", key.Curve.Params().Name)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("got a certificate whose public key is not the private key's; want them to match")
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		t.Errorf("got BasicConstraintsValid=%v IsCA=%v; want both true", cert.BasicConstraintsValid, cert.IsCA)
	}
	if cert.MaxPathLen != 0 || !cert.MaxPathLenZero {
		t.Errorf("got MaxPathLen=%d MaxPathLenZero=%v; want 0 and true", cert.MaxPathLen, cert.MaxPathLenZero)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; cert.KeyUsage != want {
		t.Errorf("got key usage %#x; want %#x", cert.KeyUsage, want)
	}
	if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 {
		t.Errorf("got serial %x; want positive and at most 128 bits", cert.SerialNumber)
	}
	wantSKI, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert.SubjectKeyId, wantSKI) || len(cert.SubjectKeyId) != 20 {
		t.Errorf("got subject key id %x; want %x (20 bytes)", cert.SubjectKeyId, wantSKI)
	}
	if got := cert.Subject.Organization; len(got) != 1 || got[0] != DefaultOrganization {
		t.Errorf("got organization %q; want [%q]", got, DefaultOrganization)
	}
	if !regexp.MustCompile(`^Signpost Interception CA [0-9a-f]{8}$`).MatchString(cert.Subject.CommonName) {
		t.Errorf("got common name %q; want %q followed by 8 hex digits", cert.Subject.CommonName, DefaultCommonName)
	}
	if !cert.NotBefore.Before(before.Add(-backdate + time.Second)) {
		t.Errorf("got NotBefore %v; want at least %v before %v", cert.NotBefore, backdate, before)
	}
	if got, want := cert.NotAfter.Sub(before), DefaultValidity; got < want-time.Minute || got > want+time.Minute {
		t.Errorf("got validity from now %v; want about %v", got, want)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("got self-signature error %v; want a valid self-signed certificate", err)
	}
	if c.TLS.Leaf != cert || len(c.TLS.Certificate) != 1 || !bytes.Equal(c.TLS.Certificate[0], cert.Raw) {
		t.Error("got TLS chain not [Cert] with Leaf=Cert; want exactly the CA certificate")
	}
	block, rest := pem.Decode(c.CertPEM)
	if block == nil || block.Type != "CERTIFICATE" || !bytes.Equal(block.Bytes, cert.Raw) || len(rest) != 0 {
		t.Errorf("got CertPEM %q; want one CERTIFICATE block holding Cert", c.CertPEM)
	}
	if c.CertFile != "" || c.KeyFile != "" {
		t.Errorf("got CertFile=%q KeyFile=%q; want both empty before WriteFiles", c.CertFile, c.KeyFile)
	}

	other, err := Generate(Options{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if other.Cert.SerialNumber.Cmp(cert.SerialNumber) == 0 || other.Cert.Subject.CommonName == cert.Subject.CommonName {
		t.Errorf("got two CAs sharing serial %x or name %q; want them distinct", cert.SerialNumber, cert.Subject.CommonName)
	}
}

func TestGenerateOptions(t *testing.T) {
	c, err := Generate(Options{Organization: "Example Corp", CommonName: "Example Proxy CA", Validity: 48 * time.Hour})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if got := c.Cert.Subject.String(); got != "CN=Example Proxy CA,O=Example Corp" {
		t.Errorf("got subject %q; want %q", got, "CN=Example Proxy CA,O=Example Corp")
	}
	if got := time.Until(c.Cert.NotAfter); got < 47*time.Hour || got > 48*time.Hour {
		t.Errorf("got %v left; want about 48h", got)
	}

	_, err = Generate(Options{Validity: -time.Hour})
	if err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("got error %v for a negative validity; want one saying it is negative", err)
	}
}

func TestFingerprint(t *testing.T) {
	c := mustGenerate(t)
	got := c.Fingerprint()
	sum := sha256.Sum256(c.Cert.Raw)
	want := strings.ToUpper(fmt.Sprintf("% x", sum[:]))
	want = strings.ReplaceAll(want, " ", ":")
	if got != want {
		t.Errorf("got fingerprint %q; want %q", got, want)
	}
}

func TestWriteFilesAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "ca")
	c := mustGenerate(t)
	certFile, keyFile, err := c.WriteFiles(dir)
	if err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	if want := filepath.Join(dir, "ca.crt"); certFile != want {
		t.Errorf("got cert file %q; want %q", certFile, want)
	}
	if want := filepath.Join(dir, "ca.key"); keyFile != want {
		t.Errorf("got key file %q; want %q", keyFile, want)
	}
	if c.CertFile != certFile || c.KeyFile != keyFile {
		t.Errorf("got CertFile=%q KeyFile=%q; want %q and %q", c.CertFile, c.KeyFile, certFile, keyFile)
	}
	for _, tc := range []struct {
		name string
		want fs.FileMode
	}{
		{dir, fs.ModeDir | 0o700},
		{certFile, 0o644},
		{keyFile, 0o600},
	} {
		info, err := os.Stat(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode() & (fs.ModeDir | fs.ModePerm); got != tc.want {
			t.Errorf("got %s mode %v; want %v", tc.name, got, tc.want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("got directory entries %q; want only ca.crt and ca.key (no temporary files)", names)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(keyPEM); block == nil || block.Type != "PRIVATE KEY" {
		t.Errorf("got key file %q; want a PKCS#8 PRIVATE KEY block", keyPEM)
	}

	loaded, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !loaded.Cert.Equal(c.Cert) {
		t.Error("got a different certificate back from Load; want the one written")
	}
	if !loaded.TLS.PrivateKey.(*ecdsa.PrivateKey).Equal(c.TLS.PrivateKey) {
		t.Error("got a different key back from Load; want the one written")
	}
	if !bytes.Equal(loaded.CertPEM, c.CertPEM) {
		t.Errorf("got CertPEM %q; want %q", loaded.CertPEM, c.CertPEM)
	}
	if loaded.CertFile != certFile || loaded.KeyFile != keyFile {
		t.Errorf("got CertFile=%q KeyFile=%q; want %q and %q", loaded.CertFile, loaded.KeyFile, certFile, keyFile)
	}
}

func TestWriteFilesRefusesOverwrite(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing []string
	}{
		{"cert exists", []string{CertFileName}},
		{"key exists", []string{KeyFileName}},
		{"both exist", []string{CertFileName, KeyFileName}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range tc.existing {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("precious\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := mustGenerate(t).WriteFiles(dir)
			if err == nil {
				t.Fatal("got nil error; want a refusal to overwrite")
			}
			if !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Errorf("got error %q; want it to say it refuses to overwrite", err)
			}
			for _, name := range []string{CertFileName, KeyFileName} {
				path := filepath.Join(dir, name)
				data, readErr := os.ReadFile(path)
				if contains(tc.existing, name) {
					if !strings.Contains(err.Error(), path) {
						t.Errorf("got error %q; want it to name %s", err, path)
					}
					if string(data) != "precious\n" {
						t.Errorf("got %s = %q; want it untouched", name, data)
					}
				} else if readErr == nil {
					t.Errorf("got %s written; want nothing written when refusing", name)
				}
			}
		})
	}
}

func TestWriteNewRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := writeNew(target, []byte("y"), 0o600)
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite existing "+target) {
		t.Fatalf("got error %v; want a refusal naming %s", err, target)
	}
	if data, _ := os.ReadFile(target); string(data) != "x" {
		t.Errorf("got target %q; want it untouched", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("got %d directory entries; want 1 (the temporary file removed)", len(entries))
	}
}

func TestWriteFilesRemovesKeyWhenCertFails(t *testing.T) {
	dir := t.TempDir()
	real := writeFile
	t.Cleanup(func() { writeFile = real })
	writeFile = func(name string, data []byte, mode fs.FileMode) error {
		if filepath.Base(name) == CertFileName {
			return errors.New("disk full")
		}
		return real(name, data, mode)
	}

	c := mustGenerate(t)
	_, _, err := c.WriteFiles(dir)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got error %v; want the certificate write failure", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("got %d directory entries; want none (the key removed again)", len(entries))
	}
	if c.CertFile != "" || c.KeyFile != "" {
		t.Errorf("got CertFile=%q KeyFile=%q after a failed write; want both empty", c.CertFile, c.KeyFile)
	}
}

func TestLoadRefusesOpenKeyFile(t *testing.T) {
	for _, tc := range []struct {
		mode   fs.FileMode
		refuse bool
	}{
		{0o600, false},
		{0o400, false},
		{0o700, false},
		{0o644, true},
		{0o640, true},
		{0o604, true},
		{0o660, true},
		{0o610, true},
		{0o601, true},
	} {
		t.Run(fmt.Sprintf("%#o", tc.mode), func(t *testing.T) {
			certFile, keyFile := writeCA(t, mustGenerate(t))
			if err := os.Chmod(keyFile, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Load(certFile, keyFile)
			if tc.refuse {
				want := fmt.Sprintf("load CA key: %s has mode %#o, which lets group or others access the private key; run `chmod 600 %s`",
					keyFile, tc.mode, keyFile)
				if err == nil || err.Error() != want {
					t.Errorf("got error %v;\nwant %s", err, want)
				}
			} else if err != nil {
				t.Errorf("got error %v; want mode %#o accepted", err, tc.mode)
			}
		})
	}
}

// TestLoadKeyModeMessage pins the exact text an admin sees, since it is the
// fix they will follow.
func TestLoadKeyModeMessage(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCAIn(t, dir, mustGenerate(t))
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(certFile, keyFile)
	if err == nil {
		t.Fatal("got nil error; want the key mode refused")
	}
	got := strings.ReplaceAll(err.Error(), dir, "DIR")
	want := "load CA key: DIR/ca.key has mode 0644, which lets group or others access the private key; run `chmod 600 DIR/ca.key`"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestLoadFollowsKeySymlinkForMode(t *testing.T) {
	// Kubernetes mounts secrets as symlinks into a ..data directory; the
	// mode that matters is the target's.
	dir := t.TempDir()
	certFile, keyFile := writeCAIn(t, dir, mustGenerate(t))
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(keyFile, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(certFile, link); err != nil {
		t.Errorf("got error %v for a symlink to a 0600 key; want it loaded", err)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(certFile, link); err == nil || !strings.Contains(err.Error(), "mode 0644") {
		t.Errorf("got error %v for a symlink to a 0644 key; want the mode refused", err)
	}
}

func TestLoadKeyFormats(t *testing.T) {
	ecKey := mustECKey(t)
	rsaKey := mustRSAKey(t, 2048)
	ecCert := selfSignedCA(t, ecKey, nil)
	rsaCert := selfSignedCA(t, rsaKey, nil)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		key  []byte
	}{
		{"PKCS#8 ECDSA", ecCert, pkcs8PEM(t, ecKey)},
		{"SEC 1 ECDSA", ecCert, pemBlock("EC PRIVATE KEY", sec1)},
		{"SEC 1 ECDSA after EC PARAMETERS", ecCert,
			append(pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}),
				pemBlock("EC PRIVATE KEY", sec1)...)},
		{"PKCS#1 RSA", rsaCert, pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))},
		{"PKCS#8 RSA", rsaCert, pkcs8PEM(t, rsaKey)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certFile, keyFile := writePair(t, certPEM(tc.cert), tc.key)
			c, err := Load(certFile, keyFile)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !c.Cert.Equal(tc.cert) {
				t.Error("got a different certificate; want the one written")
			}
		})
	}
}

func TestLoadAcceptsServerAuthExtendedKeyUsage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		usage []x509.ExtKeyUsage
	}{
		{"serverAuth", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}},
		{"any", []x509.ExtKeyUsage{x509.ExtKeyUsageAny}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := mustECKey(t)
			cert := selfSignedCA(t, key, func(c *x509.Certificate) { c.ExtKeyUsage = tc.usage })
			certFile, keyFile := writePair(t, certPEM(cert), pkcs8PEM(t, key))
			if _, err := Load(certFile, keyFile); err != nil {
				t.Errorf("got error %v; want a CA whose extended key usage allows serverAuth accepted", err)
			}
		})
	}
}

func TestLoadChain(t *testing.T) {
	rootKey := mustECKey(t)
	root := selfSignedCA(t, rootKey, nil)
	interKey := mustECKey(t)
	inter := issue(t, &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: "Intermediate"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
	}, &interKey.PublicKey, root, rootKey)

	certFile, keyFile := writePair(t, append(certPEM(inter), certPEM(root)...), pkcs8PEM(t, interKey))
	c, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !c.Cert.Equal(inter) {
		t.Errorf("got Cert %q; want the intermediate", c.Cert.Subject)
	}
	if len(c.TLS.Certificate) != 2 || !bytes.Equal(c.TLS.Certificate[1], root.Raw) {
		t.Errorf("got a chain of %d certificates; want the intermediate then the root", len(c.TLS.Certificate))
	}
	if want := certPEM(inter); !bytes.Equal(c.CertPEM, want) {
		t.Errorf("got CertPEM %q; want the intermediate alone", c.CertPEM)
	}

	dir := t.TempDir()
	certFile, keyFile, err = c.WriteFiles(dir)
	if err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	again, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatalf("Load after WriteFiles: %v", err)
	}
	if len(again.TLS.Certificate) != 2 {
		t.Errorf("got a chain of %d certificates after writing and loading; want 2", len(again.TLS.Certificate))
	}
}

func TestLoadErrors(t *testing.T) {
	now := time.Now()
	key := mustECKey(t)
	good := selfSignedCA(t, key, nil)
	otherKey := mustECKey(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	smallRSA := mustRSAKey(t, 1024)

	for _, tc := range []struct {
		name     string
		cert     []byte
		key      []byte
		wantFile string // "cert" or "key": which file the error must name
		want     string
	}{
		{
			name: "key of another certificate", cert: certPEM(good), key: pkcs8PEM(t, otherKey),
			wantFile: "key", want: "key does not belong to the certificate",
		},
		{
			name: "expired",
			cert: certPEM(selfSignedCA(t, key, func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
			})),
			key: pkcs8PEM(t, key), wantFile: "cert", want: "expired on",
		},
		{
			name: "not yet valid",
			cert: certPEM(selfSignedCA(t, key, func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = now.Add(24*time.Hour), now.Add(48*time.Hour)
			})),
			key: pkcs8PEM(t, key), wantFile: "cert", want: "is not valid until",
		},
		{
			name: "not a CA",
			cert: certPEM(selfSignedCA(t, key, func(c *x509.Certificate) {
				c.IsCA, c.MaxPathLenZero = false, false
				c.KeyUsage = x509.KeyUsageDigitalSignature
			})),
			key: pkcs8PEM(t, key), wantFile: "cert", want: "is not a CA certificate",
		},
		{
			name: "no basic constraints",
			cert: certPEM(selfSignedCA(t, key, func(c *x509.Certificate) {
				c.BasicConstraintsValid, c.IsCA, c.MaxPathLenZero = false, false, false
				c.KeyUsage = x509.KeyUsageDigitalSignature
			})),
			key: pkcs8PEM(t, key), wantFile: "cert", want: "is not a CA certificate",
		},
		{
			name: "key usage without certificate signing",
			cert: certPEM(selfSignedCA(t, key, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageCRLSign })),
			key:  pkcs8PEM(t, key), wantFile: "cert", want: "may not sign certificates",
		},
		{
			name: "extended key usage without serverAuth",
			cert: certPEM(selfSignedCA(t, key, func(c *x509.Certificate) {
				c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			})),
			key: pkcs8PEM(t, key), wantFile: "cert", want: "may not issue TLS server certificates",
		},
		{
			name: "no certificate block", cert: pkcs8PEM(t, key), key: pkcs8PEM(t, key),
			wantFile: "cert", want: "no PEM CERTIFICATE block found",
		},
		{
			name: "corrupt certificate", cert: pemBlock("CERTIFICATE", []byte("not DER")), key: pkcs8PEM(t, key),
			wantFile: "cert", want: "certificate 1:",
		},
		{
			name: "no key block", cert: certPEM(good), key: certPEM(good),
			wantFile: "key", want: "no PEM",
		},
		{
			name: "corrupt key", cert: certPEM(good), key: pemBlock("PRIVATE KEY", []byte("not DER")),
			wantFile: "key", want: "PRIVATE KEY block:",
		},
		{
			name: "PKCS#8 encrypted key", cert: certPEM(good), key: pemBlock("ENCRYPTED PRIVATE KEY", []byte{0x30}),
			wantFile: "key", want: "the key is encrypted",
		},
		{
			name: "legacy encrypted key", cert: certPEM(good),
			key: pem.EncodeToMemory(&pem.Block{
				Type:    "EC PRIVATE KEY",
				Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"},
				Bytes:   []byte{0x30},
			}),
			wantFile: "key", want: "the key is encrypted",
		},
		{
			name: "Ed25519 key", cert: certPEM(selfSignedCA(t, edKey, nil)), key: pkcs8PEM(t, edKey),
			wantFile: "key", want: "Ed25519 keys are not supported",
		},
		{
			name: "RSA key below 2048 bits", cert: certPEM(selfSignedCA(t, smallRSA, nil)),
			key:      pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(smallRSA)),
			wantFile: "key", want: "RSA key has 1024 bits; want at least 2048",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certFile, keyFile := writePair(t, tc.cert, tc.key)
			c, err := Load(certFile, keyFile)
			if err == nil {
				t.Fatalf("got CA %q; want an error containing %q", c.Cert.Subject, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %q; want it to contain %q", err, tc.want)
			}
			file := certFile
			if tc.wantFile == "key" {
				file = keyFile
			}
			if !strings.Contains(err.Error(), file) {
				t.Errorf("got error %q; want it to name %s", err, file)
			}
		})
	}
}

func TestLoadMissingFiles(t *testing.T) {
	certFile, keyFile := writeCA(t, mustGenerate(t))
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name       string
		cert, key  string
		wantInText string
	}{
		{"missing certificate", missing, keyFile, missing},
		{"missing key", certFile, missing, missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.cert, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.wantInText) || !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("got error %v; want a not-exist error naming %s", err, tc.wantInText)
			}
		})
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	opts := Options{CommonName: "Test CA"}

	first, created, err := LoadOrCreate(dir, opts)
	if err != nil {
		t.Fatalf("LoadOrCreate in an empty directory: %v", err)
	}
	if !created {
		t.Error("got created=false in an empty directory; want true")
	}
	if first.Cert.Subject.CommonName != "Test CA" {
		t.Errorf("got common name %q; want %q", first.Cert.Subject.CommonName, "Test CA")
	}
	if first.CertFile != filepath.Join(dir, CertFileName) || first.KeyFile != filepath.Join(dir, KeyFileName) {
		t.Errorf("got CertFile=%q KeyFile=%q; want them in %s", first.CertFile, first.KeyFile, dir)
	}

	second, created, err := LoadOrCreate(dir, Options{CommonName: "Ignored"})
	if err != nil {
		t.Fatalf("LoadOrCreate with both files present: %v", err)
	}
	if created {
		t.Error("got created=true with both files present; want false")
	}
	if second.Fingerprint() != first.Fingerprint() {
		t.Errorf("got fingerprint %s; want the existing CA's %s", second.Fingerprint(), first.Fingerprint())
	}
}

func TestLoadOrCreateHalfPresent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		present string
		missing string
	}{
		{"only certificate", CertFileName, KeyFileName},
		{"only key", KeyFileName, CertFileName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, _, err := mustGenerate(t).WriteFiles(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, tc.missing)); err != nil {
				t.Fatal(err)
			}
			_, created, err := LoadOrCreate(dir, Options{})
			if err == nil {
				t.Fatal("got nil error; want one saying a file is missing")
			}
			if created {
				t.Error("got created=true; want false")
			}
			want := fmt.Sprintf("%s exists but %s does not", filepath.Join(dir, tc.present), filepath.Join(dir, tc.missing))
			if !strings.Contains(err.Error(), want) {
				t.Errorf("got error %q; want it to contain %q", err, want)
			}
			if _, statErr := os.Stat(filepath.Join(dir, tc.missing)); statErr == nil {
				t.Errorf("got %s created; want the directory left alone", tc.missing)
			}
		})
	}
}

func TestLoadOrCreateRefusesOpenKey(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := mustGenerate(t).WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, KeyFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(dir, Options{}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("got error %v; want the key mode refused with the fix", err)
	}
}

// Helpers.

func mustGenerate(t testing.TB) *CA {
	t.Helper()
	c, err := Generate(Options{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return c
}

func mustECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// selfSignedCA returns a valid self-signed CA certificate for key, after
// letting edit change the template.
func selfSignedCA(t testing.TB, key crypto.Signer, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if edit != nil {
		edit(tmpl)
	}
	return issue(t, tmpl, key.Public(), tmpl, key)
}

func issue(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func certPEM(c *x509.Certificate) []byte { return pemBlock("CERTIFICATE", c.Raw) }

func pkcs8PEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

// writePair writes a certificate and a 0600 key file into a new directory.
func writePair(t *testing.T, cert, key []byte) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func writeCA(t *testing.T, c *CA) (certFile, keyFile string) {
	t.Helper()
	return writeCAIn(t, t.TempDir(), c)
}

func writeCAIn(t *testing.T, dir string, c *CA) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := c.WriteFiles(dir)
	if err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	return certFile, keyFile
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
