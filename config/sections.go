package config

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/signpost-gateway/signpost/classify"
	"github.com/signpost-gateway/signpost/pages"
)

// PAC says how the proxy auto-config file is generated.
type PAC struct {
	// Proxies are the Signpost nodes, "host:port", in failover order. Empty
	// means the address the browser fetched the PAC file from.
	Proxies []string
	// All sends every host to the proxy, not only catalog hosts.
	All bool
	// DirectFallback lets browsers go DIRECT when no proxy answers.
	DirectFallback bool
	// Exclude are domains (and their subdomains) that always go DIRECT.
	Exclude []string
}

// Branding is how pages present the organisation.
type Branding struct {
	Organization string
	Logo         []byte
	LogoType     string
	Accent       string
	HelpURL      string
	// Texts override page texts: language → message key → text.
	Texts map[string]map[string]string
	// Source is where the branding section was written.
	Source classify.Source
}

// Pages returns the branding as the pages package takes it.
func (b Branding) Pages() pages.Branding {
	return pages.Branding{Organization: b.Organization, Logo: b.Logo, LogoType: b.LogoType,
		Accent: b.Accent, HelpURL: b.HelpURL, Texts: b.Texts}
}

// Store names the access store and how long it keeps what is over.
type Store struct {
	// DSN is "sqlite:PATH", "postgres://…", or "" for SQLite in the data
	// directory.
	DSN string
	// Retention is how long requests, grants and audit entries are kept
	// once they are over (a request decided, a grant expired or revoked,
	// an entry written); 0 ("forever") keeps them all. Pending requests
	// and grants in force are always kept.
	Retention time.Duration
}

// Retention bounds and default (store.retention).
const (
	DefaultRetention = 365 * 24 * time.Hour
	MinRetention     = 24 * time.Hour
	MaxRetention     = 10 * 365 * 24 * time.Hour
)

// Webhook is one notification target.
type Webhook struct {
	Name   string
	URL    string
	Format string   // json, slack, teams
	Secret string   // HMAC key for json
	Events []string // empty: all
	Source classify.Source
}

// Requests limits what people can do from the page.
type Requests struct {
	// FormKeyFile holds the key that signs pages' forms; nodes of a fleet
	// share it so a form from one node is accepted by another. "" means a
	// key generated in the data directory.
	FormKeyFile string
	// JustificationMax bounds the justification's length in characters.
	JustificationMax int
	// RequestsPerHour and ContinuesPerHour bound each person's page
	// actions in any hour, across every node that shares the store.
	RequestsPerHour  int
	ContinuesPerHour int
}

// Admin holds the admin listener's settings.
type Admin struct {
	// SessionKeyFile holds the key that signs admin browser sessions;
	// nodes of a fleet share it. "" means a key generated in the data
	// directory.
	SessionKeyFile string
	// TokensFile holds bearer tokens, one a line; "" means the generated
	// admin-token in the data directory.
	TokensFile string
	// MetricsOpen serves /metrics without a token.
	MetricsOpen bool
	// URL is how admins reach the admin view, for links in notifications.
	URL string
}

// Default limits for page actions.
const (
	DefaultJustificationMax = 1000
	DefaultRequestsPerHour  = 10
	DefaultContinuesPerHour = 60
)

