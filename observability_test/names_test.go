package observability_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Where the dashboards and rules live, from this package's directory.
const (
	grafanaDir    = "../configs/grafana"
	prometheusDir = "../configs/prometheus"
)

// metricNames returns the Signpost metric names (identifiers starting with
// "signpost_") an expression refers to, in order of first appearance.
//
// It is a tokenizer, not a parser, which is all the question needs: it
// skips string literals (label values such as job="signpost_x" name no
// metric), comments, numbers and durations, Grafana variables ($job,
// ${DS_PROMETHEUS}, [[var]]) and the label names inside {…}; every other
// identifier is a metric, function, keyword or grouping label, and only
// metrics start with "signpost_".
func metricNames(expr string) []string {
	var names []string
	braces := 0
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			i++
			for i < len(expr) && expr[i] != c {
				if expr[i] == '\\' && c != '`' {
					i++
				}
				i++
			}
			i++
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				for i < len(expr) && expr[i] != '}' {
					i++
				}
				i++
				break
			}
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
		case c == '[' && strings.HasPrefix(expr[i:], "[["):
			end := strings.Index(expr[i:], "]]")
			if end < 0 {
				return names
			}
			i += end + 2
		case '0' <= c && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			if id := expr[i:j]; braces == 0 && strings.HasPrefix(id, "signpost_") && !slices.Contains(names, id) {
				names = append(names, id)
			}
			i = j
		case c == '{':
			braces++
			i++
		case c == '}':
			braces = max(braces-1, 0)
			i++
		default:
			i++
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string
	}{
		{"bare metric", "signpost_build_info", []string{"signpost_build_info"}},
		{"function and matchers",
			`sum by (app) (rate(signpost_proxy_decisions_total{job="$job", action=~"warn|block"}[$__rate_interval]))`,
			[]string{"signpost_proxy_decisions_total"}},
		{"histogram bucket and two metrics",
			"histogram_quantile(0.99, sum by (le) (rate(signpost_proxy_decision_duration_seconds_bucket[5m]))) / signpost_x_total",
			[]string{"signpost_proxy_decision_duration_seconds_bucket", "signpost_x_total"}},
		{"label values are not metrics", `up{job="signpost_nodes", instance='signpost_a'}`, nil},
		{"escaped quote inside a string", `up{job="a\"signpost_b"} + signpost_c`, []string{"signpost_c"}},
		{"raw string", "label_replace(up, \"x\", `signpost_raw`, \"\", \"\") * signpost_d", []string{"signpost_d"}},
		{"comment", "signpost_e # signpost_not_a_metric\n+ signpost_f", []string{"signpost_e", "signpost_f"}},
		{"Grafana variables", "signpost_g{instance=~\"$instance\"} > ${signpost_threshold} + $signpost_var + [[signpost_old]]",
			[]string{"signpost_g"}},
		{"label names inside braces", `signpost_h{signpost_label="1"}`, []string{"signpost_h"}},
		{"numbers and durations", "signpost_i offset 1h30m > 1e3", []string{"signpost_i"}},
		{"repeated once", "signpost_j / signpost_j", []string{"signpost_j"}},
		{"other namespaces", "process_resident_memory_bytes + go_goroutines + notsignpost_x", nil},
		{"unterminated string", `signpost_k{job="oops`, []string{"signpost_k"}},
		{"label_values query", `label_values(signpost_build_info{job="$job"}, instance)`, []string{"signpost_build_info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
				t.Errorf("metricNames(%q) = %q; want %q", tt.expr, got, tt.want)
			}
		})
	}
}

// expression is one PromQL expression and where it was found.
type expression struct {
	where, expr string
}

// notPromQL are the types of Grafana template variables whose query is not
// PromQL: a data source type, a list of values, an interval.
var notPromQL = []string{"datasource", "custom", "interval", "textbox", "constant", "adhoc"}

// dashboardExpressions returns every query of a Grafana dashboard: panel
// targets, template variable queries and annotation queries, wherever they
// nest (rows keep collapsed panels inside).
func dashboardExpressions(t *testing.T, file string) []expression {
	t.Helper()
	var doc any
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []expression
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if typ, _ := v["type"].(string); slices.Contains(notPromQL, typ) {
				return
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if s, ok := v[k].(string); ok && (k == "expr" || k == "query" || k == "definition") && s != "" {
					out = append(out, expression{filepath.Base(file) + ":" + path + "." + k, s})
					continue
				}
				walk(path+"."+k, v[k])
			}
		case []any:
			for i, e := range v {
				walk(path+"["+strconv.Itoa(i)+"]", e)
			}
		}
	}
	walk("", doc)
	return out
}

