package attack_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/store"
)

// formContext is the signed context a page's form carries, as the proxy
// writes it. The tests forge it with and without the proxy's key; a
// control post proves the forgery matches the real format.
type formContext struct {
	Subject string `json:"s"`
	App     string `json:"a"`
	Host    string `json:"h"`
	Path    string `json:"p"`
	Scheme  string `json:"c"`
	Issued  int64  `json:"t"`
	Nonce   string `json:"n"`
}

func mac(key []byte, purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// forge signs c with key the way the proxy signs its forms, and returns
// the form's fields.
func forge(key []byte, c formContext) url.Values {
	if c.Nonce == "" {
		n := make([]byte, 12)
		_, _ = rand.Read(n)
		c.Nonce = base64.RawURLEncoding.EncodeToString(n)
	}
	payload, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return url.Values{
		"ctx":  {p + "." + base64.RawURLEncoding.EncodeToString(mac(key, "signpost-context", p))},
		"csrf": {base64.RawURLEncoding.EncodeToString(mac(key, "signpost-csrf", c.Subject, c.Nonce))},
	}
}

// anonymous is the subject of the tests' anonymous client.
const anonymous = "ip:127.0.0.1"

// slackContext is a fresh, valid context for "continue" on slack.com.
func slackContext() formContext {
	return formContext{Subject: anonymous, App: "slack", Host: "slack.com", Path: "/x", Scheme: "http", Issued: time.Now().Unix()}
}

// TestPageActionForgeriesAreRefused: a page action acts only on a form
// this proxy signed, for this person, on this host, recently, posted from
// the page itself.
func TestPageActionForgeriesAreRefused(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML, store: true})
	c := g.client()
	_, page := g.get(c, "http://slack.com/x")
	form := formOf(t, page, "/.signpost/continue")
	_, page2 := g.get(c, "http://slack.com/x")
	other := formOf(t, page2, "/.signpost/continue")
	with := func(k, v string) url.Values {
		f := url.Values{"ctx": form["ctx"], "csrf": form["csrf"]}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	tampered := func() url.Values {
		p, sig, _ := strings.Cut(form.Get("ctx"), ".")
		raw, _ := base64.RawURLEncoding.DecodeString(p)
		raw = []byte(strings.Replace(string(raw), `"a":"slack"`, `"a":"wetransfer"`, 1))
		return with("ctx", base64.RawURLEncoding.EncodeToString(raw)+"."+sig)
	}
	expired, future, alice := slackContext(), slackContext(), slackContext()
	expired.Issued = time.Now().Add(-2 * time.Hour).Unix()
	future.Issued = time.Now().Add(10 * time.Minute).Unix()
	alice.Subject = "alice"
	const continueURL = "http://slack.com/.signpost/continue"
	tests := []struct {
		name   string
		url    string
		form   url.Values
		hdr    []string
		status int
	}{
		{"missing CSRF token", continueURL, with("csrf", ""), nil, 403},
		{"wrong CSRF token", continueURL, with("csrf", base64.RawURLEncoding.EncodeToString(make([]byte, 32))), nil, 403},
		{"CSRF token of another form", continueURL, with("csrf", other.Get("csrf")), nil, 403},
		{"missing context", continueURL, with("ctx", ""), nil, 403},
		{"context changed after signing", continueURL, tampered(), nil, 403},
		{"context signed with another key", continueURL, forge([]byte(strings.Repeat("x", 32)), slackContext()), nil, 403},
		{"expired context", continueURL, forge(g.key, expired), nil, 403},
		{"context from the future", continueURL, forge(g.key, future), nil, 403},
		{"another person's form", continueURL, forge(g.key, alice), nil, 403},
		{"oversized context", continueURL, with("ctx", strings.Repeat("a", 5000)+"."+strings.Repeat("b", 40)), nil, 403},
		{"form posted to another host", "http://acme.slack.com/.signpost/continue", form, nil, 403},
		{"cross-site Origin", continueURL, form, []string{"Origin", "http://evil.example"}, 403},
		{"cross-site fetch metadata", continueURL, form, []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"same-site but another origin", continueURL, form, []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"text/plain body", continueURL, form, []string{"Content-Type", "text/plain"}, 415},
		{"multipart body", continueURL, form, []string{"Content-Type", "multipart/form-data; boundary=x"}, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := g.post(c, tt.url, tt.form, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("got %d; want %d\n%s", resp.StatusCode, tt.status, body)
			}
		})
	}
	t.Run("GET on an action", func(t *testing.T) {
		resp, _ := g.get(c, continueURL+"?"+form.Encode())
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("got %d; want 405", resp.StatusCode)
		}
	})
	grants, err := g.store.Grants(context.Background(), store.GrantFilter{})
	if err != nil || len(grants) != 0 {
		t.Fatalf("forgeries stored %d grants (%v); want 0", len(grants), err)
	}
	// The control: a context forged with the proxy's own key, fresh and
	// for this person, is accepted — so the refusals above are the checks
	// at work, not a mistake in forge.
	resp, body := g.post(c, continueURL, forge(g.key, slackContext()))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://slack.com/x" {
		t.Fatalf("control: got %d to %q; want 303 to http://slack.com/x\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

// TestContinueNeverLeadsToAnotherHost: "continue" redirects to the path
// the person asked for, on the host the page was shown on — never to a
// host taken from the path, a scheme-relative path or a backslash.
func TestContinueNeverLeadsToAnotherHost(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML, store: true})
	c := g.client()
	check := func(t *testing.T, resp *http.Response) {
		t.Helper()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("got %d; want 303", resp.StatusCode)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Host != "slack.com" || (loc.Scheme != "http" && loc.Scheme != "https") {
			t.Fatalf("continue leads to %q; want an http(s) URL on slack.com", resp.Header.Get("Location"))
		}
	}
	t.Run("page for a path starting with //", func(t *testing.T) {
		_, page := g.get(c, "http://slack.com//evil.example/x")
		resp, _ := g.post(c, "http://slack.com/.signpost/continue", formOf(t, page, "/.signpost/continue"))
		check(t, resp)
	})
	for _, p := range []string{"https://evil.example/", "//evil.example/", `/\evil.example/`, `\\evil.example/`, "javascript:alert(1)", "/ok/../..//evil.example"} {
		t.Run("signed path "+p, func(t *testing.T) {
			fc := slackContext()
			fc.Path = p
			resp, _ := g.post(c, "http://slack.com/.signpost/continue", forge(g.key, fc))
			check(t, resp)
		})
	}
	t.Run("signed scheme javascript", func(t *testing.T) {
		fc := slackContext()
		fc.Scheme = "javascript"
		resp, _ := g.post(c, "http://slack.com/.signpost/continue", forge(g.key, fc))
		check(t, resp)
	})
}

