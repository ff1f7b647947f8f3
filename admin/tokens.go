package admin

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Token is one accepted bearer token and the name of who holds it. The
// name is the actor the access store records for every decision made with
// the token.
type Token struct {
	// Name is who holds the token, such as "alice"; DefaultActor for a
	// token file line without a name.
	Name string
	// Secret is the bearer token itself.
	Secret string
}

// String returns the token's name, never its secret.
func (t Token) String() string { return t.Name }

// GoString is String, so that %#v cannot print the secret either.
func (t Token) GoString() string { return t.Name }

// LogValue makes slog print the token's name, never its secret.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.Name) }

// DefaultActor is the name of a token given without one: a bare line in a
// token file, and the token LoadOrCreateToken generates.
const DefaultActor = "admin"

// Limits on token file lines.
const (
	// MinSecretLen is the shortest secret ReadTokens accepts.
	MinSecretLen = 16
	// MaxNameLen is the longest token name ReadTokens accepts.
	MaxNameLen = 64
)

// TokenFile is the name of the generated admin token in the data directory.
const TokenFile = "admin-token"

// LoadOrCreateToken returns the first admin token kept in dataDir,
// creating a random one (mode 0600) on first start. The generated token
// is named DefaultActor. See LoadOrCreateTokens for all of the file's
// tokens and their names.
func LoadOrCreateToken(dataDir string) (token, path string, created bool, err error) {
	tokens, path, created, err := LoadOrCreateTokens(dataDir)
	if err != nil {
		return "", path, false, err
	}
	return tokens[0].Secret, path, created, nil
}

// LoadOrCreateTokens returns the admin tokens kept in dataDir's TokenFile
// (in ReadTokens's format), creating the file with one random token named
// DefaultActor (mode 0600) when it does not exist or holds no token. The
// answer holds at least one token when err is nil.
func LoadOrCreateTokens(dataDir string) (tokens []Token, path string, created bool, err error) {
	path = filepath.Join(dataDir, TokenFile)
	tokens, err = ReadTokens(path)
	if err == nil && len(tokens) > 0 {
		return tokens, path, false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, path, false, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, path, false, fmt.Errorf("creating admin token: %w", err)
	}
	secret := hex.EncodeToString(b[:])
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, path, false, fmt.Errorf("creating data directory: %w", err)
	}
	// An existing file without tokens (only comments) is kept: the admin
	// may be about to fill it. The token is then appended to it.
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if err == nil {
		flags = os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, path, false, fmt.Errorf("creating admin token: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return nil, path, false, fmt.Errorf("writing admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, path, false, fmt.Errorf("writing admin token: %w", err)
	}
	return []Token{{Name: DefaultActor, Secret: secret}}, path, true, nil
}

// ReadTokens reads bearer tokens from a file, one a line: "name:token"
// names who holds the token (the actor recorded for what they decide), a
// bare "token" is held by DefaultActor. Blank lines and lines starting
// with # are skipped. A name is 1 to MaxNameLen letters, digits and
// ". _ @ + -"; a token is at least MinSecretLen printable characters
// without spaces, and appears once in the file. A file readable by group
// or others is refused. Errors name the file and line, never a token.
func ReadTokens(file string) ([]Token, error) {
	info, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: admin token file has mode %04o; expected no access for group and others (chmod 600 %s)",
			file, info.Mode().Perm(), file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parseTokens(file, string(data))
}

// parseTokens reads the lines of a token file; file names it in errors.
// All bad lines are reported, one per error line.
func parseTokens(file, data string) ([]Token, error) {
	var (
		out  []Token
		errs []error
		seen = map[string]int{} // secret → line
	)
	for i, l := range strings.Split(data, "\n") {
		n := i + 1
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		t, err := parseTokenLine(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, n, err))
			continue
		}
		if first, ok := seen[t.Secret]; ok {
			errs = append(errs, fmt.Errorf("%s:%d: found the token of line %d again; expected each token once", file, n, first))
			continue
		}
		seen[t.Secret] = n
		out = append(out, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// parseTokenLine reads one trimmed, non-empty line. Its errors never quote
// the secret.
func parseTokenLine(l string) (Token, error) {
	t := Token{Name: DefaultActor, Secret: l}
	if name, secret, ok := strings.Cut(l, ":"); ok {
		name, secret = strings.TrimSpace(name), strings.TrimSpace(secret)
		if err := checkTokenName(name); err != nil {
			return Token{}, err
		}
		t = Token{Name: name, Secret: secret}
	}
	if t.Secret == "" {
		return Token{}, fmt.Errorf("found no token after %q; expected name:token", t.Name+":")
	}
	for _, r := range t.Secret {
		if r <= ' ' || r == 0x7f || r > '~' {
			return Token{}, errors.New("found a space, control or non-ASCII character in a token; expected printable ASCII without spaces")
		}
	}
	if len(t.Secret) < MinSecretLen {
		return Token{}, fmt.Errorf("found a %d-character token; expected a long random token of at least %d (such as: openssl rand -hex 32)",
			len(t.Secret), MinSecretLen)
	}
	return t, nil
}

// checkTokenName accepts 1 to MaxNameLen characters that nameChar allows.
func checkTokenName(name string) error {
	switch {
	case name == "":
		return errors.New("found an empty name before ':'; expected name:token")
	case len(name) > MaxNameLen:
		return fmt.Errorf("found a %d-character name; expected at most %d", len(name), MaxNameLen)
	}
	for _, r := range name {
		if !nameChar(r) {
			// The name is not quoted: a line that is a bare token with a
			// colon in it would put part of the secret into the log.
			return fmt.Errorf("found %q in a name; expected letters, digits and . _ @ + -", r)
		}
	}
	return nil
}

// nameChar reports whether r may appear in a token's name.
func nameChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("._@+-", r)
}
