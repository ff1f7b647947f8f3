package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a
// database pool not closed, a cache lookup that never landed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestDSNScheme(t *testing.T) {
	for _, tc := range []struct {
		dsn, want string
	}{
		{"sqlite:/var/lib/signpost/access.db", "sqlite"},
		{"SQLite:access.db", "sqlite"},
		{"sqlite:///var/lib/signpost/access.db", "sqlite"},
		{"postgres://signpost@db.internal/signpost?sslmode=verify-full", "postgres"},
		{"postgresql://db/signpost", "postgresql"},
		{"/var/lib/signpost/access.db", ""},
		{"access.db", ""},
		{"./data/a:b.db", ""},
		{`C:\signpost\access.db`, ""},
		{"C:/signpost/access.db", ""},
		{"1sqlite:x", ""},
		{":memory:", ""},
		{"", ""},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			if got := dsnScheme(tc.dsn); got != tc.want {
				t.Errorf("dsnScheme(%q): got %q; want %q", tc.dsn, got, tc.want)
			}
		})
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	for _, tc := range []struct {
		name, dsn, want string
	}{
		{"unregistered scheme", "mysql://db/signpost", `no backend for scheme "mysql" (known: `},
		{"empty", "", "empty DSN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), tc.dsn)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): got a store; want an error", tc.dsn)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%q): got error %q; want it to contain %q", tc.dsn, err, tc.want)
			}
		})
	}
	_, err := Open(context.Background(), "mysql://db/signpost")
	if err == nil || !strings.Contains(err.Error(), "sqlite") {
		t.Errorf("Open(mysql): got error %v; want it to list the sqlite backend", err)
	}
}

func TestRegister(t *testing.T) {
	sentinel := errors.New("opened by the test backend")
	var gotDSN string
	t.Cleanup(func() {
		registryMu.Lock()
		delete(registry, "storetest-fake")
		registryMu.Unlock()
	})
	Register("storetest-fake", func(_ context.Context, dsn string) (Store, error) {
		gotDSN = dsn
		return nil, sentinel
	})
	_, err := Open(context.Background(), "StoreTest-Fake://somewhere/db")
	if !errors.Is(err, sentinel) {
		t.Errorf("Open through a registered scheme: got error %v; want the backend's", err)
	}
	if gotDSN != "StoreTest-Fake://somewhere/db" {
		t.Errorf("DSN handed to the backend: got %q; want the whole DSN", gotDSN)
	}

	open := func(context.Context, string) (Store, error) { return nil, sentinel }
	for _, tc := range []struct {
		name   string
		scheme string
		open   Opener
	}{
		{"duplicate", "storetest-fake", open},
		{"duplicate in another case", "STORETEST-FAKE", open},
		{"empty scheme", "", open},
		{"invalid scheme", "no spaces", open},
		{"nil opener", "storetest-nil", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q): got no panic; want one", tc.scheme)
				}
			}()
			Register(tc.scheme, tc.open)
		})
	}
}

func TestLimit(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{-5, DefaultLimit}, {0, DefaultLimit}, {1, 1}, {MaxLimit, MaxLimit}, {MaxLimit + 1, MaxLimit},
	} {
		if got := limit(tc.in); got != tc.want {
			t.Errorf("limit(%d): got %d; want %d", tc.in, got, tc.want)
		}
	}
}

func TestGrantActiveAt(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		g    Grant
		want bool
	}{
		{"running", Grant{ExpiresAt: now.Add(time.Minute)}, true},
		{"expired", Grant{ExpiresAt: now}, false},
		{"revoked", Grant{ExpiresAt: now.Add(time.Minute), RevokedAt: now.Add(-time.Minute)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.g.ActiveAt(now); got != tc.want {
				t.Errorf("ActiveAt: got %v; want %v", got, tc.want)
			}
		})
	}
}

func TestStatusAndSourceValid(t *testing.T) {
	for _, s := range []Status{StatusPending, StatusApproved, StatusDenied} {
		if !s.Valid() {
			t.Errorf("Status(%q).Valid(): got false; want true", s)
		}
	}
	for _, s := range []Status{"", "Pending", "approve"} {
		if s.Valid() {
			t.Errorf("Status(%q).Valid(): got true; want false", s)
		}
	}
	for _, s := range []GrantSource{SourceContinue, SourceApproval} {
		if !s.Valid() {
			t.Errorf("GrantSource(%q).Valid(): got false; want true", s)
		}
	}
	for _, s := range []GrantSource{"", "admin"} {
		if s.Valid() {
			t.Errorf("GrantSource(%q).Valid(): got true; want false", s)
		}
	}
}
