package pages

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestEveryLanguageHasEveryKeyAndPlaceholder(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cat.languages(), []string{"de", "en", "fr"}; !slices.Equal(got, want) {
		t.Errorf("languages: got %v; want %v", got, want)
	}
	for _, p := range cat.problems() {
		t.Error(p)
	}
}

func TestTemplatesUseOnlyKnownKeys(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\.L\.[TB] "([^"]+)"`)
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, f := range files {
		data, err := fs.ReadFile(templateFS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(data), -1) {
			used++
			if _, ok := cat[DefaultLanguage][m[1]]; !ok {
				t.Errorf("%s uses key %q, which %s.yaml lacks", f, m[1], DefaultLanguage)
			}
		}
	}
	if used < 10 {
		t.Errorf("found %d message keys in the templates; want the templates' texts to come from the message files", used)
	}
}

func TestParseMessagesRefusesWhatATranslatorMightGetWrong(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"key given twice", "a: \"x\"\na: \"y\"\n", `line 2: found key "a" a second time`},
		{"nested mapping", "a:\n  b: \"x\"\n", "line 2: found a nested mapping"},
		{"a number", "a: 3\n", "line 1: found a value of type int"},
		{"a list", "a: [\"x\"]\n", "found a list"},
		{"not a mapping", "- \"x\"\n", "found no mapping"},
		{"empty file", "", "found no mapping"},
		{"unquoted brace", "a: {n} days\n", "parsing: yaml: did not find expected key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMessages([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseMessages(%q): got %v; want an error containing %q", tt.yaml, err, tt.want)
			}
		})
	}
	texts, err := parseMessages([]byte("# comment\na.b: \"{n} Tage\"\nc: plain words\n"))
	if err != nil || texts["a.b"] != "{n} Tage" || texts["c"] != "plain words" {
		t.Errorf("parseMessages: got %v, %v; want both texts", texts, err)
	}
}

func TestCatalogFindsIncompleteTranslations(t *testing.T) {
	fsys := fstest.MapFS{
		"messages/en.yaml": {Data: []byte("a: \"{app} here\"\nb: \"two\"\n")},
		"messages/de.yaml": {Data: []byte("a: \"{host} hier\"\nc: \"extra\"\n")},
	}
	cat, err := parseCatalog(fsys)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cat.problems(), "\n")
	for _, want := range []string{
		"de.a: found placeholders {host}; expected {app}",
		`de: missing key "b"`,
		`de: found key "c" that en.yaml does not have`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nlack %q", got, want)
		}
	}
	if de := cat.resolve("de", nil); de["b"] != "two" {
		t.Errorf("a missing German key: got %q; want the English text", de["b"])
	}

	for name, fsys := range map[string]fstest.MapFS{
		"no reference language": {"messages/de.yaml": {Data: []byte("a: \"x\"\n")}},
		"bad file name":         {"messages/en.yaml": {Data: []byte("a: \"x\"\n")}, "messages/EN-us.yaml": {Data: []byte("a: \"x\"\n")}},
		"bad YAML":              {"messages/en.yaml": {Data: []byte("a: \"x\n")}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseCatalog(fsys); err == nil {
				t.Errorf("parseCatalog: got nil error")
			}
		})
	}
}

func TestLanguage(t *testing.T) {
	r := newRenderer(t, Branding{})
	tests := []struct {
		header, want string
	}{
		{"", "en"},
		{"de", "de"},
		{"de-CH", "de"},
		{"de_AT", "de"},
		{"FR-ca", "fr"},
		{"fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"},
		{"es-ES, es;q=0.9, de;q=0.8, en;q=0.7", "de"},
		{"en;q=0.5, de;q=0.9", "de"},
		{"de;q=0.8, fr;q=0.8", "de"},
		{"it, *;q=0.1", "en"},
		{"it, pt", "en"},
		{"de;q=0, fr", "fr"},
		{"de;q=0", "en"},
		{"de;q=abc, fr;q=0.2", "fr"},
		{"de;q=2, fr;q=0.2", "fr"},
		{" de ; q = 0.4 , fr ; q=0.3", "de"},
		{"zh-Hant-TW, fr-FR;q=0.1", "fr"},
		{",,;;,=", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			if got := r.Language(tt.header); got != tt.want {
				t.Errorf("Language(%q): got %q; want %q", tt.header, got, tt.want)
			}
		})
	}
}

