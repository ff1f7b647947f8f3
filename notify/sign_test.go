package notify

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1_780_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := `{"type":"request.created"}`
	good := Sign(testSecret, ts, body)
	old := strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)
	future := strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10)

	tests := []struct {
		name                  string
		secret, ts, body, sig string
		maxAge                time.Duration
		want                  error // nil means it verifies
	}{
		{"good", testSecret, ts, body, good, 5 * time.Minute, nil},
		{"good without age check", testSecret, old, body, Sign(testSecret, old, body), 0, nil},
		{"tampered body", testSecret, ts, body + " ", good, 5 * time.Minute, ErrSignatureMismatch},
		{"other timestamp", testSecret, old, body, good, 0, ErrSignatureMismatch},
		{"wrong secret", "another-secret-0123456789", ts, body, good, 5 * time.Minute, ErrSignatureMismatch},
		{"upper-case hex", testSecret, ts, body, "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), 5 * time.Minute, nil},
		{"too old", testSecret, old, body, Sign(testSecret, old, body), 5 * time.Minute, ErrStale},
		{"from the future", testSecret, future, body, Sign(testSecret, future, body), 5 * time.Minute, ErrStale},
		{"forged and old says mismatch", testSecret, old, body, good, 5 * time.Minute, ErrSignatureMismatch},
		{"no prefix", testSecret, ts, body, strings.TrimPrefix(good, "sha256="), 0, ErrMalformed},
		{"other algorithm", testSecret, ts, body, "sha1=" + strings.TrimPrefix(good, "sha256="), 0, ErrMalformed},
		{"not hex", testSecret, ts, body, "sha256=zz", 0, ErrMalformed},
		{"short", testSecret, ts, body, good[:len(good)-2], 0, ErrMalformed},
		{"empty signature", testSecret, ts, body, "", 0, ErrMalformed},
		{"empty secret", "", ts, body, Sign("", ts, body), 0, ErrMalformed},
		{"timestamp with sign", testSecret, "+" + ts, body, Sign(testSecret, "+"+ts, body), 0, ErrMalformed},
		{"timestamp not a number", testSecret, "yesterday", body, Sign(testSecret, "yesterday", body), 0, ErrMalformed},
		{"timestamp overflowing", testSecret, strings.Repeat("9", 30), body, Sign(testSecret, strings.Repeat("9", 30), body), 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyAt(now, tt.secret, tt.ts, tt.body, tt.sig, tt.maxAge)
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("Verify = %v; want nil", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("Verify = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestSignKnownAnswer(t *testing.T) {
	// Computed independently: printf '1780000000.{}' | openssl dgst -sha256 -hmac key
	got := Sign("key", "1780000000", "{}")
	want := "sha256=" + knownHMAC
	if got != want {
		t.Errorf("Sign = %s; want %s", got, want)
	}
}

const knownHMAC = "91c687852de220478a081e66b99a949dbf2f672c4122086cb089001817d29992"
