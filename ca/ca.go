// Package ca owns Signpost's interception certificate authority: creating one
// (what `signpost ca init` runs), loading one from disk with the checks that
// keep a misconfigured or exposed key from going live, minting the leaf
// certificates it presents for intercepted hosts (Leaf: short-lived, a fresh
// ECDSA P-256 key each, whatever the CA's key type), caching them
// (CertCache), and the TLS configuration for an intercepted CONNECT
// (ServerConfig).
//
// It does not decide which hosts are intercepted, nor refuse a client whose
// TLS server name differs from its CONNECT host (package proxy does both),
// and it does not depend on goproxy: ServerConfig has the shape goproxy's
// ConnectAction.TLSConfig needs, and package proxy wires it in.
package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names that WriteFiles writes and LoadOrCreate looks for in its directory.
const (
	CertFileName = "ca.crt"
	KeyFileName  = "ca.key"
)

// Defaults that Generate uses for the zero fields of Options.
const (
	DefaultOrganization = "Signpost"
	DefaultCommonName   = "Signpost Interception CA" // followed by a short random id
	DefaultValidity     = 10 * 365 * 24 * time.Hour
)

// backdate is how far before "now" a generated CA becomes valid, so that a
// client whose clock runs a little behind the proxy's still accepts it.
const backdate = time.Hour

// minRSABits is the smallest RSA CA key Load accepts; browsers distrust less.
const minRSABits = 2048

// CA is an interception certificate authority: its certificate, the key that
// signs leaves, and where they came from.
type CA struct {
	// Cert is the parsed CA certificate (the first certificate of the chain).
	Cert *x509.Certificate
	// TLS holds the chain (the CA certificate, then any issuers that followed it
	// in the certificate file) and the private key, with Leaf set to Cert. Each
	// leaf Leaf mints carries this chain after it.
	TLS tls.Certificate
	// CertPEM is Cert alone, PEM-encoded: what users install, served at
	// /signpost/ca.crt. It never contains key material.
	CertPEM []byte
	// CertFile and KeyFile are the files the CA was loaded from or written to;
	// both are "" for a CA generated in memory and not yet written.
	CertFile, KeyFile string
}

// Options shapes the certificate Generate makes. The zero value is valid.
type Options struct {
	// Organization is the subject's O; "" means DefaultOrganization.
	Organization string
	// CommonName is the subject's CN, the name users see in their trust store;
	// "" means DefaultCommonName followed by a short random id, so that two
	// Signpost CAs in one trust store can be told apart.
	CommonName string
	// Validity is how long the CA is valid from now; 0 means DefaultValidity.
	// A negative value is an error.
	Validity time.Duration
}

// Generate makes a new CA: an ECDSA P-256 key and a self-signed certificate
// that may sign end-entity certificates only (BasicConstraints CA:true with
// path length 0, key usage certificate and CRL signing), with a random 128-bit
// serial number and a subject key identifier. It becomes valid an hour ago.
func Generate(opts Options) (*CA, error) {
	if opts.Validity < 0 {
		return nil, fmt.Errorf("generate CA: validity %v is negative", opts.Validity)
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultValidity
	}
	if opts.Organization == "" {
		opts.Organization = DefaultOrganization
	}
	if opts.CommonName == "" {
		id := make([]byte, 4)
		if _, err := rand.Read(id); err != nil {
			return nil, fmt.Errorf("generate CA: %w", err)
		}
		opts.CommonName = DefaultCommonName + " " + hex.EncodeToString(id)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("generate CA serial number: %w", err)
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("generate CA: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{opts.Organization},
			CommonName:   opts.CommonName,
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("generate CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("generate CA certificate: %w", err)
	}
	return newCA([]*x509.Certificate{cert}, key), nil
}

// randomSerial returns a uniformly random serial number in [1, 2^128).
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	limit.Sub(limit, big.NewInt(1))
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, err
	}
	return n.Add(n, big.NewInt(1)), nil
}

// subjectKeyID follows RFC 7093 section 2 method 1: the leftmost 160 bits of
// the SHA-256 hash of the subjectPublicKey bit string.
func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	point, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(point)
	return sum[:20], nil
}

// newCA assembles a CA from a verified chain (CA certificate first) and its key.
func newCA(chain []*x509.Certificate, key crypto.Signer) *CA {
	ders := make([][]byte, len(chain))
	for i, c := range chain {
		ders[i] = c.Raw
	}
	return &CA{
		Cert:    chain[0],
		TLS:     tls.Certificate{Certificate: ders, PrivateKey: key, Leaf: chain[0]},
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw}),
	}
}

