package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/signpost-gateway/signpost/config"
)

// kubeDir is the kustomize base under test.
var kubeDir = filepath.Join("..", "configs", "kubernetes")

// Names the manifests use for the parts the tests look at.
const (
	deploymentName = "signpost"
	mainContainer  = "signpost"
	initContainer  = "secrets"
	proxyPortName  = "proxy"
	adminPortName  = "admin"
)

// Files the binary reads from its data directory by fixed name
// (service.Start): the keys every pod of a fleet must share.
var dataDirKeys = []string{"page-key", "admin-session-key"}

// kustomization is the part of kustomization.yaml the tests read.
type kustomization struct {
	Namespace          string      `yaml:"namespace"`
	Resources          []string    `yaml:"resources"`
	ConfigMapGenerator []generator `yaml:"configMapGenerator"`
	SecretGenerator    []generator `yaml:"secretGenerator"`
}

type generator struct {
	Name    string   `yaml:"name"`
	Files   []string `yaml:"files"`
	Options struct {
		DisableNameSuffixHash bool `yaml:"disableNameSuffixHash"`
	} `yaml:"options"`
}

// object is one decoded manifest.
type object struct {
	file string
	m    map[string]any
}

func (o object) kind() string { s, _ := get(o.m, "kind"); v, _ := s.(string); return v }
func (o object) name() string {
	s, _ := get(o.m, "metadata", "name")
	v, _ := s.(string)
	return v
}

// fleet is the decoded base.
type fleet struct {
	k       kustomization
	objects []object
}

func loadFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{}
	data, err := os.ReadFile(filepath.Join(kubeDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &f.k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	for _, r := range f.k.Resources {
		objs, err := decodeAll(filepath.Join(kubeDir, r))
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		for _, m := range objs {
			f.objects = append(f.objects, object{file: r, m: m})
		}
	}
	return f
}

// decodeAll decodes every YAML document in file into a generic map.
func decodeAll(file string) ([]map[string]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if m != nil {
			out = append(out, m)
		}
	}
}

// one returns the single object of kind named name.
func (f *fleet) one(t *testing.T, kind, name string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, o := range f.objects {
		if o.kind() == kind && o.name() == name {
			found = append(found, o.m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d %s objects named %q; want 1", len(found), kind, name)
	}
	return found[0]
}

// all returns every object of kind.
func (f *fleet) all(kind string) []map[string]any {
	var out []map[string]any
	for _, o := range f.objects {
		if o.kind() == kind {
			out = append(out, o.m)
		}
	}
	return out
}

func (f *fleet) podSpec(t *testing.T) map[string]any {
	t.Helper()
	return obj(t, f.one(t, "Deployment", deploymentName), "spec", "template", "spec")
}

func (f *fleet) podLabels(t *testing.T) map[string]any {
	t.Helper()
	return obj(t, f.one(t, "Deployment", deploymentName), "spec", "template", "metadata", "labels")
}

// container returns the container (or init container) called name.
func (f *fleet) container(t *testing.T, name string) map[string]any {
	t.Helper()
	for _, c := range f.containers(t) {
		if str(t, c, "name") == name {
			return c
		}
	}
	t.Fatalf("no container %q in the Deployment", name)
	return nil
}

// containers returns the init containers and the containers.
func (f *fleet) containers(t *testing.T) []map[string]any {
	t.Helper()
	pod := f.podSpec(t)
	var out []map[string]any
	for _, key := range []string{"initContainers", "containers"} {
		l, ok := get(pod, key)
		if !ok {
			continue
		}
		for i := range l.([]any) {
			out = append(out, obj(t, pod, key, strconv.Itoa(i)))
		}
	}
	return out
}

// volumes returns the pod's volumes by name.
func (f *fleet) volumes(t *testing.T) map[string]map[string]any {
	t.Helper()
	pod := f.podSpec(t)
	out := map[string]map[string]any{}
	for i := range list(t, pod, "volumes") {
		v := obj(t, pod, "volumes", strconv.Itoa(i))
		out[str(t, v, "name")] = v
	}
	return out
}

// containerPorts returns the main container's ports by name.
func (f *fleet) containerPorts(t *testing.T) map[string]int {
	t.Helper()
	c := f.container(t, mainContainer)
	out := map[string]int{}
	for i := range list(t, c, "ports") {
		p := obj(t, c, "ports", strconv.Itoa(i))
		out[str(t, p, "name")] = num(t, p, "containerPort")
	}
	return out
}

// runArgs returns the main container's `signpost run` flags, which the
// manifests write as --name=value so that none is ambiguous.
func (f *fleet) runArgs(t *testing.T) map[string]string {
	t.Helper()
	c := f.container(t, mainContainer)
	var args []string
	for i := range list(t, c, "args") {
		args = append(args, str(t, c, "args", strconv.Itoa(i)))
	}
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("got args %q; want them to start with the subcommand run", args)
	}
	out := map[string]string{}
	for _, a := range args[1:] {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			t.Fatalf("got argument %q; want --flag=value", a)
		}
		if _, dup := out[name]; dup {
			t.Fatalf("flag --%s given twice", name)
		}
		out[name] = value
	}
	return out
}

