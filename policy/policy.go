// Package policy decides what Signpost does with traffic to an app: allow it,
// monitor it, warn with a page that lets the user continue, or block it with a
// page that lets the user request access.
//
// A Policy is compiled once from rules (the config package reads them from
// YAML) and is immutable afterwards, so the proxy reads it without locks.
// Precedence, most specific first: group+app, app, group+category, category,
// default. Among rules of equal specificity for several of the user's groups,
// the one listed first in the configuration wins.
//
// The package does not classify hosts (classify does), does not know who the
// user is (identity does) and does not store grants (a Grants implementation
// is passed in by the caller).
package policy

import (
	"fmt"
	"time"

	"github.com/signpost-gateway/signpost/classify"
)

// Action is what Signpost does with a request.
type Action uint8

// Actions, in increasing order of restriction.
const (
	// Allow forwards or tunnels the traffic untouched.
	Allow Action = iota
	// Monitor forwards the traffic untouched and records it.
	Monitor
	// Warn answers with the interstitial page; the user may continue.
	Warn
	// Block answers with the interstitial page; the user may request access.
	Block
)

// String returns the action's configuration spelling.
func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Monitor:
		return "monitor"
	case Warn:
		return "warn"
	case Block:
		return "block"
	default:
		return fmt.Sprintf("action(%d)", uint8(a))
	}
}

// Intercepts reports whether the action needs the proxy to answer with a page
// instead of passing the traffic through.
func (a Action) Intercepts() bool { return a == Warn || a == Block }

// ParseAction reads an action's configuration spelling.
func ParseAction(s string) (Action, error) {
	switch s {
	case "allow":
		return Allow, nil
	case "monitor":
		return Monitor, nil
	case "warn":
		return Warn, nil
	case "block":
		return Block, nil
	default:
		return 0, fmt.Errorf("unknown action %q; expected allow, monitor, warn or block", s)
	}
}

// Rule is one compiled policy rule. Rules are immutable once compiled.
type Rule struct {
	// App and Category select the traffic; at most one is set, neither for
	// the default rule.
	App      string
	Category string
	// Group restricts the rule to members of a group; "" applies to everyone.
	Group string
	// Action is what happens to the selected traffic.
	Action Action
	// Alternative is the approved app to suggest instead; nil for none.
	Alternative *classify.App
	// Reason is the organisation's explanation, shown to users.
	Reason string
	// ContinueFor is how long a "continue" on a warn page lasts.
	ContinueFor time.Duration
	// Source is where the rule was written; zero for a built-in default.
	Source classify.Source
}

// Scope names what the rule selects, for logs and explain output:
// "app slack (group eng)", "category chat", "default".
func (r *Rule) Scope() string {
	var s string
	switch {
	case r.App != "":
		s = "app " + r.App
	case r.Category != "":
		s = "category " + r.Category
	default:
		s = "default"
	}
	if r.Group != "" {
		s += " (group " + r.Group + ")"
	}
	return s
}

// Grants answers whether a user holds a grant that lifts a warn or block for
// an app: a "continue" (lifts warn) or an admin's approval (lifts both).
// Implementations must be fast: the proxy calls Active on the hot path, so
// they answer from a cache and never wait on a database for long.
type Grants interface {
	// Active reports the kind of grant user holds for app now, or NoGrant.
	Active(user, app string) GrantKind
}

// GrantKind is the kind of grant a user holds for an app.
type GrantKind uint8

// Grant kinds.
const (
	// NoGrant means the rule's action applies unchanged.
	NoGrant GrantKind = iota
	// ContinueGrant is a user's own "continue" on a warn page; it lifts warn only.
	ContinueGrant
	// ApprovedGrant is an admin's approval of an access request; it lifts warn and block.
	ApprovedGrant
)

// String names the grant kind.
func (g GrantKind) String() string {
	switch g {
	case NoGrant:
		return "none"
	case ContinueGrant:
		return "continue"
	case ApprovedGrant:
		return "approved"
	default:
		return fmt.Sprintf("grant(%d)", uint8(g))
	}
}

// Reason is the fixed phrase that explains a decision. It feeds the log
// line, the page and `signpost explain` alike, so it stays short and stable.
type Reason string

// Reasons a decision can carry.
const (
	ReasonGroupApp      Reason = "group app rule"
	ReasonApp           Reason = "app rule"
	ReasonGroupCategory Reason = "group category rule"
	ReasonCategory      Reason = "category rule"
	ReasonDefault       Reason = "default rule"
	ReasonUnknown       Reason = "unclassified host, default rule"
	ReasonGrant         Reason = "user holds a grant"
)

// Decision is the outcome of Decide.
type Decision struct {
	// Action is what to do, after grants.
	Action Action
	// RuleAction is the rule's own action, before grants.
	RuleAction Action
	// Rule is the rule that matched; never nil.
	Rule *Rule
	// Reason says which level of rule decided, or that a grant lifted it.
	Reason Reason
	// Grant is the grant that changed the action, NoGrant otherwise.
	Grant GrantKind
}