// Fingerprint returns the SHA-256 fingerprint of the CA certificate as
// colon-separated upper-case hex, the form browsers and `openssl x509
// -fingerprint -sha256` show, so an admin can check what users installed.
func (c *CA) Fingerprint() string {
	sum := sha256.Sum256(c.Cert.Raw)
	var b strings.Builder
	for i, octet := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", octet)
	}
	return b.String()
}

// WriteFiles writes the certificate chain (the CA certificate, then any issuers
// it was loaded with) to dir/ca.crt (mode 0644) and the key, as
// PKCS#8 PEM, to dir/ca.key (mode 0600), creating dir with mode 0700 if it
// does not exist. It never overwrites: if either file exists it writes nothing
// and says which. Each file appears complete or not at all (it is written to
// a temporary file, synced, then linked into place); if the certificate cannot
// be written after the key was, the key is removed again. On success the CA
// remembers the paths in CertFile and KeyFile.
func (c *CA) WriteFiles(dir string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, CertFileName)
	keyFile = filepath.Join(dir, KeyFileName)
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.TLS.PrivateKey)
	if err != nil {
		return "", "", fmt.Errorf("write CA: encode key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	var chainPEM []byte
	for _, der := range c.TLS.Certificate {
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("write CA: %w", err)
	}
	var existing []string
	for _, name := range []string{certFile, keyFile} {
		if _, err := os.Lstat(name); err == nil {
			existing = append(existing, name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("write CA: %w", err)
		}
	}
	if len(existing) > 0 {
		return "", "", fmt.Errorf("write CA: refusing to overwrite existing %s; move it away, or load the CA instead",
			strings.Join(existing, " and "))
	}

	if err := writeFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("write CA key: %w", err)
	}
	if err := writeFile(certFile, chainPEM, 0o644); err != nil {
		// Do not leave a key without its certificate: LoadOrCreate would
		// refuse the directory, and the key is useless without it.
		if rmErr := os.Remove(keyFile); rmErr != nil {
			return "", "", fmt.Errorf("write CA certificate: %w (and removing %s: %v)", err, keyFile, rmErr)
		}
		return "", "", fmt.Errorf("write CA certificate: %w", err)
	}
	c.CertFile, c.KeyFile = certFile, keyFile
	return certFile, keyFile, nil
}

// writeFile is writeNew, replaceable by tests that need a write to fail.
var writeFile = writeNew

// writeNew creates name with data and mode, atomically and without replacing
// an existing file: it writes a temporary file in the same directory, syncs
// it, and hard-links it into place (link fails if name exists, unlike rename).
func writeNew(name string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		// The temporary name is only ever a staging copy: remove it whether
		// or not it was linked into place.
		if rmErr := os.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = rmErr
		}
	}()
	// CreateTemp makes the file 0600 before any byte is written, so the key
	// is never briefly readable by others; Chmod then sets the final mode
	// exactly, whatever the umask.
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmpName, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("refusing to overwrite existing %s", name)
		}
		// Some file systems have no hard links. Rename is still atomic; the
		// existence check just before it leaves only a narrow race.
		if _, statErr := os.Lstat(name); statErr == nil {
			return fmt.Errorf("refusing to overwrite existing %s", name)
		}
		if err := os.Rename(tmpName, name); err != nil {
			return err
		}
	}
	syncDir(dir)
	return nil
}

// syncDir makes a new directory entry durable where the platform allows it.
// Errors are ignored: not every platform can sync a directory, and the file's
// own contents were already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// Load reads a CA from a PEM certificate file and a PEM key file.
//
// The certificate file holds the CA certificate first, optionally followed by
// the certificates that issued it (for a CA that is itself an intermediate);
// those are sent along with every leaf. The key may be PKCS#8 ("PRIVATE
// KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"), ECDSA or RSA
// of at least 2048 bits; encrypted keys are not supported.
//
// Load checks that the key belongs to the certificate, that the certificate
// is a CA allowed to sign TLS server certificates, and that it is valid now.
// On Unix it refuses a key file whose mode lets group or others read, write
// or execute it, with an error that says how to fix it.
func Load(certFile, keyFile string) (*CA, error) {
	if err := checkKeyFileMode(keyFile); err != nil {
		return nil, err
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA key: %w", err)
	}
	c, err := parse(certPEM, keyPEM, time.Now())
	if err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			return nil, fmt.Errorf("load CA key %s: %w", keyFile, ke.err)
		}
		return nil, fmt.Errorf("load CA certificate %s: %w", certFile, err)
	}
	c.CertFile, c.KeyFile = certFile, keyFile
	return c, nil
}

