package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/signpost-gateway/signpost/config"
)

// writeLargeConfig writes a configuration directory with n synthetic
// domains (100 per app) on top of the built-in catalog, and a policy rule
// per category.
func writeLargeConfig(tb testing.TB, n int) string {
	tb.Helper()
	dir := tb.TempDir()
	var b strings.Builder
	b.WriteString("apps:\n")
	for app := 0; app*100 < n; app++ {
		fmt.Fprintf(&b, "  - id: synthetic-%d\n    name: Synthetic %d\n    category: synthetic-%d\n    domains:\n", app, app, app%10)
		for d := 0; d < 100 && app*100+d < n; d++ {
			fmt.Fprintf(&b, "      - d%d.app%d.example\n", d, app)
		}
	}
	b.WriteString("policy:\n  rules:\n")
	for c := 0; c < 10; c++ {
		fmt.Fprintf(&b, "    - {category: synthetic-%d, action: warn}\n", c)
	}
	if err := os.WriteFile(filepath.Join(dir, "large.yaml"), []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// BenchmarkLoad100k measures a reload's work, from files to a compiled
// configuration ready to swap, for 100,000 domains.
func BenchmarkLoad100k(b *testing.B) {
	dir := writeLargeConfig(b, 100_000)
	b.ResetTimer()
	for b.Loop() {
		cfg, err := config.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		if len(cfg.Patterns) < 100_000 {
			b.Fatalf("got %d patterns", len(cfg.Patterns))
		}
	}
}

// TestLargeConfigMemory reports the heap a 100,000-domain configuration
// holds once loaded (run with -v to see the figure).
func TestLargeConfigMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100,000 domains")
	}
	dir := writeLargeConfig(t, 100_000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("a 100,000-domain configuration holds %.1f MiB of heap (%d patterns)", float64(held)/(1<<20), len(cfg.Patterns))
	if held <= 0 {
		t.Fatalf("measured %d bytes; the configuration must hold memory", held)
	}
	runtime.KeepAlive(cfg)
}
