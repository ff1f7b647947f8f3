package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-gateway/signpost/store"
)

// snapshotData returns distinct bytes for a node's snapshot: every byte
// value, NUL and 0xff included, so that a backend storing text rather
// than bytes fails.
func snapshotData(tag string) []byte {
	b := []byte("\x1f\x8b" + tag + "\x00")
	for i := range 256 {
		b = append(b, byte(i))
	}
	return b
}

func mustSaveUsage(t *testing.T, s store.Store, node string, data []byte, at time.Time) {
	t.Helper()
	if err := s.SaveUsage(context.Background(), node, data, at); err != nil {
		t.Fatalf("SaveUsage(%q, %d bytes, %v): %v", node, len(data), at, err)
	}
}

func mustUsage(t *testing.T, s store.Store, since time.Time) []store.UsageSnapshot {
	t.Helper()
	us, err := s.UsageSnapshots(context.Background(), since)
	if err != nil {
		t.Fatalf("UsageSnapshots(%v): %v", since, err)
	}
	return us
}

// usageNodes returns the nodes of us, in order.
func usageNodes(us []store.UsageSnapshot) []string {
	ns := make([]string, 0, len(us))
	for _, u := range us {
		ns = append(ns, u.Node)
	}
	return ns
}

func testUsageSave(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	if us := mustUsage(t, s, time.Time{}); len(us) != 0 {
		t.Errorf("UsageSnapshots of a new store: got %d; want none", len(us))
	}

	data := snapshotData("a")
	mustSaveUsage(t, s, "edge-1", data, t0)
	want := []store.UsageSnapshot{{Node: "edge-1", Data: snapshotData("a"), UpdatedAt: at(0)}}
	data[0] = 'X' // the store keeps its own copy
	got := mustUsage(t, s, time.Time{})
	wantEqual(t, "UsageSnapshots after SaveUsage", got, want)
	if len(got) == 1 && got[0].UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt location: got %v; want UTC", got[0].UpdatedAt.Location())
	}

	before := time.Now()
	mustSaveUsage(t, s, "edge-2 (eu-west) ü", snapshotData("b"), time.Time{})
	after := time.Now()
	got = mustUsage(t, s, time.Time{})
	if len(got) != 2 {
		t.Fatalf("UsageSnapshots after a second node: got %d; want 2", len(got))
	}
	wantEqual(t, "first snapshot (the newest, at t0)", got[0], want[0])
	now := got[1]
	if now.Node != "edge-2 (eu-west) ü" || !bytes.Equal(now.Data, snapshotData("b")) {
		t.Errorf("second snapshot: got %q with %d bytes; want edge-2 (eu-west) ü with its data", now.Node, len(now.Data))
	}
	if now.UpdatedAt.Before(before.Round(0)) || now.UpdatedAt.After(after) || now.UpdatedAt.Location() != time.UTC {
		t.Errorf("zero at: got %v; want a UTC time between %v and %v", now.UpdatedAt, before, after)
	}

	es, err := s.Audit(ctx, 0)
	if err != nil || len(es) != 0 {
		t.Errorf("Audit after saving usage: got %d entries, %v; want none (usage is not audited)", len(es), err)
	}
}