// keyError marks a parse failure that is the key file's fault, so Load can
// name the right file.
type keyError struct{ err error }

func (e *keyError) Error() string { return e.err.Error() }

// parse builds a CA from PEM bytes and checks it as Load documents, at now.
func parse(certPEM, keyPEM []byte, now time.Time) (*CA, error) {
	chain, err := parseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, &keyError{err}
	}
	cert := chain[0]
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, &keyError{fmt.Errorf("key does not belong to the certificate %q (serial %x)",
			cert.Subject.String(), cert.SerialNumber)}
	}
	if err := checkCA(cert, now); err != nil {
		return nil, err
	}
	return newCA(chain, key), nil
}

// parseCertificates returns every CERTIFICATE block in data, in order.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return chain, nil
}

// parsePrivateKey returns the first private key in data, in any of the
// encodings Load accepts.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New(`no PEM "PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY" block found`)
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the key is encrypted, which is not supported; decrypt it with `openssl pkey -in KEY -out KEY.plain`")
		default:
			// Skip blocks that may precede a key, such as the
			// "EC PARAMETERS" that `openssl ecparam -genkey` writes.
			continue
		}
		if _, encrypted := block.Headers["DEK-Info"]; encrypted {
			return nil, errors.New("the key is encrypted, which is not supported; decrypt it with `openssl pkey -in KEY -out KEY.plain`")
		}
		if err != nil {
			return nil, fmt.Errorf("%s block: %w", block.Type, err)
		}
		return checkKeyType(key)
	}
}

// checkKeyType accepts the CA key types whose signatures browsers accept in a
// certificate chain.
func checkKeyType(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits; want at least %d", bits, minRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		// Browsers reject certificates signed with Ed25519.
		return nil, errors.New("Ed25519 keys are not supported because browsers do not accept Ed25519 certificates; use ECDSA P-256")
	default:
		return nil, fmt.Errorf("unsupported key type %T; use ECDSA P-256", key)
	}
}

// checkCA reports why cert cannot sign TLS server certificates at now, if it
// cannot.
func checkCA(cert *x509.Certificate, now time.Time) error {
	name := cert.Subject.String()
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return fmt.Errorf("%q is not a CA certificate (basic constraints CA:true missing)", name)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("%q may not sign certificates (key usage lacks certificate signing)", name)
	}
	if len(cert.ExtKeyUsage) > 0 && !hasServerAuth(cert.ExtKeyUsage) {
		// Clients apply a CA's extended key usage to the leaves it issues.
		return fmt.Errorf("%q may not issue TLS server certificates (extended key usage lacks serverAuth)", name)
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%q is not valid until %s", name, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%q expired on %s", name, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func hasServerAuth(usages []x509.ExtKeyUsage) bool {
	for _, u := range usages {
		if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// LoadOrCreate loads dir/ca.crt and dir/ca.key when both exist. When neither
// exists it generates a CA with opts, writes it there and reports created. If
// only one of them exists it is an error that names both, since generating
// would orphan or overwrite the one present.
func LoadOrCreate(dir string, opts Options) (ca *CA, created bool, err error) {
	certFile := filepath.Join(dir, CertFileName)
	keyFile := filepath.Join(dir, KeyFileName)
	certExists, err := exists(certFile)
	if err != nil {
		return nil, false, fmt.Errorf("load CA: %w", err)
	}
	keyExists, err := exists(keyFile)
	if err != nil {
		return nil, false, fmt.Errorf("load CA: %w", err)
	}
	switch {
	case certExists && keyExists:
		ca, err := Load(certFile, keyFile)
		return ca, false, err
	case certExists:
		return nil, false, fmt.Errorf("load CA: %s exists but %s does not; restore the key or remove the certificate to generate a new CA", certFile, keyFile)
	case keyExists:
		return nil, false, fmt.Errorf("load CA: %s exists but %s does not; restore the certificate or remove the key to generate a new CA", keyFile, certFile)
	}
	ca, err = Generate(opts)
	if err != nil {
		return nil, false, err
	}
	if _, _, err := ca.WriteFiles(dir); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// exists reports whether name exists; an error other than "not found" (such
// as permission denied) is returned rather than guessed at.
func exists(name string) (bool, error) {
	_, err := os.Stat(name)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// keyModeError says that the key file name is open to group or others and
// how to fix it.
func keyModeError(name string, mode fs.FileMode) error {
	return fmt.Errorf("load CA key: %s has mode %#o, which lets group or others access the private key; run `chmod 600 %s`",
		name, mode.Perm(), name)
}
