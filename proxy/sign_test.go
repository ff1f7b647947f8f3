package proxy

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestSignedFormsRefuseTampering(t *testing.T) {
	s, err := newSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := pageContext{Subject: "alice", App: "slack", Host: "slack.com", Path: "/x?y=1", Scheme: "https"}
	ctx, csrf := s.sign(c)
	other, _ := newSigner([]byte(strings.Repeat("o", 32)))
	otherCtx, otherCSRF := other.sign(c)
	_, bobCSRF := s.sign(pageContext{Subject: "bob", App: "slack", Host: "slack.com"})

	payload, sig, _ := strings.Cut(ctx, ".")
	tests := []struct {
		name          string
		ctx, csrf, by string
		at            time.Time
		want          error
	}{
		{"valid", ctx, csrf, "alice", now, nil},
		{"missing CSRF token", ctx, "", "alice", now, errBadForm},
		{"CSRF token of another person", ctx, bobCSRF, "alice", now, errBadForm},
		{"posted by another person", ctx, csrf, "bob", now, errBadForm},
		{"signed with another key", otherCtx, otherCSRF, "alice", now, errBadForm},
		{"payload changed", strings.ToUpper(payload[:4]) + payload[4:] + "." + sig, csrf, "alice", now, errBadForm},
		{"no signature", payload, csrf, "alice", now, errBadForm},
		{"garbage", "%%%.%%%", csrf, "alice", now, errBadForm},
		{"expired", ctx, csrf, "alice", now.Add(formLifetime + time.Minute), errExpiredForm},
		{"from the future", ctx, csrf, "alice", now.Add(-time.Hour), errExpiredForm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.verify(tt.ctx, tt.csrf, tt.by, tt.at)
			if err != tt.want {
				t.Fatalf("got %v; want %v", err, tt.want)
			}
			if err == nil && (got.App != "slack" || got.Path != "/x?y=1") {
				t.Fatalf("context: got %+v", got)
			}
		})
	}
	got, err := s.verify(ctx, csrf, "alice", now)
	if err != nil || !s.consume(got) {
		t.Fatalf("first use: %v", err)
	}
	if _, err := s.verify(ctx, csrf, "alice", now); err != errReplayed {
		t.Fatalf("replay: got %v; want errReplayed", err)
	}
	if s.consume(got) {
		t.Fatal("a form was consumed twice")
	}
	s.release(got)
	if _, err := s.verify(ctx, csrf, "alice", now); err != nil {
		t.Fatalf("after release (the action failed): got %v; want the form valid again", err)
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter()
	now := time.Now()
	for i := 0; i < 3; i++ {
		if !l.allow("ann", 3, now) {
			t.Fatalf("request %d refused within the burst", i+1)
		}
	}
	if l.allow("ann", 3, now) {
		t.Fatal("fourth request in the same instant allowed")
	}
	if !l.allow("bob", 3, now) {
		t.Fatal("another person was limited by ann's use")
	}
	if !l.allow("ann", 3, now.Add(21*time.Minute)) {
		t.Fatal("a token did not return after a third of an hour")
	}
}

// A tracked tunnel connection must keep what goproxy and io.Copy look for:
// half-close (goproxy's copyAndClose) and ReadFrom/WriteTo (the splice path).
var _ interface {
	CloseWrite() error
	CloseRead() error
	ReadFrom(io.Reader) (int64, error)
	WriteTo(io.Writer) (int64, error)
} = (*trackedConn)(nil)

// The client connection wrapper keeps the same: goproxy's half-close and
// the splice path for tunnels.
var _ interface {
	CloseWrite() error
	CloseRead() error
	ReadFrom(io.Reader) (int64, error)
	WriteTo(io.Writer) (int64, error)
} = (*clientConn)(nil)
