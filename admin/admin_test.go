package admin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAuthentication(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "signpost_test_total", Help: "test"}))
	h := New(Options{Tokens: []string{"0123456789abcdef-token"}, Gatherer: reg})
	srv := httptest.NewServer(h)
	defer srv.Close()
	tests := []struct {
		path, auth string
		want       int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/metrics", "", 401},
		{"/metrics", "Bearer wrong", 401},
		{"/metrics", "Basic MDEyMzQ1Njc4OWFiY2RlZi10b2tlbg==", 401},
		{"/metrics", "Bearer 0123456789abcdef-token", 200},
		{"/metrics", "Bearer 0123456789abcdef-token2", 401},
		{"/api/v1/anything", "", 401},
		{"/api/v1/anything", "Bearer 0123456789abcdef-token", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.auth, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got %d; want %d", resp.StatusCode, tt.want)
			}
			if resp.StatusCode == 401 && resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("401 Content-Type: got %q; want JSON", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestMetricsOpenAndReadiness(t *testing.T) {
	notReady := errors.New("rules not loaded")
	h := New(Options{Gatherer: prometheus.NewRegistry(), MetricsOpen: true, Ready: func() error { return notReady }})
	for path, want := range map[string]int{"/metrics": 200, "/readyz": 503, "/api/v1/requests": 401} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s: got %d; want %d", path, rec.Code, want)
		}
		if path == "/readyz" && !strings.Contains(rec.Body.String(), "rules not loaded") {
			t.Errorf("/readyz body: %s", rec.Body.String())
		}
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	tok, path, created, err := LoadOrCreateToken(dir)
	if err != nil || !created || len(tok) != 64 {
		t.Fatalf("first start: %q %v %v", tok, created, err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v; want 0600", info.Mode().Perm(), err)
	}
	again, _, created, err := LoadOrCreateToken(dir)
	if err != nil || created || again != tok {
		t.Fatalf("second start: got %q created %v err %v; want the same token", again, created, err)
	}
	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(loose, []byte("0123456789abcdef0123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokens(loose); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("token file readable by others: got %v; want a refusal naming chmod 600", err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("# comment\n\nabc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokens(short); err == nil {
		t.Fatal("a short token was accepted")
	}
}
