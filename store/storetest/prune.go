package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/store"
)

// testPrune builds a history on both sides of a cutoff and checks that
// Prune deletes exactly what has been over since before it, keeps every
// row a kept row names, audits itself once, and finds nothing the second
// time.
func testPrune(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	now := time.Now()
	cutoff := now.Add(-500 * time.Hour)
	old := func(d time.Duration) time.Time { return now.Add(-1000*time.Hour + d) }
	request := func(subject string) store.Request {
		r := newRequest(subject, "slack", 0)
		r.CreatedAt = old(0)
		return r
	}
	decide := func(r store.Request, approve bool, at time.Time, grantFor time.Duration) (store.Request, *store.Grant) {
		return mustDecide(t, s, r.ID, store.Decision{Approve: approve, By: "admin", At: at, GrantFor: grantFor, Message: "decided"})
	}
	continueGrant := func(subject string, until time.Time) store.Grant {
		return mustAddGrant(t, s, store.Grant{Subject: subject, App: "slack", CreatedAt: old(0), ExpiresAt: until})
	}

	// Over before the cutoff: deleted.
	deniedOld := mustCreate(t, s, request("denied-old"))
	decide(deniedOld, false, old(time.Hour), 0)
	approvedOld := mustCreate(t, s, request("approved-old"))
	decide(approvedOld, true, old(time.Hour), 24*time.Hour)
	continueGrant("continue-old", old(8*time.Hour))

	// Kept: a request waiting for an admin, grants in force and what they
	// name, a request decided after the cutoff.
	pending := mustCreate(t, s, request("pending"))
	approvedLasting := mustCreate(t, s, request("approved-lasting"))
	_, lastingGrant := decide(approvedLasting, true, old(time.Hour), 2000*time.Hour)
	liveContinue := continueGrant("continue-live", now.Add(time.Hour))
	decidedLate := mustCreate(t, s, request("decided-late"))
	decide(decidedLate, false, now.Add(-time.Hour), 0)

	// Over before the cutoff, but revoked after it: the revocation's
	// audit entry names the grant (and its request), so both stay.
	revokedContinue := continueGrant("continue-revoked", old(8*time.Hour))
	approvedRevoked := mustCreate(t, s, request("approved-revoked"))
	_, revokedApproval := decide(approvedRevoked, true, old(time.Hour), 24*time.Hour)
	for _, g := range []store.Grant{revokedContinue, *revokedApproval} {
		if _, err := s.RevokeGrant(ctx, g.ID, "admin"); err != nil {
			t.Fatalf("RevokeGrant(%d): %v", g.ID, err)
		}
	}

	before, err := s.AuditEntries(ctx, store.AuditFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatalf("AuditEntries: %v", err)
	}
	var wantAudit int64
	var keptEntries []int64
	for _, e := range before {
		if e.At.Before(cutoff) {
			wantAudit++
		} else {
			keptEntries = append(keptEntries, e.ID)
		}
	}
	if wantAudit != 13 || len(keptEntries) != 3 {
		t.Fatalf("audit entries before the cutoff: got %d, after it %d; want 13 and 3 (the history above)", wantAudit, len(keptEntries))
	}

	got, err := s.Prune(ctx, cutoff)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	wantEqual(t, "Prune's counts", got, store.Pruned{Requests: 2, Grants: 2, Audit: wantAudit})

	rs, err := s.Requests(ctx, store.RequestFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatalf("Requests: %v", err)
	}
	wantEqual(t, "requests kept", requestIDs(rs), []int64{approvedRevoked.ID, decidedLate.ID, approvedLasting.ID, pending.ID})
	gs, err := s.Grants(ctx, store.GrantFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatalf("Grants: %v", err)
	}
	wantEqual(t, "grants kept", grantIDs(gs), []int64{revokedApproval.ID, revokedContinue.ID, liveContinue.ID, lastingGrant.ID})
	if g, err := s.ActiveGrant(ctx, "approved-lasting", "slack", now); err != nil || g == nil || g.ID != lastingGrant.ID {
		t.Errorf("the approval in force after Prune: got %+v, %v; want grant %d", g, err, lastingGrant.ID)
	}

	after, err := s.AuditEntries(ctx, store.AuditFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatalf("AuditEntries: %v", err)
	}
	if len(after) != len(keptEntries)+1 {
		t.Fatalf("audit entries after Prune: got %d; want the %d after the cutoff and Prune's own", len(after), len(keptEntries))
	}
	own := after[0]
	wantDetail := fmt.Sprintf("retention cutoff %s: deleted 2 requests, 2 grants, 13 audit entries", cutoff.UTC().Format(time.RFC3339))
	if own.Action != store.ActionPruned || own.Actor != store.PrunedBy || own.Detail != wantDetail || own.At.Before(cutoff) {
		t.Errorf("Prune's audit entry: got %+v; want action %s by %q, detail %q", own, store.ActionPruned, store.PrunedBy, wantDetail)
	}
	var rest []int64
	for _, e := range after[1:] {
		rest = append(rest, e.ID)
	}
	slices.Reverse(keptEntries)
	slices.Reverse(rest)
	wantEqual(t, "audit entries after the cutoff", rest, keptEntries)

	again, err := s.Prune(ctx, cutoff)
	if err != nil || again != (store.Pruned{}) {
		t.Errorf("Prune again: got %+v, %v; want nothing deleted", again, err)
	}
	if es, err := s.AuditEntries(ctx, store.AuditFilter{Limit: store.MaxLimit}); err != nil || len(es) != len(after) {
		t.Errorf("audit entries after a Prune that deleted nothing: got %d, %v; want %d (no entry)", len(es), err, len(after))
	}
}