// ruleFile is the part of a Prometheus rule file the checks read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleFiles are the rule files in configs/prometheus: every *.yaml except
// promtool's unit-test files (*.test.yaml).
func ruleFiles(t *testing.T) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(prometheusDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range all {
		if !strings.HasSuffix(f, ".test.yaml") {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatalf("no rule files in %s", prometheusDir)
	}
	return files
}

// ruleExpressions returns the expr of every rule in file, and the alert
// names.
func ruleExpressions(t *testing.T, file string) ([]expression, []string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var exprs []expression
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, expression{filepath.Base(file) + ": " + g.Name + "/" + r.Alert + r.Record, r.Expr})
			if r.Alert != "" {
				alerts = append(alerts, r.Alert)
			}
		}
	}
	return exprs, alerts
}

// families reads the "# TYPE name type" lines of a scrape: every metric
// family the node exports, with its type.
func families(scrape string) map[string]string {
	fams := map[string]string{}
	for line := range strings.Lines(scrape) {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			fams[f[2]] = f[3]
		}
	}
	return fams
}

// exported reports whether name is a metric in fams: a family itself, or
// the _bucket, _sum or _count series of a histogram (_sum and _count of a
// summary).
func exported(fams map[string]string, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch fams[base] {
		case "histogram":
			return true
		case "summary":
			return suffix != "_bucket"
		}
	}
	return false
}

func TestExported(t *testing.T) {
	fams := map[string]string{"a_total": "counter", "h_seconds": "histogram", "s_seconds": "summary", "g": "gauge"}
	tests := []struct {
		name string
		want bool
	}{
		{"a_total", true},
		{"h_seconds_bucket", true},
		{"h_seconds_sum", true},
		{"h_seconds_count", true},
		{"h_seconds", true},
		{"s_seconds_count", true},
		{"s_seconds_bucket", false},
		{"g_bucket", false},
		{"a", false},
		{"missing_total", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exported(fams, tt.name); got != tt.want {
				t.Errorf("exported(%q) = %v; want %v", tt.name, got, tt.want)
			}
		})
	}
}

// TestDashboardAndRulesNameExportedMetrics starts a node, drives traffic so
// that every labelled series exists, scrapes /metrics and checks that each
// signpost_* name in the dashboards and rules is one the node exports. A
// metric renamed or dropped in the code, or misspelt in a panel, fails here
// instead of showing an empty panel or an alert that can never fire.
func TestDashboardAndRulesNameExportedMetrics(t *testing.T) {
	dashboards, err := filepath.Glob(filepath.Join(grafanaDir, "*.json"))
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards in %s (%v)", grafanaDir, err)
	}
	var exprs []expression
	for _, d := range dashboards {
		exprs = append(exprs, dashboardExpressions(t, d)...)
	}
	var alerts []string
	for _, f := range ruleFiles(t) {
		e, a := ruleExpressions(t, f)
		exprs, alerts = append(exprs, e...), append(alerts, a...)
	}

	n := startNode(t)
	n.drive()
	fams := families(n.scrape())

	referenced := map[string]bool{}
	for _, e := range exprs {
		if strings.TrimSpace(e.expr) == "" {
			t.Errorf("%s: empty expression", e.where)
		}
		for _, name := range metricNames(e.expr) {
			referenced[name] = true
			if !exported(fams, name) {
				t.Errorf("%s names %s, which Signpost does not export (expression: %s)", e.where, name, e.expr)
			}
		}
	}

	// What issue 6 asks the dashboard and rules to show, by the metric that
	// shows it: each must be referenced somewhere.
	for _, want := range []struct{ what, metric string }{
		{"traffic by action, top blocked and warned apps", "signpost_proxy_decisions_total"},
		{"page views", "signpost_pages_views_total"},
		{"continues", "signpost_pages_continues_total"},
		{"access requests", "signpost_pages_access_requests_total"},
		{"pending access requests", "signpost_admin_pending_requests"},
		{"requests decided by admins", "signpost_admin_decisions_total"},
		{"reload failures", "signpost_config_reloads_total"},
		{"live configuration hash", "signpost_config_info"},
		{"upstream error rate", "signpost_proxy_upstream_errors_total"},
		{"decision latency", "signpost_proxy_decision_duration_seconds_bucket"},
		{"time to first byte", "signpost_proxy_upstream_ttfb_seconds_bucket"},
		{"open tunnels", "signpost_proxy_open_tunnels"},
		{"tunnel bytes", "signpost_proxy_tunnel_bytes_total"},
		{"grant cache hits", "signpost_store_grant_cache_hits_total"},
		{"grant lookup errors", "signpost_store_grant_lookup_errors_total"},
		{"webhook deliveries", "signpost_notify_deliveries_total"},
		{"build info", "signpost_build_info"},
	} {
		if !referenced[want.metric] {
			t.Errorf("no dashboard or rule shows %s (%s)", want.what, want.metric)
		}
	}
	for _, want := range []string{
		"SignpostDown", "SignpostStoreUnreachable", "SignpostAccessRequestsPilingUp", "SignpostConfigReloadFailed", "SignpostConfigDrift", "SignpostUpstreamErrorsHigh",
		"SignpostDecisionLatencyHigh", "SignpostGrantLookupErrors", "SignpostWebhookDeliveriesFailing",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s is missing from %s", want, prometheusDir)
		}
	}
}