func testUsageReplace(t *testing.T, h *harness) {
	s := h.open(t)
	long := bytes.Repeat(snapshotData("long"), 64)
	for _, tc := range []struct {
		name string
		data []byte
		at   time.Time
		want store.UsageSnapshot
	}{
		{"first save", long, t0, store.UsageSnapshot{Node: "edge-1", Data: long, UpdatedAt: at(0)}},
		{"a shorter one replaces it", snapshotData("short"), t0.Add(time.Minute),
			store.UsageSnapshot{Node: "edge-1", Data: snapshotData("short"), UpdatedAt: at(time.Minute)}},
		{"the last save wins, whatever its time", snapshotData("clock set back"), t0.Add(-time.Hour),
			store.UsageSnapshot{Node: "edge-1", Data: snapshotData("clock set back"), UpdatedAt: at(-time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustSaveUsage(t, s, "edge-1", tc.data, tc.at)
			wantEqual(t, "UsageSnapshots", mustUsage(t, s, time.Time{}), []store.UsageSnapshot{tc.want})
		})
	}
}

func testUsageTwoNodes(t *testing.T, h *harness) {
	s := h.open(t)
	mustSaveUsage(t, s, "edge-b", snapshotData("b1"), t0.Add(time.Minute))
	mustSaveUsage(t, s, "edge-a", snapshotData("a1"), t0)
	mustSaveUsage(t, s, "edge-c", snapshotData("c1"), t0.Add(time.Minute))
	wantEqual(t, "nodes, newest first, then by name", usageNodes(mustUsage(t, s, time.Time{})),
		[]string{"edge-b", "edge-c", "edge-a"})

	mustSaveUsage(t, s, "edge-a", snapshotData("a2"), t0.Add(2*time.Minute))
	wantEqual(t, "after edge-a saves again", mustUsage(t, s, time.Time{}), []store.UsageSnapshot{
		{Node: "edge-a", Data: snapshotData("a2"), UpdatedAt: at(2 * time.Minute)},
		{Node: "edge-b", Data: snapshotData("b1"), UpdatedAt: at(time.Minute)},
		{Node: "edge-c", Data: snapshotData("c1"), UpdatedAt: at(time.Minute)},
	})
	// Names differing only in case or trailing space are different nodes.
	mustSaveUsage(t, s, "EDGE-A", snapshotData("upper"), t0)
	mustSaveUsage(t, s, "edge-a ", snapshotData("space"), t0)
	wantEqual(t, "nodes whose names differ slightly", usageNodes(mustUsage(t, s, time.Time{})),
		[]string{"edge-a", "edge-b", "edge-c", "EDGE-A", "edge-a "})
}

func testUsageSince(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	mustSaveUsage(t, s, "old", snapshotData("old"), t0)
	mustSaveUsage(t, s, "mid", snapshotData("mid"), t0.Add(time.Hour))
	mustSaveUsage(t, s, "new", snapshotData("new"), t0.Add(2*time.Hour))
	for _, tc := range []struct {
		name  string
		since time.Time
		want  []string
	}{
		{"zero: all", time.Time{}, []string{"new", "mid", "old"}},
		{"long before", t0.Add(-365 * 24 * time.Hour), []string{"new", "mid", "old"}},
		{"at the oldest", t0, []string{"new", "mid", "old"}},
		{"a nanosecond after the oldest", t0.Add(1), []string{"new", "mid"}},
		{"at the middle, in another zone", t0.Add(time.Hour).In(time.FixedZone("X", -7*3600)), []string{"new", "mid"}},
		{"at the newest", t0.Add(2 * time.Hour), []string{"new"}},
		{"after the newest", t0.Add(2*time.Hour + 1), []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantEqual(t, fmt.Sprintf("UsageSnapshots(%v) nodes", tc.since), usageNodes(mustUsage(t, s, tc.since)), tc.want)
		})
	}
	for _, since := range []time.Time{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		_, err := s.UsageSnapshots(ctx, since)
		wantErr(t, fmt.Sprintf("UsageSnapshots(%v)", since), err, store.ErrInvalid)
	}
}

