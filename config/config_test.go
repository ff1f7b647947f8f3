package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/signpost-gateway/signpost/classify"
	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/pac"
	"github.com/signpost-gateway/signpost/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestBadConfigs loads each fixture under testdata/bad (named after the
// failure it shows) and compares every reported error with its golden file.
func TestBadConfigs(t *testing.T) {
	dirs, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return strings.HasSuffix(d, ".golden") })
	if len(dirs) < 15 {
		t.Fatalf("found %d fixtures; want the full set", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, err := config.Load(dir)
			if err == nil {
				t.Fatalf("Load(%s) succeeded with %d apps; want errors", dir, len(cfg.Apps))
			}
			got := err.Error() + "\n"
			for _, e := range config.Errors(err) {
				if e.File != "" && e.Line <= 0 && !strings.Contains(e.Msg, "no *.yaml") && !strings.Contains(e.Msg, "repeated") {
					// Errors about a place in a file carry its line.
					t.Errorf("error without a line: %v", e)
				}
			}
			golden := dir + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors:\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestEmbeddedDefaultLoads(t *testing.T) {
	cfg, err := config.Load("")
	if err != nil {
		t.Fatalf("embedded default: %v", err)
	}
	if len(cfg.Apps) < 60 {
		t.Errorf("catalog: got %d apps; want at least 60", len(cfg.Apps))
	}
	if cfg.Proxy.Listen != ":3128" || cfg.Proxy.AdminListen != "127.0.0.1:9129" {
		t.Errorf("listen: got %q/%q", cfg.Proxy.Listen, cfg.Proxy.AdminListen)
	}
	if len(cfg.Policy.Rules()) == 0 {
		t.Errorf("default policy has no rules")
	}
	cats := map[string]int{}
	for _, a := range cfg.Apps {
		cats[a.Category]++
	}
	for _, c := range []string{"chat", "meetings", "file-transfer", "file-sync", "docs", "project-management", "whiteboard", "design"} {
		if cats[c] < 3 {
			t.Errorf("category %s: got %d apps; want at least 3", c, cats[c])
		}
	}
}

func load(t *testing.T, files map[string]string) (*config.Config, error) {
	t.Helper()
	fs := fstest.MapFS{}
	for name, data := range files {
		fs[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return config.LoadFS(fs, "", "t")
}

func TestOwnAppsExtendTheCatalog(t *testing.T) {
	cfg, err := load(t, map[string]string{
		"apps.yaml": `
apps:
  - id: intranet-wiki
    name: Intranet wiki
    vendor: Us
    category: wiki
    homepage: https://wiki.corp.example/
    domains: [wiki.corp.example]
  - id: slack-huddles-cdn
    name: Slack huddles (more specific than slack.com)
    category: meetings
    hosts: [huddles.slack.com]
`,
		"policy.yaml": `
policy:
  rules:
    - {category: wiki, action: block, reason: "Use Confluence"}
`,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ host, app string }{
		{"wiki.corp.example", "intranet-wiki"},
		{"team.wiki.corp.example", "intranet-wiki"},
		{"huddles.slack.com", "slack-huddles-cdn"},
		{"x.huddles.slack.com", "slack"},
		{"slack.com", "slack"},
	} {
		hm, err := cfg.Matcher.Lookup(tt.host)
		if err != nil {
			t.Fatal(err)
		}
		if hm.App == nil || hm.App.ID != tt.app {
			t.Errorf("Lookup(%s): got %v; want %s", tt.host, hm.App, tt.app)
		}
	}
	if r, _ := cfg.Policy.Rule(cfg.App("intranet-wiki"), nil); r.Action != policy.Block || r.Source.File != "t/policy.yaml" {
		t.Errorf("rule for intranet-wiki: got %v at %v", r.Action, r.Source)
	}
}

func TestBuiltinCatalogCanBeDisabled(t *testing.T) {
	cfg, err := load(t, map[string]string{"a.yaml": `
catalog: {builtin: false}
apps:
  - {id: only, name: Only, category: chat, domains: [only.example]}
`})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 1 || cfg.App("slack") != nil {
		t.Fatalf("got %d apps (slack %v); want only the admin's", len(cfg.Apps), cfg.App("slack"))
	}
}

func TestPolicyDefaultsAndGroups(t *testing.T) {
	cfg, err := load(t, map[string]string{"a.yaml": `
groups:
  eng: [alice]
  design: [alice, bob]
policy:
  continue_for: 2h
  default: {action: monitor}
  rules:
    - {category: chat, action: warn, alternative: microsoft-teams}
    - {app: microsoft-teams, action: allow}
    - {category: chat, group: design, action: block}
    - {category: chat, group: eng, action: monitor}
    - {app: slack, group: eng, action: allow, continue_for: 30m}
`})
	if err != nil {
		t.Fatal(err)
	}
	slack, discord := cfg.App("slack"), cfg.App("discord")
	tests := []struct {
		name   string
		app    string
		groups []string
		want   policy.Action
		reason policy.Reason
	}{
		{"group+app beats everything", "slack", []string{"design", "eng"}, policy.Allow, policy.ReasonGroupApp},
		{"app beats group+category", "microsoft-teams", []string{"design"}, policy.Allow, policy.ReasonApp},
		{"first listed group wins", "discord", []string{"eng", "design"}, policy.Block, policy.ReasonGroupCategory},
		{"group+category beats category", "discord", []string{"eng"}, policy.Monitor, policy.ReasonGroupCategory},
		{"category", "discord", nil, policy.Warn, policy.ReasonCategory},
		{"default", "zoom", nil, policy.Monitor, policy.ReasonDefault},
		{"unclassified", "", nil, policy.Monitor, policy.ReasonUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, why := cfg.Policy.Rule(cfg.App(tt.app), tt.groups)
			if r.Action != tt.want || why != tt.reason {
				t.Errorf("got %v (%s); want %v (%s)", r.Action, why, tt.want, tt.reason)
			}
		})
	}
	if r, _ := cfg.Policy.Rule(slack, nil); r.ContinueFor != 2*time.Hour {
		t.Errorf("continue_for default: got %v; want 2h", r.ContinueFor)
	}
	if r, _ := cfg.Policy.Rule(slack, []string{"eng"}); r.ContinueFor != 30*time.Minute {
		t.Errorf("continue_for on rule: got %v; want 30m", r.ContinueFor)
	}
	_ = discord
}

type fakeGrants map[string]policy.GrantKind

func (f fakeGrants) Active(user, app string) policy.GrantKind { return f[user+"/"+app] }

func TestGrantsLiftWarnAndBlock(t *testing.T) {
	cfg, err := load(t, map[string]string{"a.yaml": `
policy:
  rules:
    - {app: slack, action: warn}
    - {app: wetransfer, action: block}
`})
	if err != nil {
		t.Fatal(err)
	}
	g := fakeGrants{"ann/slack": policy.ContinueGrant, "ann/wetransfer": policy.ContinueGrant, "bob/wetransfer": policy.ApprovedGrant}
	for _, tt := range []struct {
		user, app string
		want      policy.Action
	}{
		{"ann", "slack", policy.Allow},
		{"ann", "wetransfer", policy.Block}, // a continue does not lift a block
		{"bob", "wetransfer", policy.Allow},
		{"bob", "slack", policy.Warn},
	} {
		d := cfg.Policy.Decide(policy.DecideArgs{App: cfg.App(tt.app), User: tt.user, Grants: g})
		if d.Action != tt.want {
			t.Errorf("%s on %s: got %v; want %v", tt.user, tt.app, d.Action, tt.want)
		}
	}
}

func TestHashChangesWithContent(t *testing.T) {
	a, err := load(t, map[string]string{"a.yaml": "policy: {default: {action: allow}}\n"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := load(t, map[string]string{"a.yaml": "policy: {default: {action: allow}}\n"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := load(t, map[string]string{"a.yaml": "policy: {default: {action: monitor}}\n"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash || a.Hash == c.Hash {
		t.Fatalf("hashes: same content %s/%s, different content %s", a.Hash, b.Hash, c.Hash)
	}
}

func TestKubernetesStyleDirectory(t *testing.T) {
	// The kubelet mounts a ConfigMap as symlinks into a hidden ..data
	// directory; only the visible names are configuration.
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_11_23_18_00_00.000000000")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "policy.yaml"), []byte("policy: {default: {action: monitor}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "policy.yaml"), filepath.Join(dir, "policy.yaml")); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.Default().Action != policy.Monitor || len(cfg.Files) != 2 {
		t.Fatalf("got default %v from %d files; want monitor from policy.yaml plus the catalog", cfg.Policy.Default().Action, len(cfg.Files))
	}
}

func TestSeats(t *testing.T) {
	cfg, err := load(t, map[string]string{"a.yaml": "policy:\n  seats: {zoom: 500, microsoft-teams: 2000}\n"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Seats["zoom"] != 500 || cfg.Seats["microsoft-teams"] != 2000 || len(cfg.Seats) != 2 {
		t.Fatalf("seats: %v", cfg.Seats)
	}
	_, err = load(t, map[string]string{"a.yaml": "policy:\n  seats: {zooom: 5, slack: -1}\n"})
	want := "t/a.yaml:2: unknown app \"zooom\" in policy.seats (did you mean \"zoom\"?)"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "the seats of slack") {
		t.Fatalf("bad seats: got %v; want %q and a range error", err, want)
	}
}

func TestStoreRetention(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want time.Duration
	}{
		{"", config.DefaultRetention},
		{"store: {retention: 720h}", 720 * time.Hour},
		{"store: {retention: forever}", 0},
		{"store: {retention: 87600h}", config.MaxRetention},
	} {
		cfg, err := load(t, map[string]string{"signpost.yaml": tc.yaml})
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if cfg.Store.Retention != tc.want {
			t.Errorf("%q: retention %v; want %v", tc.yaml, cfg.Store.Retention, tc.want)
		}
	}
	for _, bad := range []string{"store: {retention: 23h}", "store: {retention: 87601h}", "store: {retention: 365d}", "store: {retention: \"\"}", "store: {retention: [1h]}"} {
		_, err := load(t, map[string]string{"signpost.yaml": bad})
		if err == nil || !strings.Contains(err.Error(), "t/signpost.yaml:1: found") || !strings.Contains(err.Error(), "store.retention; expected forever") {
			t.Errorf("%q: got %v; want an error naming the line and store.retention", bad, err)
		}
	}
}

// TestHashCoversNamedFiles changes only a file the configuration names
// (the htpasswd file, a webhook's url_file): the hash changes, so that a
// reload applies it; reading the same files again gives the same hash.
func TestHashCoversNamedFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("signpost.yaml", "identity: {htpasswd: users.htpasswd}\n"+
		"notify:\n  webhooks:\n    - {name: chat, url_file: chat.url, format: slack}\n", 0o644)
	write("users.htpasswd", "", 0o600)
	write("chat.url", "https://hooks.example.com/a\n", 0o600)
	hash := func() string {
		t.Helper()
		cfg, err := config.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Hash
	}
	first := hash()
	if again := hash(); again != first {
		t.Fatalf("the same files read twice: hashes %s and %s", first, again)
	}
	pw, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	write("users.htpasswd", "alice:"+string(pw)+"\n", 0o600)
	withUser := hash()
	if withUser == first {
		t.Error("a user added to the htpasswd file left the hash as it was")
	}
	write("chat.url", "https://hooks.example.com/b\n", 0o600)
	if hash() == withUser {
		t.Error("a new webhook URL in its url_file left the hash as it was")
	}
}

// TestDomainPaths gives every site under atlassian.net its /wiki as an app
// of its own: the path on any subdomain classifies as that app, the rest
// of the site as the catalog's, and the host is split (the path decides).
func TestDomainPaths(t *testing.T) {
	cfg, err := load(t, map[string]string{"apps.yaml": `
apps:
  - id: confluence
    name: Confluence
    vendor: Atlassian
    category: docs
    homepage: https://www.atlassian.com/software/confluence
    domain_paths: [atlassian.net/wiki]
`})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ host, path, app string }{
		{"acme.atlassian.net", "/wiki/spaces/ENG", "confluence"},
		{"acme.atlassian.net", "/wiki", "confluence"},
		{"other.atlassian.net", "/wiki/x", "confluence"},
		{"acme.atlassian.net", "/browse/ENG-1", "atlassian"},
		{"acme.atlassian.net", "/wikipedia", "atlassian"},
		{"atlassian.com", "/wiki", "atlassian"},
	} {
		hm, err := cfg.Matcher.Lookup(tt.host)
		if err != nil {
			t.Fatal(err)
		}
		if app, _ := hm.ForPath(tt.path); app == nil || app.ID != tt.app {
			t.Errorf("%s%s: got %v; want %s", tt.host, tt.path, app, tt.app)
		}
		if tt.host == "acme.atlassian.net" && !hm.Split() {
			t.Errorf("%s is not split; want its paths to decide", tt.host)
		}
	}
	// The PAC file cannot see paths: it sends every site under the domain.
	onlyWiki := func(p classify.Pattern) bool { return p.App.ID == "confluence" }
	if got := pac.Targets(cfg.Patterns, onlyWiki); !slices.Equal(got, []pac.Target{{Domain: "atlassian.net"}}) {
		t.Errorf("PAC targets of the domain path: %v; want atlassian.net and its subdomains", got)
	}
	for _, bad := range []string{"domain_paths: [atlassian.net]", "domain_paths: [\"*.atlassian.net/wiki\"]"} {
		_, err := load(t, map[string]string{"apps.yaml": "apps:\n  - {id: c, name: C, category: docs, " + bad + "}\n"})
		if err == nil || !strings.Contains(err.Error(), "t/apps.yaml:2:") {
			t.Errorf("%s: got %v; want an error at t/apps.yaml:2", bad, err)
		}
	}
}
