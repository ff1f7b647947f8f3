package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/signpost-gateway/signpost/classify"
)

func TestActionSpelling(t *testing.T) {
	for _, a := range []Action{Allow, Monitor, Warn, Block} {
		got, err := ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%q): got %v, %v", a.String(), got, err)
		}
	}
	if s := Action(9).String(); s != "action(9)" {
		t.Errorf("unknown action: got %q", s)
	}
	if _, err := ParseAction("deny"); err == nil {
		t.Error("ParseAction(deny) succeeded")
	}
	if !Warn.Intercepts() || !Block.Intercepts() || Allow.Intercepts() || Monitor.Intercepts() {
		t.Error("Intercepts is wrong")
	}
}

func TestCompileRefusesDuplicates(t *testing.T) {
	src := func(l int) classify.Source { return classify.Source{File: "p.yaml", Line: l} }
	_, err := Compile([]Rule{
		{App: "slack", Group: "eng", Action: Allow, Source: src(1)},
		{App: "slack", Group: "eng", Action: Block, Source: src(2)},
	}, Rule{})
	var d *DuplicateError
	if !errors.As(err, &d) || !strings.Contains(err.Error(), "p.yaml:2") || !strings.Contains(err.Error(), "p.yaml:1") {
		t.Fatalf("got %v; want a DuplicateError naming both lines", err)
	}
	if _, err := Compile([]Rule{{Action: Allow}}, Rule{}); err == nil {
		t.Fatal("a rule without app or category compiled")
	}
}

type grants map[string]GrantKind

func (g grants) Active(user, app string) GrantKind { return g[user+"/"+app] }

func TestDecideReportsTheRuleAndTheGrant(t *testing.T) {
	slack := &classify.App{ID: "slack", Category: "chat"}
	p, err := Compile([]Rule{{Category: "chat", Action: Warn, Reason: "use Teams"}}, Rule{Action: Monitor})
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(DecideArgs{App: slack, User: "ann", Grants: grants{}})
	if d.Action != Warn || d.Reason != ReasonCategory || d.Rule.Reason != "use Teams" || d.Grant != NoGrant {
		t.Fatalf("without grant: %+v", d)
	}
	d = p.Decide(DecideArgs{App: slack, User: "ann", Grants: grants{"ann/slack": ContinueGrant}})
	if d.Action != Allow || d.RuleAction != Warn || d.Reason != ReasonGrant || d.Grant != ContinueGrant {
		t.Fatalf("with a continue: %+v", d)
	}
	d = p.Decide(DecideArgs{App: nil, User: "ann", Grants: grants{"ann/": ApprovedGrant}})
	if d.Action != Monitor || d.Reason != ReasonUnknown {
		t.Fatalf("unclassified: %+v", d)
	}
	if got := (&Rule{App: "slack", Group: "eng"}).Scope(); got != "app slack (group eng)" {
		t.Errorf("Scope: got %q", got)
	}
}

func TestDecideHostFindsSplitHosts(t *testing.T) {
	suite := &classify.App{ID: "google-workspace", Category: "suite"}
	sheets := &classify.App{ID: "google-sheets", Category: "docs"}
	forms := &classify.App{ID: "google-forms", Category: "docs"}
	p, err := Compile([]Rule{{App: "google-sheets", Action: Block}}, Rule{Action: Allow})
	if err != nil {
		t.Fatal(err)
	}
	split := &classify.HostMatch{Host: "docs.google.com", App: suite,
		Paths: []classify.PathRule{{Prefix: "/spreadsheets", App: sheets}, {Prefix: "/forms", App: forms}}}
	if d, ok := p.DecideHost(split, DecideArgs{}); d.Action != Allow || !ok {
		t.Errorf("host with a blocked path: got %v split %v; want allow, split", d.Action, ok)
	}
	same := &classify.HostMatch{Host: "docs.google.com", App: suite, Paths: []classify.PathRule{{Prefix: "/forms", App: forms}}}
	if _, ok := p.DecideHost(same, DecideArgs{App: sheets}); ok {
		t.Error("host whose paths all lead to the same action reported split (or DecideArgs.App was used)")
	}
}

// BenchmarkDecide is one decision as the proxy makes it per request: the
// rule for the app (by app, by category, per group, or the default) and
// the person's grant for it.
func BenchmarkDecide(b *testing.B) {
	slack := &classify.App{ID: "slack", Category: "chat"}
	teams := &classify.App{ID: "microsoft-teams", Category: "chat"}
	p, err := Compile([]Rule{
		{App: "microsoft-teams", Action: Allow},
		{Category: "chat", Action: Warn},
		{Category: "chat", Group: "sales", Action: Allow},
		{Category: "file-transfer", Action: Block},
	}, Rule{Action: Monitor})
	if err != nil {
		b.Fatal(err)
	}
	g := grants{"ann/slack": ContinueGrant}
	for _, bb := range []struct {
		name string
		args DecideArgs
		want Action
	}{
		{"by app", DecideArgs{App: teams, User: "bob", Grants: g}, Allow},
		{"by category, no grant", DecideArgs{App: slack, User: "bob", Groups: []string{"eng", "it"}, Grants: g}, Warn},
		{"by category for a group", DecideArgs{App: slack, User: "bob", Groups: []string{"eng", "sales"}, Grants: g}, Allow},
		{"lifted by a grant", DecideArgs{App: slack, User: "ann", Grants: g}, Allow},
		{"unclassified", DecideArgs{User: "bob", Grants: g}, Monitor},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if d := p.Decide(bb.args); d.Action != bb.want {
					b.Fatalf("got %v; want %v", d.Action, bb.want)
				}
			}
		})
	}
}
