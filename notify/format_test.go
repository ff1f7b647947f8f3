package notify

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var decidedEvent = Event{
	Kind:          KindRequestDecided,
	At:            time.Date(2026, 5, 5, 14, 2, 0, 0, time.UTC),
	RequestID:     42,
	User:          "alice",
	App:           "dropbox",
	AppName:       "Dropbox",
	Justification: "Our customer Acme only shares files by Dropbox links.",
	Status:        "denied",
	DecidedBy:     "bob",
	Message:       "Please ask Acme to share through Box; IT can add them as a guest.",
	AdminURL:      "https://signpost-admin.example.com/requests/42",
}

// TestGolden posts each kind of event in each format to a receiver and compares the body,
// indented, with testdata/<format>-<kind>.golden. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	events := map[string]Event{"created": testEvent, "decided": decidedEvent}
	for _, f := range []Format{FormatJSON, FormatSlack, FormatTeams} {
		for _, kind := range []string{"created", "decided"} {
			t.Run(string(f)+"/"+kind, func(t *testing.T) {
				rc := newReceiver(t, nil)
				tg := Target{Name: "golden", URL: rc.srv.URL, Format: f}
				if f == FormatJSON {
					tg.Secret = testSecret
				}
				n, _, _ := newTestNotifier(t, []Target{tg}, Options{})
				n.Start()
				n.Notify(events[kind])
				r := rc.next(t)
				closeNotifier(t, n)

				var got bytes.Buffer
				if err := json.Indent(&got, r.body, "", "  "); err != nil {
					t.Fatalf("body is not JSON: %v\n%s", err, r.body)
				}
				got.WriteByte('\n')
				checkGolden(t, filepath.Join("testdata", string(f)+"-"+kind+".golden"), got.Bytes())
			})
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// hostile is an event whose every person-written field tries to ping, link, format or
// reorder text.
var hostile = Event{
	Kind:          KindRequestCreated,
	At:            time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC),
	RequestID:     7,
	User:          "<!here> mallory",
	App:           "dropbox",
	AppName:       "Dropbox",
	Justification: "<!channel> urgent <@U024BE7LH> & <https://evil.example/login|Reset your password> @everyone **bold** [click](https://evil.example) \u202eevil\u202c\x00\x07 {{DATE(2017-02-14T06:08:39Z, SHORT)}}\nline two",
	Status:        "pending",
}

// wantSlackJustification is hostile.Justification as Slack must receive it: &, < and >
// escaped, the control and bidi characters gone, everything else as written.
const wantSlackJustification = "*Justification*\n&lt;!channel&gt; urgent &lt;@U024BE7LH&gt; &amp; &lt;https://evil.example/login|Reset your password&gt; @everyone **bold** [click](https://evil.example) evil {{DATE(2017-02-14T06:08:39Z, SHORT)}}\nline two"

func TestSlackEscapesHostileText(t *testing.T) {
	body, err := render(FormatSlack, hostile)
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type     string            `json:"type"`
			Text     *json.RawMessage  `json:"text"`
			Fields   []json.RawMessage `json:"fields"`
			Elements []json.RawMessage `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	var texts []slackText
	add := func(raw json.RawMessage) {
		var st slackText
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatalf("text object %s: %v", raw, err)
		}
		texts = append(texts, st)
	}
	for _, b := range msg.Blocks {
		if b.Text != nil {
			add(*b.Text)
		}
		for _, f := range b.Fields {
			add(f)
		}
		for _, e := range b.Elements {
			add(e)
		}
	}
	found := false
	for _, st := range texts {
		if st.Type != "mrkdwn" || !st.Verbatim {
			t.Errorf("text object %+v; want mrkdwn with verbatim true", st)
		}
		if strings.ContainsAny(st.Text, "<>") {
			t.Errorf("text %q contains < or >: Slack would read it as markup", st.Text)
		}
		if st.Text == wantSlackJustification {
			found = true
		}
	}
	if !found {
		t.Errorf("no section reads %q", wantSlackJustification)
	}
	if strings.ContainsAny(msg.Text, "<>") || !strings.Contains(msg.Text, "&lt;!here&gt; mallory") {
		t.Errorf("fallback text %q; want the user escaped", msg.Text)
	}
	for _, bad := range []string{"\u202e", "\x00", "\x07"} {
		if bytes.Contains(body, []byte(bad)) {
			t.Errorf("body contains %q", bad)
		}
	}
}

func TestTeamsKeepsHostileTextPlain(t *testing.T) {
	body, err := render(FormatTeams, hostile)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	wantJustification := "<!channel> urgent <@U024BE7LH> & <https://evil.example/login|Reset your password> @everyone **bold** [click](https://evil.example) evil {{DATE(2017-02-14T06:08:39Z, SHORT)}}\nline two"
	var runs []string
	walk(doc, func(obj map[string]any) {
		switch obj["type"] {
		case "TextBlock", "FactSet", "Fact":
			// Teams reads these as Markdown: person-written text must never be in one.
			t.Errorf("card has a %v: %v", obj["type"], obj)
		case "TextRun":
			runs = append(runs, obj["text"].(string))
		}
	})
	if !contains(runs, wantJustification) {
		t.Errorf("no text run holds the justification as written; runs: %q", runs)
	}
	if !contains(runs, "<!here> mallory") {
		t.Errorf("no text run holds the user as written; runs: %q", runs)
	}
	for _, bad := range []string{"\u202e", "\x00", "\x07"} {
		if bytes.Contains(body, []byte(bad)) {
			t.Errorf("body contains %q", bad)
		}
	}
}

func TestJSONCarriesTextAsWritten(t *testing.T) {
	body, err := render(FormatJSON, hostile)
	if err != nil {
		t.Fatal(err)
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Request.Justification != hostile.Justification || p.Request.User != hostile.User {
		t.Errorf("payload request = %+v; want the event's text unchanged", p.Request)
	}
	if p.Type != KindRequestCreated || p.Request.ID != 7 || !p.At.Equal(hostile.At) {
		t.Errorf("payload = %+v; want type, id and time of the event", p)
	}
}

func walk(v any, visit func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		visit(v)
		for _, c := range v {
			walk(c, visit)
		}
	case []any:
		for _, c := range v {
			walk(c, visit)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestSlackEscape(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"plain", "hello", 10, "hello"},
		{"entities", "a<b>&c", 20, "a&lt;b&gt;&amp;c"},
		{"exactly fits", "a&b", 7, "a&amp;b"},
		{"cut before an entity", "ab&cd", 6, "ab…"},
		{"cut plain", "abcdef", 4, "abc…"},
		{"multibyte counts as one", "äöüß", 4, "äöüß"},
		{"empty", "", 5, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slackEscape(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("slackEscape(%q, %d) = %q; want %q", tt.in, tt.max, got, tt.want)
			}
			if n := utf8.RuneCountInString(got); n > tt.max {
				t.Errorf("slackEscape(%q, %d) is %d characters; want at most %d", tt.in, tt.max, n, tt.max)
			}
		})
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		max        int
		singleLine bool
		want       string
	}{
		{"keeps text", "Hello, Zoë", 50, false, "Hello, Zoë"},
		{"trims", "  hi \n", 50, false, "hi"},
		{"keeps newlines in paragraphs", "a\nb\tc", 50, false, "a\nb\tc"},
		{"flattens single lines", "a\nb\tc", 50, true, "a b c"},
		{"drops controls", "a\x00b\x1bc\u0085d\r\n", 50, false, "abcd"},
		{"drops bidi overrides", "invoice\u202efdp.exe\u2066x\u2069", 50, false, "invoicefdp.exex"},
		{"repairs UTF-8", "a\xffb", 50, false, "a\uFFFDb"},
		{"cuts", "abcdef", 3, false, "abc…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clean(tt.in, tt.max, tt.singleLine); got != tt.want {
				t.Errorf("clean(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLongTextFitsSlackAndTeamsLimits(t *testing.T) {
	e := testEvent
	e.Justification = strings.Repeat("&<>", 5000)
	e.User = strings.Repeat("u", 5000)
	e.Message = strings.Repeat("m", 50000)
	e.Kind = KindRequestDecided
	slack, err := render(FormatSlack, e)
	if err != nil {
		t.Fatal(err)
	}
	var msg slackMsg
	if err := json.Unmarshal(slack, &msg); err != nil {
		t.Fatal(err)
	}
	for _, b := range msg.Blocks {
		if b.Text != nil && utf8.RuneCountInString(b.Text.Text) > slackTextMax {
			t.Errorf("section text is %d characters; want at most %d", utf8.RuneCountInString(b.Text.Text), slackTextMax)
		}
		for _, f := range b.Fields {
			if utf8.RuneCountInString(f.Text) > slackFieldMax {
				t.Errorf("field is %d characters; want at most %d", utf8.RuneCountInString(f.Text), slackFieldMax)
			}
		}
	}
	teams, err := render(FormatTeams, e)
	if err != nil {
		t.Fatal(err)
	}
	// Teams refuses messages over about 28 KB.
	if len(teams) > 24<<10 {
		t.Errorf("teams message is %d bytes; want at most %d", len(teams), 24<<10)
	}
}

func TestAdminLink(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://admin.example/requests/1", "https://admin.example/requests/1"},
		{"http://127.0.0.1:8081/requests/1", "http://127.0.0.1:8081/requests/1"},
		{"javascript:alert(1)", ""},
		{"/requests/1", ""},
		{"", ""},
		{"https://admin.example/" + strings.Repeat("a", 3000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := adminLink(tt.in); got != tt.want {
				t.Errorf("adminLink(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAnonymousAndUnknownApp(t *testing.T) {
	e := Event{Kind: KindRequestCreated, RequestID: 1, At: testEvent.At}
	v := newView(e)
	if v.user != "anonymous" || v.app != "unknown" || v.summary != "An anonymous user asks for access to an unknown app" {
		t.Errorf("view = user %q, app %q, summary %q; want anonymous, unknown, a sentence", v.user, v.app, v.summary)
	}
	e.App = "zoom"
	if v := newView(e); v.app != "zoom" || v.title != "Access request: zoom" {
		t.Errorf("view = app %q, title %q; want the id in both", v.app, v.title)
	}
}