func testUsagePruning(t *testing.T, h *harness) {
	s := h.open(t)
	mustSaveUsage(t, s, "gone", snapshotData("gone"), t0)
	mustSaveUsage(t, s, "quiet", snapshotData("quiet"), t0.Add(time.Hour))
	for _, tc := range []struct {
		name string
		at   time.Time
		want []string
	}{
		{"a save before anything is old enough", t0.Add(store.UsageRetention - time.Hour), []string{"live", "quiet", "gone"}},
		{"a snapshot exactly the retention old stays", t0.Add(store.UsageRetention), []string{"live", "quiet", "gone"}},
		{"one a nanosecond older goes", t0.Add(store.UsageRetention + 1), []string{"live", "quiet"}},
		{"a save with an older time prunes nothing newer", t0.Add(time.Minute), []string{"quiet", "live"}},
		{"the next goes in its turn", t0.Add(time.Hour + store.UsageRetention + time.Second), []string{"live"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustSaveUsage(t, s, "live", snapshotData("live"), tc.at)
			wantEqual(t, "nodes left", usageNodes(mustUsage(t, s, time.Time{})), tc.want)
		})
	}
	// A node that saves again after being pruned is back.
	mustSaveUsage(t, s, "gone", snapshotData("back"), t0.Add(2*store.UsageRetention))
	wantEqual(t, "nodes after the pruned node saves again", usageNodes(mustUsage(t, s, time.Time{})), []string{"gone", "live"})
}

func testUsageValidation(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	data := snapshotData("v")
	for _, tc := range []struct {
		name string
		node string
		data []byte
		at   time.Time
		want error
	}{
		{"a plain name", "edge-1.example.com", data, t0, nil},
		{"spaces and punctuation", "edge 1 (eu-west-1a) #2", data, t0, nil},
		{"name at the limit in multibyte characters", strings.Repeat("é", store.MaxName), data, t0, nil},
		{"no name", "", data, t0, store.ErrInvalid},
		{"blank name", "   ", data, t0, store.ErrInvalid},
		{"name too long", strings.Repeat("n", store.MaxName+1), data, t0, store.ErrInvalid},
		{"multibyte name too long", strings.Repeat("é", store.MaxName+1), data, t0, store.ErrInvalid},
		{"newline in name", "edge-1\nforged log line", data, t0, store.ErrInvalid},
		{"tab in name", "edge\t1", data, t0, store.ErrInvalid},
		{"NUL in name", "edge\x001", data, t0, store.ErrInvalid},
		{"DEL in name", "edge\x7f1", data, t0, store.ErrInvalid},
		{"escape in name", "edge\x1b[31m1", data, t0, store.ErrInvalid},
		{"zero-width space in name", "edge\u200b1", data, t0, store.ErrInvalid},
		{"no-break space in name", "edge\u00a01", data, t0, store.ErrInvalid},
		{"right-to-left override in name", "edge\u202e1", data, t0, store.ErrInvalid},
		{"name not UTF-8", "edge\xff1", data, t0, store.ErrInvalid},
		{"nil data", "edge-nil", nil, t0, store.ErrInvalid},
		{"empty data", "edge-empty", []byte{}, t0, store.ErrInvalid},
		{"time out of range", "edge-future", data, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), store.ErrInvalid},
		{"retention cutoff out of range", "edge-past", data, time.Unix(0, math.MinInt64).Add(24 * time.Hour), store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.SaveUsage(ctx, tc.node, tc.data, tc.at)
			if tc.want == nil {
				if err != nil {
					t.Errorf("SaveUsage(%q): got error %v; want none", tc.node, err)
				}
				return
			}
			wantErr(t, fmt.Sprintf("SaveUsage(%q)", tc.node), err, tc.want)
		})
	}
	err := s.SaveUsage(ctx, "edge\n1", data, t0)
	if err == nil || !strings.Contains(err.Error(), "node name") {
		t.Errorf("unprintable name: got error %v; want one naming the node name", err)
	}
	wantEqual(t, "nodes stored after rejected saves", usageNodes(mustUsage(t, s, time.Time{})),
		[]string{"edge 1 (eu-west-1a) #2", "edge-1.example.com", strings.Repeat("é", store.MaxName)})
}

