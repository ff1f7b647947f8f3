package proxy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// pageContext is what a page's forms carry about the decision they came
// from. The server signs it, so a client cannot change who asks, for which
// app, or where "continue" leads.
type pageContext struct {
	Subject string `json:"s"`
	App     string `json:"a"`
	Host    string `json:"h"` // the host the page was shown on; actions only act on it
	Path    string `json:"p"` // path and query to return to, on Host
	Scheme  string `json:"c"`
	Issued  int64  `json:"t"`
	Nonce   string `json:"n"`
}

// formLifetime bounds how long a page's forms stay valid.
const formLifetime = time.Hour

var (
	errBadForm     = errors.New("the form is invalid")
	errExpiredForm = errors.New("the form has expired")
	errReplayed    = errors.New("the form was already used")
)

// signer signs page contexts and CSRF tokens with a server-side key, and
// remembers which forms were used so none can be replayed.
type signer struct {
	key  []byte
	used *lru.Cache[string, int64] // nonce → issued (unix seconds)
	mu   sync.Mutex
}

func newSigner(key []byte) (*signer, error) {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) < 32 {
		return nil, errors.New("page key must be at least 32 bytes")
	}
	used, err := lru.New[string, int64](1 << 17)
	if err != nil {
		return nil, err
	}
	return &signer{key: key, used: used}, nil
}

func (s *signer) mac(purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// sign returns the opaque form field for c and its CSRF token. The token
// is bound to the subject and the form's nonce: a form fetched by one
// person cannot be posted from another person's browser.
func (s *signer) sign(c pageContext) (ctx, csrf string) {
	if c.Nonce == "" {
		var n [12]byte
		_, _ = rand.Read(n[:])
		c.Nonce = base64.RawURLEncoding.EncodeToString(n[:])
	}
	if c.Issued == 0 {
		c.Issued = time.Now().Unix()
	}
	payload, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(payload)
	ctx = p + "." + base64.RawURLEncoding.EncodeToString(s.mac("signpost-context", p))
	csrf = base64.RawURLEncoding.EncodeToString(s.mac("signpost-csrf", c.Subject, c.Nonce))
	return ctx, csrf
}

// verify checks a posted form: signature, age, CSRF token and subject. It
// does not mark the form used; consume does, once the action succeeded.
func (s *signer) verify(ctx, csrf, subject string, now time.Time) (pageContext, error) {
	var c pageContext
	p, sig, ok := strings.Cut(ctx, ".")
	if !ok || len(ctx) > 4096 {
		return c, errBadForm
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("signpost-context", p)) {
		return c, errBadForm
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(payload, &c) != nil {
		return c, errBadForm
	}
	want := s.mac("signpost-csrf", c.Subject, c.Nonce)
	gotCSRF, err := base64.RawURLEncoding.DecodeString(csrf)
	if err != nil || !hmac.Equal(gotCSRF, want) {
		return c, errBadForm
	}
	if c.Subject != subject {
		return c, errBadForm
	}
	issued := time.Unix(c.Issued, 0)
	if now.Sub(issued) > formLifetime || issued.Sub(now) > time.Minute {
		return c, errExpiredForm
	}
	if _, seen := s.used.Peek(c.Nonce); seen {
		return c, errReplayed
	}
	return c, nil
}

// consume marks a verified form used. It reports false when another
// request consumed it first.
func (s *signer) consume(c pageContext) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.used.Peek(c.Nonce); seen {
		return false
	}
	s.used.Add(c.Nonce, c.Issued)
	return true
}

// release forgets that a form was used, when the action it was used for
// failed and the person should be able to send it again.
func (s *signer) release(c pageContext) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used.Remove(c.Nonce)
}

// limiter bounds how often each person may use a page action: a token
// bucket per subject, kept in a bounded LRU so that many people cannot
// grow it without limit.
type limiter struct {
	mu      sync.Mutex
	buckets *lru.Cache[string, *bucket]
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter() *limiter {
	c, _ := lru.New[string, *bucket](1 << 16)
	return &limiter{buckets: c}
}

// allow takes one token for subject, reporting false when none is left.
// Bursts of up to perHour are allowed; tokens return evenly over an hour.
// The rate is passed in so that a reload changes it at once.
func (l *limiter) allow(subject string, perHour int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	rate := float64(perHour)
	b, ok := l.buckets.Get(subject)
	if !ok {
		b = &bucket{tokens: rate, last: now}
		l.buckets.Add(subject, b)
	}
	b.tokens += now.Sub(b.last).Hours() * rate
	if b.tokens > rate {
		b.tokens = rate
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
