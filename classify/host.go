package classify

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits from RFC 1035 section 2.3.4, counted on the presentation form without the trailing dot.
const (
	maxNameLen  = 253
	maxLabelLen = 63

	// maxInputLen bounds the work done on an untrusted host before it is rejected. It leaves room
	// for a port, brackets and Unicode that maps to fewer bytes (soft hyphens, full-width letters).
	maxInputLen = 1024

	// maxErrorHost bounds how much of a rejected host an error message repeats.
	maxErrorHost = 128
)

// Fixed phrases for HostError.Reason, so that logs and metrics can group rejections.
const (
	ReasonEmpty        = "empty host"
	ReasonTooLong      = "host longer than 253 bytes"
	ReasonLabelTooLong = "label longer than 63 bytes"
	ReasonEmptyLabel   = "empty label"
	ReasonBadChar      = "invalid character"
	ReasonBadPort      = "bad port"
	ReasonNumeric      = "numeric host that is not a canonical IPv4 address"
	ReasonBadIPv6      = "bad IPv6 literal"
	ReasonIPv6Zone     = "IPv6 zone not allowed"
	ReasonBadIDN       = "invalid internationalised domain name"
)

// HostError reports a host that Normalize cannot turn into a canonical name or address.
type HostError struct {
	// Host is the input as given.
	Host string
	// Reason is one of the Reason* phrases.
	Reason string
	// Err is the underlying error, if any (for example from IDNA conversion).
	Err error
}

// Error returns the reason and a quoted, length-limited copy of the host.
func (e *HostError) Error() string {
	h := e.Host
	if len(h) > maxErrorHost {
		h = h[:maxErrorHost] + "..."
	}
	if e.Err != nil {
		return fmt.Sprintf("invalid host %q: %s: %v", h, e.Reason, e.Err)
	}
	return fmt.Sprintf("invalid host %q: %s", h, e.Reason)
}

// Unwrap returns the underlying error, if any.
func (e *HostError) Unwrap() error { return e.Err }

// hostByte marks the bytes a normalised domain label may hold: lower-case letters, digits,
// hyphen and underscore. Browsers (WHATWG URL, CheckHyphens=false, UseSTD3ASCIIRules=false)
// send underscores and leading or trailing hyphens, and neither changes which DNS name is
// resolved, so both are accepted. Everything else ('%', '/', '@', spaces, controls, '*', ...)
// is rejected: those are the bytes a looser parser might decode or split differently from the
// dialer.
var hostByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'] = true
	t['_'] = true
	return t
}()

// Normalize returns the canonical form of a host as it appears in a request line, a Host header
// or a CONNECT authority: lower case, without port, brackets or trailing dot, internationalised
// names in their ASCII (punycode) form per the IDNA Lookup profile, IPv6 in canonical netip form
// (IPv4-mapped addresses as plain IPv4) and IPv4 in dotted-decimal form.
//
// It is strict where a looser reading could make the proxy classify one name and dial another:
// percent-escapes, userinfo, paths, spaces and zones are errors, and a name whose last label is
// numeric ("127.1", "0x7f.1", "2130706433", "010.0.0.1") is an error unless it is a canonical
// dotted-quad, because resolvers based on inet_aton would dial such a name as an address.
//
// An already-normal ASCII host, with or without a port, is returned as a substring of the input
// without allocating. Errors are of type *HostError.
func Normalize(host string) (string, error) {
	if host == "" {
		return "", &HostError{Host: host, Reason: ReasonEmpty}
	}
	if len(host) > maxInputLen {
		return "", &HostError{Host: host, Reason: ReasonTooLong}
	}
	if host[0] == '[' {
		return normalizeBracketed(host)
	}
	name := host
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if strings.IndexByte(host[:i], ':') >= 0 {
			// Two or more colons without brackets: only an IPv6 address can look like this.
			return normalizeIPv6(host, host)
		}
		if !validPort(host[i+1:]) {
			return "", &HostError{Host: host, Reason: ReasonBadPort}
		}
		name = host[:i]
	}
	return normalizeName(host, name)
}

