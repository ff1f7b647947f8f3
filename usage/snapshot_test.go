package usage

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// populated returns a tracker with sparse and dense days for two apps, a
// seats-only app and a few discovered domains.
func populated(t *testing.T) *Tracker {
	t.Helper()
	tr := New(Options{DiscoveryCounters: 20})
	tr.SetApps([]App{{ID: "zoom", Name: "Zoom", Seats: 500}, {ID: "slack", Name: "Slack"}})
	rng := rand.New(rand.NewPCG(5, 5))
	for i, u := range users(rng, "z", 1500) { // today is dense
		tr.Observe("zoom", u, base)
		tr.Observe("zoom", u, daysAgo(i%12)) // older days are sparse
	}
	for _, u := range users(rng, "s", 40) {
		tr.Observe("slack", u, daysAgo(2))
		tr.ObserveUnknown("www.newtool.io", u, daysAgo(2))
	}
	for i := range 60 {
		tr.ObserveUnknown(fmt.Sprintf("h.site%d.com", i%30), fmt.Sprint("u", i), base)
	}
	return tr
}

func TestSnapshotRoundTrip(t *testing.T) {
	tr := populated(t)
	data, err := tr.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if plain := gunzip(t, data); !strings.HasPrefix(string(plain), `{"version":1,`) ||
		strings.Contains(string(plain), `z1-`) || strings.Contains(string(plain), `s1-`) {
		t.Errorf("the snapshot is not JSON without user names: %.100s", plain)
	}
	back := New(Options{DiscoveryCounters: 20})
	back.SetApps([]App{{ID: "zoom", Name: "Zoom", Seats: 500}, {ID: "slack", Name: "Slack"}})
	if err := back.Restore(data); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for _, now := range []time.Time{base, daysAgo(2), base.AddDate(0, 0, 10)} {
		if got, want := back.Report(now), tr.Report(now); !reflect.DeepEqual(got, want) {
			t.Errorf("Report(%v) after Restore:\n got %+v\nwant %+v", now, got, want)
		}
	}
	if got, want := back.Top(100), tr.Top(100); !reflect.DeepEqual(got, want) {
		t.Errorf("Top after Restore:\n got %+v\nwant %+v", got, want)
	}

	t.Run("uncompressed", func(t *testing.T) {
		plain := New(Options{DiscoveryCounters: 20})
		plain.SetApps([]App{{ID: "zoom", Name: "Zoom", Seats: 500}, {ID: "slack", Name: "Slack"}})
		if err := plain.Restore(gunzip(t, data)); err != nil {
			t.Fatalf("Restore of the uncompressed JSON: %v", err)
		}
		if got, want := plain.Report(base), tr.Report(base); !reflect.DeepEqual(got, want) {
			t.Errorf("Report:\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("counting goes on after Restore", func(t *testing.T) {
		before := back.Report(base)[0]
		back.Observe("zoom", "z1-someone-new", base)
		after := back.Report(base)[0]
		if after.Requests1d != before.Requests1d+1 {
			t.Errorf("Requests1d: got %d; want %d", after.Requests1d, before.Requests1d+1)
		}
	})
	t.Run("a smaller table keeps the most requested domains", func(t *testing.T) {
		small := New(Options{DiscoveryCounters: 1})
		if err := small.Restore(data); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if got := domains(small.Top(10)); len(got) != 1 || got[0] != "newtool.io" {
			t.Errorf("Top: got %v; want [newtool.io]", got)
		}
	})
}

// gunzip returns the decompressed b.
func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gzipBytes returns b compressed.
func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSaveLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "usage.json")
	tr := populated(t)

	t.Run("missing file", func(t *testing.T) {
		err := New(Options{}).LoadFile(path)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("LoadFile of a missing file: got %v; want an error wrapping fs.ErrNotExist", err)
		}
	})
	if err := tr.SaveFile(path); err != nil {
		t.Fatalf("SaveFile: %v", err)
	}
	// Saving again replaces the file.
	tr.Observe("box", "alice", base)
	if err := tr.SaveFile(path); err != nil {
		t.Fatalf("SaveFile over an existing file: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode: got %v; want 0600", mode)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory after two saves: got %d entries; want only usage.json", len(entries))
	}
	back := New(Options{})
	if err := back.LoadFile(path); err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if got, want := back.Window("box", 1, base), uint64(1); got != want {
		t.Errorf("Window(box) after LoadFile: got %d; want %d", got, want)
	}
	t.Run("not a snapshot", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.json")
		if err := os.WriteFile(bad, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := back.LoadFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("LoadFile of {}: got %v; want an error naming the file", err)
		}
	})
	t.Run("unwritable directory", func(t *testing.T) {
		if err := tr.SaveFile(filepath.Join(dir, "missing", "usage.json")); err == nil {
			t.Errorf("SaveFile into a missing directory: got nil; want an error")
		}
	})
}

