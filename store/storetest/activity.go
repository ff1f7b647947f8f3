package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/store"
)

// testActivity checks what Activity counts: one subject's requests and
// continues from a time on, not approvals, not other subjects'.
func testActivity(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	mustCreate(t, s, newRequest("alice", "slack", -2*time.Hour))
	zoom := mustCreate(t, s, newRequest("alice", "zoom", -30*time.Minute))
	mustDecide(t, s, zoom.ID, store.Decision{Approve: true, By: "admin", GrantFor: time.Hour, At: t0.Add(-20 * time.Minute)})
	mustAddGrant(t, s, newContinue("alice", "slack", -10*time.Minute, time.Hour))
	mustAddGrant(t, s, newContinue("alice", "dropbox", -90*time.Minute, time.Hour))
	mustCreate(t, s, newRequest("bob", "slack", -5*time.Minute))
	mustAddGrant(t, s, newContinue("bob", "slack", -5*time.Minute, time.Hour))

	for _, tc := range []struct {
		subject string
		since   time.Duration
		want    store.Activity
	}{
		{"alice", -time.Hour, store.Activity{Requests: 1, Continues: 1}},
		{"alice", -3 * time.Hour, store.Activity{Requests: 2, Continues: 2}},
		{"alice", -30 * time.Minute, store.Activity{Requests: 1, Continues: 1}}, // at since counts
		{"alice", -29 * time.Minute, store.Activity{Requests: 0, Continues: 1}},
		{"bob", -time.Hour, store.Activity{Requests: 1, Continues: 1}},
		{"carol", -time.Hour, store.Activity{}},
	} {
		got, err := s.Activity(ctx, tc.subject, t0.Add(tc.since))
		if err != nil {
			t.Fatalf("Activity(%s, %v): %v", tc.subject, tc.since, err)
		}
		wantEqual(t, fmt.Sprintf("Activity(%s, %v)", tc.subject, tc.since), got, tc.want)
	}
	_, err := s.Activity(ctx, "alice", time.Unix(0, 0).AddDate(-1000, 0, 0))
	wantErr(t, "Activity since a time out of range", err, store.ErrInvalid)
}
