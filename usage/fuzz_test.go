package usage

import (
	"strings"
	"testing"
	"time"
)

// FuzzObserveUnknown feeds arbitrary hosts and users to ObserveUnknown: it
// must not panic, must keep the table within its k counters, and must only
// ever report registrable domains in normal form with a catalog entry that
// names them.
func FuzzObserveUnknown(f *testing.F) {
	for _, s := range []string{"www.example.com:443", "[::1]:443", "bücher.de", "co.uk", "a..b.com",
		"xn--.com", "_x.example.net", "x.com]\n  evil: true", "EXAMPLE.COM.", "127.1", "foo.github.io"} {
		f.Add(s, "alice")
	}
	f.Fuzz(func(t *testing.T, host, user string) {
		tr := New(Options{DiscoveryCounters: 2})
		tr.ObserveUnknown(host, user, time.Unix(0, 0))
		tr.ObserveUnknown(host, user, time.Unix(0, 0))
		tr.ObserveUnknown("other.example.com", user, time.Unix(0, 0))
		top := tr.Top(10)
		if len(top) > 2 {
			t.Fatalf("Top: got %d domains; want at most 2", len(top))
		}
		for _, d := range top {
			if rd, ok := registrableDomain(d.Domain); !ok || rd != d.Domain {
				t.Errorf("Top reported %q, which is not a registrable domain in normal form", d.Domain)
			}
			if !strings.Contains(d.CatalogEntry, d.Domain) || strings.Count(d.CatalogEntry, "\n") != 4 {
				t.Errorf("catalog entry for %q: got %q", d.Domain, d.CatalogEntry)
			}
		}
		if _, err := tr.Snapshot(); err != nil {
			t.Errorf("Snapshot: %v", err)
		}
	})
}

// FuzzRestore feeds arbitrary bytes to Restore: it must return an error or
// accept a snapshot that then survives another round trip, never panic.
func FuzzRestore(f *testing.F) {
	tr := New(Options{})
	tr.Observe("zoom", "alice", time.Unix(1e9, 0))
	tr.ObserveUnknown("www.example.com", "alice", time.Unix(1e9, 0))
	valid, err := tr.Snapshot()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"version":1,"user_hash":"fnv1a64-fmix64","apps":[],"domains":[]}`))
	f.Add([]byte(`{"version":1,"user_hash":"fnv1a64-fmix64","apps":[{"app":"x","days":[{"day":-5,"requests":1,"users":"Ag4AAQAAAAA="}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := New(Options{MaxApps: 8, DiscoveryCounters: 8})
		if err := tr.Restore(data); err != nil {
			return
		}
		tr.Report(time.Unix(1e9, 0))
		tr.Top(10)
		tr.Observe("zoom", "bob", time.Unix(1e9, 0))
		again, err := tr.Snapshot()
		if err != nil {
			t.Fatalf("Snapshot after a successful Restore: %v", err)
		}
		if err := New(Options{MaxApps: 8, DiscoveryCounters: 8}).Restore(again); err != nil {
			t.Fatalf("Restore of a snapshot made after a successful Restore: %v", err)
		}
		if err := New(Options{}).Merge(tr); err != nil {
			t.Fatalf("Merge: %v", err)
		}
	})
}