var (
	accentPattern  = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	webhookPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

func (l *loader) readPAC(r *reader, n *yaml.Node) {
	p := &l.pac
	r.mapping(n, "pac", []field{
		{"proxies", func(_, v *yaml.Node) {
			for _, it := range r.strList(v, "pac.proxies") {
				host, port, err := net.SplitHostPort(it.value)
				if err != nil || host == "" || port == "" || strings.ContainsAny(it.value, "\"';\\ ") {
					r.p.add(r.file, it.line, "found %q in pac.proxies; expected host:port such as proxy.corp.example:3128", it.value)
					continue
				}
				p.Proxies = append(p.Proxies, it.value)
			}
		}},
		{"mode", func(_, v *yaml.Node) {
			s, ok := r.str(v, "pac.mode")
			if !ok {
				return
			}
			l.pacModeSet = true
			switch s {
			case "catalog":
			case "all":
				p.All = true
			default:
				r.errorf(v, "found pac.mode %q; expected catalog (only catalog hosts go to the proxy) or all", s)
			}
		}},
		{"direct_fallback", func(_, v *yaml.Node) { p.DirectFallback, _ = r.boolean(v, "pac.direct_fallback") }},
		{"exclude", func(_, v *yaml.Node) {
			for _, it := range r.strList(v, "pac.exclude") {
				if l.checkDomain(r.file, it.line, it.value, "pac.exclude domain") {
					p.Exclude = append(p.Exclude, it.value)
				}
			}
		}},
	})
}

func (l *loader) readBranding(r *reader, n *yaml.Node) {
	b := &l.branding
	b.Source = classify.Source{File: r.file, Line: n.Line}
	r.mapping(n, "branding", []field{
		{"organization", func(_, v *yaml.Node) { b.Organization, _ = r.str(v, "branding.organization") }},
		{"logo", func(_, v *yaml.Node) {
			s, ok := r.str(v, "branding.logo")
			if !ok {
				return
			}
			path := l.resolve(r, v, s)
			data, err := l.readNamed(path)
			if err != nil {
				r.errorf(v, "cannot read branding.logo: %v", err)
				return
			}
			typ := logoType(path)
			if typ == "" {
				r.errorf(v, "found logo %q; expected a .png, .svg, .jpg or .webp file", s)
				return
			}
			if len(data) > 256<<10 {
				r.errorf(v, "logo %q is %d KiB; expected at most 256 KiB (it is inlined in every page)", s, len(data)>>10)
				return
			}
			b.Logo, b.LogoType = data, typ
		}},
		{"accent", func(_, v *yaml.Node) {
			s, ok := r.str(v, "branding.accent")
			if ok && !accentPattern.MatchString(s) {
				r.errorf(v, "found accent %q; expected a colour such as \"#2457c5\"", s)
				return
			}
			b.Accent = s
		}},
		{"help_url", func(_, v *yaml.Node) {
			s, ok := r.str(v, "branding.help_url")
			if !ok {
				return
			}
			if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				r.errorf(v, "found help_url %q; expected an https:// URL such as https://it.corp.example/help", s)
				return
			}
			b.HelpURL = s
		}},
		{"texts", func(_, v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				r.errorf(v, "found %s for branding.texts; expected language → key → text, such as en: {reason_heading: …}", kindName(v))
				return
			}
			b.Texts = make(map[string]map[string]string)
			for i := 0; i+1 < len(v.Content); i += 2 {
				lang, texts := v.Content[i], v.Content[i+1]
				if texts.Kind != yaml.MappingNode {
					r.errorf(texts, "found %s for branding.texts.%s; expected key → text", kindName(texts), lang.Value)
					continue
				}
				m := make(map[string]string)
				for j := 0; j+1 < len(texts.Content); j += 2 {
					if s, ok := r.str(texts.Content[j+1], "a text"); ok {
						m[texts.Content[j].Value] = s
					}
				}
				b.Texts[lang.Value] = m
			}
		}},
	})
}

func logoType(path string) string {
	switch strings.ToLower(path[strings.LastIndexByte(path, '.')+1:]) {
	case "png":
		return "image/png"
	case "svg":
		return "image/svg+xml"
	case "jpg", "jpeg":
		return "image/jpeg"
	case "webp":
		return "image/webp"
	default:
		return ""
	}
}

func (l *loader) readStore(r *reader, n *yaml.Node) {
	r.mapping(n, "store", []field{
		{"dsn", func(_, v *yaml.Node) {
			s, ok := r.str(v, "store.dsn")
			if !ok {
				return
			}
			if !strings.HasPrefix(s, "sqlite:") && !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
				r.errorf(v, "found store.dsn %q; expected sqlite:PATH or postgres://…", redactDSN(s))
				return
			}
			l.store.DSN = s
		}},
		{"retention", func(_, v *yaml.Node) {
			if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == "forever" {
				l.store.Retention = 0
				return
			}
			if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
				if d, err := time.ParseDuration(v.Value); err == nil && d >= MinRetention && d <= MaxRetention {
					l.store.Retention = d
					return
				}
			}
			r.errorf(v, "found %s for store.retention; expected forever, or a duration from %dh to %dh (ten years) such as \"%dh\" for a year",
				kindName(v), MinRetention/time.Hour, MaxRetention/time.Hour, DefaultRetention/time.Hour)
		}},
	})
}

// redactDSN hides a password in a DSN shown in an error.
func redactDSN(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return s
}