func TestDurationsAndDatesInEveryLanguage(t *testing.T) {
	r := newRenderer(t, Branding{})
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name       string
		f          func(l locale) string
		en, de, fr string
	}{
		{"8 hours", func(l locale) string { return l.Duration(8 * time.Hour) }, "8 hours", "8 Stunden", "8 heures"},
		{"1 hour", func(l locale) string { return l.Duration(time.Hour) }, "1 hour", "1 Stunde", "1 heure"},
		{"90 minutes", func(l locale) string { return l.Duration(90 * time.Minute) },
			"1 hour and 30 minutes", "1 Stunde und 30 Minuten", "1 heure et 30 minutes"},
		{"a day", func(l locale) string { return l.Duration(24 * time.Hour) }, "1 day", "1 Tag", "1 jour"},
		{"7 days", func(l locale) string { return l.Duration(7 * 24 * time.Hour) }, "7 days", "7 Tage", "7 jours"},
		{"two largest units", func(l locale) string { return l.Duration(26*time.Hour + 5*time.Minute) },
			"1 day and 2 hours", "1 Tag und 2 Stunden", "1 jour et 2 heures"},
		{"a day and a minute", func(l locale) string { return l.Duration(24*time.Hour + time.Minute) },
			"1 day and 1 minute", "1 Tag und 1 Minute", "1 jour et 1 minute"},
		{"seconds round up", func(l locale) string { return l.Duration(30 * time.Second) }, "1 minute", "1 Minute", "1 minute"},
		{"zero", func(l locale) string { return l.Duration(0) }, "", "", ""},
		{"negative", func(l locale) string { return l.Duration(-time.Hour) }, "", "", ""},
		{"date", func(l locale) string { return l.Date(nov3) }, "3 November 2025", "3. November 2025", "3 novembre 2025"},
		{"date in March", func(l locale) string { return l.Date(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) },
			"1 March 2026", "1. März 2026", "1 mars 2026"},
		{"date and time in its zone", func(l locale) string { return l.DateTime(nov4.In(berlin)) },
			"4 November 2025, 15:00 (CET)", "4. November 2025, 15:00 Uhr (CET)", "4 novembre 2025 à 15:00 (CET)"},
		{"zero time", func(l locale) string { return l.Date(time.Time{}) + l.DateTime(time.Time{}) }, "", "", ""},
	}
	for _, tt := range tests {
		for lang, want := range map[string]string{"en": tt.en, "de": tt.de, "fr": tt.fr} {
			t.Run(tt.name+"/"+lang, func(t *testing.T) {
				if got := tt.f(r.locale(lang)); got != want {
					t.Errorf("got %q; want %q", got, want)
				}
			})
		}
	}
}

func TestFill(t *testing.T) {
	l := locale{texts: map[string]string{"k": "{a} and {b} but not {c} or {A}"}}
	if got, want := l.T("k", "a", "<1>", "b", 2), "<1> and 2 but not {c} or {A}"; got != want {
		t.Errorf("T: got %q; want %q", got, want)
	}
	if got, want := string(l.B("k", "a", "<1>", "b", "&")), "<strong>&lt;1&gt;</strong> and <strong>&amp;</strong> but not {c} or {A}"; got != want {
		t.Errorf("B: got %q; want %q", got, want)
	}
	if got, want := l.T("missing.key"), "missing.key"; got != want {
		t.Errorf("unknown key: got %q; want %q", got, want)
	}
	for _, tt := range []struct{ text, want string }{
		{"{{a}}", "{x}"},
		{"{a {a}", "{a x"},
		{"{a", "{a"},
		{"a}{}{a}", "a}{}x"},
		{"{b}", "{b}"},
		{"no braces", "no braces"},
	} {
		if got := fill(tt.text, []any{"a", "x"}, same, same); got != tt.want {
			t.Errorf("fill(%q): got %q; want %q", tt.text, got, tt.want)
		}
	}
	if got := fill("{a}", nil, same, same); got != "{a}" {
		t.Errorf("fill without values: got %q", got)
	}
}

func TestPaletteContrast(t *testing.T) {
	for name, p := range map[string]palette{"light": light, "dark": dark} {
		for pair, c := range p.textPairs() {
			if got := contrast(c[0], c[1]); got < minContrast {
				t.Errorf("%s %s: contrast %.2f; want at least %.1f", name, pair, got, minContrast)
			}
		}
	}
	if got := contrast(black, white); got < 20.99 || got > 21.01 {
		t.Errorf("contrast(black, white): got %.3f; want 21", got)
	}
	// Every accent gets a readable button text and, through the fallback,
	// readable links, in both schemes.
	for r := 0; r < 256; r += 15 {
		for g := 0; g < 256; g += 15 {
			for b := 0; b < 256; b += 15 {
				a := rgb{uint8(r), uint8(g), uint8(b)}
				if got := contrast(onColour(a), a); got < minContrast {
					t.Fatalf("button text on %s: contrast %.2f; want at least %.1f", a, got, minContrast)
				}
				for name, p := range map[string]palette{"light": light, "dark": dark} {
					link := p.linkColour(a)
					for _, bg := range []rgb{p.bg, p.card, p.notice} {
						if got := contrast(link, bg); got < minContrast {
							t.Fatalf("%s link for accent %s on %s: contrast %.2f", name, a, bg, got)
						}
					}
				}
			}
		}
	}
	if got := light.linkColour(mustHex(DefaultAccent)); got != mustHex(DefaultAccent) {
		t.Errorf("light link for the default accent: got %s; want the accent", got)
	}
	if got := light.linkColour(mustHex("#ffcc00")); got != light.link {
		t.Errorf("light link for a yellow accent: got %s; want the palette's %s", got, light.link)
	}
}