// TestDashboardImports checks the dashboard JSON the way Grafana's import
// needs it: a data source variable DS_PROMETHEUS that every panel and query
// uses, unique panel ids, and a uid and title.
func TestDashboardImports(t *testing.T) {
	dashboards, err := filepath.Glob(filepath.Join(grafanaDir, "*.json"))
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards in %s (%v)", grafanaDir, err)
	}
	type datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	type target struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	}
	type variable struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query any    `json:"query"`
	}
	type panel struct {
		ID         int         `json:"id"`
		Type       string      `json:"type"`
		Title      string      `json:"title"`
		Datasource *datasource `json:"datasource"`
		Targets    []target    `json:"targets"`
		Panels     []panel     `json:"panels"`
	}
	var dash struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []variable `json:"list"`
		} `json:"templating"`
	}
	const ds = "${DS_PROMETHEUS}"
	for _, file := range dashboards {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &dash); err != nil {
				t.Fatal(err)
			}
			if dash.UID == "" || dash.Title == "" {
				t.Errorf("uid %q, title %q; want both set", dash.UID, dash.Title)
			}
			hasDS := slices.ContainsFunc(dash.Templating.List, func(v variable) bool {
				return v.Name == "DS_PROMETHEUS" && v.Type == "datasource" && v.Query == "prometheus"
			})
			if !hasDS {
				t.Error("no template variable DS_PROMETHEUS of type datasource (query prometheus)")
			}
			ids := map[int]string{}
			queries := 0
			var check func([]panel)
			check = func(ps []panel) {
				for _, p := range ps {
					if prev, dup := ids[p.ID]; dup {
						t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
					}
					ids[p.ID] = p.Title
					check(p.Panels)
					if p.Type == "row" {
						continue
					}
					if p.Datasource == nil || p.Datasource.UID != ds || p.Datasource.Type != "prometheus" {
						t.Errorf("panel %q: data source %+v; want prometheus %s", p.Title, p.Datasource, ds)
					}
					if len(p.Targets) == 0 {
						t.Errorf("panel %q has no query", p.Title)
					}
					refs := map[string]bool{}
					for _, q := range p.Targets {
						queries++
						if q.Datasource == nil || q.Datasource.UID != ds {
							t.Errorf("panel %q query %s: data source %+v; want %s", p.Title, q.RefID, q.Datasource, ds)
						}
						if q.Expr == "" || q.RefID == "" || refs[q.RefID] {
							t.Errorf("panel %q: query %q with refId %q; want an expression and a unique refId", p.Title, q.Expr, q.RefID)
						}
						refs[q.RefID] = true
					}
				}
			}
			check(dash.Panels)
			if queries < 20 {
				t.Errorf("got %d queries; want the dashboard's panels (at least 20)", queries)
			}
		})
	}
}
