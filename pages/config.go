package pages

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	textdist "github.com/signpost-gateway/signpost/internal/suggest"
)

// Branding is what an organisation sets about its pages. The zero value is
// valid: Signpost's own name, no logo, the default accent, no help link and
// the shipped texts.
type Branding struct {
	// Organization is shown at the top of every page; empty shows
	// "Signpost".
	Organization string
	// Logo is an image shown beside the organisation's name, inlined into
	// the page as a data: URI so that the page loads nothing from outside.
	// LogoType is its media type: image/png, image/svg+xml, image/jpeg or
	// image/webp; empty guesses it from the bytes.
	Logo     []byte
	LogoType string
	// Accent colours the main button, and links where it contrasts well
	// enough with the page; "#rrggbb", empty for the default.
	Accent string
	// HelpURL is where people get help (an http or https URL); empty shows
	// no help link.
	HelpURL string
	// Texts overrides shipped texts: language → message key → text, with
	// the keys and {placeholders} of messages/en.yaml. A language or key
	// that Signpost does not ship, or a placeholder the English text does
	// not have, is an error.
	Texts map[string]map[string]string
}

// MaxLogoSize bounds the logo, which is inlined into every page.
const MaxLogoSize = 256 << 10

// DefaultAccent is the accent colour when Branding.Accent is empty.
const DefaultAccent = "#2457c5"

// logoTypes are the image types a logo may have. All of them are inert in
// an <img> element: an SVG shown that way runs no script and loads nothing.
var logoTypes = []string{"image/png", "image/svg+xml", "image/jpeg", "image/webp"}

// branding is Branding validated and prepared for the templates.
type branding struct {
	org     string
	logo    template.URL // a data: URI built here from checked bytes, or ""
	accent  rgb
	helpURL string
}

// compile validates b against the shipped messages and returns what the
// templates need. Every problem is reported, not only the first.
func (b Branding) compile(cat catalog) (branding, error) {
	var out branding
	var errs []error
	out.org = strings.TrimSpace(b.Organization)
	if out.org == "" {
		out.org = "Signpost"
	}
	accent := b.Accent
	if accent == "" {
		accent = DefaultAccent
	}
	c, err := parseHex(accent)
	if err != nil {
		errs = append(errs, fmt.Errorf("accent: %w", err))
	}
	out.accent = c
	if logo, err := logoURI(b.Logo, b.LogoType); err != nil {
		errs = append(errs, fmt.Errorf("logo: %w", err))
	} else {
		out.logo = logo
	}
	if b.HelpURL != "" {
		if u := absoluteURL(b.HelpURL); u == "" {
			errs = append(errs, fmt.Errorf("help URL: found %q; expected an http or https URL", b.HelpURL))
		} else {
			out.helpURL = u
		}
	}
	errs = append(errs, checkTexts(b.Texts, cat)...)
	if len(errs) > 0 {
		return branding{}, fmt.Errorf("pages: branding: %w", errors.Join(errs...))
	}
	return out, nil
}

// logoURI checks a logo and returns it as a data: URI.
func logoURI(data []byte, typ string) (template.URL, error) {
	if len(data) == 0 {
		if typ != "" {
			return "", fmt.Errorf("found type %q but no image", typ)
		}
		return "", nil
	}
	if len(data) > MaxLogoSize {
		return "", fmt.Errorf("found %d bytes; expected at most %d", len(data), MaxLogoSize)
	}
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	if typ == "" {
		typ = sniffed
		if !slices.Contains(logoTypes, typ) && looksLikeSVG(data) {
			typ = "image/svg+xml"
		}
	}
	mt, _, err := mime.ParseMediaType(typ)
	if err != nil {
		return "", fmt.Errorf("found type %q; expected one of %s", typ, strings.Join(logoTypes, ", "))
	}
	if mt == "image/jpg" {
		mt = "image/jpeg"
	}
	if !slices.Contains(logoTypes, mt) {
		return "", fmt.Errorf("found type %q; expected one of %s", typ, strings.Join(logoTypes, ", "))
	}
	// The bytes must be what the type says, so that a page never carries
	// something else under an image's name.
	if mt == "image/svg+xml" {
		if !looksLikeSVG(data) {
			return "", fmt.Errorf("found %s content for type %s; expected an <svg> document", sniffed, mt)
		}
	} else if sniffed != mt {
		return "", fmt.Errorf("found %s content for type %s", sniffed, mt)
	}
	return template.URL("data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(data)), nil
}

// looksLikeSVG reports whether data has an <svg> element near its start.
func looksLikeSVG(data []byte) bool {
	return strings.Contains(strings.ToLower(string(data[:min(len(data), 4096)])), "<svg")
}

// checkTexts reports overrides that name a language or key Signpost does
// not ship, or use a placeholder the English text does not have.
func checkTexts(texts map[string]map[string]string, cat catalog) []error {
	var errs []error
	for _, lang := range sortedKeys(texts) {
		if _, ok := cat[lang]; !ok {
			errs = append(errs, fmt.Errorf("texts: found language %q; expected one of %s", lang, strings.Join(cat.languages(), ", ")))
			continue
		}
		for _, key := range sortedKeys(texts[lang]) {
			text := texts[lang][key]
			ref, ok := cat[DefaultLanguage][key]
			if !ok {
				errs = append(errs, fmt.Errorf("texts.%s: found unknown key %q%s", lang, key, suggest(key, cat[DefaultLanguage])))
				continue
			}
			if strings.TrimSpace(text) == "" {
				errs = append(errs, fmt.Errorf("texts.%s.%s: found an empty text; expected words", lang, key))
				continue
			}
			allowed := placeholders(ref)
			for _, p := range placeholders(text) {
				if !slices.Contains(allowed, p) {
					errs = append(errs, fmt.Errorf("texts.%s.%s: found placeholder {%s}; expected only %s", lang, key, p, braced(allowed)))
				}
			}
		}
	}
	return errs
}

// suggest names the known key nearest to key, when one is close.
func suggest(key string, known map[string]string) string {
	best := textdist.Nearest(key, sortedKeys(known), len(key)/3)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// braced writes placeholder names as "{a}, {b}", or "none".
func braced(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "{" + n + "}"
	}
	return strings.Join(out, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// absoluteURL returns raw re-serialised if it is an absolute http or https
// URL with a host, and "" otherwise.
func absoluteURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return ""
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return ""
	}
	return u.String()
}

// localPath returns raw if it is a path on the page's own origin ("/x",
// never "//x" or "/\x", which browsers read as another host), and ""
// otherwise.
func localPath(raw string) string {
	if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") || strings.HasPrefix(raw, `/\`) {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	return u.String()
}

// linkURL accepts what may stand in a link on a page: an absolute http(s)
// URL or a path on the page's origin.
func linkURL(raw string) string {
	if u := localPath(raw); u != "" {
		return u
	}
	return absoluteURL(raw)
}
