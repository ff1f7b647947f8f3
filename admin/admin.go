// Package admin serves Signpost's admin listener: health and readiness
// probes, Prometheus metrics, and (as they are added) the admin API. It has
// its own mux, separate from the proxy port, and authenticates every route
// except the probes with bearer tokens compared in constant time. Errors
// are JSON.
//
// The package does not decide traffic and does not hold configuration; the
// service package hands it what it shows.
package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure the admin handler.
type Options struct {
	// Tokens are the accepted bearer tokens. With none, every
	// authenticated route answers 401.
	Tokens []string
	// Gatherer is what /metrics serves; nil serves no metrics route.
	Gatherer prometheus.Gatherer
	// MetricsOpen serves /metrics without a token, for scrapers that
	// cannot send one; the rest stays authenticated.
	MetricsOpen bool
	// Ready reports whether the node is ready for traffic; nil means ready.
	Ready func() error
	// Reload, when set, serves POST /api/v1/reload: it reloads the
	// configuration and returns what ConfigStatus would then say, or the
	// error that kept the running configuration in place.
	Reload func() (any, error)
	// ConfigStatus, when set, serves GET /api/v1/config: which
	// configuration is live.
	ConfigStatus func() any
}

// New returns the admin listener's handler.
func New(o Options) http.Handler {
	sums := make([][32]byte, 0, len(o.Tokens))
	for _, t := range o.Tokens {
		sums = append(sums, sha256.Sum256([]byte(t)))
	}
	auth := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !authorized(r, sums) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="signpost-admin"`)
				writeJSONError(w, http.StatusUnauthorized, "a valid bearer token is required")
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if o.Ready != nil {
			if err := o.Ready(); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if o.Gatherer != nil {
		var m http.Handler = promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{})
		if !o.MetricsOpen {
			m = auth(m)
		}
		mux.Handle("GET /metrics", m)
	}
	if o.Reload != nil {
		mux.Handle("POST /api/v1/reload", auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			status, err := o.Reload()
			if err != nil {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
					"error":  "the configuration was refused; the running configuration stays",
					"status": http.StatusUnprocessableEntity, "problems": strings.Split(err.Error(), "\n"),
				})
				return
			}
			writeJSON(w, http.StatusOK, status)
		})))
	}
	if o.ConfigStatus != nil {
		mux.Handle("GET /api/v1/config", auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, o.ConfigStatus())
		})))
	}
	mux.Handle("/", auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "no such admin route")
	})))
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// authorized compares the request's bearer token with each accepted one.
// Comparing fixed-size hashes keeps the time independent of where the
// strings differ and of their lengths.
func authorized(r *http.Request, sums [][32]byte) bool {
	v := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(v, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	match := 0
	for _, s := range sums {
		match |= subtle.ConstantTimeCompare(got[:], s[:])
	}
	return match == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg, "status": status})
}

// TokenFile is the name of the generated admin token in the data directory.
const TokenFile = "admin-token"

// LoadOrCreateToken returns the admin token kept in dataDir, creating a
// random one (mode 0600) on first start.
func LoadOrCreateToken(dataDir string) (token, path string, created bool, err error) {
	path = filepath.Join(dataDir, TokenFile)
	tokens, err := ReadTokens(path)
	if err == nil && len(tokens) > 0 {
		return tokens[0], path, false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", path, false, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", path, false, err
	}
	token = hex.EncodeToString(b[:])
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", path, false, fmt.Errorf("creating data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", path, false, fmt.Errorf("creating admin token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", path, false, fmt.Errorf("writing admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", path, false, fmt.Errorf("writing admin token: %w", err)
	}
	return token, path, true, nil
}

// ReadTokens reads bearer tokens from a file, one a line; blank lines and
// lines starting with # are skipped. A file readable by others is refused.
func ReadTokens(file string) ([]string, error) {
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
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if len(l) < 16 {
			return nil, fmt.Errorf("%s: an admin token is shorter than 16 characters; expected a long random token", file)
		}
		out = append(out, l)
	}
	return out, nil
}