// validPort reports whether p is a port as RFC 3986 allows it: empty (the scheme's default)
// or a decimal number up to 65535 of at most five digits.
func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// normalizeBracketed handles "[v6]" and "[v6]:port".
func normalizeBracketed(host string) (string, error) {
	end := strings.IndexByte(host, ']')
	if end < 0 {
		return "", &HostError{Host: host, Reason: ReasonBadIPv6}
	}
	switch rest := host[end+1:]; {
	case rest == "":
	case rest[0] == ':' && validPort(rest[1:]):
	default:
		return "", &HostError{Host: host, Reason: ReasonBadPort}
	}
	inner := host[1:end]
	if strings.IndexByte(inner, ':') < 0 {
		// "[1.2.3.4]" and "[name]" are not valid URL hosts (RFC 3986 section 3.2.2).
		return "", &HostError{Host: host, Reason: ReasonBadIPv6}
	}
	return normalizeIPv6(host, inner)
}

// normalizeIPv6 parses an IPv6 address without brackets or port.
func normalizeIPv6(host, addr string) (string, error) {
	if strings.IndexByte(addr, '%') >= 0 {
		// A zone names an interface of the proxy's host, never a destination a client may pick.
		return "", &HostError{Host: host, Reason: ReasonIPv6Zone}
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return "", &HostError{Host: host, Reason: ReasonBadIPv6, Err: err}
	}
	if !a.Is6() {
		return "", &HostError{Host: host, Reason: ReasonBadIPv6}
	}
	// An IPv4-mapped address reaches the IPv4 host on a dual-stack socket; name it that way so
	// that one destination has one spelling.
	return a.Unmap().String(), nil
}

// normalizeName handles a DNS name or IPv4 address without port.
func normalizeName(host, name string) (string, error) {
	lower := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 {
			return normalizeIDN(host, name)
		}
		if 'A' <= c && c <= 'Z' {
			lower = false
		}
	}
	if !lower {
		name = strings.ToLower(name)
	}
	return checkASCII(host, name)
}

// normalizeIDN converts a name with non-ASCII bytes with the IDNA Lookup profile (UTS #46
// non-transitional mapping: case folding, full-width forms, ideographic full stops) and then
// applies the same checks as to an ASCII name.
func normalizeIDN(host, name string) (string, error) {
	if !utf8.ValidString(name) {
		// x/net/idna encodes invalid UTF-8 instead of rejecting it.
		return "", &HostError{Host: host, Reason: ReasonBadChar}
	}
	a, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", &HostError{Host: host, Reason: ReasonBadIDN, Err: err}
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; c >= 0x80 || ('A' <= c && c <= 'Z') {
			return "", &HostError{Host: host, Reason: ReasonBadIDN}
		}
	}
	return checkASCII(host, a)
}

// checkASCII validates a lower-case ASCII name, strips one trailing dot and returns it.
func checkASCII(host, name string) (string, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "", &HostError{Host: host, Reason: ReasonEmpty}
	}
	if len(name) > maxNameLen {
		return "", &HostError{Host: host, Reason: ReasonTooLong}
	}
	start, last := 0, 0 // first bytes of the current and of the last label
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			if !hostByte[name[i]] {
				return "", &HostError{Host: host, Reason: ReasonBadChar}
			}
			continue
		}
		switch n := i - start; {
		case n == 0:
			return "", &HostError{Host: host, Reason: ReasonEmptyLabel}
		case n > maxLabelLen:
			return "", &HostError{Host: host, Reason: ReasonLabelTooLong}
		}
		last, start = start, i+1
	}
	if numericLabel(name[last:]) {
		// The WHATWG URL parser reads a host whose last label is a number as IPv4, and
		// inet_aton-style resolvers dial "127.1" or "0x7f.1" as 127.0.0.1. Accept only the one
		// spelling that every reader agrees on.
		a, err := netip.ParseAddr(name)
		if err != nil || !a.Is4() {
			return "", &HostError{Host: host, Reason: ReasonNumeric}
		}
	}
	return name, nil
}

// numericLabel reports whether a lower-case label would be read as a number by the WHATWG
// IPv4 parser: all decimal digits, or "0x" followed by hex digits (possibly none).
func numericLabel(l string) bool {
	if len(l) >= 2 && l[0] == '0' && l[1] == 'x' {
		for i := 2; i < len(l); i++ {
			if c := l[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; c < '0' || c > '9' {
			return false
		}
	}
	return l != ""
}

// IsIP reports whether a host returned by Normalize is an IP address rather than a domain name.
// It does not allocate. For input that Normalize did not produce, the answer is unspecified.
func IsIP(normalised string) bool {
	if strings.IndexByte(normalised, ':') >= 0 {
		return true
	}
	return numericLabel(normalised[strings.LastIndexByte(normalised, '.')+1:])
}
