package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/config"
)

var (
	// binDir holds the signpost binary built for these tests.
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signpost-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// signpostBinary builds cmd/signpost once and returns its path.
func signpostBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "signpost")
	buildOnce.Do(func() {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		out, err := exec.Command(goCmd, "build", "-o", bin, "github.com/signpost-gateway/signpost/cmd/signpost").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/signpost: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// runHelp matches a flag line of `signpost run -h`: "  -name type" for a
// flag that takes a value, "  -name" for a boolean.
var runHelp = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)( \S+)?$`)

// runFlags returns the flags `signpost run` accepts, and whether each takes
// a value.
func runFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(signpostBinary(t), "run", "-h").CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	flags := map[string]bool{}
	for _, m := range runHelp.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = m[2] != ""
	}
	if len(flags) == 0 {
		t.Fatalf("found no flags in `signpost run -h`:\n%s", out)
	}
	return flags
}

func TestArgsAreRunFlags(t *testing.T) {
	f := loadFleet(t)
	d := readDockerfile(t)
	known := runFlags(t)
	main := f.container(t, mainContainer)

	if has(main, "command") {
		t.Errorf("signpost sets command %v; want the image's ENTRYPOINT %q", must(t, main, "command"), d.entrypoint)
	}
	if len(d.entrypoint) != 1 || filepath.Base(d.entrypoint[0]) != "signpost" {
		t.Errorf("got ENTRYPOINT %q; want the signpost binary alone, so that args are its arguments", d.entrypoint)
	}
	for name, value := range f.runArgs(t) {
		t.Run("--"+name, func(t *testing.T) {
			takesValue, ok := known[name]
			switch {
			case !ok:
				t.Errorf("signpost run has no flag --%s; it has %v", name, slices.Sorted(maps.Keys(known)))
			case !takesValue && value != "true" && value != "false":
				t.Errorf("got --%s=%s; want true or false", name, value)
			}
		})
	}
	t.Run("the image's CMD", func(t *testing.T) {
		if len(d.cmd) == 0 || d.cmd[0] != "run" {
			t.Fatalf("got CMD %q; want run first", d.cmd)
		}
		for _, a := range d.cmd[1:] {
			if name, ok := strings.CutPrefix(a, "--"); ok {
				if _, known := known[name]; !known {
					t.Errorf("the Dockerfile's CMD passes --%s, which signpost run does not accept", name)
				}
			}
		}
	})
}

// readmeSecrets is the first sh block under README.md's "Make the Secrets".
func readmeSecrets(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(kubeDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "Make the Secrets\n")
	if ok {
		_, rest, ok = strings.Cut(rest, "```sh\n")
	}
	var block string
	if ok {
		block, _, ok = strings.Cut(rest, "```\n")
	}
	if !ok {
		t.Fatal("README.md has no sh block under \"Make the Secrets\"")
	}
	return block
}

// baseWithSecrets copies the base into a temporary directory and makes its
// Secrets' files there by running README.md's commands, as an admin would.
func baseWithSecrets(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "kubernetes")
	if err := os.CopyFS(dir, os.DirFS(kubeDir)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.crt", "ca.key", "admin.tokens", "page-key", "admin-session-key", "store.yaml"} {
		_ = os.Remove(filepath.Join(dir, "secrets", name)) // a developer's own, if any
	}
	signpostBinary(t)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", readmeSecrets(t))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("README.md's commands for the Secrets: %v\n%s", err, out)
	}
	return dir
}

// kubeletDir lays files out as the kubelet's atomic writer does for a
// ConfigMap, Secret or projected volume: the files live in a hidden
// timestamped directory, ..data links to it, and each visible name links
// through ..data. write swaps in a new set of files in one rename.
type kubeletDir struct {
	dir     string
	gen     int
	current string
}

