package attack_test

import (
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signpost-gateway/signpost/ca"
	"github.com/signpost-gateway/signpost/internal/testkit"
)

// startErr builds and starts a node on a configuration directory holding
// cfg and returns Start's error, shutting the node down if it started.
func startErr(t *testing.T, dir, data, cfg string) error {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "signpost.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	origin := startGatewayOrigin(t)
	n, err := newNode(dir, data, newResolver(origin), &testkit.LogBuffer{}, origin)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Start()
	if err == nil {
		_ = n.Shutdown(t.Context())
	}
	return err
}

// writeCA writes a new CA into dir/ca and returns its files.
func writeCA(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	c, err := ca.Generate(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err = c.WriteFiles(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestCAKeyReadableByOthersStopsTheNode: whoever can read the CA key can
// impersonate every site to every browser that trusts it. A key that group
// or others may access is refused at start, with the fix in the message.
func TestCAKeyReadableByOthersStopsTheNode(t *testing.T) {
	for _, tt := range []struct {
		mode   fs.FileMode
		starts bool
	}{
		{0o644, false}, {0o640, false}, {0o604, false}, {0o660, false}, {0o601, false}, {0o610, false},
		{0o600, true}, {0o400, true},
	} {
		t.Run("configured key "+tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			certFile, keyFile := writeCA(t, dir)
			if err := os.Chmod(keyFile, tt.mode); err != nil {
				t.Fatal(err)
			}
			err := startErr(t, dir, t.TempDir(), "proxy:\n  ca_cert: "+certFile+"\n  ca_key: "+keyFile+"\n"+policyYAML)
			if tt.starts {
				if err != nil {
					t.Fatalf("the node refused a key of mode %v: %v", tt.mode, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("the node started with a CA key of mode %v", tt.mode)
			}
			for _, want := range []string{keyFile, "chmod 600"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
	t.Run("generated key in the data directory", func(t *testing.T) {
		t.Parallel()
		dir, data := t.TempDir(), t.TempDir()
		if err := startErr(t, dir, data, policyYAML); err != nil {
			t.Fatalf("first start: %v", err)
		}
		key := filepath.Join(data, "ca", "ca.key")
		if err := os.Chmod(key, 0o644); err != nil {
			t.Fatal(err)
		}
		err := startErr(t, dir, data, policyYAML)
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("restart with a readable generated key: %v; want a refusal naming %s", err, key)
		}
	})
	t.Run("admin tokens file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		tokens := filepath.Join(dir, "admin.tokens")
		if err := os.WriteFile(tokens, []byte("ops:"+strings.Repeat("t", 32)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := startErr(t, dir, t.TempDir(), "admin:\n  tokens_file: admin.tokens\n"+policyYAML)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("a readable admin token file: %v; want a refusal", err)
		}
	})
}

// TestDataDirectorySecretsAreOwnerOnly: what a node writes on first
// start — CA key, admin token, form and session keys, the database of
// requests — is readable by its owner only, even in a directory that
// others may list.
func TestDataDirectorySecretsAreOwnerOnly(t *testing.T) {
	nd := startNode(t, map[string]string{"signpost.yaml": policyYAML})
	if err := os.Chmod(nd.data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca/ca.key", "admin-token", "page-key", "admin-session-key", "signpost.db"} {
		info, err := os.Stat(filepath.Join(nd.data, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; want no access for group and others", name, info.Mode().Perm())
		}
	}
}

// TestLogsAndMetricsCarryNoSecrets sends credentials, cookies, tokens and
// query strings through every path — allowed, warned, blocked, refused,
// failed, page actions — with the most verbose logging, and then searches
// the logs and the metrics for them.
func TestLogsAndMetricsCarryNoSecrets(t *testing.T) {
	pw := writeHtpasswd(t, t.TempDir(), map[string]string{"alice": "alice-S3cret-pw"})
	g := startGateway(t, setup{yaml: loopbackOK + identityYAML(pw) + policyYAML, store: true, level: slog.LevelDebug})
	g.res.route("down.example:80", closedAddr(t))
	alice := g.clientAs("alice:alice-S3cret-pw")
	secrets := []string{"alice-S3cret-pw", b64("alice:alice-S3cret-pw"), "wrong-S3cret-pw", b64("alice:wrong-S3cret-pw"),
		"cookie-S3cret", "bearer-S3cret", "query-S3cret"}
	hdr := []string{"Cookie", "session=cookie-S3cret", "Authorization", "Bearer bearer-S3cret"}
	for _, u := range []string{
		"http://teams.microsoft.com/p?token=query-S3cret-1",     // forwarded
		"http://slack.com/x?token=query-S3cret-2",               // warned
		"https://wetransfer.com/?token=query-S3cret-3",          // blocked, intercepted
		"https://docs.google.com/drawings/d/1?k=query-S3cret-4", // split host, forwarded inside
		"http://down.example/?token=query-S3cret-5",             // upstream failure
		"http://169.254.169.254/?token=query-S3cret-6",          // destination refused
	} {
		g.get(alice, u, hdr...)
	}
	// A wrong password, and a malformed host carrying a secret.
	g.get(g.clientAs("alice:wrong-S3cret-pw"), "http://teams.microsoft.com/?token=query-S3cret-7", hdr...)
	g.raw("GET http://query-S3cret-8%2e/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	// Page actions: the form's context and CSRF token are tokens too.
	_, page := g.get(alice, "http://wetransfer.com/?q=query-S3cret-9", hdr...)
	form := formOf(t, page, "/.signpost/request")
	secrets = append(secrets, form.Get("ctx"), form.Get("csrf"))
	form.Set("justification", "for a customer")
	g.post(alice, "http://wetransfer.com/.signpost/request", form, hdr...)
	g.post(alice, "http://wetransfer.com/.signpost/request", form, hdr...) // replay

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	logs, metrics := g.logs.String(), rec.Body.String()
	if !strings.Contains(logs, `"user":"alice"`) || !strings.Contains(metrics, "signpost_proxy_decisions_total") {
		t.Fatalf("the traffic left no trace to search: logs %d bytes, metrics %d bytes", len(logs), len(metrics))
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains %q", s)
		}
		if strings.Contains(metrics, s) {
			t.Errorf("the metrics contain %q", s)
		}
	}
}

// TestAdminEndpointsNeedAValidToken: every admin route except the probes
// answers 401 (the API) or sends to the sign-in page (the HTML view)
// without a valid token, and a write without one changes nothing.
func TestAdminEndpointsNeedAValidToken(t *testing.T) {
	nd := startNode(t, map[string]string{"signpost.yaml": loopbackOK + policyYAML})
	// One pending request, for the writes below to try to decide.
	c := nd.client("")
	_, page := do(t, c, "GET", "http://wetransfer.com/", nil)
	form := formOf(t, page, "/.signpost/request")
	form.Set("justification", "for a customer")
	if resp, _ := post(t, c, "http://wetransfer.com/.signpost/request", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("request access: got %d", resp.StatusCode)
	}
	api := []struct{ method, path, body string }{
		{"GET", "/api/v1/requests", ""},
		{"GET", "/api/v1/requests/1", ""},
		{"POST", "/api/v1/requests/1/approve", `{"duration":"30d"}`},
		{"POST", "/api/v1/requests/1/deny", `{"message":"no"}`},
		{"GET", "/api/v1/grants", ""},
		{"POST", "/api/v1/grants/1/revoke", ""},
		{"GET", "/api/v1/audit", ""},
		{"POST", "/api/v1/reload", ""},
		{"GET", "/api/v1/config", ""},
		{"GET", "/api/v1/no-such-route", ""},
		{"DELETE", "/api/v1/requests/1", ""},
		{"GET", "/metrics", ""},
	}
	wrong := []struct{ name, authorization string }{
		{"no credentials", ""},
		{"wrong token", "Bearer wrong-S3cret-token-0123456789"},
		{"token with a byte more", "Bearer " + nd.token + "x"},
		{"token with a byte less", "Bearer " + nd.token[:len(nd.token)-1]},
		{"token as Basic", "Basic " + b64("admin:"+nd.token)},
		{"token under another scheme", "Token " + nd.token},
		{"empty bearer", "Bearer "},
		{"two spaces", "Bearer  " + nd.token},
	}
	for _, r := range api {
		for _, w := range wrong {
			t.Run(r.method+" "+r.path+"/"+w.name, func(t *testing.T) {
				resp, body := nd.adminDo(r.method, r.path, w.authorization, "application/json", r.body)
				if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("got %d %q; want 401 with a Bearer challenge", resp.StatusCode, body)
				}
			})
		}
	}
	t.Run("forged session cookie", func(t *testing.T) {
		req, _ := http.NewRequest("GET", nd.admin+"/api/v1/requests", nil)
		req.AddCookie(&http.Cookie{Name: "signpost_admin", Value: "eyJhIjoiYWRtaW4ifQ.AAAA"})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %d; want 401", resp.StatusCode)
		}
	})
	for _, path := range []string{"/", "/history", "/grants", "/audit", "/requests/1"} {
		t.Run("page "+path, func(t *testing.T) {
			resp, body := nd.adminDo("GET", path, "", "", "")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Fatalf("without credentials: got %d to %q; want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
			}
			if strings.Contains(body, "for a customer") {
				t.Fatalf("the redirect shows the data")
			}
			if resp, _ := nd.adminDo("GET", path, "Bearer wrong-S3cret-token-0123456789", "", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong bearer: got %d; want 401", resp.StatusCode)
			}
		})
	}
	// Nothing was decided, and the control with the token works.
	code, r := nd.api("GET", "/api/v1/requests/1", "")
	if rq, _ := r["request"].(map[string]any); code != http.StatusOK || rq["status"] != "pending" {
		t.Fatalf("the request after the attempts: %d %v; want it still pending", code, r)
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		if resp, body := nd.adminDo("GET", probe, "", "", ""); resp.StatusCode != http.StatusOK || strings.Contains(body, "for a customer") {
			t.Errorf("probe %s: got %d %q", probe, resp.StatusCode, body)
		}
	}
	if logs := nd.logs.String(); strings.Contains(logs, nd.token) || strings.Contains(logs, "wrong-S3cret-token") {
		t.Errorf("the node's log contains an admin token")
	}
}
