// Package deploy_test checks the Kubernetes manifests in configs/kubernetes
// against the binary they deploy: the ports, probes, flags, mounts, file
// modes and security settings the manifests declare must be the ones the
// Dockerfile, the config package and `signpost run` actually have. It
// decodes the manifests as plain YAML (no Kubernetes client libraries),
// builds the binary once, and runs it the way the Deployment does.
//
// It owns no code the product uses; it does not test the access store,
// reload or the proxy themselves (their packages do).
package deploy_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/signpost-gateway/signpost/config"
)

func TestKustomizationListsEveryFile(t *testing.T) {
	f := loadFleet(t)
	entries, err := os.ReadDir(kubeDir)
	if err != nil {
		t.Fatal(err)
	}
	var manifests []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && strings.HasSuffix(n, ".yaml") && n != "kustomization.yaml" {
			manifests = append(manifests, n)
		}
	}
	resources := slices.Sorted(slices.Values(f.k.Resources))
	if !slices.Equal(resources, manifests) {
		t.Errorf("got resources %q; want every manifest in the folder: %q", resources, manifests)
	}

	t.Run("the rules ConfigMap is every file in rules/", func(t *testing.T) {
		g := rulesGenerator(t, f)
		matches, err := filepath.Glob(filepath.Join(kubeDir, "rules", "*.y*ml"))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, m := range matches {
			want = append(want, "rules/"+filepath.Base(m))
		}
		if got := slices.Sorted(slices.Values(g.Files)); !slices.Equal(got, want) {
			t.Errorf("got ConfigMap files %q; want %q (so that `signpost check --config rules` checks what is deployed)", got, want)
		}
	})

	t.Run("secret files stay out of git", func(t *testing.T) {
		ignore, err := os.ReadFile(filepath.Join(kubeDir, "secrets", ".gitignore"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Fields(string(ignore)), "*") {
			t.Errorf("secrets/.gitignore does not ignore every file:\n%s", ignore)
		}
		for _, g := range f.k.SecretGenerator {
			for _, file := range g.Files {
				if !strings.HasPrefix(file, "secrets/") {
					t.Errorf("Secret %s takes %s; want it under secrets/, which git ignores", g.Name, file)
				}
			}
		}
	})
}

func TestManifestsDecode(t *testing.T) {
	f := loadFleet(t)
	// Each kind once, at its stable API version.
	want := map[string]string{
		"Namespace":               "v1",
		"ServiceAccount":          "v1",
		"Deployment":              "apps/v1",
		"HorizontalPodAutoscaler": "autoscaling/v2",
		"PodDisruptionBudget":     "policy/v1",
		"NetworkPolicy":           "networking.k8s.io/v1",
	}
	seen := map[string]int{}
	for _, o := range f.objects {
		kind := o.kind()
		seen[kind]++
		if o.name() == "" {
			t.Errorf("%s: a %s without metadata.name", o.file, kind)
		}
		if has(o.m, "metadata", "namespace") {
			t.Errorf("%s: %s %s sets a namespace; want kustomization.yaml's namespace only", o.file, kind, o.name())
		}
		api, _ := get(o.m, "apiVersion")
		if kind == "Service" {
			if api != "v1" {
				t.Errorf("%s: got apiVersion %v; want v1", o.file, api)
			}
			continue
		}
		if w, ok := want[kind]; !ok {
			t.Errorf("%s: unexpected kind %q", o.file, kind)
		} else if api != w {
			t.Errorf("%s: got apiVersion %v for %s; want %s", o.file, api, kind, w)
		}
	}
	for kind := range want {
		if seen[kind] != 1 {
			t.Errorf("got %d %s objects; want 1", seen[kind], kind)
		}
	}
	if seen["Service"] != 2 {
		t.Errorf("got %d Services; want 2 (proxy, and admin inside the cluster)", seen["Service"])
	}
	ns := f.one(t, "Namespace", f.k.Namespace)
	if got := str(t, ns, "metadata", "labels", "pod-security.kubernetes.io/enforce"); got != "restricted" {
		t.Errorf("got Pod Security Standard %q on the namespace; want restricted", got)
	}
}

