package deploy_test

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestKustomizeBuild builds the base with `kubectl kustomize`, after making
// its Secrets with README.md's commands, and checks what would be applied:
// the generated names and the references to them.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; the other tests check the manifests as written")
	}
	f := loadFleet(t)
	base := baseWithSecrets(t)
	out, err := exec.Command(kubectl, "kustomize", base).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("kubectl kustomize: %v\n%s", err, exit.Stderr)
		}
		t.Fatal(err)
	}
	var objs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubectl kustomize printed YAML that does not decode: %v", err)
		}
		objs = append(objs, m)
	}
	if got, want := len(objs), len(f.objects)+len(f.k.ConfigMapGenerator)+len(f.k.SecretGenerator); got != want {
		t.Errorf("got %d objects; want %d (the resources and the generated ConfigMaps and Secrets)", got, want)
	}

	secrets := map[string]map[string]any{} // rendered name → Secret
	var deployment map[string]any
	for _, o := range objs {
		kind, name := str(t, o, "kind"), str(t, o, "metadata", "name")
		if kind != "Namespace" {
			if ns, _ := get(o, "metadata", "namespace"); ns != f.k.Namespace {
				t.Errorf("%s %s: got namespace %v; want %s", kind, name, ns, f.k.Namespace)
			}
		}
		switch kind {
		case "Secret":
			secrets[name] = o
		case "Deployment":
			deployment = o
		}
	}
	if deployment == nil {
		t.Fatal("no Deployment in the build")
	}

	t.Run("the rules ConfigMap keeps its name", func(t *testing.T) {
		g := rulesGenerator(t, f)
		found := false
		for _, o := range objs {
			if str(t, o, "kind") != "ConfigMap" || str(t, o, "metadata", "name") != g.Name {
				continue
			}
			found = true
			var keys []string
			for k := range obj(t, o, "data") {
				keys = append(keys, k)
			}
			var want []string
			for _, file := range g.Files {
				want = append(want, filepath.Base(file))
			}
			if slices.Sort(keys); !slices.Equal(keys, slices.Sorted(slices.Values(want))) {
				t.Errorf("got ConfigMap keys %q; want %q", keys, want)
			}
		}
		if !found {
			t.Errorf("no ConfigMap named %s: a hash suffix would roll the pods instead of reloading", g.Name)
		}
	})

	t.Run("the Deployment references the generated Secrets", func(t *testing.T) {
		pod := obj(t, deployment, "spec", "template", "spec")
		for i := range list(t, pod, "volumes") {
			v := obj(t, pod, "volumes", strconv.Itoa(i))
			for _, src := range sourcesOf(t, v) {
				if src.kind != "secret" {
					continue
				}
				s, ok := secrets[src.name]
				if !ok {
					t.Errorf("volume %s references Secret %s, which the build does not contain", str(t, v, "name"), src.name)
					continue
				}
				if !slices.ContainsFunc(f.k.SecretGenerator, func(g generator) bool { return strings.HasPrefix(src.name, g.Name+"-") }) {
					t.Errorf("Secret %s has no content hash in its name; a change would not roll the pods", src.name)
				}
				for key, v := range obj(t, s, "data") {
					if _, err := base64.StdEncoding.DecodeString(v.(string)); err != nil {
						t.Errorf("Secret %s: key %s is not base64: %v", src.name, key, err)
					}
				}
			}
		}
	})

	t.Run("the CA key arrives whole", func(t *testing.T) {
		for name, s := range secrets {
			raw, ok := get(s, "data", "ca.key")
			if !ok {
				continue
			}
			key, err := base64.StdEncoding.DecodeString(raw.(string))
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(key); b == nil || !strings.Contains(b.Type, "PRIVATE KEY") {
				t.Errorf("Secret %s: ca.key is not a PEM private key", name)
			}
			return
		}
		t.Error("no Secret holds ca.key")
	})

	t.Run("the image has a tag", func(t *testing.T) {
		pod := obj(t, deployment, "spec", "template", "spec")
		for i := range list(t, pod, "containers") {
			image := str(t, pod, "containers", strconv.Itoa(i), "image")
			if _, tag, ok := strings.Cut(filepath.Base(image), ":"); !ok || tag == "" || tag == "latest" {
				t.Errorf("got image %s; want a pinned tag", image)
			}
		}
	})
}
