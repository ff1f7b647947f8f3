package identity

import (
	"errors"
	"fmt"
	"strings"
)

// HtpasswdEntry is one user of an htpasswd file.
type HtpasswdEntry struct {
	// User is the user name, matched exactly against Basic credentials.
	User string
	// Hash is the user's bcrypt hash ($2a$, $2b$ or $2y$).
	Hash []byte
	// Line is the 1-based line of the file the entry came from, for error messages.
	Line int
}

// Bounds on bcrypt hashes.
const (
	// minCost is bcrypt.MinCost.
	minCost = 4
	// maxCost is the highest cost `htpasswd -B -C` accepts. Every step doubles the time a
	// check takes (cost 10 is tens of milliseconds), so a file hashed far above this would
	// let each uncached login hold a bcrypt slot for minutes.
	maxCost = 17
	// bcryptLen is the length of "$2y$NN$" plus 22 characters of salt and 31 of hash.
	bcryptLen = 60
	// maxReported bounds the errors ParseHtpasswd lists before it only counts them.
	maxReported = 10
)

// ParseHtpasswd parses an htpasswd file, as written by `htpasswd -B`, named name in errors.
//
// Each line is user:hash. Blank lines and lines starting with # are skipped; trailing
// spaces, a CR before the LF, and a UTF-8 byte order mark are tolerated. Only bcrypt hashes
// ($2a$, $2b$, $2y$, cost 4 to 17) are accepted: any other scheme (Apache MD5 $apr1$,
// {SHA}, crypt, plain text) is an error naming "file:line", the user and the scheme, and
// saying how to re-hash. A user defined twice is an error naming both lines. Errors never
// quote a hash, which might be a plain-text password.
//
// Every problem is reported (joined with errors.Join, up to ten and then a count), so an
// admin converting a file sees all the lines to fix at once.
func ParseHtpasswd(name string, data []byte) ([]HtpasswdEntry, error) {
	var (
		entries []HtpasswdEntry
		errs    []error
		dropped int
		seen    = make(map[string]int)
	)
	report := func(line int, format string, args ...any) {
		if len(errs) == maxReported {
			dropped++
			return
		}
		errs = append(errs, fmt.Errorf("%s:%d: "+format, append([]any{name, line}, args...)...))
	}

	text := strings.TrimPrefix(string(data), "\uFEFF")
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = strings.TrimRight(line, " \t\r")
		if trimmed := strings.TrimLeft(line, " \t"); trimmed == "" || trimmed[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			report(n, "found no ':'; expected user:hash")
			continue
		case strings.Contains(hash, ":"):
			report(n, "found %d ':'-separated fields; expected user:hash (an htdigest file has user:realm:hash)", strings.Count(line, ":")+1)
			continue
		case user == "":
			report(n, "found an empty user name; expected user:hash")
			continue
		case !validName(user):
			report(n, "found user name %q; expected 1 to %d printable characters without surrounding spaces", user, maxNameLen)
			continue
		case hash == "":
			report(n, "user %q has no hash; expected user:hash, as written by `htpasswd -B %s %s`", user, name, user)
			continue
		}
		if cost, problem := checkHash(hash); problem != "" {
			fix := "htpasswd -B"
			if cost > maxCost {
				fix = "htpasswd -B -C 10"
			}
			report(n, "user %q: %s; re-hash it with `%s %s %s`", user, problem, fix, name, user)
			continue
		}
		if first, dup := seen[user]; dup {
			report(n, "duplicate user %q; first defined at %s:%d", user, name, first)
			continue
		}
		seen[user] = n
		entries = append(entries, HtpasswdEntry{User: user, Hash: []byte(hash), Line: n})
	}

	if dropped > 0 {
		errs = append(errs, fmt.Errorf("%s: %d more errors not shown", name, dropped))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return entries, nil
}

// checkHash returns the cost of a bcrypt hash, or what is wrong with the hash. The problem
// never quotes the hash. cost is set whenever it could be read, even if it is out of range.
func checkHash(h string) (cost int, problem string) {
	if scheme := hashScheme(h); scheme != "bcrypt" {
		return 0, "found " + scheme + " hash; expected bcrypt ($2y$, $2b$ or $2a$)"
	}
	// $2y$NN$ then the salt and hash in bcrypt's base64 alphabet.
	if len(h) != bcryptLen || h[6] != '$' || !isDigit(h[4]) || !isDigit(h[5]) {
		return 0, fmt.Sprintf("found a malformed bcrypt hash of %d characters; expected $2y$, two digits of cost, $ and 53 characters", len(h))
	}
	for i := 7; i < len(h); i++ {
		if !isBcryptBase64(h[i]) {
			return 0, fmt.Sprintf("found a malformed bcrypt hash with a stray character at position %d; expected only ./A-Za-z0-9 after the cost", i+1)
		}
	}
	cost = int(h[4]-'0')*10 + int(h[5]-'0')
	if cost < minCost || cost > maxCost {
		return cost, fmt.Sprintf("found bcrypt cost %d; expected %d to %d (each step doubles the time a check takes)", cost, minCost, maxCost)
	}
	return cost, ""
}

// hashScheme names the scheme of an htpasswd hash for error messages, as "bcrypt" or an
// article and a name, such as "an MD5 ($apr1$)".
func hashScheme(h string) string {
	prefixes := []struct{ prefix, name string }{
		{"$2a$", "bcrypt"},
		{"$2b$", "bcrypt"},
		{"$2y$", "bcrypt"},
		{"$2x$", "a $2x$ bcrypt (the mark of a buggy implementation)"},
		{"$2$", "an original $2$ bcrypt"},
		{"$apr1$", "an Apache MD5 ($apr1$)"},
		{"$1$", "an MD5-crypt ($1$)"},
		{"$5$", "a SHA-256-crypt ($5$)"},
		{"$6$", "a SHA-512-crypt ($6$)"},
		{"$y$", "a yescrypt ($y$)"},
		{"$argon2", "an Argon2"},
		{"{SHA}", "a SHA-1 ({SHA})"},
		{"{SSHA}", "a salted SHA-1 ({SSHA})"},
	}
	for _, p := range prefixes {
		if strings.HasPrefix(h, p.prefix) {
			return p.name
		}
	}
	switch {
	case strings.HasPrefix(h, "$"):
		return "an unknown crypt"
	case len(h) == 13 && strings.IndexFunc(h, func(r rune) bool { return r > 0x7f || !isBcryptBase64(byte(r)) }) < 0:
		return "a DES crypt"
	default:
		return "a plain-text or unknown"
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isBcryptBase64 reports whether c is in bcrypt's base64 alphabet, which is also crypt's.
func isBcryptBase64(c byte) bool {
	return c == '.' || c == '/' || isDigit(c) || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}
