package classify

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	long64 := strings.Repeat("a", 64)
	// 4 labels of 63 plus 3 dots is 255 bytes; trim to exactly 253 and one byte more.
	name253 := strings.Join([]string{long63, long63, long63, strings.Repeat("b", 61)}, ".")
	name254 := strings.Join([]string{long63, long63, long63, strings.Repeat("b", 62)}, ".")

	tests := []struct {
		name string
		in   string
		want string // "" means an error with reason wantReason
		// wantReason is the HostError.Reason when want is "".
		wantReason string
	}{
		// Already normal.
		{"plain", "slack.com", "slack.com", ""},
		{"subdomain", "acme.slack.com", "acme.slack.com", ""},
		{"single label", "localhost", "localhost", ""},
		{"digits in labels", "r3.sn-4g5e.googlevideo.com", "r3.sn-4g5e.googlevideo.com", ""},
		{"numeric first label", "123.example.com", "123.example.com", ""},
		{"underscore", "my_host.example.com", "my_host.example.com", ""},
		{"leading hyphen label", "-foo.example.com", "-foo.example.com", ""},
		{"trailing hyphen label", "foo-.blogspot.com", "foo-.blogspot.com", ""},
		{"hex-looking last label not a number", "foo.0xg", "foo.0xg", ""},
		{"alnum tld", "foo.a1", "foo.a1", ""},
		{"punycode passes through", "xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"label of 63", long63 + ".com", long63 + ".com", ""},
		{"name of 253", name253, name253, ""},

		// Case, port, trailing dot.
		{"upper case", "Slack.COM", "slack.com", ""},
		{"port", "slack.com:443", "slack.com", ""},
		{"upper case and port", "ACME.Slack.com:8443", "acme.slack.com", ""},
		{"empty port", "slack.com:", "slack.com", ""},
		{"max port", "slack.com:65535", "slack.com", ""},
		{"trailing dot", "slack.com.", "slack.com", ""},
		{"trailing dot and port", "slack.com.:443", "slack.com", ""},
		{"name of 253 with trailing dot", name253 + ".", name253, ""},

		// Internationalised names.
		{"IDN", "bücher.example", "xn--bcher-kva.example", ""},
		{"IDN upper case", "BÜCHER.example", "xn--bcher-kva.example", ""},
		{"IDN with port", "bücher.example:443", "xn--bcher-kva.example", ""},
		{"IDN trailing dot", "bücher.example.", "xn--bcher-kva.example", ""},
		{"full-width letters map to ASCII", "ｓｌａｃｋ.com", "slack.com", ""},
		{"ideographic full stop", "slack。com", "slack.com", ""},
		{"soft hyphen is removed", "sla\u00adck.com", "slack.com", ""},
		{"sharp s non-transitional", "faß.de", "xn--fa-hia.de", ""},
		{"full-width digits become an IPv4", "１２７.0.0.1", "127.0.0.1", ""},

		// IP literals.
		{"IPv4", "127.0.0.1", "127.0.0.1", ""},
		{"IPv4 with port", "10.1.2.3:8080", "10.1.2.3", ""},
		{"IPv4 trailing dot", "10.1.2.3.", "10.1.2.3", ""},
		{"bracketed IPv6 with port", "[::1]:443", "::1", ""},
		{"bracketed IPv6", "[::1]", "::1", ""},
		{"bare IPv6", "::1", "::1", ""},
		{"IPv6 canonical form", "[2001:DB8:0:0:0:0:0:1]", "2001:db8::1", ""},
		{"IPv4-mapped IPv6 is IPv4", "[::ffff:127.0.0.1]:80", "127.0.0.1", ""},

		// Malformed.
		{"empty", "", "", ReasonEmpty},
		{"dot only", ".", "", ReasonEmpty},
		{"port only", ":443", "", ReasonEmpty},
		{"leading dot", ".slack.com", "", ReasonEmptyLabel},
		{"double dot", "a..b", "", ReasonEmptyLabel},
		{"two trailing dots", "slack.com..", "", ReasonEmptyLabel},
		{"label of 64", long64 + ".com", "", ReasonLabelTooLong},
		{"name of 254", name254, "", ReasonTooLong},
		{"huge input", strings.Repeat("a.", 600), "", ReasonTooLong},
		{"space", "slack .com", "", ReasonBadChar},
		{"percent escape", "sl%61ck.com", "", ReasonBadChar},
		{"slash", "slack.com/evil", "", ReasonBadChar},
		{"userinfo", "user@slack.com", "", ReasonBadChar},
		{"backslash", `slack.com\evil`, "", ReasonBadChar},
		{"star", "*.slack.com", "", ReasonBadChar},
		{"NUL", "slack.com\x00.evil", "", ReasonBadChar},
		{"port not numeric", "slack.com:https", "", ReasonBadPort},
		{"port too big", "slack.com:65536", "", ReasonBadPort},
		{"port too long", "slack.com:000443", "", ReasonBadPort},
		{"port negative", "slack.com:-1", "", ReasonBadPort},
		{"bracket junk after", "[::1]x", "", ReasonBadPort},
		{"unclosed bracket", "[::1", "", ReasonBadIPv6},
		{"bracketed IPv4", "[127.0.0.1]", "", ReasonBadIPv6},
		{"bracketed name", "[slack.com]", "", ReasonBadIPv6},
		{"bad IPv6", "[::g]", "", ReasonBadIPv6},
		{"colons in a name", "a:b:c", "", ReasonBadIPv6},
		{"IPv6 zone", "[fe80::1%25eth0]", "", ReasonIPv6Zone},
		{"bare IPv6 zone", "fe80::1%eth0", "", ReasonIPv6Zone},
		{"invalid IDN", "bücher-.example", "", ReasonBadIDN},
		{"IDN with slash", "bücher.example/x", "", ReasonBadIDN},
		{"invalid UTF-8", "sl\xffck.com", "", ReasonBadChar},

		// Numeric hosts that inet_aton-style resolvers dial as addresses.
		{"short IPv4", "127.1", "", ReasonNumeric},
		{"hex IPv4", "0x7f.1", "", ReasonNumeric},
		{"hex octet", "0x7f.0.0.1", "", ReasonNumeric},
		{"decimal integer", "2130706433", "", ReasonNumeric},
		{"octal octet", "010.0.0.1", "", ReasonNumeric},
		{"leading zero octet", "127.0.0.01", "", ReasonNumeric},
		{"five parts", "1.2.3.4.5", "", ReasonNumeric},
		{"octet too big", "256.0.0.1", "", ReasonNumeric},
		{"numeric tld", "foo.123", "", ReasonNumeric},
		{"hex tld", "foo.0x1f", "", ReasonNumeric},
		{"bare 0x tld", "foo.0x", "", ReasonNumeric},
		{"upper hex tld", "foo.0X1F", "", ReasonNumeric},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("Normalize(%q) error %v; want %q", tt.in, err, tt.want)
				}
				if got != tt.want {
					t.Fatalf("Normalize(%q) = %q; want %q", tt.in, got, tt.want)
				}
				return
			}
			var he *HostError
			if !errors.As(err, &he) {
				t.Fatalf("Normalize(%q) = %q, %v; want *HostError %q", tt.in, got, err, tt.wantReason)
			}
			if he.Reason != tt.wantReason {
				t.Errorf("Normalize(%q) reason %q; want %q", tt.in, he.Reason, tt.wantReason)
			}
			if he.Host != tt.in {
				t.Errorf("HostError.Host = %q; want %q", he.Host, tt.in)
			}
			if got != "" {
				t.Errorf("Normalize(%q) = %q with error; want \"\"", tt.in, got)
			}
		})
	}
}

func TestHostErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"quotes the host", "a..b", `invalid host "a..b": empty label`},
		{"escapes controls", "a\nb", `invalid host "a\nb": invalid character`},
		{"truncates", strings.Repeat("x", 300) + ":x", `invalid host "` + strings.Repeat("x", maxErrorHost) + `...": bad port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize(tt.in)
			if err == nil {
				t.Fatalf("Normalize(%q) succeeded; want error", tt.in)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestNormalizeIsIdempotent(t *testing.T) {
	for _, in := range []string{"Slack.COM:443", "bücher.example.", "[::ffff:1.2.3.4]", "[2001:DB8::1]:80", "ｓｌａｃｋ.com"} {
		t.Run(in, func(t *testing.T) {
			once, err := Normalize(in)
			if err != nil {
				t.Fatalf("Normalize(%q): %v", in, err)
			}
			twice, err := Normalize(once)
			if err != nil || twice != once {
				t.Errorf("Normalize(%q) = %q, %v; want %q", once, twice, err, once)
			}
		})
	}
}

func TestNormalizeFastPathDoesNotAllocate(t *testing.T) {
	for _, in := range []string{"acme.slack.com", "acme.slack.com:443", "slack.com.", "10.0.0.1:80"} {
		t.Run(in, func(t *testing.T) {
			var err error
			allocs := testing.AllocsPerRun(100, func() {
				_, err = Normalize(in)
			})
			if err != nil {
				t.Fatalf("Normalize(%q): %v", in, err)
			}
			if allocs != 0 {
				t.Errorf("Normalize(%q) allocates %v times; want 0", in, allocs)
			}
		})
	}
}

func TestIsIP(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"::1", true},
		{"2001:db8::1", true},
		{"slack.com", false},
		{"localhost", false},
		{"123.example.com", false},
		{"foo.a1", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := IsIP(tt.host); got != tt.want {
				t.Errorf("IsIP(%q) = %v; want %v", tt.host, got, tt.want)
			}
		})
	}
}
