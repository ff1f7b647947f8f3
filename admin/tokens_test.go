package admin

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestReadTokensGolden reads each testdata/tokens/*.tokens file and
// compares the tokens (names and secret lengths) or the error with its
// .golden file. Run with -update to rewrite them.
func TestReadTokensGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/tokens/*.tokens")
	if err != nil || len(files) == 0 {
		t.Fatalf("no token fixtures: %v", err)
	}
	for _, src := range files {
		name := strings.TrimSuffix(filepath.Base(src), ".tokens")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			// The fixture is copied with mode 0600: git keeps it 0644,
			// which ReadTokens refuses.
			file := filepath.Join(t.TempDir(), filepath.Base(src))
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			tokens, err := ReadTokens(file)
			var got strings.Builder
			if err != nil {
				got.WriteString("error:\n" + strings.ReplaceAll(err.Error(), file, filepath.Base(src)) + "\n")
				for _, l := range strings.Split(string(data), "\n") {
					if _, secret, ok := strings.Cut(l, ":"); ok && len(strings.TrimSpace(secret)) >= 8 && strings.Contains(err.Error(), strings.TrimSpace(secret)) {
						t.Errorf("the error quotes a token: %v", err)
					}
				}
			} else {
				got.WriteString("ok:\n")
				for _, tk := range tokens {
					fmt.Fprintf(&got, "%s\t%d characters\n", tk.Name, len(tk.Secret))
				}
			}
			golden := strings.TrimSuffix(src, ".tokens") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got.String() != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got.String(), want)
			}
		})
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	tok, path, created, err := LoadOrCreateToken(dir)
	if err != nil || !created || len(tok) != 64 {
		t.Fatalf("first start: %q %v %v", tok, created, err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v; want 0600", info.Mode().Perm(), err)
	}
	again, _, created, err := LoadOrCreateToken(dir)
	if err != nil || created || again != tok {
		t.Fatalf("second start: got %q created %v err %v; want the same token", again, created, err)
	}
	tokens, _, _, err := LoadOrCreateTokens(dir)
	if err != nil || len(tokens) != 1 || tokens[0] != (Token{Name: DefaultActor, Secret: tok}) {
		t.Fatalf("LoadOrCreateTokens: got %v %v; want the generated token named %q", tokens, err, DefaultActor)
	}

	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(loose, []byte("0123456789abcdef0123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokens(loose); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("token file readable by others: got %v; want a refusal naming chmod 600", err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("# comment\n\nabc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokens(short); err == nil {
		t.Fatal("a short token was accepted")
	}
}

// TestLoadOrCreateTokensKeepsNames reads a named token file as it is, and
// fills a file holding only comments.
func TestLoadOrCreateTokensKeepsNames(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, TokenFile)
	if err := os.WriteFile(file, []byte("alice:"+aliceSecret+"\n"+bobSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, _, created, err := LoadOrCreateTokens(dir)
	want := []Token{{"alice", aliceSecret}, {DefaultActor, bobSecret}}
	if err != nil || created || fmt.Sprint(tokens) != fmt.Sprint(want) || tokens[0].Secret != aliceSecret {
		t.Fatalf("got %v created %v err %v; want %v", tokens, created, err, want)
	}

	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, TokenFile), []byte("# tokens go here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, path, created, err := LoadOrCreateTokens(empty)
	if err != nil || !created || len(tokens) != 1 {
		t.Fatalf("comments only: got %v created %v err %v; want one new token", tokens, created, err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# tokens go here\n") || !strings.Contains(string(data), tokens[0].Secret) {
		t.Errorf("comments only: file now %q; want the comment kept and the token added", data)
	}
}

// TestTokenNeverPrinted formats a token every way a log line might.
func TestTokenNeverPrinted(t *testing.T) {
	tk := Token{Name: "alice", Secret: aliceSecret}
	for _, s := range []string{fmt.Sprint(tk), fmt.Sprintf("%v %+v %#v %s", tk, tk, tk, tk), tk.LogValue().String()} {
		if strings.Contains(s, aliceSecret) {
			t.Errorf("got %q; want the name without the secret", s)
		}
	}
}

// FuzzParseTokens checks that no token file makes the parser panic, that
// what it accepts satisfies the format's rules, and that its errors never
// quote a secret it accepted on another line.
func FuzzParseTokens(f *testing.F) {
	files, _ := filepath.Glob("testdata/tokens/*.tokens")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err == nil {
			f.Add(string(data))
		}
	}
	f.Fuzz(func(t *testing.T, data string) {
		tokens, err := parseTokens("tokens", data)
		if err != nil {
			if tokens != nil {
				t.Fatalf("got tokens %v with error %v", tokens, err)
			}
			return
		}
		seen := map[string]bool{}
		for _, tk := range tokens {
			if checkTokenName(tk.Name) != nil || len(tk.Secret) < MinSecretLen || strings.ContainsAny(tk.Secret, " \t\r\n") || seen[tk.Secret] {
				t.Fatalf("accepted a bad token: name %q, %d characters", tk.Name, len(tk.Secret))
			}
			seen[tk.Secret] = true
		}
	})
}

// TestTokenSetReplacedWhileServing takes Bob's token out of the set while
// the listener serves: his bearer token and his browser session stop
// working at once, Alice's keep working, and a token put in works.
func TestTokenSetReplacedWhileServing(t *testing.T) {
	set := NewTokenSet([]Token{{Name: "alice", Secret: aliceSecret}, {Name: "bob", Secret: bobSecret}})
	e := newEnv(t, envOptions{noNotify: true, configure: func(o *Options) { o.TokenSet = set }})
	aliceSession, bobSession := e.signIn(aliceSecret), e.signIn(bobSecret)
	status := func(c call) int {
		t.Helper()
		c.method, c.path = "GET", "/api/v1/requests"
		return e.do(c).status
	}
	for _, c := range []call{{bearer: aliceSecret}, {bearer: bobSecret}, {cookie: aliceSession}, {cookie: bobSession}} {
		if got := status(c); got != http.StatusOK {
			t.Fatalf("before the change: got %d; want 200", got)
		}
	}
	const carolSecret = "carol-0123456789abcdef0123456789"
	set.Set([]Token{{Name: "alice", Secret: aliceSecret}, {Name: "carol", Secret: carolSecret}})
	if got := set.Tokens(); len(got) != 2 || got[1].Name != "carol" {
		t.Errorf("Tokens: got %d, the second %q; want alice and carol", len(got), got[1].Name)
	}
	for _, tc := range []struct {
		what string
		c    call
		want int
	}{
		{"alice's token", call{bearer: aliceSecret}, http.StatusOK},
		{"alice's session", call{cookie: aliceSession}, http.StatusOK},
		{"bob's token, taken out", call{bearer: bobSecret}, http.StatusUnauthorized},
		{"bob's session, signed in with it", call{cookie: bobSession}, http.StatusUnauthorized},
		{"carol's token, put in", call{bearer: carolSecret}, http.StatusOK},
	} {
		if got := status(tc.c); got != tc.want {
			t.Errorf("%s after the change: got %d; want %d", tc.what, got, tc.want)
		}
	}
}
