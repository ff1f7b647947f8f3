package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers sent with every delivery. Only FormatJSON targets get HeaderSignature.
const (
	// HeaderEvent carries the event's Kind, such as "request.created".
	HeaderEvent = "X-Signpost-Event"
	// HeaderDelivery carries a random id for this event at this target, the same on every
	// attempt: a receiver that has seen it already can answer 2xx and ignore the repeat.
	HeaderDelivery = "X-Signpost-Delivery"
	// HeaderAttempt carries the attempt number, starting at 1.
	HeaderAttempt = "X-Signpost-Attempt"
	// HeaderTimestamp carries the attempt's time in Unix seconds; it is part of what is
	// signed, so a receiver can refuse old (replayed) deliveries.
	HeaderTimestamp = "X-Signpost-Timestamp"
	// HeaderSignature carries "sha256=" and the lower-case hex HMAC-SHA256, keyed with the
	// target's secret, of the timestamp header's value, a '.', and the raw body.
	HeaderSignature = "X-Signpost-Signature"
)

// signaturePrefix names the MAC in HeaderSignature, leaving room for another one later.
const signaturePrefix = "sha256="

// Errors Verify returns; test for them with errors.Is.
var (
	// ErrMalformed means the timestamp or signature header is not in the form Signpost sends
	// (or the secret is empty).
	ErrMalformed = errors.New("malformed webhook signature or timestamp")
	// ErrSignatureMismatch means the signature does not match the body and timestamp under
	// this secret: the body was changed, or it was not signed with this secret.
	ErrSignatureMismatch = errors.New("webhook signature does not match")
	// ErrStale means the signature is right but the timestamp is further from now than
	// maxAge: a delayed or replayed delivery.
	ErrStale = errors.New("webhook timestamp outside the allowed age")
)

// Sign returns the HeaderSignature value for body sent at timestamp (the HeaderTimestamp
// value, decimal Unix seconds) under secret: "sha256=" followed by the hex HMAC-SHA256 of
// timestamp + "." + body. Receivers normally need only Verify.
func Sign(secret, timestamp, body string) string {
	return sign(secret, timestamp, []byte(body))
}

func sign(secret, timestamp string, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a delivery to a FormatJSON target, as a receiver would. Pass the target's
// secret, the HeaderTimestamp and HeaderSignature values, and the request body exactly as
// received (before any JSON decoding: re-encoding changes the bytes). maxAge bounds how far
// the timestamp may be from now, either way; 5 minutes suits clocks kept by NTP, and 0
// skips the check (not recommended: it allows replays).
//
// It returns nil, or an error wrapping ErrMalformed, ErrSignatureMismatch or ErrStale. The
// signature is compared in constant time and checked before the age, so a forgery learns
// nothing from which error it gets.
//
// A receiver in another language does the same: compute HMAC-SHA256 with the secret as key
// over the bytes of timestamp, ".", body; hex-encode it; compare it with the header's value
// after "sha256=" in constant time; then refuse timestamps too far from its clock; and use
// HeaderDelivery to ignore repeats.
func Verify(secret, timestamp, body, signature string, maxAge time.Duration) error {
	return verifyAt(time.Now(), secret, timestamp, body, signature, maxAge)
}

func verifyAt(now time.Time, secret, timestamp, body, signature string, maxAge time.Duration) error {
	if secret == "" {
		return fmt.Errorf("notify: verify: empty secret: %w", ErrMalformed)
	}
	if len(timestamp) == 0 || len(timestamp) > 18 || !allDigits(timestamp) {
		return fmt.Errorf("notify: verify: timestamp is not decimal Unix seconds: %w", ErrMalformed)
	}
	hexMAC, ok := strings.CutPrefix(signature, signaturePrefix)
	if !ok {
		return fmt.Errorf("notify: verify: signature does not start with %q: %w", signaturePrefix, ErrMalformed)
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("notify: verify: signature is not %d hex bytes: %w", sha256.Size, ErrMalformed)
	}
	if !hmac.Equal(got, mac(secret, timestamp, []byte(body))) {
		return fmt.Errorf("notify: verify: %w", ErrSignatureMismatch)
	}
	if maxAge > 0 {
		ts, err := strconv.ParseInt(timestamp, 10, 64) // ≤ 18 digits: cannot overflow
		if err != nil {
			return fmt.Errorf("notify: verify: timestamp: %w", ErrMalformed)
		}
		age := now.Sub(time.Unix(ts, 0))
		if age > maxAge || age < -maxAge {
			return fmt.Errorf("notify: verify: timestamp is %v from now, more than %v: %w", age.Round(time.Second), maxAge, ErrStale)
		}
	}
	return nil
}
