package attack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/ca"
	"github.com/signpost-gateway/signpost/internal/testkit"
)

// signpostBinary returns the signpost binary that TestMain builds in the
// background while the other tests run.
func signpostBinary(t *testing.T) string {
	t.Helper()
	b := <-binary
	binary <- b
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// process is a running signpost binary.
type process struct {
	cmd     *exec.Cmd
	proxy   string
	admin   string
	stderr  *testkit.LogBuffer
	exited  chan struct{}
	exitErr error
}

// startBinary runs `signpost run` on cfgDir and data and waits for its
// "signpost started" line, which names the listeners' addresses.
func startBinary(t *testing.T, cfgDir, data string) *process {
	t.Helper()
	p := &process{stderr: &testkit.LogBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(signpostBinary(t), "run", "--config", cfgDir, "--data", data, "--watch=false", "--log-format", "json")
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + data}
	pr, pw := io.Pipe()
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.stderr.Write(append(sc.Bytes(), '\n'))
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "signpost started" {
				started <- line
			}
		}
	}()
	go func() {
		p.exitErr = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	select {
	case line := <-started:
		p.proxy, _ = line["proxy"].(string)
		p.admin, _ = line["admin"].(string)
	case <-p.exited:
		t.Fatalf("signpost exited before it started: %v\n%s", p.exitErr, p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("signpost did not start within 30s:\n%s", p.stderr.String())
	}
	return p
}

// TestKillDuringAFloodOfAccessRequestsLosesNoneAcknowledged: many people
// ask for access at once; the process is killed with SIGKILL in the middle
// of it and started again on the same data directory. Every request whose
// "received" redirect reached its browser is still there.
func TestKillDuringAFloodOfAccessRequestsLosesNoneAcknowledged(t *testing.T) {
	const users, killAfter, workers = 120, 40, 8
	cfgDir, data := t.TempDir(), t.TempDir()
	passwords := map[string]string{}
	for i := range users {
		// One password for all: each user is a distinct subject, and one
		// bcrypt hash keeps the setup fast.
		passwords[fmt.Sprintf("user%03d", i)] = "flood-password"
	}
	writeHtpasswd(t, cfgDir, passwords)
	cfg := `proxy:
  listen: "127.0.0.1:0"
  admin_listen: "127.0.0.1:0"
identity:
  htpasswd: users.htpasswd
  require_auth: true
requests:
  requests_per_hour: 1000
policy:
  default: {action: allow}
  rules:
    - {category: file-transfer, action: block}
`
	if err := os.WriteFile(filepath.Join(cfgDir, "signpost.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, cfgDir, data)

	// Plain-HTTP page actions on a blocked catalog host are answered by
	// Signpost itself: nothing is dialed upstream.
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: p.proxy}), MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ask := func(user string) (bool, error) {
		auth := "Basic " + b64(user+":"+passwords[user])
		req, _ := http.NewRequest("GET", "http://wetransfer.com/", nil)
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Proxy-Authorization", auth)
		resp, err := c.Do(req)
		if err != nil {
			return false, err
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		i := bytes.Index(page, []byte(`action="/.signpost/request"`))
		if i < 0 {
			return false, fmt.Errorf("%s: no request form (status %d)", user, resp.StatusCode)
		}
		form := url.Values{}
		for _, m := range fieldRE.FindAllSubmatch(page[i:], 2) {
			form.Set(string(m[1]), html.UnescapeString(string(m[2])))
		}
		form.Set("justification", "Sending files to a customer, "+user)
		req, _ = http.NewRequest("POST", "http://wetransfer.com/.signpost/request", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Proxy-Authorization", auth)
		resp, err = c.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/.signpost/requests?received=1", nil
	}

	queue := make(chan string, users)
	for u := range passwords {
		queue <- u
	}
	close(queue)
	var (
		mu    sync.Mutex
		acked []string
		count atomic.Int32
		wg    sync.WaitGroup
	)
	enough := make(chan struct{})
	var once sync.Once
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range queue {
				ok, err := ask(u)
				if err != nil {
					return // the process is gone
				}
				if !ok {
					continue
				}
				mu.Lock()
				acked = append(acked, u)
				mu.Unlock()
				if count.Add(1) >= killAfter {
					once.Do(func() { close(enough) })
				}
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d requests acknowledged in 30s:\n%s", count.Load(), p.stderr.String())
	}
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL, mid-flood
		t.Fatal(err)
	}
	<-p.exited
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()

	p2 := startBinary(t, cfgDir, data)
	token, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+p2.admin+"/api/v1/requests?limit=500", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Requests []struct {
			User string `json:"user"`
			App  string `json:"app"`
		} `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for _, r := range list.Requests {
		if r.App == "wetransfer" {
			stored[r.User]++
		}
	}
	for _, u := range acked {
		if stored[u] != 1 {
			t.Errorf("%s's acknowledged request: stored %d times after the restart; want 1", u, stored[u])
		}
	}
	t.Logf("acknowledged before SIGKILL: %d; stored after restart: %d", len(acked), len(stored))
}

// TestBinaryRefusesAReadableCAKey: `signpost run` with a CA key that
// others can read exits non-zero and says what to do.
func TestBinaryRefusesAReadableCAKey(t *testing.T) {
	dir := t.TempDir()
	c, err := ca.Generate(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := c.WriteFiles(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := "proxy:\n  listen: \"127.0.0.1:0\"\n  admin_listen: \"127.0.0.1:0\"\n  ca_cert: " + certFile + "\n  ca_key: " + keyFile + "\n"
	if err := os.WriteFile(filepath.Join(dir, "signpost.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := t.TempDir()
	cmd := exec.CommandContext(ctx, signpostBinary(t), "run", "--config", dir, "--data", data, "--watch=false")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + data}
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("signpost run with a readable CA key: %v; want exit status 1\n%s", err, out)
	}
	for _, want := range []string{keyFile, "0644", "chmod 600"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the message does not say %q:\n%s", want, out)
		}
	}
}
