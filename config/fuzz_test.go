package config_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/signpost-gateway/signpost/config"
)

// FuzzLoad feeds arbitrary bytes to the loader as a configuration file: it
// must never panic, and whatever it refuses it refuses with positioned
// errors naming the file.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"policy:\n  default: {action: allow}\n",
		"policy:\n  rules:\n    - {app: slack, action: warn, alternative: microsoft-teams}\n",
		"apps:\n  - {id: x, name: X, category: chat, domains: [x.example], paths: [x.example/a]}\n",
		"apps:\n  - {id: w, name: W, category: docs, domain_paths: [atlassian.net/wiki]}\nstore: {retention: 720h}\n",
		"proxy: {listen: ':3128', clients: [10.0.0.0/8], connect_ports: [443, 8443]}\n",
		"a: &a [*a]\n",
		"groups: {eng: [alice]}\npolicy: {rules: [{category: chat, group: eng, action: allow}]}\n",
		"branding: {accent: '#123456', texts: {en: {layout.help: x}}}\n",
		"{{{{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := fstest.MapFS{"f.yaml": {Data: data}}
		cfg, err := config.LoadFS(fs, "", "fz")
		if err != nil {
			for _, e := range config.Errors(err) {
				if e.File != "" && !strings.HasPrefix(e.File, "fz/") && !strings.HasPrefix(e.File, "builtin/") {
					t.Fatalf("error names file %q: %v", e.File, e)
				}
			}
			return
		}
		if cfg.Matcher == nil || cfg.Policy == nil {
			t.Fatal("a configuration loaded without a matcher or policy")
		}
	})
}
