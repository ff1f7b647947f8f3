package observability_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// promtool returns the path of Prometheus's promtool, failing the test
// when it is not installed.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed (%v); scripts/install-deps.sh installs it (Debian package prometheus)", err)
	}
	return p
}

// runPromtool runs promtool with args in dir and returns its combined
// output and whether it succeeded.
func runPromtool(t *testing.T, dir string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("promtool %s did not finish in 30 s:\n%s", strings.Join(args, " "), out)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running promtool %s: %v", strings.Join(args, " "), err)
	}
	return string(out), err == nil
}

func TestAlertRulesPassPromtoolCheck(t *testing.T) {
	for _, f := range ruleFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			abs, err := filepath.Abs(f)
			if err != nil {
				t.Fatal(err)
			}
			if out, ok := runPromtool(t, ".", "check", "rules", abs); !ok {
				t.Errorf("promtool check rules %s failed:\n%s", f, out)
			}
		})
	}
	// The check is not vacuous: a rule with a bad expression fails it.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, bad, "groups:\n  - name: bad\n    rules:\n      - alert: Bad\n        expr: rate(signpost_proxy_decisions_total[5m]\n")
	if out, ok := runPromtool(t, ".", "check", "rules", bad); ok {
		t.Errorf("promtool check rules accepted an unbalanced expression:\n%s", out)
	}
}

func TestAlertRulesUnitTests(t *testing.T) {
	tests, err := filepath.Glob(filepath.Join(prometheusDir, "*.test.yaml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool unit tests (*.test.yaml) in %s (%v)", prometheusDir, err)
	}
	for _, f := range tests {
		t.Run(filepath.Base(f), func(t *testing.T) {
			// promtool resolves rule_files against the test file's directory.
			if out, ok := runPromtool(t, filepath.Dir(f), "test", "rules", filepath.Base(f)); !ok {
				t.Errorf("promtool test rules %s failed:\n%s", f, out)
			}
		})
	}
}

// grafanaVars are the values the dashboard expressions' Grafana variables
// take for the syntax check: what Grafana would put in their place.
var grafanaVars = []struct{ re, value string }{
	{`\$__rate_interval\b`, "5m"},
	{`\$__interval\b`, "1m"},
	{`\$__range\b`, "1d"},
	{`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`, "x"},
}

// TestDashboardExpressionsParse checks every dashboard query with
// Prometheus's own parser: each becomes a recording rule in a scratch rule
// file that promtool checks, after Grafana's variables are replaced by
// values such as Grafana would put in their place.
func TestDashboardExpressionsParse(t *testing.T) {
	dashboards, err := filepath.Glob(filepath.Join(grafanaDir, "*.json"))
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards in %s (%v)", grafanaDir, err)
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	var where []string
	for _, d := range dashboards {
		for _, e := range dashboardExpressions(t, d) {
			if strings.HasPrefix(e.expr, "label_values(") {
				// Grafana's own function for variable queries, not PromQL;
				// its argument is.
				e.expr = strings.TrimSuffix(strings.TrimPrefix(e.expr, "label_values("), ")")
				if i := strings.LastIndexByte(e.expr, ','); i >= 0 {
					e.expr = e.expr[:i]
				}
			}
			expr := e.expr
			for _, v := range grafanaVars {
				expr = regexp.MustCompile(v.re).ReplaceAllString(expr, v.value)
			}
			fmt.Fprintf(&b, "      - record: dashboard:expr_%d\n        expr: %q\n", len(where), expr)
			where = append(where, e.where+": "+e.expr)
		}
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, ok := runPromtool(t, ".", "check", "rules", file); !ok {
		for i, w := range where {
			if strings.Contains(out, fmt.Sprintf("dashboard:expr_%d\"", i)) || strings.Contains(out, fmt.Sprintf("expr_%d:", i)) {
				t.Errorf("does not parse: %s", w)
			}
		}
		t.Errorf("promtool check rules on the dashboard's %d expressions failed:\n%s", len(where), out)
	}
}