// DecideArgs are the inputs of a decision. It is a struct so that new inputs
// can be added without changing every caller.
type DecideArgs struct {
	// App is the classified app; nil for an unclassified host.
	App *classify.App
	// User is the authenticated user name, "" when anonymous.
	User string
	// Groups are the user's groups.
	Groups []string
	// Grants, when non-nil, may lift a warn or block for User.
	Grants Grants
}

// Policy is a compiled, immutable set of rules.
type Policy struct {
	def        *Rule
	byApp      map[string]*Rule
	byCategory map[string]*Rule
	// Group rules keep configuration order so that the first listed wins.
	groupApp      map[string][]*Rule
	groupCategory map[string][]*Rule
	rules         []*Rule
}

// DuplicateError reports two rules for the same selector.
type DuplicateError struct {
	Scope         string
	First, Second classify.Source
}

// Error reads like a compiler's: "second: scope already has a rule at first".
func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s: %s already has a rule at %s", e.Second, e.Scope, e.First)
}

// Compile builds a Policy. def is the rule for traffic no other rule names.
// Two rules with the same app or category and group are an error that
// names both places.
func Compile(rules []Rule, def Rule) (*Policy, error) {
	p := &Policy{
		byApp:         make(map[string]*Rule),
		byCategory:    make(map[string]*Rule),
		groupApp:      make(map[string][]*Rule),
		groupCategory: make(map[string][]*Rule),
	}
	d := def
	d.App, d.Category, d.Group = "", "", ""
	p.def = &d
	for i := range rules {
		r := &rules[i]
		rc := *r
		r = &rc
		if r.App != "" && r.Category != "" {
			return nil, fmt.Errorf("%s: rule names both app %q and category %q; expected one", r.Source, r.App, r.Category)
		}
		if r.App == "" && r.Category == "" {
			return nil, fmt.Errorf("%s: rule names neither an app nor a category", r.Source)
		}
		var err error
		switch {
		case r.App != "" && r.Group == "":
			err = addUnique(p.byApp, r.App, r)
		case r.Category != "" && r.Group == "":
			err = addUnique(p.byCategory, r.Category, r)
		case r.App != "":
			err = appendUnique(p.groupApp, r.App, r)
		default:
			err = appendUnique(p.groupCategory, r.Category, r)
		}
		if err != nil {
			return nil, err
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

func addUnique(m map[string]*Rule, key string, r *Rule) error {
	if old, ok := m[key]; ok {
		return &DuplicateError{Scope: r.Scope(), First: old.Source, Second: r.Source}
	}
	m[key] = r
	return nil
}

func appendUnique(m map[string][]*Rule, key string, r *Rule) error {
	for _, old := range m[key] {
		if old.Group == r.Group {
			return &DuplicateError{Scope: r.Scope(), First: old.Source, Second: r.Source}
		}
	}
	m[key] = append(m[key], r)
	return nil
}

// Default returns the rule for traffic no other rule names.
func (p *Policy) Default() *Rule { return p.def }

// Rules returns the compiled rules in configuration order, without the
// default. The slice is shared and must not be modified.
func (p *Policy) Rules() []*Rule { return p.rules }

// Rule returns the rule that applies to app for a member of groups, and the
// level that decided. app may be nil (unclassified traffic).
func (p *Policy) Rule(app *classify.App, groups []string) (*Rule, Reason) {
	if app == nil {
		return p.def, ReasonUnknown
	}
	if len(groups) > 0 {
		if r := firstForGroups(p.groupApp[app.ID], groups); r != nil {
			return r, ReasonGroupApp
		}
	}
	if r := p.byApp[app.ID]; r != nil {
		return r, ReasonApp
	}
	if len(groups) > 0 {
		if r := firstForGroups(p.groupCategory[app.Category], groups); r != nil {
			return r, ReasonGroupCategory
		}
	}
	if r := p.byCategory[app.Category]; r != nil {
		return r, ReasonCategory
	}
	return p.def, ReasonDefault
}

func firstForGroups(rules []*Rule, groups []string) *Rule {
	for _, r := range rules {
		for _, g := range groups {
			if r.Group == g {
				return r
			}
		}
	}
	return nil
}

// Decide applies the policy, then the user's grants, to one request.
func (p *Policy) Decide(a DecideArgs) Decision {
	r, why := p.Rule(a.App, a.Groups)
	d := Decision{Action: r.Action, RuleAction: r.Action, Rule: r, Reason: why}
	if !r.Action.Intercepts() || a.Grants == nil || a.App == nil || a.User == "" {
		return d
	}
	switch g := a.Grants.Active(a.User, a.App.ID); {
	case g == ApprovedGrant, g == ContinueGrant && r.Action == Warn:
		d.Action, d.Reason, d.Grant = Allow, ReasonGrant, g
	}
	return d
}

// DecideHost decides a host as a CONNECT sees it, before any path is
// known: the decision for its host-level app, and whether a path rule on
// the host leads to another action (then the host is split: each request
// must be decided alone). a.App is ignored.
func (p *Policy) DecideHost(hm *classify.HostMatch, a DecideArgs) (Decision, bool) {
	a.App = hm.App
	d := p.Decide(a)
	for _, pr := range hm.Paths {
		a.App = pr.App
		if p.Decide(a).Action != d.Action {
			return d, true
		}
	}
	return d, false
}