// TestReplayedFormsCreateNothing: a form works once. Sent again — in
// sequence or many times at once — it creates no second grant or request.
func TestReplayedFormsCreateNothing(t *testing.T) {
	g := startGateway(t, setup{yaml: loopbackOK + policyYAML + "requests: {requests_per_hour: 100}\n", store: true})
	c := g.client()
	t.Run("continue", func(t *testing.T) {
		_, page := g.get(c, "http://slack.com/")
		form := formOf(t, page, "/.signpost/continue")
		if resp, _ := g.post(c, "http://slack.com/.signpost/continue", form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first post: got %d; want 303", resp.StatusCode)
		}
		if resp, _ := g.post(c, "http://slack.com/.signpost/continue", form); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("replay: got %d; want 403", resp.StatusCode)
		}
	})
	t.Run("request access", func(t *testing.T) {
		_, page := g.get(c, "http://wetransfer.com/")
		form := formOf(t, page, "/.signpost/request")
		form.Set("justification", "Sending a large file to a customer.")
		if resp, _ := g.post(c, "http://wetransfer.com/.signpost/request", form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first post: got %d; want 303", resp.StatusCode)
		}
		if resp, _ := g.post(c, "http://wetransfer.com/.signpost/request", form); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("replay: got %d; want 403", resp.StatusCode)
		}
	})
	t.Run("request access, many at once", func(t *testing.T) {
		_, page := g.get(c, "http://bücher.example/")
		form := formOf(t, page, "/.signpost/request")
		form.Set("justification", "Ordering books.")
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", "http://xn--bcher-kva.example/.signpost/request", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if resp, err := c.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
	})
	ctx := context.Background()
	grants, _ := g.store.Grants(ctx, store.GrantFilter{App: "slack"})
	if len(grants) != 1 {
		t.Errorf("slack grants: got %d; want 1", len(grants))
	}
	for _, app := range []string{"wetransfer", "buecher"} {
		reqs, _ := g.store.Requests(ctx, store.RequestFilter{App: app})
		if len(reqs) != 1 {
			t.Errorf("%s requests: got %d; want 1", app, len(reqs))
		}
	}
}
