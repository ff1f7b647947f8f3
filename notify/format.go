package notify

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Payload is the body posted to a FormatJSON target. Receivers written in Go can decode into
// it; the field names are stable.
type Payload struct {
	// Type is the event's Kind.
	Type Kind `json:"type"`
	// At is when the event happened, in UTC.
	At time.Time `json:"at"`
	// Request describes the access request after the event.
	Request PayloadRequest `json:"request"`
}

// PayloadRequest is the access request inside a Payload. Strings are as the person or admin
// wrote them: a receiver that shows them must escape them for its own medium.
type PayloadRequest struct {
	// ID is the access store's id of the request.
	ID int64 `json:"id"`
	// User is who asked; "" for an anonymous user.
	User string `json:"user"`
	// App and AppName are the catalog id and display name of the app asked for.
	App     string `json:"app"`
	AppName string `json:"app_name"`
	// Justification is what the person said they need the app for.
	Justification string `json:"justification"`
	// Status is the request's state after the event ("pending", "approved", "denied"...).
	Status string `json:"status"`
	// DecidedBy is the admin who decided; absent until a decision.
	DecidedBy string `json:"decided_by,omitempty"`
	// Message is the admin's note to the person; absent when there is none.
	Message string `json:"message,omitempty"`
	// AdminURL links to the admin view of the request; absent when unknown.
	AdminURL string `json:"admin_url,omitempty"`
}

// Limits on user-written text in chat messages, in characters. Slack allows 3000 in a
// section's text and 2000 in a field; Teams refuses a message over about 28 KB.
const (
	maxShort      = 200  // names, statuses
	maxLong       = 2000 // justification, message
	slackFieldMax = 2000
	slackTextMax  = 3000
	maxLinkLen    = 2000 // bytes of an admin link, after escaping
)

// render builds the body of e in format f.
func render(f Format, e Event) ([]byte, error) {
	switch f {
	case FormatJSON:
		return json.Marshal(payload(e))
	case FormatSlack:
		return json.Marshal(slackMessage(e))
	case FormatTeams:
		return json.Marshal(teamsMessage(e))
	default:
		return nil, fmt.Errorf("notify: unknown format %q", f)
	}
}

// payload is e as the generic JSON document.
func payload(e Event) Payload {
	return Payload{
		Type: e.Kind,
		At:   e.At.UTC(),
		Request: PayloadRequest{
			ID:            e.RequestID,
			User:          e.User,
			App:           e.App,
			AppName:       e.AppName,
			Justification: e.Justification,
			Status:        e.Status,
			DecidedBy:     e.DecidedBy,
			Message:       e.Message,
			AdminURL:      e.AdminURL,
		},
	}
}

// view is an event's text for chat messages: cleaned of control characters, bounded in
// length, and not yet escaped for any medium.
type view struct {
	title         string // "Access request: Dropbox"
	summary       string // "alice asks for access to Dropbox"
	user          string
	app           string // "Dropbox (dropbox)"
	request       string // "#42"
	status        string
	at            string
	justification string
	decidedBy     string
	message       string
	link          string // "" unless AdminURL is an absolute http(s) URL
}

