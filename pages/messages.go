package pages

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultLanguage is the language of the pages when the browser asks for
// none that Signpost ships, and the reference every other language follows.
const DefaultLanguage = "en"

//go:embed messages/*.yaml
var messageFS embed.FS

// catalog holds every shipped text: language → message key → text.
type catalog map[string]map[string]string

// loadCatalog reads the embedded message files once.
var loadCatalog = sync.OnceValues(func() (catalog, error) { return parseCatalog(messageFS) })

// langName is what a message file may be called: a primary language
// subtag, such as "de" for messages/de.yaml.
var langName = regexp.MustCompile(`^[a-z]{2,3}$`)

// parseCatalog reads messages/*.yaml from fsys. Each file is a flat YAML
// mapping from message key to text.
func parseCatalog(fsys fs.FS) (catalog, error) {
	files, err := fs.Glob(fsys, "messages/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("pages: listing messages: %w", err)
	}
	cat := catalog{}
	for _, f := range files {
		lang := strings.TrimSuffix(path.Base(f), ".yaml")
		if !langName.MatchString(lang) {
			return nil, fmt.Errorf("pages: %s: found language %q; expected a language code like \"de\"", f, lang)
		}
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("pages: reading %s: %w", f, err)
		}
		texts, err := parseMessages(data)
		if err != nil {
			return nil, fmt.Errorf("pages: %s: %w", f, err)
		}
		cat[lang] = texts
	}
	if _, ok := cat[DefaultLanguage]; !ok {
		return nil, fmt.Errorf("pages: found no messages/%s.yaml; expected the reference language", DefaultLanguage)
	}
	return cat, nil
}

// parseMessages decodes one message file: a mapping of string keys to
// string texts, nothing nested. YAML itself refuses a key given twice.
func parseMessages(data []byte) (map[string]string, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("found no mapping; expected lines of key: \"text\"")
	}
	m := doc.Content[0]
	texts := make(map[string]string, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			return nil, fmt.Errorf("line %d: found a %s; expected key: \"text\"", v.Line, nodeKind(v))
		}
		if _, dup := texts[k.Value]; dup {
			return nil, fmt.Errorf("line %d: found key %q a second time", k.Line, k.Value)
		}
		texts[k.Value] = v.Value
	}
	return texts, nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "nested mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "value of type " + strings.TrimPrefix(n.Tag, "!!")
	default:
		return "YAML node"
	}
}

// languages lists the shipped languages, sorted.
func (c catalog) languages() []string {
	return sortedKeys(c)
}

// problems lists where a language differs from the reference: a missing
// or extra key, or placeholders that are not the reference's.
func (c catalog) problems() []string {
	var out []string
	ref := c[DefaultLanguage]
	for _, lang := range c.languages() {
		if lang == DefaultLanguage {
			continue
		}
		texts := c[lang]
		for _, key := range sortedKeys(ref) {
			text, ok := texts[key]
			if !ok {
				out = append(out, fmt.Sprintf("%s: missing key %q", lang, key))
				continue
			}
			if got, want := braced(placeholders(text)), braced(placeholders(ref[key])); got != want {
				out = append(out, fmt.Sprintf("%s.%s: found placeholders %s; expected %s", lang, key, got, want))
			}
		}
		for _, key := range sortedKeys(texts) {
			if _, ok := ref[key]; !ok {
				out = append(out, fmt.Sprintf("%s: found key %q that %s.yaml does not have", lang, key, DefaultLanguage))
			}
		}
	}
	return out
}

// resolve builds one language's texts: the reference, then the language's
// file, then the organisation's overrides, so that a key missing anywhere
// still shows the English text rather than nothing.
func (c catalog) resolve(lang string, overrides map[string]string) map[string]string {
	out := make(map[string]string, len(c[DefaultLanguage]))
	for k, v := range c[DefaultLanguage] {
		out[k] = v
	}
	for k, v := range c[lang] {
		out[k] = v
	}
	for k, v := range overrides {
		out[k] = v
	}
	return out
}

// placeholder matches {name} in a text.
var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

// placeholders lists the distinct placeholder names in text, sorted.
func placeholders(text string) []string {
	var names []string
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		names = append(names, m[1])
	}
	sort.Strings(names)
	return compactStrings(names)
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// fill replaces each {name} in text by wrap(value), the value following
// name in kv (name, value, name, value…), and each stretch of text between
// them by lit; a placeholder without a value stays as written.
func fill(text string, kv []any, lit, wrap func(string) string) string {
	if len(kv) < 2 || strings.IndexByte(text, '{') < 0 {
		return lit(text) // nothing to fill: most texts
	}
	var b strings.Builder
	last := 0
	for i := 0; ; {
		open := strings.IndexByte(text[i:], '{')
		if open < 0 {
			break
		}
		open += i
		end := strings.IndexByte(text[open:], '}')
		if end < 0 {
			break
		}
		end += open
		i = open + 1
		v, ok := value(kv, text[open+1:end])
		if !ok {
			continue
		}
		b.WriteString(lit(text[last:open]))
		b.WriteString(wrap(v))
		last, i = end+1, end+1
	}
	b.WriteString(lit(text[last:]))
	return b.String()
}