func TestRestoreRejects(t *testing.T) {
	good := populated(t)
	valid, err := good.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// edit decodes the valid snapshot, changes it and encodes it again.
	edit := func(change func(s *snapshot)) []byte {
		var s snapshot
		if err := json.Unmarshal(gunzip(t, valid), &s); err != nil {
			t.Fatal(err)
		}
		change(&s)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sparse14 := func() []byte {
		tr := New(Options{})
		tr.Observe("zoom", "alice", base)
		b, err := (*tr.apps.Load())["zoom"].days[slotOf(dayOf(base))].users.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "usage snapshot"},
		{"not JSON", []byte("hello"), "invalid character"},
		{"trailing data", append(gunzip(t, valid), "{}"...), "after the snapshot"},
		{"trailing data after gzip", append(append([]byte{}, valid...), "{}"...), "after the compressed snapshot"},
		{"truncated gzip", valid[:len(valid)/2], "unexpected EOF"},
		{"gzip of garbage", gzipBytes(t, []byte("hello")), "invalid character"},
		{"unknown field", []byte(`{"version":1,"user_hash":"fnv1a64-fmix64","extra":1}`), "unknown field"},
		{"version", edit(func(s *snapshot) { s.Version = 2 }), "found version 2; expected 1"},
		{"user hash", edit(func(s *snapshot) { s.UserHash = "sha256" }), `found user hash "sha256"`},
		{"bad app id", edit(func(s *snapshot) { s.Apps[0].App = "Zoom Video" }), `found app id "Zoom Video"`},
		{"unknown app", edit(func(s *snapshot) { s.Apps[0].App = UnknownApp }), `found app id "unknown"`},
		{"repeated app", edit(func(s *snapshot) { s.Apps = append(s.Apps, s.Apps[0]) }), "repeated"},
		{"repeated day", edit(func(s *snapshot) { s.Apps[0].Days = append(s.Apps[0].Days, s.Apps[0].Days[0]) }), "repeated"},
		{"days a ring apart", edit(func(s *snapshot) {
			d := s.Apps[0].Days[0]
			d.Day += ringDays
			s.Apps[0].Days = append(s.Apps[0].Days, d)
		}), "repeated"},
		{"too many days", edit(func(s *snapshot) {
			for i := range ringDays + 1 {
				s.Apps[0].Days = append(s.Apps[0].Days, snapDay{Day: int64(i)})
			}
		}), "expected at most 31"},
		{"bad sketch", edit(func(s *snapshot) { s.Apps[0].Days[0].Users = []byte{2, 14, 0, 1, 0xff, 0xff, 0xff, 0xff} }), "bad sketch"},
		{"sketch precision", edit(func(s *snapshot) { s.Apps[0].Days[0].Users = s.Domains[0].Users }), "precision 10; expected 14"},
		{"domain sketch precision", edit(func(s *snapshot) { s.Domains[0].Users = sparse14 }), "precision 14; expected 10"},
		{"domain upper case", edit(func(s *snapshot) { s.Domains[0].Domain = "Example.com" }), "expected a registrable domain"},
		{"domain with subdomain", edit(func(s *snapshot) { s.Domains[0].Domain = "www.example.com" }), "expected a registrable domain"},
		{"domain IP", edit(func(s *snapshot) { s.Domains[0].Domain = "10.0.0.1" }), "expected a registrable domain"},
		{"domain YAML", edit(func(s *snapshot) { s.Domains[0].Domain = "x.com]\n  evil: true" }), "expected a registrable domain"},
		{"repeated domain", edit(func(s *snapshot) { s.Domains = append(s.Domains, s.Domains[0]) }), "repeated"},
		{"zero requests", edit(func(s *snapshot) { s.Domains[0].Requests, s.Domains[0].RequestsOvercount = 0, 0 }), "expected more requests than overcount"},
		{"overcount", edit(func(s *snapshot) { s.Domains[0].RequestsOvercount = s.Domains[0].Requests }), "expected more requests than overcount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Options{DiscoveryCounters: 20})
			if err := tr.Restore(valid); err != nil {
				t.Fatal(err)
			}
			before := tr.Report(base)
			beforeTop := tr.Top(100)
			err := tr.Restore(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Restore: got %v; want an error containing %q", err, tc.want)
			}
			if got := tr.Report(base); !reflect.DeepEqual(got, before) {
				t.Errorf("Report changed after a failed Restore")
			}
			if got := tr.Top(100); !reflect.DeepEqual(got, beforeTop) {
				t.Errorf("Top changed after a failed Restore")
			}
		})
	}
	t.Run("too many apps", func(t *testing.T) {
		tr := New(Options{MaxApps: 1})
		if err := tr.Restore(valid); err == nil || !strings.Contains(err.Error(), "expected at most 1") {
			t.Errorf("Restore of 2 apps with MaxApps 1: got %v; want an error", err)
		}
	})
}

