package main

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dop251/goja"
)

var update = flag.Bool("update", false, "rewrite golden files")

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/signpost -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestCheck(t *testing.T) {
	code, out, errs := runCLI(t, "", "check")
	if code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("check of the embedded default: exit %d, %q %q", code, out, errs)
	}
	dir := t.TempDir()
	bad := "policy:\n  rules:\n    - {app: slak, action: warn}\n    - {category: chat, action: deny}\n"
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, "", "check", "--config", dir)
	if code != 1 || out != "" {
		t.Fatalf("check of a bad config: exit %d stdout %q; want 1 and nothing on stdout", code, out)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	want := []string{
		filepath.Join(dir, "policy.yaml") + `:3: unknown app "slak" (did you mean "slack"?)`,
		filepath.Join(dir, "policy.yaml") + `:4: found action "deny"; expected allow, monitor, warn or block`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\ngot:\n%s\nwant:\n%s", errs, strings.Join(want, "\n"))
	}
}

const explainURLs = `https://acme.slack.com/messages/C01?token=x
zoom.us
https://docs.google.com/spreadsheets/d/abc
https://docs.google.com/drawings/d/abc
http://wetransfer.com/
https://teams.microsoft.com/
https://example.org/
https://BÜCHER.example./
`

func TestExplainJSON(t *testing.T) {
	code, out, errs := runCLI(t, explainURLs, "explain", "--json", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 8 {
		t.Fatalf("got %d lines; want one per URL:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		for _, k := range []string{"url", "host", "app", "action", "alternative", "rule"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %q lacks %q", l, k)
			}
		}
	}
	golden(t, "explain.golden.jsonl", out)
}

func TestExplainText(t *testing.T) {
	code, out, errs := runCLI(t, "", "explain", "https://acme.slack.com/x", "wetransfer.com")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "explain.golden.txt", out)
}

func TestExplainBadURLStillAnswersTheOthers(t *testing.T) {
	code, out, _ := runCLI(t, "", "explain", "--json", "slack.com", "http://bad host/", "ftp://x.example/", "wetransfer.com")
	if code != 1 {
		t.Fatalf("exit: got %d; want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines; want 4:\n%s", len(lines), out)
	}
	for i, wantErr := range []bool{false, true, true, false} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		if _, hasErr := m["error"]; hasErr != wantErr {
			t.Errorf("line %d %q: error present %v; want %v", i, lines[i], hasErr, wantErr)
		}
	}
}

func TestExplainGroups(t *testing.T) {
	dir := t.TempDir()
	cfg := `groups:
  design: [alice]
policy:
  rules:
    - {category: whiteboard, action: warn}
    - {category: whiteboard, group: design, action: allow}
`
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"miro.com"}, `"action":"warn"`},
		{[]string{"--user", "alice", "miro.com"}, `"action":"allow"`},
		{[]string{"--group", "design", "miro.com"}, `"action":"allow"`},
	} {
		args := append([]string{"explain", "--config", dir, "--json"}, tt.args...)
		code, out, errs := runCLI(t, "", args...)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("explain %v: exit %d, %s %s; want %s", tt.args, code, out, errs, tt.want)
		}
	}
}

func TestCAInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	code, out, errs := runCLI(t, "", "ca", "init", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "fingerprint") {
		t.Errorf("output: %q", out)
	}
	key, err := os.Stat(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if key.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode: got %o; want 600", key.Mode().Perm())
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !cert.IsCA {
		t.Fatalf("ca.crt: %v, IsCA %v", err, cert != nil && cert.IsCA)
	}
	if code, _, errs := runCLI(t, "", "ca", "init", "--out", dir); code == 0 || !strings.Contains(errs, "exist") {
		t.Fatalf("second init over existing files: exit %d, %q; want a refusal", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"ca"}, {"explain"}, {"run", "--log-level", "loud"}} {
		if code, _, _ := runCLI(t, "", args...); code != 2 {
			t.Errorf("signpost %v: exit %d; want 2", args, code)
		}
	}
	if code, out, _ := runCLI(t, "", "version"); code != 0 || !strings.HasPrefix(out, "signpost ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// TestRunTheBinary builds signpost and runs it the way the README says,
// on the embedded default configuration: it serves the CA and the pages,
// answers on the admin port, reloads on SIGHUP and stops on SIGTERM.
func TestRunTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "signpost")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan map[string]any, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	waitFor := func(msg string) map[string]any {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("signpost exited before logging %q", msg)
				}
				if m["msg"] == msg {
					return m
				}
			case <-deadline:
				t.Fatalf("no %q log line within 20s", msg)
			}
		}
	}
	started := waitFor("signpost started")
	proxyAddr, adminAddr := started["proxy"].(string), started["admin"].(string)

	resp, err := http.Get("http://" + proxyAddr + "/signpost/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("GET /signpost/ca.crt: %d %q", resp.StatusCode, body)
	}
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: proxyAddr})}}
	resp, err = c.Get("http://wetransfer.com/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !bytes.Contains(body, []byte("OneDrive")) {
		t.Fatalf("blocked app through the binary: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + adminAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("/metrics without a token: %d; want 401", resp.StatusCode)
	}
	token, err := os.ReadFile(filepath.Join(dir, "data", "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+adminAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`signpost_proxy_decisions_total{action="block",app="wetransfer",category="file-transfer",kind="http"} 1`)) {
		t.Fatalf("/metrics with the token: %d\n%s", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("reload: configuration unchanged")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor("shutting down")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestPACAgreesWithExplain evaluates the PAC file `signpost pac` prints
// with a JavaScript engine and checks, URL by URL, that it sends to the
// proxy exactly what `signpost explain` says Signpost classifies.
func TestPACAgreesWithExplain(t *testing.T) {
	code, pacJS, errs := runCLI(t, "", "pac", "--proxy", "proxy-a.corp.example:3128", "--proxy", "proxy-b.corp.example:3128")
	if code != 0 {
		t.Fatalf("pac: exit %d: %s", code, errs)
	}
	utils, err := os.ReadFile(filepath.Join("..", "..", "pac", "testdata", "pacutils.js"))
	if err != nil {
		t.Fatal(err)
	}
	vm := goja.New()
	if _, err := vm.RunString(string(utils)); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.RunString(pacJS); err != nil {
		t.Fatalf("the PAC file does not run: %v", err)
	}
	find, ok := goja.AssertFunction(vm.Get("FindProxyForURL"))
	if !ok {
		t.Fatal("no FindProxyForURL")
	}
	urls := []string{
		"https://acme.slack.com/messages", "https://slack.com/", "https://notslack.com/", "https://slack.com.evil.example/",
		"https://teams.microsoft.com/", "https://docs.google.com/spreadsheets/d/1", "https://www.example.org/",
		"https://intranet/", "http://10.1.2.3/", "https://zoom.us/j/1", "https://us02web.zoom.us/", "https://wetransfer.com/",
		"https://WeTransfer.com./", "https://drive.google.com/", "https://miro.com/app/board/x", "https://github.com/",
	}
	code, out, errs := runCLI(t, strings.Join(urls, "\n"), "explain", "--json", "-")
	if code != 0 {
		t.Fatalf("explain: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(urls) {
		t.Fatalf("explain answered %d of %d URLs", len(lines), len(urls))
	}
	for i, l := range lines {
		var r struct {
			URL  string          `json:"url"`
			Host string          `json:"host"`
			App  json.RawMessage `json:"app"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(urls[i])
		got, err := find(goja.Undefined(), vm.ToValue(urls[i]), vm.ToValue(u.Hostname()))
		if err != nil {
			t.Fatalf("FindProxyForURL(%s): %v", urls[i], err)
		}
		classified := string(r.App) != "null"
		want := "DIRECT"
		if classified {
			want = "PROXY proxy-a.corp.example:3128; PROXY proxy-b.corp.example:3128"
		}
		if got.String() != want {
			t.Errorf("%s: PAC says %q; explain found app %s, so want %q", urls[i], got.String(), r.App, want)
		}
	}
}