func TestSelectorsMatchThePods(t *testing.T) {
	f := loadFleet(t)
	pod := f.podLabels(t)
	dep := f.one(t, "Deployment", deploymentName)
	cases := []struct {
		name string
		sel  map[string]any
	}{
		{"Deployment", obj(t, dep, "spec", "selector", "matchLabels")},
		{"PodDisruptionBudget", obj(t, f.all("PodDisruptionBudget")[0], "spec", "selector", "matchLabels")},
		{"NetworkPolicy", obj(t, f.all("NetworkPolicy")[0], "spec", "podSelector", "matchLabels")},
	}
	for _, svc := range f.all("Service") {
		cases = append(cases, struct {
			name string
			sel  map[string]any
		}{"Service " + str(t, svc, "metadata", "name"), obj(t, svc, "spec", "selector")})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !subset(tc.sel, pod) {
				t.Errorf("got selector %v; want one that selects the pod labels %v", tc.sel, pod)
			}
		})
	}
}

func TestPortsAgreeWithBinary(t *testing.T) {
	f := loadFleet(t)
	d := readDockerfile(t)
	ports := f.containerPorts(t)
	args := f.runArgs(t)

	wantPorts := map[string]int{
		proxyPortName: portOf(t, config.DefaultListen),
		adminPortName: portOf(t, config.DefaultAdminListen),
	}
	if fmt.Sprint(ports) != fmt.Sprint(wantPorts) {
		t.Errorf("got container ports %v; want the binary's defaults %v", ports, wantPorts)
	}
	var values []int
	for _, p := range ports {
		values = append(values, p)
	}
	sort.Ints(values)
	expose := slices.Sorted(slices.Values(d.expose))
	if !slices.Equal(values, expose) {
		t.Errorf("got container ports %v; want the Dockerfile's EXPOSE %v", values, expose)
	}

	for _, tc := range []struct{ flag, port, cmdFlag string }{
		{"listen", proxyPortName, "listen"},
		{"admin-listen", adminPortName, "admin-listen"},
	} {
		t.Run("--"+tc.flag, func(t *testing.T) {
			addr, ok := args[tc.flag]
			if !ok {
				t.Fatalf("args lack --%s", tc.flag)
			}
			if got := portOf(t, addr); got != ports[tc.port] {
				t.Errorf("got --%s=%s; want port %d (containerPort %s)", tc.flag, addr, ports[tc.port], tc.port)
			}
			if host, _, _ := net.SplitHostPort(addr); host != "" {
				t.Errorf("got --%s=%s; want all interfaces (the kubelet and the Services reach the pod's address)", tc.flag, addr)
			}
			if got := d.cmdFlag(t, tc.cmdFlag); got != addr {
				t.Errorf("got --%s=%s; want the image's own %s", tc.flag, addr, got)
			}
		})
	}

	t.Run("Services", func(t *testing.T) {
		proxySvc := f.one(t, "Service", "signpost")
		adminSvc := f.one(t, "Service", "signpost-admin")
		for _, tc := range []struct {
			svc      map[string]any
			wantPort string
			wantType string
		}{
			{proxySvc, proxyPortName, "LoadBalancer"},
			{adminSvc, adminPortName, "ClusterIP"},
		} {
			name := str(t, tc.svc, "metadata", "name")
			sp := list(t, tc.svc, "spec", "ports")
			if len(sp) != 1 {
				t.Errorf("Service %s: got %d ports; want only %s", name, len(sp), tc.wantPort)
				continue
			}
			if got := str(t, tc.svc, "spec", "ports", "0", "targetPort"); got != tc.wantPort {
				t.Errorf("Service %s: got targetPort %q; want the container port named %s", name, got, tc.wantPort)
			}
			if got := num(t, tc.svc, "spec", "ports", "0", "port"); got != ports[tc.wantPort] {
				t.Errorf("Service %s: got port %d; want %d, the port browsers and scrapers know", name, got, ports[tc.wantPort])
			}
			if got := str(t, tc.svc, "spec", "type"); got != tc.wantType {
				t.Errorf("Service %s: got type %s; want %s", name, got, tc.wantType)
			}
		}
		if got := str(t, proxySvc, "spec", "externalTrafficPolicy"); got != "Local" {
			t.Errorf("proxy Service: got externalTrafficPolicy %s; want Local, so that Signpost sees client addresses", got)
		}
	})
}