func newView(e Event) view {
	v := view{
		user:          clean(e.User, maxShort, true),
		status:        clean(e.Status, maxShort, true),
		justification: clean(e.Justification, maxLong, false),
		decidedBy:     clean(e.DecidedBy, maxShort, true),
		message:       clean(e.Message, maxLong, false),
		request:       "#" + strconv.FormatInt(e.RequestID, 10),
		at:            e.At.UTC().Format("2006-01-02 15:04 UTC"),
		link:          adminLink(e.AdminURL),
	}
	name, id := clean(e.AppName, maxShort, true), clean(e.App, maxShort, true)
	switch {
	case name != "" && id != "" && name != id:
		v.app = name + " (" + id + ")"
	case name != "":
		v.app = name
	case id != "":
		name, v.app = id, id
	default:
		name, v.app = "an unknown app", "unknown"
	}
	who := v.user
	if who == "" {
		who = "An anonymous user"
		v.user = "anonymous"
	}
	switch e.Kind {
	case KindRequestCreated:
		v.title = "Access request: " + name
		v.summary = who + " asks for access to " + name
	case KindRequestDecided:
		switch e.Status {
		case "approved":
			v.title = "Access approved: " + name
		case "denied":
			v.title = "Access denied: " + name
		default:
			v.title = "Access request decided: " + name
		}
		by := v.decidedBy
		if by == "" {
			by = "an admin"
		}
		v.summary = fmt.Sprintf("Request %s for %s by %s: %s by %s", v.request, name, v.user, orDash(v.status), by)
	default:
		v.title = "Signpost: " + name
		v.summary = fmt.Sprintf("Request %s for %s by %s: %s", v.request, name, v.user, orDash(v.status))
	}
	return v
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// adminLink returns u if it is an absolute http or https URL, re-encoded, else "".
func adminLink(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	if s := p.String(); len(s) <= maxLinkLen {
		return s
	}
	return ""
}

// clean makes user-written text safe to place in a chat message: invalid UTF-8 becomes
// U+FFFD; control characters (except newline and tab in multi-line text) and the
// bidirectional controls that can make text display in a different order than it reads are
// removed; the result is cut to max characters, marked by "…". In single-line text, line
// breaks and tabs become spaces.
func clean(s string, max int, singleLine bool) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD") {
		switch {
		case r == '\n' || r == '\t':
			if singleLine {
				r = ' '
			}
		case unicode.IsControl(r), isBidiControl(r):
			continue
		}
		if n == max {
			b.WriteRune('…')
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// isBidiControl reports whether r is an explicit bidirectional formatting character (Unicode
// UAX #9): embeddings, overrides and isolates, and the marks.
func isBidiControl(r rune) bool {
	switch {
	case r == '\u200e', r == '\u200f', r == '\u061c':
		return true
	case r >= '\u202a' && r <= '\u202e':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// Slack

// slackEscape escapes &, < and > as Slack asks of text that is not meant as markup
// (docs.slack.dev "Formatting text for app surfaces", Escaping text), so that a
// justification cannot become <!channel>, <@U123> or <https://evil|a link>. The result is
// at most max characters; text cut short ends with "…" and never inside an entity.
func slackEscape(s string, max int) string {
	entity := func(r rune) string {
		switch r {
		case '&':
			return "&amp;"
		case '<':
			return "&lt;"
		case '>':
			return "&gt;"
		}
		return ""
	}
	width := func(r rune) int {
		if e := entity(r); e != "" {
			return len(e)
		}
		return 1
	}
	total := 0
	for _, r := range s {
		total += width(r)
	}
	limit := max
	if total > max {
		limit = max - 1 // room for "…"
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		w := width(r)
		if n+w > limit {
			break
		}
		if e := entity(r); e != "" {
			b.WriteString(e)
		} else {
			b.WriteRune(r)
		}
		n += w
	}
	if total > max {
		b.WriteRune('…')
	}
	return b.String()
}

type slackMsg struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

// slackText is a mrkdwn text object. Verbatim stops Slack from turning bare URLs, channel
// names and @mentions in the text into links and notifications.
type slackText struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Verbatim bool   `json:"verbatim"`
}

func mrkdwn(s string) slackText {
	return slackText{Type: "mrkdwn", Text: s, Verbatim: true}
}

// slackField is a bold label over an escaped value.
func slackField(label, value string) slackText {
	head := "*" + label + "*\n"
	return mrkdwn(head + slackEscape(value, slackFieldMax-len(head)))
}

func slackSection(label, value string) slackBlock {
	head := "*" + label + "*\n"
	t := mrkdwn(head + slackEscape(value, slackTextMax-len(head)))
	return slackBlock{Type: "section", Text: &t}
}

// slackMessage is e as a Slack incoming-webhook message: Text is the notification's
// fallback, Blocks the message as shown.
func slackMessage(e Event) slackMsg {
	v := newView(e)
	title := mrkdwn("*" + slackEscape(v.title, 300) + "*")
	fields := []slackText{slackField("From", v.user), slackField("App", v.app)}
	if e.Kind == KindRequestDecided {
		fields = append(fields, slackField("Decided by", orDash(v.decidedBy)))
	}
	fields = append(fields, slackField("Status", orDash(v.status)), slackField("Request", v.request))
	blocks := []slackBlock{
		{Type: "section", Text: &title},
		{Type: "section", Fields: fields},
	}
	if v.justification != "" {
		blocks = append(blocks, slackSection("Justification", v.justification))
	}
	if v.message != "" {
		blocks = append(blocks, slackSection("Message", v.message))
	}
	footer := slackEscape(v.at, 100)
	// Our own link, from configuration; escaped all the same, with '|' (which would end the
	// URL) percent-encoded, and left out rather than cut if it is absurdly long.
	if link := slackEscape(strings.ReplaceAll(v.link, "|", "%7C"), slackTextMax); link != "" && len(link) <= maxLinkLen {
		footer = "<" + link + "|Open in Signpost> · " + footer
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{mrkdwn(footer)}})
	return slackMsg{Text: slackEscape(v.summary, slackTextMax), Blocks: blocks}
}

// Teams

// teamsMsg is the message Teams Workflows and incoming webhooks accept: type "message" with
// one Adaptive Card attachment (learn.microsoft.com, "Create incoming webhooks with
// Workflows for Microsoft Teams").
type teamsMsg struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"` // always null; Workflows expect the key
	Content     adaptiveCard `json:"content"`
}

type adaptiveCard struct {
	Schema  string            `json:"$schema"`
	Type    string            `json:"type"`
	Version string            `json:"version"`
	Body    []richTextBlock   `json:"body"`
	Actions []openURL         `json:"actions,omitempty"`
	MSTeams map[string]string `json:"msteams,omitempty"`
}

// richTextBlock holds text runs. Unlike TextBlock and FactSet, whose text Teams reads as
// Markdown (so "[x](https://evil)" would become a link), a RichTextBlock's runs are shown
// exactly as written: that is why every string from an event goes into one.
type richTextBlock struct {
	Type    string    `json:"type"`
	Inlines []textRun `json:"inlines"`
	Spacing string    `json:"spacing,omitempty"`
}

type textRun struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
}

