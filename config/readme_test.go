package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signpost-gateway/signpost/config"
)

// TestREADMEConfigurationReferenceLoads keeps the README honest: its
// configuration reference, with the files it names, is a valid
// configuration.
func TestREADMEConfigurationReferenceLoads(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i := strings.Index(s, "## Configuration reference")
	if i < 0 {
		t.Fatal("README has no configuration reference")
	}
	s = s[i:]
	start := strings.Index(s, "```yaml\n")
	end := strings.Index(s[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no yaml block in the configuration reference")
	}
	block := s[start+8 : start+8+end]
	dir := t.TempDir()
	files := map[string]string{
		"signpost.yaml":     block,
		"users.htpasswd":    "",
		"logo.svg":          `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`,
		"slack-webhook.url": "https://hooks.slack.example/services/T/B/x\n",
		"teams-webhook.url": "https://teams.example/webhook\n",
		"hook.secret":       "0123456789abcdef0123\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatalf("the README's configuration reference does not load:\n%v", err)
	}
	if cfg.App("intranet-wiki") == nil || len(cfg.Webhooks) != 3 || cfg.Seats["zoom"] != 500 {
		t.Fatalf("loaded, but not as written: app %v, %d webhooks, seats %v", cfg.App("intranet-wiki"), len(cfg.Webhooks), cfg.Seats)
	}
}