func TestProbesUseAdminListener(t *testing.T) {
	f := loadFleet(t)
	c := f.container(t, mainContainer)
	for _, tc := range []struct{ probe, path string }{
		{"startupProbe", "/healthz"},
		{"livenessProbe", "/healthz"},
		{"readinessProbe", "/readyz"},
	} {
		t.Run(tc.probe, func(t *testing.T) {
			if got := str(t, c, tc.probe, "httpGet", "path"); got != tc.path {
				t.Errorf("got path %s; want %s", got, tc.path)
			}
			if got := str(t, c, tc.probe, "httpGet", "port"); got != adminPortName {
				t.Errorf("got port %s; want the admin port", got)
			}
			if s, ok := get(c, tc.probe, "httpGet", "scheme"); ok && s != "HTTP" {
				t.Errorf("got scheme %v; want HTTP (the admin listener has no TLS)", s)
			}
		})
	}
}

func TestMounts(t *testing.T) {
	f := loadFleet(t)
	vols := f.volumes(t)
	args := f.runArgs(t)
	used := map[string]bool{}
	for _, c := range f.containers(t) {
		cname := str(t, c, "name")
		for _, m := range mounts(t, c) {
			name := str(t, m, "name")
			used[name] = true
			if _, ok := vols[name]; !ok {
				t.Errorf("container %s mounts volume %q, which the pod does not define", cname, name)
			}
			// The kubelet updates a subPath mount never: a ConfigMap change would
			// not reach the pod, and a rotated Secret would not either.
			for _, k := range []string{"subPath", "subPathExpr"} {
				if has(m, k) {
					t.Errorf("container %s mounts %s with %s; want whole directories", cname, name, k)
				}
			}
		}
	}
	for name := range vols {
		if !used[name] {
			t.Errorf("volume %s is mounted by no container", name)
		}
	}

	main := f.container(t, mainContainer)
	t.Run("config directory", func(t *testing.T) {
		d := readDockerfile(t)
		if got, want := args["config"], strings.TrimSuffix(d.copyTo["configs/default/"], "/"); got != want {
			t.Errorf("got --config=%s; want the image's configuration directory %s", got, want)
		}
		if got := d.cmdFlag(t, "config"); got != args["config"] {
			t.Errorf("got --config=%s; want the image's CMD's %s", args["config"], got)
		}
		v := vols[configVolume(t, f)]
		g := rulesGenerator(t, f)
		if !g.Options.DisableNameSuffixHash {
			t.Errorf("ConfigMap %s is generated with a hash suffix; want a fixed name, so that a change reloads in place instead of rolling the pods", g.Name)
		}
		for _, src := range sourcesOf(t, v) {
			if src.kind == "secret" {
				secretGenerator(t, f, src.name)
			}
		}
	})

	t.Run("data directory", func(t *testing.T) {
		d := readDockerfile(t)
		if len(d.volumes) != 1 || d.volumes[0] != args["data"] {
			t.Errorf("got --data=%s; want the image's VOLUME %q", args["data"], d.volumes)
		}
		name := mountedAt(t, main, args["data"])
		if got := str(t, vols[name], "emptyDir", "medium"); got != "Memory" {
			t.Errorf("got data volume medium %q; want Memory: it holds the CA key", got)
		}
		for _, m := range mounts(t, main) {
			if str(t, m, "name") == name && !(has(m, "readOnly") && boolean(t, m, "readOnly")) {
				t.Errorf("the data directory is writable by signpost; want readOnly (it only reads the copied Secrets)")
			}
		}
	})
}

