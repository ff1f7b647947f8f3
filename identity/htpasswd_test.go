package identity

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestParseHtpasswdGolden parses every testdata/*.htpasswd fixture, each named after what it
// shows, and compares the entries or the error text with the fixture's .golden file.
func TestParseHtpasswdGolden(t *testing.T) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.htpasswd"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fixtures) == 0 {
		t.Fatal("got no testdata/*.htpasswd fixtures; want some")
	}
	for _, fixture := range fixtures {
		name := strings.TrimSuffix(filepath.Base(fixture), ".htpasswd")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(fixture)
			if err != nil {
				t.Fatal(err)
			}
			got := describeParse(ParseHtpasswd(filepath.Base(fixture), data))
			golden := strings.TrimSuffix(fixture, ".htpasswd") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("ParseHtpasswd(%s):\ngot:\n%s\nwant:\n%s", fixture, got, want)
			}
		})
	}
}

// describeParse renders ParseHtpasswd's result the way the golden files hold it: the error
// text, or one line per entry with the hash's cost but not the hash.
func describeParse(entries []HtpasswdEntry, err error) string {
	if err != nil {
		if entries != nil {
			return fmt.Sprintf("error with %d entries (want none):\n%v\n", len(entries), err)
		}
		return "error:\n" + err.Error() + "\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d entries:\n", len(entries))
	for _, e := range entries {
		cost, err := bcrypt.Cost(e.Hash)
		if err != nil {
			fmt.Fprintf(&b, "line %d: user %q, a hash bcrypt rejects: %v\n", e.Line, e.User, err)
			continue
		}
		fmt.Fprintf(&b, "line %d: user %q, %s, cost %d\n", e.Line, e.User, e.Hash[:4], cost)
	}
	return b.String()
}

// TestParseHtpasswdNeverQuotesHashes checks that no error repeats what follows a user's
// colon: in a broken file that may well be a plain-text password.
func TestParseHtpasswdNeverQuotesHashes(t *testing.T) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.htpasswd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fixture := range fixtures {
		t.Run(filepath.Base(fixture), func(t *testing.T) {
			data, err := os.ReadFile(fixture)
			if err != nil {
				t.Fatal(err)
			}
			_, parseErr := ParseHtpasswd(fixture, data)
			if parseErr == nil {
				return
			}
			for line := range strings.SplitSeq(string(data), "\n") {
				_, secret, _ := strings.Cut(strings.TrimSpace(line), ":")
				if len(secret) >= 6 && strings.Contains(parseErr.Error(), secret) {
					t.Errorf("got error %q; want it not to contain %q", parseErr, secret)
				}
			}
		})
	}
}

// TestParseHtpasswdCopiesHashes checks that entries do not alias the caller's buffer, which
// the config package may reuse.
func TestParseHtpasswdCopiesHashes(t *testing.T) {
	data := []byte("alice:" + testHash(t, "secret") + "\n")
	entries, err := ParseHtpasswd("users", data)
	if err != nil {
		t.Fatal(err)
	}
	want := string(entries[0].Hash)
	clear(data)
	if got := string(entries[0].Hash); got != want {
		t.Errorf("got hash %q after clearing the input; want %q", got, want)
	}
}

func TestCheckHashAgreesWithBcrypt(t *testing.T) {
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		t.Run(prefix, func(t *testing.T) {
			hash := prefix + testHash(t, "secret")[4:]
			cost, problem := checkHash(hash)
			if problem != "" || cost != bcrypt.MinCost {
				t.Fatalf("checkHash(%s) = %d, %q; want %d, \"\"", hash, cost, problem, bcrypt.MinCost)
			}
			if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("secret")); err != nil {
				t.Errorf("got %v comparing the right password against %s; want nil", err, hash)
			}
		})
	}
}