// get walks v along keys (map keys, or list indexes as decimal strings).
func get(v any, keys ...string) (any, bool) {
	for _, k := range keys {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func must(t *testing.T, v any, keys ...string) any {
	t.Helper()
	x, ok := get(v, keys...)
	if !ok {
		t.Fatalf("missing %s", strings.Join(keys, "."))
	}
	return x
}

func obj(t *testing.T, v any, keys ...string) map[string]any {
	t.Helper()
	m, ok := must(t, v, keys...).(map[string]any)
	if !ok {
		t.Fatalf("%s is not a mapping", strings.Join(keys, "."))
	}
	return m
}

func list(t *testing.T, v any, keys ...string) []any {
	t.Helper()
	l, ok := must(t, v, keys...).([]any)
	if !ok {
		t.Fatalf("%s is not a list", strings.Join(keys, "."))
	}
	return l
}

func str(t *testing.T, v any, keys ...string) string {
	t.Helper()
	s, ok := must(t, v, keys...).(string)
	if !ok {
		t.Fatalf("%s is not a string", strings.Join(keys, "."))
	}
	return s
}

func num(t *testing.T, v any, keys ...string) int {
	t.Helper()
	n, ok := must(t, v, keys...).(int)
	if !ok {
		t.Fatalf("%s is not an integer", strings.Join(keys, "."))
	}
	return n
}

func boolean(t *testing.T, v any, keys ...string) bool {
	t.Helper()
	b, ok := must(t, v, keys...).(bool)
	if !ok {
		t.Fatalf("%s is not a boolean", strings.Join(keys, "."))
	}
	return b
}

// has reports whether v has a value at keys.
func has(v any, keys ...string) bool { _, ok := get(v, keys...); return ok }

// portOf returns the port of a listen address such as ":3128".
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	return n
}

// dockerfile is what the final stage of the repository's Dockerfile says.
type dockerfile struct {
	expose     []int
	user       string
	entrypoint []string
	cmd        []string
	volumes    []string
	copyTo     map[string]string // source → destination, for COPY from the build context
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerfile
	jsonArray := func(line, rest string) []string {
		var out []string
		if err := json.Unmarshal([]byte(rest), &out); err != nil {
			t.Fatalf("Dockerfile: %q: want the exec (JSON) form: %v", line, err)
		}
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		instr, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM": // only the final stage is the image
			d = dockerfile{copyTo: map[string]string{}}
		case "EXPOSE":
			for _, f := range strings.Fields(rest) {
				p, err := strconv.Atoi(strings.TrimSuffix(f, "/tcp"))
				if err != nil {
					t.Fatalf("Dockerfile: EXPOSE %q: %v", f, err)
				}
				d.expose = append(d.expose, p)
			}
		case "USER":
			d.user = rest
		case "ENTRYPOINT":
			d.entrypoint = jsonArray(line, rest)
		case "CMD":
			d.cmd = jsonArray(line, rest)
		case "VOLUME":
			d.volumes = jsonArray(line, rest)
		case "COPY":
			f := strings.Fields(rest)
			if len(f) == 2 {
				d.copyTo[f[0]] = f[1]
			}
		}
	}
	return d
}