// value finds name in kv (name, value, name, value…).
func value(kv []any, name string) (string, bool) {
	for i := 0; i+1 < len(kv); i += 2 {
		if k, _ := kv[i].(string); k == name && name != "" {
			if s, ok := kv[i+1].(string); ok {
				return s, true
			}
			return fmt.Sprint(kv[i+1]), true
		}
	}
	return "", false
}

func same(s string) string { return s }

// locale is one language's texts, as the templates use them.
type locale struct {
	lang  string
	texts map[string]string
}

// text returns the text of key, or the key itself when it is unknown so
// that a mistake shows on the page instead of hiding.
func (l locale) text(key string) string {
	if t, ok := l.texts[key]; ok {
		return t
	}
	return key
}

// T returns the text of key with its placeholders filled from name, value
// pairs. The result is plain text; the template escapes it.
func (l locale) T(key string, kv ...any) string {
	return fill(l.text(key), kv, same, same)
}

// B is T for HTML: the text is escaped and each filled-in value is
// escaped and set in bold.
func (l locale) B(key string, kv ...any) template.HTML {
	return template.HTML(fill(l.text(key), kv, template.HTMLEscapeString, func(v string) string {
		return "<strong>" + template.HTMLEscapeString(v) + "</strong>"
	}))
}

// plural picks key.one or key.other for n.
func (l locale) plural(key string, n int64) string {
	if n == 1 {
		return l.text(key + ".one")
	}
	return l.text(key + ".other")
}

// Duration says how long d is in words, to the minute, in at most its two
// largest units: "8 hours", "1 day and 2 hours". It is "" for d <= 0.
func (l locale) Duration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	mins := int64((d + time.Minute - 1) / time.Minute) // a part minute counts whole
	units := []struct {
		key string
		n   int64
	}{
		{"duration.day", mins / (24 * 60)},
		{"duration.hour", mins / 60 % 24},
		{"duration.minute", mins % 60},
	}
	var parts []string
	for _, u := range units {
		if u.n > 0 && len(parts) < 2 {
			parts = append(parts, fill(l.plural(u.key, u.n), []any{"n", strconv.FormatInt(u.n, 10)}, same, same))
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return fill(l.text("duration.and"), []any{"a", parts[0], "b", parts[1]}, same, same)
}

// Date writes t's day in words, "3 November 2025"; "" for the zero time.
func (l locale) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fill(l.text("date.format"), []any{
		"day", strconv.Itoa(t.Day()),
		"month", l.text("month." + strconv.Itoa(int(t.Month()))),
		"year", strconv.Itoa(t.Year()),
	}, same, same)
}

// DateTime writes t's day and time in t's own zone, "3 November 2025,
// 14:00 (UTC)"; "" for the zero time.
func (l locale) DateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fill(l.text("datetime.format"), []any{
		"date", l.Date(t),
		"time", t.Format("15:04"),
		"zone", t.Format("MST"),
	}, same, same)
}

// Language picks the page language for an Accept-Language header: the
// supported language the browser prefers most (by q-value, then by order),
// matching a regional tag by its language ("de-CH" is German), and
// DefaultLanguage when nothing matches.
func (r *Renderer) Language(acceptLanguage string) string {
	best, bestQ := DefaultLanguage, 0.0
	for part := range strings.SplitSeq(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(part, ";")
		q, ok := qValue(params)
		if !ok || q <= bestQ {
			continue
		}
		if lang := r.supported(strings.TrimSpace(tag)); lang != "" {
			best, bestQ = lang, q
		}
	}
	return best
}

// qValue reads the q parameter of one Accept-Language or Accept entry
// (RFC 9110 §12.4.2); without one, q is 1.
func qValue(params string) (float64, bool) {
	q := 1.0
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || v < 0 || v > 1 {
			return 0, false
		}
		q = v
	}
	return q, true
}

// supported maps a language tag to a shipped language: itself, or its
// primary subtag; "*" is the default; "" when none fits.
func (r *Renderer) supported(tag string) string {
	if tag == "*" {
		return DefaultLanguage
	}
	tag = strings.ToLower(strings.ReplaceAll(tag, "_", "-"))
	if _, ok := r.locales[tag]; ok {
		return tag
	}
	primary, _, _ := strings.Cut(tag, "-")
	if _, ok := r.locales[primary]; ok {
		return primary
	}
	return ""
}

// locale returns the texts for lang, which may be "" or a regional tag;
// anything unknown gets DefaultLanguage.
func (r *Renderer) locale(lang string) locale {
	if l := r.supported(lang); l != "" {
		return r.locales[l]
	}
	return r.locales[DefaultLanguage]
}