// TestMerge checks that two trackers merged count like one tracker that saw
// everything both saw.
func TestMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	us := users(rng, "u", 12000)
	a, b, all := New(Options{}), New(Options{}), New(Options{})
	// Node a sees users 0..7999, node b 4000..11999: 12000 together.
	for i, u := range us {
		at := daysAgo(i % 9)
		if i < 8000 {
			a.Observe("zoom", u, at)
		}
		if i >= 4000 {
			b.Observe("zoom", u, at)
			b.Observe("slack", u, base)
		}
		if i < 8000 {
			all.Observe("zoom", u, at)
		}
		if i >= 4000 {
			all.Observe("zoom", u, at)
			all.Observe("slack", u, base)
		}
	}
	// Only b's ring reaches 40 days back, and only a's has yesterday.
	b.Observe("zoom", "old", daysAgo(40))
	a.Observe("box", "alice", daysAgo(1))
	all.Observe("box", "alice", daysAgo(1))

	a.Report(base) // builds the union of past days that Merge must invalidate
	if err := a.Merge(b); err != nil {
		t.Fatalf("Merge: %v", err)
	}
	got, want := a.Report(base), all.Report(base)
	if len(got) != len(want) {
		t.Fatalf("Report after Merge: got %+v; want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.App != w.App || g.Requests1d != w.Requests1d || g.Requests7d != w.Requests7d || g.Requests30d != w.Requests30d {
			t.Errorf("Report[%d]: got %s with requests %d/%d/%d; want %s with %d/%d/%d", i,
				g.App, g.Requests1d, g.Requests7d, g.Requests30d, w.App, w.Requests1d, w.Requests7d, w.Requests30d)
		}
		assertNear(t, g.App+" 1d", g.Active1d, w.Active1d, 0.02)
		assertNear(t, g.App+" 7d", g.Active7d, w.Active7d, 0.02)
		assertNear(t, g.App+" 30d", g.Active30d, w.Active30d, 0.02)
	}
	assertNear(t, "zoom 30d against the truth", a.Window("zoom", 30, base), 12000, 0.02)
	assertNear(t, "slack 1d against the truth", a.Window("slack", 1, base), 8000, 0.02)

	t.Run("merging into itself changes nothing", func(t *testing.T) {
		before := a.Report(base)
		if err := a.Merge(a); err != nil {
			t.Fatal(err)
		}
		if got := a.Report(base); !reflect.DeepEqual(got, before) {
			t.Errorf("Report changed")
		}
	})
	t.Run("apps over MaxApps are reported", func(t *testing.T) {
		small := New(Options{MaxApps: 1})
		if err := small.Merge(all); err == nil {
			t.Errorf("Merge of 3 apps into MaxApps 1: got nil; want an error")
		}
	})
}

func TestMergeDiscovery(t *testing.T) {
	a, b := New(Options{DiscoveryCounters: 3}), New(Options{DiscoveryCounters: 3})
	observe := func(tr *Tracker, domain string, n int, user string, at time.Time) {
		for range n {
			tr.ObserveUnknown(domain, user, at)
		}
	}
	observe(a, "shared.com", 10, "alice", daysAgo(3))
	observe(a, "only-a.com", 7, "alice", base)
	observe(a, "small-a.com", 2, "alice", base)
	observe(b, "shared.com", 5, "bob", daysAgo(1))
	observe(b, "only-b.com", 6, "bob", base)
	observe(b, "small-b.com", 1, "bob", base) // both tables are full: floors 2 and 1

	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	top := a.Top(10)
	want := []struct {
		domain    string
		requests  uint64
		overcount uint64
		users     uint64
		first     time.Time
	}{
		{"shared.com", 15, 0, 2, daysAgo(3)},
		{"only-a.com", 8, 1, 1, base}, // + b's floor 1
		{"only-b.com", 8, 2, 1, base}, // + a's floor 2
	}
	if len(top) != len(want) {
		t.Fatalf("Top after Merge: got %v; want 3 domains", domains(top))
	}
	for i, w := range want {
		g := top[i]
		if g.Domain != w.domain || g.Requests != w.requests || g.RequestsOvercount != w.overcount || g.Users != w.users || !g.FirstSeen.Equal(w.first) {
			t.Errorf("Top[%d]: got %s %d (overcount %d) users %d first %v; want %s %d (%d) users %d first %v", i,
				g.Domain, g.Requests, g.RequestsOvercount, g.Users, g.FirstSeen, w.domain, w.requests, w.overcount, w.users, w.first)
		}
	}
}