func TestSecretsReachTheBinaryPrivately(t *testing.T) {
	f := loadFleet(t)
	vols := f.volumes(t)
	args := f.runArgs(t)
	init := f.container(t, initContainer)
	main := f.container(t, mainContainer)

	// A Secret volume's files belong to root. Mode 0400 would keep user 65532
	// out; with fsGroup the kubelet adds group read (0440), and the binary
	// refuses a CA key or token file that group can read. So the Secrets
	// are read by the init container only, never with any bit for others,
	// and copied for the binary with umask 077.
	secretMount := map[string]string{} // mount path → Secret name
	for _, m := range mounts(t, init) {
		v := vols[str(t, m, "name")]
		if has(v, "secret") {
			secretMount[str(t, m, "mountPath")] = str(t, v, "secret", "secretName")
		}
	}
	for name, v := range vols {
		var mode int
		switch {
		case has(v, "secret"):
			mode = num(t, v, "secret", "defaultMode")
			for _, m := range mounts(t, main) {
				if str(t, m, "name") == name {
					t.Errorf("signpost mounts Secret volume %s; want only the init container to", name)
				}
			}
			secretGenerator(t, f, str(t, v, "secret", "secretName"))
		case has(v, "projected"):
			mode = num(t, v, "projected", "defaultMode")
		default:
			continue
		}
		if mode&0o337 != 0 {
			t.Errorf("volume %s: got defaultMode %04o; want no write or execute bits and nothing for others", name, mode)
		}
	}

	script := str(t, init, "args", "0")
	if !strings.Contains(script, "umask 077") {
		t.Errorf("the init container copies without umask 077; want copies only their owner can read:\n%s", script)
	}
	if got := str(t, init, "args", "2"); got != args["data"] {
		t.Errorf("the init container copies into %s; want the data directory %s", got, args["data"])
	}
	copied := map[string]bool{}
	for _, a := range list(t, init, "args")[3:] {
		file := a.(string)
		secret, ok := secretMount[filepath.Dir(file)]
		if !ok {
			t.Errorf("the init container copies %s, from no Secret volume it mounts", file)
			continue
		}
		g := secretGenerator(t, f, secret)
		if !slices.ContainsFunc(g.Files, func(s string) bool { return filepath.Base(s) == filepath.Base(file) }) {
			t.Errorf("the init container copies %s; Secret %s has no key %s (%q)", file, secret, filepath.Base(file), g.Files)
		}
		copied[filepath.Base(file)] = true
	}

	cfg := rulesConfig(t, f)
	need := map[string]string{
		"proxy.ca_cert":     cfg.Proxy.CACert,
		"proxy.ca_key":      cfg.Proxy.CAKey,
		"admin.tokens_file": cfg.Admin.TokensFile,
	}
	for _, k := range dataDirKeys {
		need["the shared "+k] = filepath.Join(args["data"], k)
	}
	for what, file := range need {
		t.Run(what, func(t *testing.T) {
			if file == "" {
				t.Fatalf("the rules leave %s unset; want it from a Secret, the same on every pod", what)
			}
			if filepath.Dir(file) != args["data"] || !copied[filepath.Base(file)] {
				t.Errorf("%s is %s; want a file the init container copies into %s", what, file, args["data"])
			}
		})
	}
}

func TestSecurityContext(t *testing.T) {
	f := loadFleet(t)
	d := readDockerfile(t)
	pod := f.podSpec(t)
	uid, gid, _ := strings.Cut(d.user, ":")

	if !boolean(t, pod, "securityContext", "runAsNonRoot") {
		t.Error("got runAsNonRoot false; want true")
	}
	if got := strconv.Itoa(num(t, pod, "securityContext", "runAsUser")); got != uid {
		t.Errorf("got runAsUser %s; want the image's USER %s", got, uid)
	}
	if got := strconv.Itoa(num(t, pod, "securityContext", "runAsGroup")); gid != "" && got != gid {
		t.Errorf("got runAsGroup %s; want the image's group %s", got, gid)
	}
	if got := str(t, pod, "securityContext", "seccompProfile", "type"); got != "RuntimeDefault" {
		t.Errorf("got seccompProfile %s; want RuntimeDefault", got)
	}
	if boolean(t, pod, "automountServiceAccountToken") {
		t.Error("pods get a service account token; want none (Signpost never calls the API)")
	}
	for _, k := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		if b, ok := get(pod, k); ok && b == true {
			t.Errorf("pod sets %s", k)
		}
	}

	for _, c := range f.containers(t) {
		t.Run(str(t, c, "name"), func(t *testing.T) {
			sc := obj(t, c, "securityContext")
			if boolean(t, sc, "allowPrivilegeEscalation") {
				t.Error("got allowPrivilegeEscalation true; want false")
			}
			if !boolean(t, sc, "readOnlyRootFilesystem") {
				t.Error("got readOnlyRootFilesystem false; want true")
			}
			if p, ok := get(sc, "privileged"); ok && p == true {
				t.Error("container is privileged")
			}
			drop := list(t, sc, "capabilities", "drop")
			if len(drop) != 1 || drop[0] != "ALL" {
				t.Errorf("got capabilities.drop %v; want [ALL]", drop)
			}
			if has(sc, "capabilities", "add") {
				t.Errorf("got capabilities.add %v; want none", must(t, sc, "capabilities", "add"))
			}
			for _, r := range []string{"requests.cpu", "requests.memory", "limits.memory"} { // the HPA needs requests.cpu
				k1, k2, _ := strings.Cut(r, ".")
				if !has(c, "resources", k1, k2) {
					t.Errorf("no resources.%s", r)
				}
			}
		})
	}
}