// testPruneRevoked checks that a revoked grant is over when it was
// revoked, whatever its expiry, and that a cutoff after now is refused.
func testPruneRevoked(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	now := time.Now()
	revoked := mustAddGrant(t, s, store.Grant{Subject: "alice", App: "slack", ExpiresAt: now.Add(time.Hour)})
	live := mustAddGrant(t, s, store.Grant{Subject: "bob", App: "slack", ExpiresAt: now.Add(time.Hour)})
	if _, err := s.RevokeGrant(ctx, revoked.ID, "admin"); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	_, err := s.Prune(ctx, time.Now().Add(time.Minute))
	wantErr(t, "Prune with a cutoff after now", err, store.ErrInvalid)
	_, err = s.Prune(ctx, time.Unix(0, 0).AddDate(-1000, 0, 0))
	wantErr(t, "Prune with a cutoff out of range", err, store.ErrInvalid)
	if gs, err := s.Grants(ctx, store.GrantFilter{}); err != nil || len(gs) != 2 {
		t.Fatalf("grants after refused Prunes: got %d, %v; want both", len(gs), err)
	}

	got, err := s.Prune(ctx, time.Now())
	if err != nil {
		t.Fatalf("Prune(now): %v", err)
	}
	// Three audit entries (two grants made, one revoked); the grant in
	// force stays though its audit entry is gone.
	wantEqual(t, "Prune's counts", got, store.Pruned{Grants: 1, Audit: 3})
	gs, err := s.Grants(ctx, store.GrantFilter{})
	if err != nil {
		t.Fatalf("Grants: %v", err)
	}
	wantEqual(t, "grants kept", grantIDs(gs), []int64{live.ID})
}

// testPruneBatches checks that Prune goes on past one transaction's worth
// of rows.
func testPruneBatches(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	now := time.Now()
	const n = 700 // more than one batch (store's pruneBatch is 500)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				_, err := s.AddGrant(ctx, store.Grant{
					Subject: fmt.Sprintf("user-%d", i), App: "slack",
					CreatedAt: now.Add(-100 * time.Hour), ExpiresAt: now.Add(-90 * time.Hour),
				})
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("AddGrant: %v", firstErr)
	}
	got, err := s.Prune(ctx, now.Add(-50*time.Hour))
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	wantEqual(t, "Prune's counts", got, store.Pruned{Grants: n, Audit: n})
	if gs, err := s.Grants(ctx, store.GrantFilter{}); err != nil || len(gs) != 0 {
		t.Errorf("grants after Prune: got %d, %v; want none", len(gs), err)
	}
}

// cmpErr keeps the first error.
func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
