package identity

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// FuzzParseHtpasswd checks that ParseHtpasswd never panics, that what it accepts New accepts
// too, and that every entry it returns is a usable bcrypt user. Seeds: testdata/fuzz.
func FuzzParseHtpasswd(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseHtpasswd("fuzz.htpasswd", data)
		if err != nil {
			if entries != nil {
				t.Fatalf("got %d entries with error %v; want none", len(entries), err)
			}
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.htpasswd:") {
					t.Fatalf("got error line %q; want it to start with the file name", line)
				}
			}
			return
		}
		last := 0
		for _, e := range entries {
			if e.Line <= last {
				t.Fatalf("got line %d after line %d; want increasing lines", e.Line, last)
			}
			last = e.Line
			if !validName(e.User) || strings.Contains(e.User, ":") {
				t.Fatalf("got user %q; want a valid name without ':'", e.User)
			}
			if _, err := bcrypt.Cost(e.Hash); err != nil {
				t.Fatalf("line %d: got a hash bcrypt rejects (%v); want only bcrypt hashes accepted", e.Line, err)
			}
		}
		if _, err := New(Config{Htpasswd: entries}); err != nil {
			t.Fatalf("New refused what ParseHtpasswd accepted: %v", err)
		}
	})
}

var fuzzAuthenticator *Authenticator // alice, password "secret"; built once per process

// FuzzBasicHeader checks that no Proxy-Authorization value makes Identify panic, that only
// alice's real password logs in, and that whatever parseBasic accepts round-trips through
// a fresh encoding. Seeds: testdata/fuzz.
func FuzzBasicHeader(f *testing.F) {
	if fuzzAuthenticator == nil {
		fuzzAuthenticator = newTestAuthenticator(f, Config{Htpasswd: []HtpasswdEntry{
			{User: "alice", Hash: []byte(testHash(f, "secret")), Line: 1},
		}})
	}
	a := fuzzAuthenticator
	f.Fuzz(func(t *testing.T, value string) {
		id, err := a.Identify(connectRequest("192.0.2.7:1", http.Header{"Proxy-Authorization": {value}}))
		if err == nil {
			if id.User != "alice" || id.Method != MethodBasic {
				t.Fatalf("Identify(%q) = %+v; want alice by Basic or an error", value, id)
			}
		} else {
			var ae *AuthError
			if !errors.As(err, &ae) || !errors.Is(err, ErrBadCredentials) || id.User != "" {
				t.Fatalf("Identify(%q) = %+v, %v; want no user and an *AuthError with ErrBadCredentials", value, id, err)
			}
		}

		var buf [maxBasicLen]byte
		user, password, reason := parseBasic(value, buf[:])
		if reason != "" {
			return
		}
		again := "Basic " + base64.StdEncoding.EncodeToString([]byte(string(user)+":"+string(password)))
		var buf2 [maxBasicLen]byte
		user2, password2, reason2 := parseBasic(again, buf2[:])
		if reason2 != "" || string(user2) != string(user) || string(password2) != string(password) {
			t.Fatalf("parseBasic(%q) = %q, %q but its re-encoding %q gives %q, %q, %q", value, user, password, again, user2, password2, reason2)
		}
	})
}
