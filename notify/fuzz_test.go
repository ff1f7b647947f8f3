package notify

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzVerify feeds Verify what a hostile sender controls (timestamp, body, signature): it
// must never panic, must accept only a signature made with the secret, and must refuse the
// same signature on a changed body.
func FuzzVerify(f *testing.F) {
	f.Add(testSecret, "1780000000", `{"type":"request.created"}`, "sha256=00")
	f.Add("k", "", "", "")
	f.Add(testSecret, "99999999999999999999", "x", "sha256="+strings.Repeat("a", 64))
	f.Fuzz(func(t *testing.T, secret, ts, body, sig string) {
		now := time.Unix(1_780_000_000, 0)
		err := verifyAt(now, secret, ts, body, sig, time.Minute)
		if err == nil && sig != Sign(secret, ts, body) && !strings.EqualFold(sig, Sign(secret, ts, body)) {
			t.Fatalf("Verify accepted %q, which is not the signature", sig)
		}
		good := Sign(secret, ts, body)
		err = verifyAt(now, secret, ts, body, good, 0)
		wellFormed := secret != "" && ts != "" && len(ts) <= 18 && allDigits(ts)
		if wellFormed && err != nil {
			t.Fatalf("Verify(Sign(...)) = %v; want nil", err)
		}
		if !wellFormed && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Verify with secret %q, timestamp %q = %v; want ErrMalformed", secret, ts, err)
		}
		if wellFormed {
			if err := verifyAt(now, secret, ts, body+"x", good, 0); !errors.Is(err, ErrSignatureMismatch) {
				t.Fatalf("Verify(changed body) = %v; want ErrSignatureMismatch", err)
			}
		}
	})
}

// FuzzRetryAfter feeds parseRetryAfter whatever a receiver puts in the header: it must not
// panic and must stay within [0, maxRetryAfter].
func FuzzRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add("-1")
	f.Add("999999999999999999999999999")
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, time.Unix(1_780_000_000, 0))
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v; want 0 to %v", v, d, maxRetryAfter)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, false; want 0 when not ok", v, d)
		}
	})
}

// FuzzRender renders events with arbitrary person-written text in every format: the body
// must be JSON, Slack text must hold no markup but Signpost's own link, Teams must keep the
// text in text runs only, and the generic JSON must carry valid text unchanged.
func FuzzRender(f *testing.F) {
	f.Add("alice", "Dropbox", "<!channel> & <https://evil|x>", "approved", "bob", "msg", "https://admin.example/r/1", true)
	f.Add("", "", "", "", "", "", "", false)
	f.Add("\xff\u202e", "a|b>", "*_~`[x](y)", "denied", "<@U1>", "\x00", "https://a.example/?q=<&>|", true)
	f.Fuzz(func(t *testing.T, user, appName, justification, status, decidedBy, message, adminURL string, decided bool) {
		e := Event{
			Kind: KindRequestCreated, At: time.Unix(1_780_000_000, 0), RequestID: 9,
			User: user, App: "app", AppName: appName, Justification: justification,
			Status: status, DecidedBy: decidedBy, Message: message, AdminURL: adminURL,
		}
		if decided {
			e.Kind = KindRequestDecided
		}
		for _, f := range []Format{FormatJSON, FormatSlack, FormatTeams} {
			body, err := render(f, e)
			if err != nil {
				t.Fatalf("render %s: %v", f, err)
			}
			if !json.Valid(body) {
				t.Fatalf("render %s: not JSON: %s", f, body)
			}
		}

		slack := slackMessage(e)
		for _, s := range slackStrings(slack) {
			if s.Type != "mrkdwn" || !s.Verbatim {
				t.Fatalf("slack text object %+v; want verbatim mrkdwn", s)
			}
			text := s.Text
			if link := adminLink(adminURL); link != "" {
				text = strings.TrimPrefix(text, "<"+slackEscape(strings.ReplaceAll(link, "|", "%7C"), slackTextMax)+"|Open in Signpost> · ")
			}
			if strings.ContainsAny(text, "<>") {
				t.Fatalf("slack text %q holds markup", s.Text)
			}
			if !utf8.ValidString(s.Text) {
				t.Fatalf("slack text %q is not UTF-8", s.Text)
			}
		}

		teams := teamsMessage(e)
		card := teams.Attachments[0].Content
		for _, b := range card.Body {
			if b.Type != "RichTextBlock" {
				t.Fatalf("teams block type %q; want RichTextBlock", b.Type)
			}
			for _, r := range b.Inlines {
				if r.Type != "TextRun" || !utf8.ValidString(r.Text) {
					t.Fatalf("teams inline %+v; want a UTF-8 TextRun", r)
				}
			}
		}

		if utf8.ValidString(justification) && utf8.ValidString(user) {
			var p Payload
			body, _ := render(FormatJSON, e)
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Request.Justification != justification || p.Request.User != user {
				t.Fatalf("json payload changed the text: %+v", p.Request)
			}
		}
	})
}

func slackStrings(m slackMsg) []slackText {
	var out []slackText
	for _, b := range m.Blocks {
		if b.Text != nil {
			out = append(out, *b.Text)
		}
		out = append(out, b.Fields...)
		out = append(out, b.Elements...)
	}
	return out
}