func (l *loader) readNotify(r *reader, n *yaml.Node) {
	r.mapping(n, "notify", []field{
		{"webhooks", func(_, v *yaml.Node) {
			seen := map[string]int{}
			for _, wn := range r.list(v, "notify.webhooks") {
				w := Webhook{Source: classify.Source{File: r.file, Line: wn.Line}}
				var urlFile, secretFile string
				r.mapping(wn, "a webhook", []field{
					{"name", func(_, v *yaml.Node) { w.Name, _ = r.str(v, "the webhook's name") }},
					{"url", func(_, v *yaml.Node) { w.URL, _ = r.str(v, "the webhook's url") }},
					{"url_file", func(_, v *yaml.Node) { urlFile, _ = r.str(v, "the webhook's url_file") }},
					{"format", func(_, v *yaml.Node) { w.Format, _ = r.str(v, "the webhook's format") }},
					{"secret_file", func(_, v *yaml.Node) { secretFile, _ = r.str(v, "the webhook's secret_file") }},
					{"events", func(_, v *yaml.Node) {
						for _, it := range r.strList(v, "the webhook's events") {
							if it.value != "request.created" && it.value != "request.decided" {
								r.p.add(r.file, it.line, "found event %q; expected request.created or request.decided", it.value)
								continue
							}
							w.Events = append(w.Events, it.value)
						}
					}},
				})
				if !webhookPattern.MatchString(w.Name) {
					r.errorf(wn, "webhook name %q; expected lower-case letters, digits, - and _ (it names the webhook in logs and metrics)", w.Name)
					continue
				}
				if line, dup := seen[w.Name]; dup {
					r.errorf(wn, "webhook %q repeated (first at line %d)", w.Name, line)
					continue
				}
				seen[w.Name] = wn.Line
				if (w.URL == "") == (urlFile == "") {
					r.errorf(wn, "webhook %s needs exactly one of url and url_file (Slack and Teams URLs are secrets: prefer url_file)", w.Name)
					continue
				}
				if urlFile != "" {
					data, err := l.readNamed(l.resolve(r, wn, urlFile))
					if err != nil {
						r.errorf(wn, "webhook %s: cannot read url_file: %v", w.Name, err)
						continue
					}
					w.URL = strings.TrimSpace(string(data))
				}
				if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					r.errorf(wn, "webhook %s: the URL is not an http(s) URL", w.Name)
					continue
				}
				switch w.Format {
				case "":
					w.Format = "json"
				case "json", "slack", "teams":
				default:
					r.errorf(wn, "webhook %s: found format %q; expected json, slack or teams", w.Name, w.Format)
					continue
				}
				if secretFile != "" {
					data, err := l.readNamed(l.resolve(r, wn, secretFile))
					if err != nil {
						r.errorf(wn, "webhook %s: cannot read secret_file: %v", w.Name, err)
						continue
					}
					w.Secret = strings.TrimSpace(string(data))
				}
				l.webhooks = append(l.webhooks, w)
			}
		}},
	})
}

func (l *loader) readRequests(r *reader, n *yaml.Node) {
	q := &l.requests
	r.mapping(n, "requests", []field{
		{"justification_max", func(_, v *yaml.Node) { q.JustificationMax, _ = r.integer(v, "requests.justification_max", 20, 4000) }},
		{"requests_per_hour", func(_, v *yaml.Node) { q.RequestsPerHour, _ = r.integer(v, "requests.requests_per_hour", 1, 10000) }},
		{"continues_per_hour", func(_, v *yaml.Node) { q.ContinuesPerHour, _ = r.integer(v, "requests.continues_per_hour", 1, 10000) }},
		{"form_key_file", func(_, v *yaml.Node) {
			if s, ok := r.str(v, "requests.form_key_file"); ok {
				q.FormKeyFile = l.resolve(r, v, s)
			}
		}},
	})
}

func (l *loader) readAdmin(r *reader, n *yaml.Node) {
	a := &l.admin
	r.mapping(n, "admin", []field{
		{"tokens_file", func(_, v *yaml.Node) {
			if s, ok := r.str(v, "admin.tokens_file"); ok {
				a.TokensFile = l.resolve(r, v, s)
			}
		}},
		{"metrics_open", func(_, v *yaml.Node) { a.MetricsOpen, _ = r.boolean(v, "admin.metrics_open") }},
		{"session_key_file", func(_, v *yaml.Node) {
			if s, ok := r.str(v, "admin.session_key_file"); ok {
				a.SessionKeyFile = l.resolve(r, v, s)
			}
		}},
		{"url", func(_, v *yaml.Node) {
			s, ok := r.str(v, "admin.url")
			if !ok {
				return
			}
			if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				r.errorf(v, "found admin.url %q; expected the admin view's URL such as https://signpost-admin.corp.example", s)
				return
			}
			a.URL = strings.TrimRight(s, "/")
		}},
	})
}

func (l *loader) requestDefaults() Requests {
	q := l.requests
	if q.JustificationMax == 0 {
		q.JustificationMax = DefaultJustificationMax
	}
	if q.RequestsPerHour == 0 {
		q.RequestsPerHour = DefaultRequestsPerHour
	}
	if q.ContinuesPerHour == 0 {
		q.ContinuesPerHour = DefaultContinuesPerHour
	}
	return q
}