// cmdFlag returns the value of flag name in the Dockerfile's CMD, which is
// written as "--name", "value".
func (d dockerfile) cmdFlag(t *testing.T, name string) string {
	t.Helper()
	i := slices.Index(d.cmd, "--"+name)
	if i < 0 || i+1 >= len(d.cmd) {
		t.Fatalf("Dockerfile CMD %q has no --%s", d.cmd, name)
	}
	return d.cmd[i+1]
}

// rulesConfig loads the rules ConfigMap's files as the binary does.
func rulesConfig(t *testing.T, f *fleet) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for _, file := range rulesGenerator(t, f).Files {
		data, err := os.ReadFile(filepath.Join(kubeDir, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(file)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatalf("the rules ConfigMap does not load: %v", err)
	}
	return cfg
}

// rulesGenerator is the configMapGenerator the config volume mounts.
func rulesGenerator(t *testing.T, f *fleet) generator {
	t.Helper()
	v := f.volumes(t)[configVolume(t, f)]
	for _, src := range sourcesOf(t, v) {
		if src.kind == "configMap" {
			for _, g := range f.k.ConfigMapGenerator {
				if g.Name == src.name {
					return g
				}
			}
			t.Fatalf("the config volume mounts ConfigMap %q, which kustomization.yaml does not generate", src.name)
		}
	}
	t.Fatal("the config volume mounts no ConfigMap")
	return generator{}
}

// configVolume returns the name of the volume mounted at --config.
func configVolume(t *testing.T, f *fleet) string {
	t.Helper()
	return mountedAt(t, f.container(t, mainContainer), f.runArgs(t)["config"])
}

// mountedAt returns the volume container c mounts at path.
func mountedAt(t *testing.T, c map[string]any, path string) string {
	t.Helper()
	for _, m := range mounts(t, c) {
		if str(t, m, "mountPath") == path {
			return str(t, m, "name")
		}
	}
	t.Fatalf("container %s mounts nothing at %s", str(t, c, "name"), path)
	return ""
}

func mounts(t *testing.T, c map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	if !has(c, "volumeMounts") {
		return nil
	}
	for i := range list(t, c, "volumeMounts") {
		out = append(out, obj(t, c, "volumeMounts", strconv.Itoa(i)))
	}
	return out
}

// source is one ConfigMap or Secret a volume shows.
type source struct{ kind, name string }

// sourcesOf returns what a configMap, secret or projected volume shows.
func sourcesOf(t *testing.T, v map[string]any) []source {
	t.Helper()
	switch {
	case has(v, "configMap"):
		return []source{{"configMap", str(t, v, "configMap", "name")}}
	case has(v, "secret"):
		return []source{{"secret", str(t, v, "secret", "secretName")}}
	case has(v, "projected"):
		var out []source
		for i := range list(t, v, "projected", "sources") {
			s := obj(t, v, "projected", "sources", strconv.Itoa(i))
			for _, kind := range []string{"configMap", "secret"} {
				if has(s, kind) {
					out = append(out, source{kind, str(t, s, kind, "name")})
				}
			}
		}
		return out
	}
	return nil
}

func secretGenerator(t *testing.T, f *fleet, name string) generator {
	t.Helper()
	for _, g := range f.k.SecretGenerator {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("Secret %q is not generated by kustomization.yaml", name)
	return generator{}
}

// subset reports whether every key of sel has the same value in labels.
func subset(sel, labels map[string]any) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// parseDuration returns a --grace value in whole seconds, rounded up.
func parseDuration(s string) (int, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return int((d + time.Second - 1) / time.Second), nil
}

// bytesOf reads a Kubernetes memory quantity ("512Mi") or a GOMEMLIMIT
// ("450MiB") in the binary units the manifests use.
func bytesOf(t *testing.T, q string) int64 {
	t.Helper()
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"Gi", 30}, {"Mi", 20}, {"Ki", 10}} {
		if n, ok := strings.CutSuffix(q, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Fatalf("quantity %q: %v", q, err)
			}
			return v << u.shift
		}
	}
	t.Fatalf("quantity %q: want Ki, Mi or Gi (KiB, MiB or GiB)", q)
	return 0
}