func TestFleetShape(t *testing.T) {
	f := loadFleet(t)
	dep := f.one(t, "Deployment", deploymentName)
	pod := f.podSpec(t)
	main := f.container(t, mainContainer)

	// The autoscaler owns the count (a replicas field would reset it at
	// every apply); its minimum makes the fleet several pods.
	if has(dep, "spec", "replicas") {
		t.Errorf("the Deployment sets replicas %v; want the HorizontalPodAutoscaler's count", must(t, dep, "spec", "replicas"))
	}
	if got := str(t, dep, "spec", "strategy", "type"); got != "RollingUpdate" {
		t.Errorf("got strategy %s; want RollingUpdate", got)
	}
	if got := num(t, dep, "spec", "strategy", "rollingUpdate", "maxUnavailable"); got != 0 {
		t.Errorf("got maxUnavailable %d; want 0, so that a rollout never shrinks the fleet", got)
	}

	t.Run("shutdown fits the grace period", func(t *testing.T) {
		grace, err := parseDuration(f.runArgs(t)["grace"])
		if err != nil {
			t.Fatalf("--grace: %v", err)
		}
		sleep := num(t, main, "lifecycle", "preStop", "sleep", "seconds")
		if total := num(t, pod, "terminationGracePeriodSeconds"); total <= sleep+grace {
			t.Errorf("got terminationGracePeriodSeconds %d; want more than preStop's %d s and --grace's %d s", total, sleep, grace)
		}
	})

	t.Run("GOMEMLIMIT is below the memory limit", func(t *testing.T) {
		limit := bytesOf(t, str(t, main, "resources", "limits", "memory"))
		for i := range list(t, main, "env") {
			e := obj(t, main, "env", strconv.Itoa(i))
			if str(t, e, "name") != "GOMEMLIMIT" {
				continue
			}
			if soft := bytesOf(t, str(t, e, "value")); soft >= limit || soft < limit*3/4 {
				t.Errorf("got GOMEMLIMIT %d bytes for a %d-byte limit; want a little below it", soft, limit)
			}
			return
		}
		t.Error("no GOMEMLIMIT: the Go runtime would not know the container's limit")
	})

	t.Run("HorizontalPodAutoscaler", func(t *testing.T) {
		hpa := f.all("HorizontalPodAutoscaler")[0]
		if k, n := str(t, hpa, "spec", "scaleTargetRef", "kind"), str(t, hpa, "spec", "scaleTargetRef", "name"); k != "Deployment" || n != deploymentName {
			t.Errorf("got target %s/%s; want Deployment/%s", k, n, deploymentName)
		}
		lo, hi := num(t, hpa, "spec", "minReplicas"), num(t, hpa, "spec", "maxReplicas")
		if lo < 2 || hi <= lo {
			t.Errorf("got replicas %d..%d; want at least 2 and room to grow", lo, hi)
		}
		if got := str(t, hpa, "spec", "metrics", "0", "resource", "name"); got != "cpu" {
			t.Errorf("got metric %s; want cpu", got)
		}
		if got := str(t, hpa, "spec", "metrics", "0", "resource", "target", "type"); got != "Utilization" {
			t.Errorf("got target type %s; want Utilization (of the CPU request)", got)
		}
	})

	t.Run("PodDisruptionBudget", func(t *testing.T) {
		pdb := f.all("PodDisruptionBudget")[0]
		hpa := f.all("HorizontalPodAutoscaler")[0]
		switch {
		case has(pdb, "spec", "maxUnavailable"):
			if got := num(t, pdb, "spec", "maxUnavailable"); got < 1 || got >= num(t, hpa, "spec", "minReplicas") {
				t.Errorf("got maxUnavailable %d; want at least 1 (drains can proceed) and fewer than the minimum replicas", got)
			}
		case has(pdb, "spec", "minAvailable"):
			if got := num(t, pdb, "spec", "minAvailable"); got >= num(t, hpa, "spec", "minReplicas") {
				t.Errorf("got minAvailable %d; want fewer than the minimum replicas, or no drain can proceed", got)
			}
		default:
			t.Error("the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
		}
	})
}

func TestNetworkPolicy(t *testing.T) {
	f := loadFleet(t)
	np := f.all("NetworkPolicy")[0]
	ports := f.containerPorts(t)
	cfg := rulesConfig(t, f)

	types := list(t, np, "spec", "policyTypes")
	if !slices.Contains(types, any("Ingress")) || !slices.Contains(types, any("Egress")) {
		t.Errorf("got policyTypes %v; want Ingress and Egress", types)
	}

	admitted := map[string]bool{}
	for i := range list(t, np, "spec", "ingress") {
		rule := obj(t, np, "spec", "ingress", strconv.Itoa(i))
		for j := range list(t, rule, "ports") {
			port := str(t, rule, "ports", strconv.Itoa(j), "port")
			if _, ok := ports[port]; !ok {
				t.Errorf("ingress names port %q; the container has %v", port, ports)
			}
			admitted[port] = true
			for k := range list(t, rule, "from") {
				peer := obj(t, rule, "from", strconv.Itoa(k))
				switch port {
				case proxyPortName:
					// The binary refuses clients outside proxy.clients anyway;
					// admitting them here would only hide that.
					cidr := netip.MustParsePrefix(str(t, peer, "ipBlock", "cidr"))
					if !slices.ContainsFunc(cfg.Proxy.Clients, func(p netip.Prefix) bool {
						return p.Bits() <= cidr.Bits() && p.Contains(cidr.Addr())
					}) {
						t.Errorf("proxy port admitted from %s; the rules' proxy.clients %v refuse it", cidr, cfg.Proxy.Clients)
					}
				case adminPortName:
					if has(peer, "ipBlock") || !has(peer, "namespaceSelector") {
						t.Errorf("admin port admitted from %v; want a namespace (monitoring) only", peer)
					}
				}
			}
		}
	}
	for _, p := range []string{proxyPortName, adminPortName} {
		if !admitted[p] {
			t.Errorf("no ingress rule admits the %s port", p)
		}
	}

	metadata := netip.MustParseAddr("169.254.169.254")
	egress := map[string]bool{}
	for i := range list(t, np, "spec", "egress") {
		rule := obj(t, np, "spec", "egress", strconv.Itoa(i))
		for j := range list(t, rule, "ports") {
			p := obj(t, rule, "ports", strconv.Itoa(j))
			egress[fmt.Sprintf("%d/%s", num(t, p, "port"), str(t, p, "protocol"))] = true
		}
		if !has(rule, "to") {
			continue
		}
		for k := range list(t, rule, "to") {
			peer := obj(t, rule, "to", strconv.Itoa(k))
			if !has(peer, "ipBlock") {
				continue
			}
			cidr := netip.MustParsePrefix(str(t, peer, "ipBlock", "cidr"))
			if !cidr.Contains(metadata) {
				continue
			}
			excepted := false
			if has(peer, "ipBlock", "except") {
				for _, e := range list(t, peer, "ipBlock", "except") {
					excepted = excepted || netip.MustParsePrefix(e.(string)).Contains(metadata)
				}
			}
			if !excepted {
				t.Errorf("egress to %s includes the cloud metadata address %s", cidr, metadata)
			}
		}
	}
	for _, want := range []string{"53/UDP", "53/TCP", "443/TCP", "80/TCP", "5432/TCP"} {
		if !egress[want] {
			t.Errorf("no egress rule for %s; got %v", want, egress)
		}
	}
}