type openURL struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

func run(s string) textRun   { return textRun{Type: "TextRun", Text: s} }
func label(s string) textRun { return textRun{Type: "TextRun", Text: s, Weight: "Bolder"} }

// teamsLine is "Label: value" on one line.
func teamsLine(l, value string) richTextBlock {
	return richTextBlock{Type: "RichTextBlock", Inlines: []textRun{label(l + ": "), run(value)}, Spacing: "None"}
}

// teamsPara is a bold label over a paragraph.
func teamsPara(l, value string) []richTextBlock {
	return []richTextBlock{
		{Type: "RichTextBlock", Inlines: []textRun{label(l)}, Spacing: "Medium"},
		{Type: "RichTextBlock", Inlines: []textRun{run(value)}, Spacing: "None"},
	}
}

// teamsMessage is e as a Teams message with an Adaptive Card (version 1.4, which Teams and
// Workflows render).
func teamsMessage(e Event) teamsMsg {
	v := newView(e)
	body := []richTextBlock{
		{Type: "RichTextBlock", Inlines: []textRun{{Type: "TextRun", Text: v.title, Weight: "Bolder", Size: "Medium"}}},
		teamsLine("From", v.user),
		teamsLine("App", v.app),
	}
	if e.Kind == KindRequestDecided {
		body = append(body, teamsLine("Decided by", orDash(v.decidedBy)))
	}
	body = append(body,
		teamsLine("Status", orDash(v.status)),
		teamsLine("Request", v.request+" · "+v.at),
	)
	if v.justification != "" {
		body = append(body, teamsPara("Justification", v.justification)...)
	}
	if v.message != "" {
		body = append(body, teamsPara("Message", v.message)...)
	}
	card := adaptiveCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		Body:    body,
		MSTeams: map[string]string{"width": "Full"},
	}
	if v.link != "" {
		card.Actions = []openURL{{Type: "Action.OpenUrl", Title: "Open in Signpost", URL: v.link}}
	}
	return teamsMsg{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content:     card,
		}},
	}
}