func (k *kubeletDir) write(t *testing.T, files map[string][]byte) {
	t.Helper()
	k.gen++
	ts := fmt.Sprintf("..2026_01_02_15_04_05.%d", k.gen)
	if err := os.MkdirAll(filepath.Join(k.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(k.dir, ts, name), data, 0o440); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(k.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(k.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(k.dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
	if k.current != "" {
		if err := os.RemoveAll(filepath.Join(k.dir, k.current)); err != nil {
			t.Fatal(err)
		}
	}
	k.current = ts
}

// configFiles returns what the config volume shows, by file name: the
// rules ConfigMap's files and the projected Secret's, read from base (a
// copy of the base with its Secrets made).
func configFiles(t *testing.T, f *fleet, base string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, src := range sourcesOf(t, f.volumes(t)[configVolume(t, f)]) {
		var g generator
		if src.kind == "configMap" {
			g = rulesGenerator(t, f)
		} else {
			g = secretGenerator(t, f, src.name)
		}
		for _, file := range g.Files {
			data, err := os.ReadFile(filepath.Join(base, file))
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := files[filepath.Base(file)]; dup {
				t.Fatalf("two sources of the config volume have %s", filepath.Base(file))
			}
			files[filepath.Base(file)] = data
		}
	}
	return files
}

// initCopy does what the init container does: copies each Secret file it
// names into dataDir, mode 0400 (umask 077 on the kubelet's 0440).
func initCopy(t *testing.T, f *fleet, base, dataDir string) {
	t.Helper()
	init := f.container(t, initContainer)
	vols := f.volumes(t)
	secretAt := map[string]string{}
	for _, m := range mounts(t, init) {
		if v := vols[str(t, m, "name")]; has(v, "secret") {
			secretAt[str(t, m, "mountPath")] = str(t, v, "secret", "secretName")
		}
	}
	for _, a := range list(t, init, "args")[3:] {
		file := a.(string)
		g := secretGenerator(t, f, secretAt[filepath.Dir(file)])
		i := slices.IndexFunc(g.Files, func(s string) bool { return filepath.Base(s) == filepath.Base(file) })
		if i < 0 {
			t.Fatalf("Secret %s has no %s", g.Name, filepath.Base(file))
		}
		data, err := os.ReadFile(filepath.Join(base, g.Files[i]))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dataDir, filepath.Base(file)), data, 0o400); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRulesPassCheck(t *testing.T) {
	f := loadFleet(t)
	base := baseWithSecrets(t)
	k := &kubeletDir{dir: t.TempDir()}
	k.write(t, configFiles(t, f, base))

	cfg, err := config.Load(k.dir)
	if err != nil {
		t.Fatalf("the config volume does not load:\n%v", err)
	}
	if !strings.HasPrefix(cfg.Store.DSN, "postgres://") {
		t.Errorf("got store.dsn %q; want the fleet's PostgreSQL", cfg.Store.DSN)
	}
	out, err := exec.Command(signpostBinary(t), "check", "--config", k.dir).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok: ") {
		t.Errorf("signpost check: %v\n%s", err, out)
	}
}

// node is a signpost process started from the Deployment's args.
type node struct {
	cmd         *exec.Cmd
	proxy       string
	admin       string
	adminSecret string

	exited  chan struct{} // closed when the process has exited; then waitErr is set
	waitErr error

	mu  sync.Mutex
	log bytes.Buffer
}

func (n *node) logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// startNode runs the binary with args, and waits until it says it started.
func startNode(t *testing.T, args []string, env []string) *node {
	t.Helper()
	n := &node{cmd: exec.Command(signpostBinary(t), args...), exited: make(chan struct{})}
	n.cmd.Env = env
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			n.mu.Lock()
			n.log.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "signpost started" {
				started <- rec
			}
		}
		n.waitErr = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill() // os.ErrProcessDone when it has already exited
		<-n.exited
	})
	select {
	case rec := <-started:
		n.proxy, _ = rec["proxy"].(string)
		n.admin, _ = rec["admin"].(string)
		if n.proxy == "" || n.admin == "" {
			t.Fatalf("the start line names no listeners: %v", rec)
		}
	case <-n.exited:
		t.Fatalf("signpost exited before it started (%v):\n%s", n.waitErr, n.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("signpost did not start within 30 s:\n%s", n.logs())
	}
	return n
}

var client = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

func (n *node) get(t *testing.T, url string, bearer string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, n.logs())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func (n *node) configHash(t *testing.T) string {
	t.Helper()
	code, body := n.get(t, "http://"+n.admin+"/api/v1/config", n.adminSecret)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/config: got %d; want 200\n%s", code, body)
	}
	var st struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.Hash == "" {
		t.Fatalf("GET /api/v1/config: %v\n%s", err, body)
	}
	return st.Hash
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestNodeRunsAsDeployed starts the binary with the Deployment's args on
// the files laid out as the pod has them: the config volume in the
// kubelet's ..data layout, and the data directory as the init container
// leaves it. Only the addresses (loopback, any port), the directories
// (temporary) and the store (SQLite: the store's own suite covers
// PostgreSQL) differ.
func TestNodeRunsAsDeployed(t *testing.T) {
	f := loadFleet(t)
	args := f.runArgs(t)
	if args["log-format"] != "json" {
		t.Fatalf("got --log-format=%s; want json: log collectors parse it, and this test reads the start line", args["log-format"])
	}
	base := baseWithSecrets(t)
	root := t.TempDir()
	dataDir, tmpDir, storeDir := filepath.Join(root, "data"), filepath.Join(root, "tmp"), filepath.Join(root, "store")
	for _, d := range []string{dataDir, tmpDir, storeDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	initCopy(t, f, base, dataDir)
	before := dirNames(t, dataDir)

	files := configFiles(t, f, base)
	for name, data := range files {
		files[name] = bytes.ReplaceAll(data, []byte(args["data"]+"/"), []byte(dataDir+"/"))
	}
	files["store.yaml"] = []byte("store:\n  dsn: sqlite:" + filepath.Join(storeDir, "signpost.db") + "\n")
	k := &kubeletDir{dir: filepath.Join(root, "config")}
	k.write(t, files)

	run := []string{"run"}
	for name, value := range args {
		switch name {
		case "config":
			value = k.dir
		case "data":
			value = dataDir
		case "listen", "admin-listen":
			value = "127.0.0.1:0"
		}
		run = append(run, "--"+name+"="+value)
	}
	n := startNode(t, run, append(os.Environ(), "TMPDIR="+tmpDir))
	tokens, err := os.ReadFile(filepath.Join(dataDir, "admin.tokens"))
	if err != nil {
		t.Fatal(err)
	}
	_, n.adminSecret, _ = strings.Cut(strings.TrimSpace(string(tokens)), ":")

	t.Run("probes answer on the admin port", func(t *testing.T) {
		main := f.container(t, mainContainer)
		for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
			path := str(t, main, probe, "httpGet", "path")
			if code, body := n.get(t, "http://"+n.admin+path, ""); code != http.StatusOK {
				t.Errorf("%s GET %s: got %d; want 200\n%s", probe, path, code, body)
			}
		}
	})

	t.Run("the CA is the Secret's", func(t *testing.T) {
		want, err := os.ReadFile(filepath.Join(dataDir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		code, got := n.get(t, "http://"+n.proxy+"/signpost/ca.crt", "")
		if code != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("GET /signpost/ca.crt: got %d and %q; want 200 and the Secret's ca.crt", code, got)
		}
	})

	t.Run("a ..data swap reloads the rules", func(t *testing.T) {
		old := n.configHash(t)
		changed := map[string][]byte{}
		for name, data := range files {
			changed[name] = data
		}
		changed["policy.yaml"] = append(slices.Clone(files["policy.yaml"]), "\n# changed by the kubelet\n"...)
		k.write(t, changed)
		deadline := time.Now().Add(15 * time.Second)
		for n.configHash(t) == old {
			if time.Now().After(deadline) {
				t.Fatalf("the config hash is still %s 15 s after the ..data swap\n%s", old, n.logs())
			}
			time.Sleep(50 * time.Millisecond) // polling the node, with a deadline
		}
	})

	t.Run("SIGTERM stops it cleanly", func(t *testing.T) {
		if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		grace, err := parseDuration(args["grace"])
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(grace+5)*time.Second)
		defer cancel()
		select {
		case <-n.exited:
			if n.waitErr != nil {
				t.Errorf("got %v after SIGTERM; want exit 0\n%s", n.waitErr, n.logs())
			}
		case <-ctx.Done():
			t.Fatalf("signpost still runs %d s after SIGTERM\n%s", grace+5, n.logs())
		}
	})

	// The pod mounts the data directory read-only and /tmp holds nothing
	// Signpost needs: it must have written to neither.
	if after := dirNames(t, dataDir); !slices.Equal(after, before) {
		t.Errorf("the data directory holds %q after a run; want only the copied Secrets %q (it is read-only in the pod)", after, before)
	}
	if names := dirNames(t, tmpDir); len(names) != 0 {
		t.Errorf("signpost wrote %q to TMPDIR", names)
	}
}