// testUsageSizeLimit stores the largest snapshot SaveUsage accepts, reads
// it back whole, and refuses one byte more without touching what is stored.
func testUsageSizeLimit(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	// A pattern repeating every 65521 bytes (a prime), so that a chunk
	// lost, repeated or misplaced by any power of two shows.
	big := make([]byte, store.MaxUsageSnapshot+1)
	const period = 65521
	for i := range period {
		big[i] = byte(i ^ i>>8)
	}
	for n := period; n < len(big); n *= 2 {
		copy(big[n:], big[:n])
	}
	mustSaveUsage(t, s, "big", big[:store.MaxUsageSnapshot], t0)
	got := mustUsage(t, s, time.Time{})
	if len(got) != 1 || !bytes.Equal(got[0].Data, big[:store.MaxUsageSnapshot]) {
		n := -1
		if len(got) == 1 {
			n = len(got[0].Data)
		}
		t.Fatalf("snapshot at the limit: got %d snapshots, the first of %d bytes; want 1 of %d bytes, unchanged",
			len(got), n, store.MaxUsageSnapshot)
	}

	err := s.SaveUsage(ctx, "big", big, t0.Add(time.Minute))
	wantErr(t, "SaveUsage one byte over the limit", err, store.ErrInvalid)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(store.MaxUsageSnapshot)) {
		t.Errorf("over-long snapshot: got error %v; want one naming the limit, %d", err, store.MaxUsageSnapshot)
	}
	// Not reading 64 MiB again: a replacement would be newer than t0.
	us, err := s.UsageSnapshots(ctx, t0.Add(1))
	if err != nil || len(us) != 0 {
		t.Errorf("snapshots newer than the one at the limit after the refused save: got %d, %v; want none", len(us), err)
	}
}

func testUsageConcurrency(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.open(t)
	const nodes, saves = 4, 4
	var wg sync.WaitGroup
	errs := make(chan error, nodes*saves+nodes)
	for n := range nodes {
		for i := range saves {
			// Every save of a node at once, so that two insert the same
			// new node together.
			wg.Go(func() {
				node := fmt.Sprintf("edge-%d", n)
				errs <- s.SaveUsage(ctx, node, snapshotData(fmt.Sprintf("%s/%d", node, i)), t0.Add(time.Duration(i)*time.Second))
			})
		}
		wg.Go(func() {
			_, err := s.UsageSnapshots(ctx, time.Time{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
	us := mustUsage(t, s, time.Time{})
	if len(us) != nodes {
		t.Fatalf("snapshots after concurrent saves: got %d; want %d, one per node", len(us), nodes)
	}
	for _, u := range us {
		// Whichever save came last, its data and time go together.
		found := false
		for i := range saves {
			if bytes.Equal(u.Data, snapshotData(fmt.Sprintf("%s/%d", u.Node, i))) {
				found = true
				if want := at(time.Duration(i) * time.Second); !u.UpdatedAt.Equal(want) {
					t.Errorf("%s: got save %d's data at %v; want it at %v", u.Node, i, u.UpdatedAt, want)
				}
			}
		}
		if !found {
			t.Errorf("%s: got data matching none of its saves", u.Node)
		}
	}
}

func testUsagePersistence(t *testing.T, h *harness) {
	s1 := h.open(t)
	mustSaveUsage(t, s1, "edge-1", snapshotData("first"), t0)
	mustSaveUsage(t, s1, "edge-2", snapshotData("second"), t0.Add(time.Minute))
	mustSaveUsage(t, s1, "edge-1", snapshotData("replaced"), t0.Add(2*time.Minute))
	want := mustUsage(t, s1, time.Time{})
	if err := s1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i := range 2 {
		s := h.open(t)
		wantEqual(t, fmt.Sprintf("reopen %d: usage snapshots", i+1), mustUsage(t, s, time.Time{}), want)
		if err := s.Close(); err != nil {
			t.Fatalf("reopen %d: Close: %v", i+1, err)
		}
	}
	s := h.open(t)
	mustSaveUsage(t, s, "edge-2", snapshotData("after reopening"), t0.Add(3*time.Minute))
	wantEqual(t, "snapshots after a save on reopening", mustUsage(t, s, time.Time{}), []store.UsageSnapshot{
		{Node: "edge-2", Data: snapshotData("after reopening"), UpdatedAt: at(3 * time.Minute)},
		{Node: "edge-1", Data: snapshotData("replaced"), UpdatedAt: at(2 * time.Minute)},
	})
}
