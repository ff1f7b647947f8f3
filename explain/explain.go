// Package explain answers an admin's question "why does this URL get this
// action?" from a loaded configuration, with the app, rule and alternative
// that decided and where each was written. `signpost explain` prints its
// results; tests compare the PAC file and the proxy against it.
//
// It reads a config.Config and decides exactly as the proxy does; it does
// not touch the network or the access store.
package explain

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/signpost-gateway/signpost/classify"
	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/policy"
)

// Who is the person a URL is explained for.
type Who struct {
	User   string
	Groups []string
}

// Result is the explanation of one URL. Its JSON form is a stable contract
// that other tools rely on.
type Result struct {
	URL         string       `json:"url"`
	Host        string       `json:"host"`
	App         *App         `json:"app"`
	Action      string       `json:"action"`
	Reason      string       `json:"reason"`
	Alternative *Alternative `json:"alternative"`
	Rule        *Place       `json:"rule"`
	// Match is where the app's matching domain, host or path was written.
	Match *Place `json:"match"`
	// Scope says what the deciding rule selects ("app slack", "default").
	Scope string `json:"scope"`
	// Split is true when other paths of this host lead to other actions, so
	// HTTPS to it is intercepted and each request decided alone.
	Split bool `json:"split"`
	// Message is the rule's reason text shown to users.
	Message string `json:"message,omitempty"`
}

// App names the classified app.
type App struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Category string `json:"category"`
}

// Alternative is the approved app the page suggests.
type Alternative struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Place is a position in a configuration file.
type Place struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func place(s classify.Source) *Place {
	if s.File == "" {
		return nil
	}
	return &Place{File: s.File, Line: s.Line}
}

// ParseURL reads what an admin types: a full URL, or a host with an
// optional port and path ("slack.com", "acme.slack.com/messages"), which is
// taken as https.
func ParseURL(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, errors.New("empty URL")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot parse URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("found scheme %q; expected http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("URL has no host")
	}
	return u, nil
}

// URL explains raw for who under cfg.
func URL(cfg *config.Config, raw string, who Who) (Result, error) {
	u, err := ParseURL(raw)
	if err != nil {
		return Result{URL: raw}, err
	}
	hm, err := cfg.Matcher.Lookup(u.Host)
	if err != nil {
		return Result{URL: raw}, err
	}
	app, src := hm.ForPath(u.Path)
	d := cfg.Policy.Decide(policy.DecideArgs{App: app, User: who.User, Groups: who.Groups})
	r := Result{
		URL:     raw,
		Host:    hm.Host,
		Action:  d.Action.String(),
		Reason:  string(d.Reason),
		Rule:    place(d.Rule.Source),
		Scope:   d.Rule.Scope(),
		Message: d.Rule.Reason,
	}
	if app != nil {
		r.App = &App{ID: app.ID, Name: app.Name, Category: app.Category}
		r.Match = place(src)
	}
	if alt := d.Rule.Alternative; alt != nil {
		r.Alternative = &Alternative{ID: alt.ID, Name: alt.Name, URL: alt.Homepage}
	}
	_, r.Split = cfg.Policy.DecideHost(hm, policy.DecideArgs{User: who.User, Groups: who.Groups})
	return r, nil
}

// WriteJSON writes r as one line of JSON.
func WriteJSON(w io.Writer, r Result) error {
	return json.NewEncoder(w).Encode(r)
}

// WriteErrorJSON writes a failed URL as one line of JSON.
func WriteErrorJSON(w io.Writer, raw string, err error) error {
	return json.NewEncoder(w).Encode(struct {
		URL   string `json:"url"`
		Error string `json:"error"`
	}{raw, err.Error()})
}

// WriteText writes r for a person to read.
func WriteText(w io.Writer, r Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.URL)
	fmt.Fprintf(&b, "  host:        %s\n", r.Host)
	if r.App != nil {
		fmt.Fprintf(&b, "  app:         %s (%s, category %s)", r.App.ID, r.App.Name, r.App.Category)
		if r.Match != nil {
			fmt.Fprintf(&b, ", matched at %s:%d", r.Match.File, r.Match.Line)
		}
		b.WriteByte('\n')
	} else {
		fmt.Fprintf(&b, "  app:         none (no catalog entry matches this host)\n")
	}
	fmt.Fprintf(&b, "  action:      %s\n", r.Action)
	fmt.Fprintf(&b, "  rule:        %s", r.Scope)
	if r.Rule != nil {
		fmt.Fprintf(&b, " at %s:%d", r.Rule.File, r.Rule.Line)
	} else if r.Scope == "default" {
		b.WriteString(" (built in: allow)")
	}
	fmt.Fprintf(&b, " — %s\n", r.Reason)
	if r.Alternative != nil {
		fmt.Fprintf(&b, "  alternative: %s (%s) %s\n", r.Alternative.ID, r.Alternative.Name, r.Alternative.URL)
	}
	if r.Message != "" {
		fmt.Fprintf(&b, "  message:     %s\n", r.Message)
	}
	if r.Split {
		b.WriteString("  note:        other paths on this host lead to other actions, so HTTPS to it is intercepted\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
